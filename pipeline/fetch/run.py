"""Fetching pages: `fetch_urls` for one source's URLs, `fetch_sources` for a whole sources file.

Pages are fetched by lanes: each host gets up to `max_concurrency` lanes draining its
queue in order, so one slow or rate-limited host never holds up the others' threads.
A page URL already fetched by an earlier run is skipped without a request (unless
reprocessing); `max_pages` counts only the pages actually requested.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain

from pipeline.fetch.archive import DISCOVERY_AREA, PAGES_AREA, WarcArchive
from pipeline.fetch.client import FetchResult, WebClient, normalize_url
from pipeline.fetch.discover import discover
from pipeline.fetch.politeness import Politeness, origin_of
from pipeline.fetch.sources_file import Source
from pipeline.fetch.state import load_state
from pipeline.fetch.summary import FetchSummary
from pipeline.records import utc_iso
from pipeline.store import Store

MAX_LANES = 16  # threads per source; lanes beyond this wait for a free thread
MAX_PARALLEL_SOURCES = 8


class _Budget:
    """How many more pages a source may request in this run (shared by its lanes)."""

    def __init__(self, pages: int) -> None:
        self._left, self._lock = pages, threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


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
class _PageFetcher:
    """What every lane of one source shares."""

    client: WebClient
    store: Store
    archive: WarcArchive
    budget: _Budget
    run_id: str
    reprocess: bool

    def fetch(self, url: str) -> str:
        """Fetch and archive one page URL, unless it is known or over budget; returns the outcome."""
        if not self.reprocess and load_state(self.store, url) is not None:
            return "skipped_seen"
        if not self.budget.take():
            return "over_limit"
        result = self.client.get(url, page=True)
        self.archive.add(result, _page_states(result, self.run_id))
        return result.outcome


def _lanes(urls: list[str], max_concurrency: int) -> list[deque[str]]:
    """One queue per host, listed once per lane that drains it."""
    queues: dict[str, deque[str]] = {}
    for url in urls:
        queues.setdefault(origin_of(url), deque()).append(url)
    return [queue for queue in queues.values() for _ in range(min(max_concurrency, len(queue)))]


def fetch_urls(
    source: Source,
    urls: list[str],
    store: Store,
    run_id: str,
    *,
    reprocess: bool = False,
    allow_private: bool = False,
    politeness: Politeness | None = None,
    on_page: Callable[[], None] | None = None,
) -> FetchSummary:
    """Fetch one source's page URLs politely, archiving every answer under raw/.

    `on_page` is called after each URL is dealt with (fetched, skipped or failed).
    """
    started = time.monotonic()
    normalized = {url: normalize_url(url) for url in urls}
    with (
        WarcArchive(store, PAGES_AREA, run_id, source.name) as pages,
        WarcArchive(store, DISCOVERY_AREA, run_id, source.name) as robots,
    ):
        client = WebClient(
            source.options, politeness or Politeness(), allow_private, on_robots_fetch=robots.add
        )
        fetcher = _PageFetcher(client, store, pages, _Budget(source.options.max_pages), run_id, reprocess)
        outcomes = []
        for url in sorted(url for url, norm in normalized.items() if norm is None):
            pages.add(FetchResult(url).fail("bad_url", "not an absolute http(s) URL"))
            outcomes.append("bad_url")

        def drain(queue: deque[str]) -> list[str]:
            done = []
            while queue:
                try:
                    url = queue.popleft()
                except IndexError:  # another lane of the host took the last one
                    break
                done.append(fetcher.fetch(url))
                if on_page is not None:
                    on_page()
            return done

        valid = list(dict.fromkeys(norm for norm in normalized.values() if norm))
        lanes = _lanes(valid, source.options.max_concurrency)
        with ThreadPoolExecutor(max_workers=max(1, min(MAX_LANES, len(lanes)))) as pool:
            outcomes.extend(chain.from_iterable(pool.map(drain, lanes)))
    summary = FetchSummary(warc_keys=list(pages.keys), discovery_warc_keys=list(robots.keys))
    for outcome in outcomes:
        summary.count(outcome)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def fetch_sources(
    sources: list[Source],
    store: Store,
    run_id: str,
    *,
    reprocess: bool = False,
    allow_private: bool = False,
    politeness: Politeness | None = None,
    on_page: Callable[[], None] | None = None,
) -> FetchSummary:
    """Discover and fetch every source, several at once, sharing one politeness budget per host.

    `politeness` (see `open_politeness`) is in-process unless given, e.g. shared through Redis.
    """
    started = time.monotonic()
    politeness = politeness or Politeness()

    def one(source: Source) -> FetchSummary:
        found = discover(
            source, store, run_id, reprocess=reprocess, allow_private=allow_private, politeness=politeness
        )
        fetched = fetch_urls(
            source,
            found.urls,
            store,
            run_id,
            reprocess=reprocess,
            allow_private=allow_private,
            politeness=politeness,
            on_page=on_page,
        )
        return found.summary.merge(fetched)

    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL_SOURCES, len(sources)))) as pool:
        summaries = list(pool.map(one, sources))
    total = FetchSummary()
    for summary in summaries:
        total = total.merge(summary)
    total.seconds = round(time.monotonic() - started, 3)
    return total
