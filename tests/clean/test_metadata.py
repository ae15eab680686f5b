"""Metadata: declared and guessed publication times, authors, canonical URL."""

from __future__ import annotations

import pytest
from lxml import html as lxml_html

from pipeline.clean.metadata import (
    authors,
    canonical_url,
    declared_time,
    html_metadata,
    published_time,
    refined_day,
)


def page(head: str, body: str = "") -> lxml_html.HtmlElement:
    return lxml_html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")


def test_published_time_prefers_declared_times() -> None:
    tree = page(
        '<meta property="article:published_time" content="2020-09-17T13:02:00+00:00">'
        '<script type="application/ld+json">{"datePublished": "2020-01-01T00:00:00Z"}</script>'
    )
    assert published_time(tree) == "2020-09-17T13:02:00Z"


def test_published_time_from_json_ld_then_time_element() -> None:
    json_ld = page(
        '<script type="application/ld+json">'
        '[{"@graph": [{"datePublished": "2020-05-01T08:00:00-04:00"}]}]</script>'
    )
    assert declared_time(json_ld) == "2020-05-01T12:00:00Z"
    time_element = page("", '<time datetime="2020-05-02T09:30:00Z">May 2</time>')
    assert declared_time(time_element) == "2020-05-02T09:30:00Z"


def test_a_byline_time_refines_a_bare_day() -> None:
    tree = page("", "<div>By J. Smith · September 18, 2020 06:16 · No Comments</div><p>Text.</p>")
    assert refined_day(tree, "2020-09-18") == "2020-09-18T06:16:00"
    assert refined_day(tree, "2020-09-19") == "2020-09-19"  # another day: a teaser's date


def test_a_page_without_declared_time_gets_htmldates_day() -> None:
    tree = page("", "<article><p>Posted on 2020-09-18 by the desk.</p><p>Text of the story.</p></article>")
    assert published_time(tree, "https://site.example/2020/09/18/story") == "2020-09-18"


def test_html_metadata_reads_the_declarations() -> None:
    tree = page(
        '<title>Council approves budget | Site</title><meta property="og:site_name" content="@site">'
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Council approves budget",'
        ' "author": {"@type": "Person", "name": "Ann Lee"}, "datePublished": "2020-09-14"}</script>'
    )
    fields = html_metadata(tree, "https://site.example/news/budget")
    assert (fields["title"], fields["author"], fields["published_at"]) == (
        "Council approves budget",
        "Ann Lee",
        "2020-09-14",
    )
    assert fields["sitename"] == "site" and fields["canonical_url"] is None


def test_authors_from_byline_or_schema_org() -> None:
    assert authors(page(""), "Ann Lee; Bo Chan; Ann Lee") == "Ann Lee; Bo Chan"
    tree = page(
        '<script type="application/ld+json">{"author": [{"name": "Ann Lee"}, {"name": "Bo Chan"}]}</script>'
    )
    assert authors(tree, None) == "Ann Lee; Bo Chan"
    assert authors(page('<meta name="author" content="Cy Dee">'), None) == "Cy Dee"


def test_canonical_url_is_absolute() -> None:
    tree = page('<link rel="canonical" href="/news/story-1">')
    assert canonical_url(tree, "https://site.example/amp/story-1") == "https://site.example/news/story-1"
    assert canonical_url(page(""), "https://site.example/x") is None


@pytest.mark.parametrize(
    "declared",
    [
        "https://site.example/news/story-1",
        "https://Site.EXAMPLE:443/news/story-1/",
        "https://site.example/news/story-1#comments",
        "/news/story-1/",
    ],
)
def test_canonical_url_is_none_when_it_is_the_page_itself(declared: str) -> None:
    tree = page(f'<link rel="canonical" href="{declared}">')
    assert canonical_url(tree, "https://site.example/news/story-1") is None


def test_canonical_url_of_another_page_is_kept() -> None:
    tree = page('<meta property="og:url" content="https://site.example/news/story-1?page=2">')
    url = "https://site.example/news/story-1"
    assert canonical_url(tree, url) == "https://site.example/news/story-1?page=2"
