"""A host's state governs every request to it: a Retry-After or a backoff holds the requests already
queued and the new ones, from every source, and from every worker sharing the state through Redis.
Times are the fixture site's (when each request arrived)."""

from __future__ import annotations

import threading

from pipeline.fetch import FetchContext, fetch_sources, fetch_urls, open_politeness
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite, quick_source

RUN = "20240501T060000Z"
RETRY_AFTER = 5
EARLY = 0.05  # a request counted "during the pause" must be this much inside it: clocks are one, sleeps late


def arrivals_after_the_429(site: FixtureSite) -> tuple[float, list[float]]:
    """When the 429 was asked for, and when every later request to the host arrived."""
    refused = site.hit_times["/busy"][0]
    later = sorted(t for times in site.hit_times.values() for t in times if t > refused)
    return refused, later


def test_retry_after_holds_queued_requests_of_every_source(site: FixtureSite, store: LocalStore) -> None:
    busy = f"{site.url}/busy?after={RETRY_AFTER}"
    first = quick_source("a-first", "urls", busy, *(f"{site.url}/articles/{n}" for n in range(1, 5)), rate=5)
    # b-other's pages take the host's rate 4 s to send: which source reaches the host first is
    # not fixed (on a busy machine a-first may start late), but some of them are still queued
    # when a-first's 429 comes back.
    others = [f"/articles/{n}" for n in range(5, 25)]
    other = quick_source("b-other", "urls", *(site.url + path for path in others), rate=5)
    summary = fetch_sources([first, other], FetchContext(store, RUN, allow_private=True))

    assert summary.fetched == 25 and summary.failed == {}
    refused, later = arrivals_after_the_429(site)
    held = {path for path, times in site.hit_times.items() if max(times) > refused}
    assert "/busy" in held and held & set(others)  # the retry, and the other source's queued pages
    assert min(later) >= refused + RETRY_AFTER - EARLY


def test_workers_sharing_redis_are_held_by_one_workers_429(
    site: FixtureSite, store: LocalStore, redis_url: str
) -> None:
    """Two workers, each with its own connection to Redis: the one that got the 429 holds the other."""
    busy = f"{site.url}/busy?after={RETRY_AFTER}"
    sources = [
        quick_source("worker-1", "urls", busy, rate=5),
        quick_source("worker-2", "urls", *(f"{site.url}/articles/{n}" for n in range(1, 5)), rate=5),
    ]
    started = threading.Barrier(2)
    summaries = {}

    def worker(source) -> None:
        context = FetchContext(store, RUN, open_politeness(redis_url), allow_private=True)
        started.wait()
        if source.name == "worker-2":
            site.wait_for_hit("/busy")  # its requests come after the 429, queued or new
        summaries[source.name] = fetch_urls(source, list(source.urls), context)

    threads = [threading.Thread(target=worker, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert summaries["worker-1"].fetched == 1 and summaries["worker-2"].fetched == 4
    refused, later = arrivals_after_the_429(site)
    assert len(later) == 1 + 4  # the retried /busy and four articles (robots.txt is shared too)
    assert min(later) >= refused + RETRY_AFTER - EARLY


def test_a_server_error_backs_the_whole_host_off(site: FixtureSite, store: LocalStore) -> None:
    """No Retry-After: the backoff after /flaky's 500 pauses the host, not only the retried URL."""
    urls = [f"{site.url}/flaky", *(f"{site.url}/articles/{n}" for n in range(1, 4))]
    source = quick_source("flaky", "urls", *urls, backoff=1.0, max_concurrency=1)
    summary = fetch_urls(source, urls, FetchContext(store, RUN, allow_private=True))
    assert summary.fetched == 4
    failed_at = site.hit_times["/flaky"][0]
    later = sorted(t for times in site.hit_times.values() for t in times if t > failed_at)
    assert min(later) >= failed_at + 1.0 - EARLY
