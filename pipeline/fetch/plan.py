"""Which source requests which page in a run, decided once discovery is done, before any page request.

The decisions do not depend on the order of the sources file: sources are taken by name.

- A URL is requested once per run, however many sources list it: by the first source (by
  name) that lists it and still has room under its `max_pages`.
- A URL an earlier run fetched for good is `skipped_seen` (unless reprocessing), once.
- A URL no listing source has room for is `over_limit`, once; the next run asks again.
- A host is fetched with the strictest spacing and concurrency cap of the sources that
  list pages on it, so no source's lower limit is overridden by another's.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pipeline.fetch.client import normalize_url
from pipeline.fetch.context import FetchContext, HostLimits
from pipeline.fetch.politeness import origin_of
from pipeline.fetch.sources_file import Source
from pipeline.fetch.state import load_state

STATE_READERS = 16  # fetch states read at once (one store GET each)
BAD_URLS = "(not http URLs)"  # where progress and the per-host counts file URLs that have no host


@dataclass(frozen=True)
class Listing:
    """The page URLs one source lists in this run, in the order it wants them fetched."""

    source: Source
    urls: list[str]


@dataclass
class Plan:
    """Pages to request per host, in order, and the outcomes settled without a request."""

    requests: dict[str, list[tuple[Source, str]]] = field(default_factory=dict)  # origin -> (source, url)
    settled: list[tuple[Source, str, str]] = field(default_factory=list)  # (source, url, outcome)
    bad_urls: list[tuple[Source, str]] = field(default_factory=list)  # not absolute http(s): archived
    limits: dict[str, HostLimits] = field(default_factory=dict)

    @property
    def discovered(self) -> int:
        """Distinct page URLs listed, each counted once whatever lists it."""
        return sum(map(len, self.requests.values())) + len(self.settled) + len(self.bad_urls)

    def pages_per_host(self) -> dict[str, int]:
        pages: dict[str, int] = defaultdict(int)
        for origin, requests in self.requests.items():
            pages[origin] += len(requests)
        for _, url, _ in self.settled:
            pages[origin_of(url)] += 1
        if self.bad_urls:
            pages[BAD_URLS] += len(self.bad_urls)
        return dict(pages)


def _normalized(listings: list[Listing]) -> tuple[list[Listing], dict[str, Source], list[tuple[Source, str]]]:
    """Each source's URLs normalised, without repeats, sources by name; the first source (by name)
    listing each URL; and the URLs that are no absolute http(s) URL, with a source listing them."""
    ordered: list[Listing] = []
    first: dict[str, Source] = {}
    bad: dict[str, Source] = {}
    for listing in sorted(listings, key=lambda listing: listing.source.name):
        urls = []
        for url in listing.urls:
            normalized = normalize_url(url)
            if normalized is None:
                bad.setdefault(url, listing.source)
            else:
                first.setdefault(normalized, listing.source)
                urls.append(normalized)
        ordered.append(Listing(listing.source, list(dict.fromkeys(urls))))
    return ordered, first, [(source, url) for url, source in bad.items()]


def _seen(urls: list[str], context: FetchContext) -> set[str]:
    """The URLs an earlier run fetched for good (none when reprocessing)."""
    if context.reprocess:
        return set()
    with ThreadPoolExecutor(max_workers=STATE_READERS) as pool:
        states = pool.map(lambda url: load_state(context.store, url), urls)
        return {url for url, state in zip(urls, states, strict=True) if state is not None}


def plan_pages(listings: list[Listing], context: FetchContext) -> Plan:
    """Who requests which page, and what is settled without a request (see the module doc)."""
    ordered, first, bad_urls = _normalized(listings)
    seen = _seen(list(first), context)
    plan = Plan(bad_urls=bad_urls)
    assigned: set[str] = set()
    for listing in ordered:
        room, options = listing.source.options.max_pages, listing.source.options
        for url in listing.urls:
            origin = origin_of(url)
            limits = plan.limits.get(origin, HostLimits())
            plan.limits[origin] = limits.tighten(options.interval, options.max_concurrency)
            if url in seen or url in assigned or room <= 0:
                continue
            room -= 1
            assigned.add(url)
            plan.requests.setdefault(origin, []).append((listing.source, url))
    for url, source in first.items():
        if url in seen:
            plan.settled.append((source, url, "skipped_seen"))
        elif url not in assigned:
            plan.settled.append((source, url, "over_limit"))
    return plan


def share_out(listings: list[Listing], context: FetchContext) -> dict[str, list[str]]:
    """Each source's share of the listed URLs, for schedulers that fetch each source in a task of its own.

    Every URL is in one share: its requester's, else (seen, over the caps) its first lister's.
    `fetch_urls` on each share then decides what `fetch_sources` decides for all at once.
    """
    plan = plan_pages(listings, context)
    shares: dict[str, list[str]] = {listing.source.name: [] for listing in listings}
    for requests in plan.requests.values():
        for source, url in requests:
            shares[source.name].append(url)
    for source, url, _ in plan.settled:
        shares[source.name].append(url)
    for source, url in plan.bad_urls:
        shares[source.name].append(url)
    return shares
