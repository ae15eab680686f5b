"""Spacing, concurrency caps, Retry-After and robots.txt, as the fixture server saw them."""

from __future__ import annotations

from itertools import pairwise

import pytest

from pipeline.fetch import FetchContext, fetch_urls
from pipeline.fetch.client import retry_after_seconds
from pipeline.fetch.politeness import robots_rules
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite, quick_source

RUN = "20240501T060000Z"


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [later - earlier for earlier, later in pairwise(ordered)]


def test_requests_to_a_host_are_spaced_by_the_rate(site: FixtureSite, store: LocalStore) -> None:
    urls = [f"{site.url}/articles/{n}" for n in range(1, 6)]
    fetch_urls(
        quick_source("paced", "urls", *urls, rate=10), urls, FetchContext(store, RUN, allow_private=True)
    )
    starts = [times[0] for path, times in site.hit_times.items() if path.startswith("/articles/")]
    assert len(starts) == 5
    assert min(gaps(starts)) >= 0.09  # 10 requests per second, whatever the number of lanes


def test_crawl_delay_stretches_the_spacing(store: LocalStore) -> None:
    with FixtureSite(robots="User-agent: *\nCrawl-delay: 1\n") as site:  # whole seconds only
        urls = [f"{site.url}/articles/{n}" for n in range(1, 3)]
        fetch_urls(
            quick_source("paced", "urls", *urls, rate=100), urls, FetchContext(store, RUN, allow_private=True)
        )
    starts = [times[0] for path, times in site.hit_times.items() if path.startswith("/articles/")]
    assert len(starts) == 2 and gaps(starts)[0] >= 0.99


def test_concurrency_per_host_is_capped(store: LocalStore) -> None:
    with FixtureSite(slow_seconds=0.2) as site:
        urls = [f"{site.url}/slow?n={n}" for n in range(6)]
        source = quick_source("capped", "urls", *urls, max_concurrency=2, timeout=3)
        summary = fetch_urls(source, urls, FetchContext(store, RUN, allow_private=True))
    assert summary.fetched == 6
    assert site.max_in_flight == 2  # never more, and the two lanes did overlap


def test_retry_after_is_honoured(site: FixtureSite, store: LocalStore) -> None:
    url = f"{site.url}/busy"
    summary = fetch_urls(
        quick_source("busy", "urls", url), [url], FetchContext(store, RUN, allow_private=True)
    )
    assert summary.fetched == 1
    assert gaps(site.hit_times["/busy"])[0] >= 0.95  # the server said Retry-After: 1


def test_retry_after_longer_than_max_wait_gives_up_for_this_run(site: FixtureSite, store: LocalStore) -> None:
    url = f"{site.url}/busy"
    summary = fetch_urls(
        quick_source("busy", "urls", url, max_wait=0.5), [url], FetchContext(store, RUN, allow_private=True)
    )
    assert summary.failed == {"rate_limited": 1}
    assert site.hits["/busy"] == 1


def test_server_errors_are_retried_then_given_up(site: FixtureSite, store: LocalStore) -> None:
    url = f"{site.url}/flaky"
    no_retry = fetch_urls(
        quick_source("flaky", "urls", url, retries=0), [url], FetchContext(store, RUN, allow_private=True)
    )
    assert no_retry.failed == {"http_500": 1}
    retried = fetch_urls(
        quick_source("flaky", "urls", url), [url], FetchContext(store, RUN, allow_private=True)
    )
    assert retried.fetched == 1  # the 500 was not recorded as final: the next run tried again


@pytest.mark.parametrize(
    ("robots", "allowed"),
    [(404, True), (403, True), (500, False)],  # RFC 9309: 4xx means no rules; 5xx means stay away
)
def test_robots_txt_errors_follow_rfc_9309(store: LocalStore, robots: int, allowed: bool) -> None:
    with FixtureSite(robots=robots) as site:
        url = f"{site.url}/articles/1"
        summary = fetch_urls(
            quick_source("site", "urls", url), [url], FetchContext(store, RUN, allow_private=True)
        )
    assert (summary.fetched, summary.skipped_robots) == ((1, 0) if allowed else (0, 1))


def test_robots_rules_apply_to_our_user_agent() -> None:
    rules = robots_rules(200, b"User-agent: news-pipeline\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    assert not rules.can_fetch("news-pipeline/0.1 (+contact)", "http://example.org/a")
    assert rules.can_fetch("other-bot/1.0", "http://example.org/a")
    assert robots_rules(None, b"").can_fetch("any", "http://example.org/a") is False


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after_forms(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds
