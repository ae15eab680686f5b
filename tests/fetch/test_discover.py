"""Discovery: feeds and sitemaps read from bytes we fetched, in the order news wants."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import pytest

from pipeline.fetch import FetchContext, discover
from pipeline.fetch.client import normalize_url
from pipeline.fetch.discover import Listing, Unreadable, parse_feed, parse_sitemap
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite, quick_source

RUN = "20240501T060000Z"
ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><title>old</title><link href="/2024/old"/><updated>2024-01-01T00:00:00Z</updated></entry>
<entry><title>new</title><link href="https://example.org/2024/new"/><updated>2024-03-01T00:00:00Z</updated></entry>
<entry><title>no link</title><updated>2024-02-01T00:00:00Z</updated></entry>
</feed>"""


def test_atom_entries_become_absolute_dated_links() -> None:
    listing = parse_feed(ATOM, "https://example.org/feeds/atom.xml")
    assert listing.pages == [
        ("https://example.org/2024/old", "2024-01-01T00:00:00Z"),
        ("https://example.org/2024/new", "2024-03-01T00:00:00Z"),
    ]


def test_sitemap_index_lists_children_and_gzip_is_opened() -> None:
    index = b"""<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <sitemap><loc>https://example.org/news.xml</loc></sitemap></sitemapindex>"""
    assert parse_sitemap(gzip.compress(index), "https://example.org/index.xml.gz").sitemaps == [
        "https://example.org/news.xml"
    ]


def test_plain_text_sitemaps_are_url_lists() -> None:
    listing = parse_sitemap(b"https://example.org/a\nhttps://example.org/b\n", "https://example.org/s.txt")
    assert [url for url, _ in listing.pages] == ["https://example.org/a", "https://example.org/b"]


@pytest.mark.parametrize(
    ("parse", "body"),
    [(parse_sitemap, b"<html><body>not a sitemap</body></html>"), (parse_feed, b"\x00\x01 not xml")],
)
def test_unreadable_documents_raise(parse: Callable[[bytes, str], Listing], body: bytes) -> None:
    with pytest.raises(Unreadable):
        parse(body, "https://example.org/x")


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("HTTP://Example.ORG:80/a/../b?x=1#frag", "http://example.org/b?x=1"),
        ("https://example.org/?utm_source=feed&id=7", "https://example.org/?utm_source=feed&id=7"),
        ("https://例え.jp/記事", "https://xn--r8jz45g.jp/%E8%A8%98%E4%BA%8B"),
        ("https://example.org:notaport/", None),
        ("mailto:desk@example.org", None),
        ("/relative/path", None),
    ],
)
def test_url_normalisation(url: str, normal: str | None) -> None:
    assert normalize_url(url) == normal


def test_news_sitemap_pages_come_newest_first(site: FixtureSite, store: LocalStore) -> None:
    found = discover(
        quick_source("s", "sitemap", f"{site.url}/sitemap_index.xml"),
        FetchContext(store, RUN, allow_private=True),
    )
    paths = [url.removeprefix(site.url) for url in found.urls]
    # publication dates 2024-05-01..04 for articles 4, 5, 6 and the syndicated copy; the archive page is older
    assert paths == ["/syndicated/1", "/articles/6", "/articles/5", "/articles/4", "/articles/old-1"]


def test_max_sitemaps_bounds_the_walk(site: FixtureSite, store: LocalStore) -> None:
    source = quick_source("s", "sitemap", f"{site.url}/sitemap_index.xml", max_sitemaps=2)
    found = discover(source, FetchContext(store, RUN, allow_private=True))
    assert found.summary.documents == 2
    assert site.hits["/sitemap-archive.xml.gz"] == 0


def test_an_unreadable_feed_is_counted_and_archived(site: FixtureSite, store: LocalStore) -> None:
    found = discover(
        quick_source("f", "feed", f"{site.url}/articles/1"), FetchContext(store, RUN, allow_private=True)
    )
    assert found.urls == [] and found.summary.failed == {"unreadable": 1}
    assert found.summary.discovery_warc_keys


def test_a_not_modified_feed_still_yields_its_links(site: FixtureSite, store: LocalStore) -> None:
    source = quick_source("f", "feed", f"{site.url}/feed.xml")
    first = discover(source, FetchContext(store, RUN, allow_private=True))
    second = discover(source, FetchContext(store, "20240502T060000Z", allow_private=True))
    assert second.summary.not_modified == 1 and second.summary.documents == 0
    assert second.urls == first.urls and len(first.urls) == 13
