"""Fetching pages: `fetch_urls` for one source's URLs, `fetch_sources` for a whole sources file.

Both plan first (pipeline/fetch/plan.py: one request per URL whatever lists it, caps that do
not depend on the sources' order), then run the plan by host lanes: each host gets as many
lanes as its concurrency cap allows, each lane drains the host's queue in order, and
every request asks the host's shared state (pipeline/fetch/politeness.py) for its turn.
So one slow or paused host never holds up the others, and a host's pause (Retry-After,
backoff) holds every request to it that is still to go out. Every answer is archived
under its source's name.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import zip_longest

from pipeline import layout
from pipeline.fetch.archive import WarcArchive
from pipeline.fetch.client import FetchResult, WebClient
from pipeline.fetch.context import FetchContext
from pipeline.fetch.discover import discover
from pipeline.fetch.plan import BAD_URLS, Listing, Plan, plan_pages
from pipeline.fetch.politeness import origin_of
from pipeline.fetch.sources_file import Source
from pipeline.fetch.summary import FetchSummary
from pipeline.pending import mark_pending
from pipeline.records import utc_iso

MAX_LANES = 256  # pages in flight at once across all hosts (threads, mostly waiting for their host's turn)
MAX_PARALLEL_SOURCES = 8  # sources discovered at once


def _page_states(result: FetchResult, run_id: str) -> dict[str, dict]:
    """States to save for a page whose outcome stands: for the URL asked and where it ended."""
    if not result.permanent:
        return {}
    final = result.final
    state = {"outcome": result.outcome, "status": final.status if final else None, "run_id": run_id}
    urls = {result.url}
    if final is not None:
        state["fetched_at"] = utc_iso(final.fetched_at)
        if result.outcome == "fetched":
            urls.add(final.url)  # where a redirect ended was fetched too
    return dict.fromkeys(urls, state)


@dataclass
class _SourcePages:
    """One source's client and archives: its pages under raw/, robots.txt answers under discovery/."""

    client: WebClient
    pages: WarcArchive
    robots: WarcArchive

    def fetch(self, url: str, run_id: str) -> str:
        """Fetch and archive one page URL; returns its outcome."""
        result = self.client.get(url, page=True)
        self.pages.add(result, _page_states(result, run_id))
        return result.outcome


@contextmanager
def _source_pages(sources: list[Source], context: FetchContext) -> Iterator[dict[str, _SourcePages]]:
    """Clients and archives per source name; the archives' last parts are stored on leaving."""
    on_stored = partial(mark_pending, context.store) if context.mark_pending else None
    with ExitStack() as stack:
        opened = {}
        for source in sources:
            pages = stack.enter_context(
                WarcArchive(context.store, layout.PAGES_AREA, context.run_id, source.name, on_stored)
            )
            robots = stack.enter_context(
                WarcArchive(context.store, layout.DISCOVERY_AREA, context.run_id, source.name)
            )
            opened[source.name] = _SourcePages(WebClient(source.options, context, robots.add), pages, robots)
        yield opened


class _Tally:
    """The page outcomes of a run as they come, for the summary and the progress display."""

    def __init__(self, context: FetchContext) -> None:
        self.summary, self.progress = FetchSummary(), context.progress
        self._lock = threading.Lock()

    def add(self, origin: str, outcome: str) -> None:
        with self._lock:
            self.summary.count(outcome, origin=origin)
        self.progress.page_done(origin, outcome)


def _lanes(plan: Plan) -> list[str]:
    """Host origins, one per lane: every host's first lane, then every second lane, and so on."""
    per_host = [
        [origin] * min(plan.limits[origin].max_concurrency, len(requests))
        for origin, requests in plan.requests.items()
    ]
    return [origin for rank in zip_longest(*per_host) for origin in rank if origin is not None]


def _run_plan(plan: Plan, sources: dict[str, _SourcePages], context: FetchContext, tally: _Tally) -> None:
    for _, url, outcome in plan.settled:
        tally.add(origin_of(url), outcome)
    for source, url in plan.bad_urls:
        sources[source.name].pages.add(FetchResult(url).fail("bad_url", "not an absolute http(s) URL"))
        tally.add(BAD_URLS, "bad_url")
    queues = {origin: deque(requests) for origin, requests in plan.requests.items()}

    def drain(origin: str) -> None:
        queue = queues[origin]
        while True:
            try:
                source, url = queue.popleft()
            except IndexError:  # another lane of the host took the last one
                return
            tally.add(origin, sources[source.name].fetch(url, context.run_id))

    lanes = _lanes(plan)
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_LANES, len(lanes)))) as pool:
        list(pool.map(drain, lanes))


def _fetch_listings(listings: list[Listing], context: FetchContext) -> tuple[Plan, FetchSummary]:
    """Plan the listed pages, fetch them, archive every answer; the plan and the pages' summary."""
    started = time.monotonic()
    plan = plan_pages(listings, context)
    context.host_limits.update(plan.limits)
    context.progress.planned(plan.pages_per_host())
    tally = _Tally(context)
    with _source_pages([listing.source for listing in listings], context) as sources:
        _run_plan(plan, sources, context, tally)
    summary = tally.summary
    summary.warc_keys = sorted(key for source in sources.values() for key in source.pages.keys)
    summary.discovery_warc_keys = sorted(key for source in sources.values() for key in source.robots.keys)
    summary.seconds = round(time.monotonic() - started, 3)
    return plan, summary


def fetch_urls(source: Source, urls: list[str], context: FetchContext) -> FetchSummary:
    """Fetch one source's page URLs politely, archiving every answer under raw/.

    The summary counts outcomes only; `discover` counted the URLs (so the two merge).
    """
    return _fetch_listings([Listing(source, urls)], context)[1]


def fetch_sources(sources: list[Source], context: FetchContext) -> FetchSummary:
    """Discover every source (several at once), then fetch all their pages as one plan.

    A URL listed by several sources is fetched once; every host's state is shared by all.
    """
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL_SOURCES, len(sources)))) as pool:
        found = list(pool.map(lambda source: discover(source, context), sources))
    plan, total = _fetch_listings(
        [Listing(source, discovery.urls) for source, discovery in zip(sources, found, strict=True)], context
    )
    for discovery in found:
        total = total.merge(discovery.summary)
    total.discovered = plan.discovered  # each URL once, however many sources listed it
    total.seconds = round(time.monotonic() - started, 3)
    return total
