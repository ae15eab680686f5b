"""One request per URL per run whatever lists it, and caps that do not depend on the sources' order."""

from __future__ import annotations

import pytest

from pipeline.fetch import FetchContext, fetch_sources, fetch_urls
from pipeline.fetch.plan import Listing, plan_pages, share_out
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite, quick_source

RUN = "20240501T060000Z"


def test_a_url_listed_by_two_sources_is_fetched_once(site: FixtureSite, store: LocalStore) -> None:
    shared = f"{site.url}/articles/1"
    sources = [
        quick_source("wire", "urls", shared, f"{site.url}/articles/2"),
        quick_source("paper", "urls", f"{site.url}/articles/1#top", f"{site.url}/articles/3"),  # same page
    ]
    summary = fetch_sources(sources, FetchContext(store, RUN, allow_private=True))
    assert site.hits["/articles/1"] == 1
    assert summary.discovered == 3 and summary.fetched == 3


@pytest.mark.parametrize("reverse", [False, True])
def test_page_caps_do_not_depend_on_the_order_of_the_sources(store: LocalStore, reverse: bool) -> None:
    """Both list a and b; alpha may take one page, beta two. By name: alpha takes a, beta takes b and c."""
    base = "http://news.example"
    alpha = quick_source("alpha", "urls", f"{base}/a", f"{base}/b", max_pages=1)
    beta = quick_source("beta", "urls", f"{base}/a", f"{base}/b", f"{base}/c", max_pages=2)
    listings = [Listing(source, list(source.urls)) for source in (alpha, beta)]
    plan = plan_pages(listings[::-1] if reverse else listings, FetchContext(store, RUN))
    requested = {url.removeprefix(base): source.name for source, url in plan.requests[base]}
    assert requested == {"/a": "alpha", "/b": "beta", "/c": "beta"}
    assert plan.settled == []


@pytest.mark.parametrize("reverse", [False, True])
def test_a_host_gets_the_strictest_limits_of_its_sources(store: LocalStore, reverse: bool) -> None:
    with FixtureSite(slow_seconds=0.2) as site:
        gentle = quick_source(
            "gentle", "urls", *(f"{site.url}/slow?g={n}" for n in range(3)), max_concurrency=1
        )
        eager = quick_source(
            "eager", "urls", *(f"{site.url}/slow?e={n}" for n in range(3)), max_concurrency=4
        )
        sources = [eager, gentle] if reverse else [gentle, eager]
        summary = fetch_sources(sources, FetchContext(store, RUN, allow_private=True))
    assert summary.fetched == 6
    assert site.max_in_flight == 1


def test_pages_over_every_cap_wait_for_the_next_run(store: LocalStore) -> None:
    base = "http://news.example"
    only = quick_source("only", "urls", *(f"{base}/{n}" for n in range(5)), max_pages=2)
    plan = plan_pages([Listing(only, list(only.urls))], FetchContext(store, RUN))
    assert [url for _, url in plan.requests[base]] == [f"{base}/0", f"{base}/1"]
    assert [(url, outcome) for _, url, outcome in plan.settled] == [
        (f"{base}/{n}", "over_limit") for n in (2, 3, 4)
    ]


def test_sources_fetched_by_separate_tasks_share_out_a_url_listed_twice(
    site: FixtureSite, store: LocalStore
) -> None:
    """A scheduler maps one task per source: `share_out` gives each its part, so each URL is asked once."""
    shared = f"{site.url}/articles/1"
    sources = [
        quick_source("wire", "urls", shared, f"{site.url}/articles/2"),
        quick_source("paper", "urls", shared, f"{site.url}/articles/3"),
    ]
    shares = share_out([Listing(source, list(source.urls)) for source in sources], FetchContext(store, RUN))
    assert shares == {"paper": [shared, f"{site.url}/articles/3"], "wire": [f"{site.url}/articles/2"]}
    fetched = [
        fetch_urls(source, shares[source.name], FetchContext(store, RUN, allow_private=True)).fetched
        for source in sources
    ]
    assert fetched == [1, 2] and site.hits["/articles/1"] == 1
