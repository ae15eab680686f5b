"""Fetching the whole fixture site: what is fetched, skipped and archived, and what a rerun does."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline import layout
from pipeline.config import LimitsConfig
from pipeline.fetch import FetchContext, FetchSummary, discover, fetch_sources, fetch_urls, load_sources
from pipeline.fetch import archive as archive_module
from pipeline.records import RawPage, Rejection
from pipeline.sources import read_warc
from pipeline.store import LocalStore
from tests.fetch.site import (
    LINEAGE_REASONS,
    QUICK_OPTIONS,
    REJECTED_REASONS,
    FixtureSite,
    quick_source,
    sources_yaml,
)

RUN, NEXT_RUN = "20240501T060000Z", "20240502T060000Z"


def site_sources(site: FixtureSite, tmp_path: Path) -> list:
    path = tmp_path / "sources.yaml"
    path.write_text(sources_yaml(site.url, **QUICK_OPTIONS))
    return load_sources(path)


def read_back(store: LocalStore, keys: list[str]) -> list[RawPage | Rejection]:
    items: list[RawPage | Rejection] = []
    for key in keys:
        with open(store.location(key), "rb") as stream:
            items.extend(read_warc(stream, LimitsConfig(), archive=key))
    return items


def failure_records(store: LocalStore, keys: list[str]) -> dict[str, str]:
    """URL -> outcome, from the metadata records of the archives."""
    outcomes = {}
    for key in keys:
        with open(store.location(key), "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "metadata":
                    fields = dict(
                        line.split(": ", 1) for line in record.content_stream().read().decode().splitlines()
                    )
                    outcomes[record.rec_headers.get_header("WARC-Target-URI")] = fields["outcome"]
    return outcomes


def test_fetches_the_site_and_archives_every_answer(
    site: FixtureSite, store: LocalStore, tmp_path: Path
) -> None:
    summary = fetch_sources(site_sources(site, tmp_path), FetchContext(store, RUN, allow_private=True))

    assert summary.documents == 4  # feed, sitemap index, news sitemap, gzipped archive sitemap
    assert summary.discovered == 13 + 5  # the repeated feed link (#comments) counts once
    assert summary.fetched == 11
    assert summary.skipped_robots == 1
    assert summary.failed == {
        "http_404": 1,
        "timeout": 1,
        "too_large": 2,
        "unsupported_type": 1,
        "redirect_loop": 1,
    }
    assert site.hits["/private/secret"] == 0  # robots.txt said no
    assert site.hits["/robots.txt"] == 1  # cached for the host across both sources
    assert site.hits["/flaky"] == 2 and site.hits["/busy"] == 2  # retried after 500 and 429
    assert site.hits["/slow"] == 2  # one retry after the timeout, then given up
    assert site.hits["/loop/a"] == 1 and site.hits["/loop/b"] == 1

    items = read_back(store, summary.warc_keys)
    pages = {item.url.removeprefix(site.url) for item in items if isinstance(item, RawPage)}
    assert pages == {
        *(f"/articles/{n}" for n in range(1, 7)),
        "/articles/old-1",
        "/articles/moved-target",
        "/syndicated/1",
        "/flaky",
        "/busy",
    }
    # One rejection per URL: the fetch outcome where there is one, else the response's status.
    rejected = [item for item in items if isinstance(item, Rejection)]
    assert len(rejected) == len({item.url for item in rejected})
    assert {item.url.removeprefix(site.url): item.reason for item in rejected} == LINEAGE_REASONS
    page = next(i for i in items if isinstance(i, RawPage) and i.url.endswith("/articles/1"))
    assert page.content_type == "text/html" and page.charset == "utf-8" and b"<article>" in page.content

    failures = {
        url.removeprefix(site.url): outcome
        for url, outcome in failure_records(store, summary.warc_keys).items()
    }
    redirect_hops = {path for path, reason in REJECTED_REASONS.items() if reason == "redirect"}
    assert failures == {
        path: reason for path, reason in REJECTED_REASONS.items() if path not in redirect_hops
    }
    assert all(key.startswith(f"raw/dt=2024-05-01/{RUN}-") for key in summary.warc_keys)
    discovery = {item.url.removeprefix(site.url) for item in read_back(store, summary.discovery_warc_keys)}
    assert {"/robots.txt", "/feed.xml", "/sitemap_index.xml", "/news-sitemap.xml"} <= discovery


def test_second_run_refetches_nothing_unchanged(site: FixtureSite, store: LocalStore, tmp_path: Path) -> None:
    sources = site_sources(site, tmp_path)
    first = fetch_sources(sources, FetchContext(store, RUN, allow_private=True))
    hits_after_first = site.hits.copy()

    second = fetch_sources(sources, FetchContext(store, NEXT_RUN, allow_private=True))

    assert second.fetched == 0 and second.documents == 0
    assert second.not_modified == 4  # feed and index by ETag, news sitemap by ETag, archive by Last-Modified
    # Everything fetched for good is skipped without a request; what failed in a way
    # that may heal (404, timeout, redirect loop) is tried again.
    assert second.skipped_seen == first.fetched + 3  # + 2 too_large + 1 unsupported_type
    assert second.failed == {"http_404": 1, "timeout": 1, "redirect_loop": 1}
    asked_again = {path for path, count in site.hits.items() if count > hits_after_first[path]}
    assert asked_again == {
        "/robots.txt",
        "/feed.xml",
        "/sitemap_index.xml",
        "/news-sitemap.xml",
        "/sitemap-archive.xml.gz",
        "/missing",
        "/slow",
        "/loop/a",
        "/loop/b",
    }
    assert not [i for i in read_back(store, second.warc_keys) if isinstance(i, RawPage)]


def test_reprocess_fetches_everything_again_unconditionally(site: FixtureSite, store: LocalStore) -> None:
    sources = [quick_source("fixture-sitemap", "sitemap", f"{site.url}/sitemap_index.xml")]
    first = fetch_sources(sources, FetchContext(store, RUN, allow_private=True))
    again = fetch_sources(sources, FetchContext(store, NEXT_RUN, allow_private=True, reprocess=True))
    assert again.documents == 3 and again.not_modified == 0 and again.skipped_seen == 0
    assert again.fetched == first.fetched == 5
    assert site.hits["/articles/4"] == 2 and site.hits["/news-sitemap.xml"] == 2


def test_max_pages_leaves_the_rest_for_the_next_run(site: FixtureSite, store: LocalStore) -> None:
    urls = [f"{site.url}/articles/{n}" for n in range(1, 6)]
    source = quick_source("listed", "urls", *urls, max_pages=2)
    first = fetch_urls(source, urls, FetchContext(store, RUN, allow_private=True))
    assert (first.fetched, first.over_limit) == (2, 3)
    second = fetch_urls(source, urls, FetchContext(store, NEXT_RUN, allow_private=True))
    assert (second.fetched, second.skipped_seen, second.over_limit) == (2, 2, 1)
    assert all(site.hits[f"/articles/{n}"] == 1 for n in range(1, 5))


def test_url_lists_are_normalised_and_bad_urls_recorded(site: FixtureSite, store: LocalStore) -> None:
    listed = [
        f"{site.url}/articles/1",
        f"{site.url.upper()}/articles/./1#top",
        "ftp://example.org/file",
        "nonsense",
    ]
    source = quick_source("listed", "urls", *listed)
    found = discover(source, FetchContext(store, RUN, allow_private=True))
    assert found.urls == [f"{site.url}/articles/1", "ftp://example.org/file", "nonsense"]
    summary = fetch_urls(source, found.urls, FetchContext(store, RUN, allow_private=True))
    assert summary.fetched == 1 and summary.failed == {"bad_url": 2}
    assert site.hits["/articles/1"] == 1
    assert set(failure_records(store, summary.warc_keys).values()) == {"bad_url"}


def test_mapped_tasks_compose_like_fetch_sources(site: FixtureSite, store: LocalStore) -> None:
    """discover -> fetch_urls per source, as a scheduler runs them, summaries merged from dicts."""
    source = quick_source("fixture-sitemap", "sitemap", f"{site.url}/sitemap_index.xml")
    found = discover(source, FetchContext(store, RUN, allow_private=True))
    fetched = fetch_urls(source, found.urls, FetchContext(store, RUN, allow_private=True))
    total = FetchSummary.from_dict(found.summary.to_dict()).merge(FetchSummary.from_dict(fetched.to_dict()))
    assert total.documents == 3 and total.discovered == 5 and total.fetched == 5
    assert total.warc_keys == fetched.warc_keys
    assert set(found.summary.discovery_warc_keys) <= set(total.discovery_warc_keys)


def test_a_repeated_task_adds_parts_and_reports_the_earlier_ones(
    site: FixtureSite, store: LocalStore
) -> None:
    urls = [f"{site.url}/articles/{n}" for n in range(1, 4)]
    first = fetch_urls(
        quick_source("listed", "urls", *urls[:2]), urls[:2], FetchContext(store, RUN, allow_private=True)
    )
    retry = fetch_urls(
        quick_source("listed", "urls", *urls), urls, FetchContext(store, RUN, allow_private=True)
    )
    assert len(first.warc_keys) == 1 and len(retry.warc_keys) == 2
    assert retry.warc_keys[0] == first.warc_keys[0]  # an earlier attempt's pages are not orphaned
    assert len(read_back(store, retry.warc_keys)) == 3


def test_sources_whose_names_share_a_prefix_keep_their_own_parts(
    site: FixtureSite, store: LocalStore
) -> None:
    first, second = f"{site.url}/articles/1", f"{site.url}/articles/2"
    fetch_urls(quick_source("wire-2", "urls", second), [second], FetchContext(store, RUN, allow_private=True))
    wire = fetch_urls(
        quick_source("wire", "urls", first), [first], FetchContext(store, RUN, allow_private=True)
    )
    assert wire.warc_keys == [f"raw/dt=2024-05-01/{RUN}-wire-0000.warc.gz"]


def test_large_runs_are_split_into_parts_and_states_follow_them(
    site: FixtureSite, store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_module, "PART_BYTES", 1)  # every URL closes a part
    urls = [f"{site.url}/articles/{n}" for n in range(1, 5)]
    summary = fetch_urls(
        quick_source("listed", "urls", *urls), urls, FetchContext(store, RUN, allow_private=True)
    )
    assert len(summary.warc_keys) == 4 and len(set(summary.warc_keys)) == 4
    assert len(read_back(store, summary.warc_keys)) == 4
    assert len(store.list(layout.FETCH_STATE_PREFIX)) == 4


@pytest.mark.parametrize("run_id", ["20240501T060000Z", "news_ingest-20240501T0500Z"])
def test_archives_are_filed_under_the_day_in_the_run_id(run_id: str) -> None:
    assert archive_module.run_day(run_id) == date(2024, 5, 1)
