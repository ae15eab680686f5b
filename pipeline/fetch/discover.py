"""Discovery: from a source's feeds or sitemaps to the page URLs to fetch, newest first.

Feeds are read with feedparser; sitemaps (XML, Google News, plain text, gzipped, and
sitemap indexes) with ultimate-sitemap-parser's `sitemap_from_str`. Both only ever see
bytes fetched by our own `WebClient`, so robots.txt, rate limits, size limits and the
address policy apply to feeds and sitemaps exactly as to pages; the recursion through
sitemap indexes is ours too, for the same reason. Feeds and sitemaps are requested
conditionally: a 304 reuses the links read from that document last time.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from pipeline import layout
from pipeline.fetch.archive import WarcArchive
from pipeline.fetch.client import WebClient, normalize_url
from pipeline.fetch.context import FetchContext
from pipeline.fetch.sources_file import Source
from pipeline.fetch.state import load_state
from pipeline.fetch.summary import FetchSummary
from pipeline.records import utc_iso
from pipeline.store import Store

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
SITEMAP_MAX_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed sitemap


class Unreadable(ValueError):
    """A feed or sitemap answered 200 but its content could not be parsed."""


@dataclass
class Listing:
    """What one feed or sitemap lists: pages (URL, ISO date or "") and child sitemaps."""

    pages: list[tuple[str, str]]
    sitemaps: list[str]

    def to_state(self) -> dict[str, Any]:
        return {"pages": [list(p) for p in self.pages], "sitemaps": self.sitemaps}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Listing:
        return cls([(url, when) for url, when in state.get("pages", [])], list(state.get("sitemaps", [])))


@dataclass
class Discovery:
    """Page URLs to fetch for one source, and what reading its feeds or sitemaps cost."""

    urls: list[str]
    summary: FetchSummary


def _iso(moment: datetime | None) -> str:
    return utc_iso(moment) if moment else ""


def parse_feed(body: bytes, url: str) -> Listing:
    import feedparser

    feed = feedparser.parse(body)
    if feed.bozo and not feed.entries:
        raise Unreadable(f"not a feed: {feed.get('bozo_exception')}")
    pages = []
    for entry in feed.entries:
        if not entry.get("link"):
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        pages.append((urljoin(url, entry.link), _iso(datetime(*stamp[:6], tzinfo=UTC) if stamp else None)))
    return Listing(pages, [])


def parse_sitemap(body: bytes, url: str) -> Listing:
    from usp.exceptions import GunzipException
    from usp.helpers import gunzip
    from usp.objects.sitemap import InvalidSitemap
    from usp.tree import sitemap_from_str

    if body.startswith(GZIP_MAGIC):
        try:
            body = gunzip(body, max_output_bytes=SITEMAP_MAX_BYTES)
        except GunzipException as err:
            raise Unreadable(str(err)) from None
    sitemap = sitemap_from_str(body.decode("utf-8-sig", errors="replace"))
    if isinstance(sitemap, InvalidSitemap):
        raise Unreadable(f"not a sitemap: {sitemap.reason}")
    pages = []
    for page in sitemap.pages:
        story = page.news_story
        when = (story.publish_date if story else None) or page.last_modified
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        pages.append((urljoin(url, page.url), _iso(when)))
    return Listing(pages, [urljoin(url, child.url) for child in sitemap.sub_sitemaps])


class _DocumentReader:
    """Fetches, archives and parses one source's feeds or sitemaps."""

    def __init__(self, client: WebClient, store: Store, archive: WarcArchive, reprocess: bool) -> None:
        self.client, self.store, self.archive, self.reprocess = client, store, archive, reprocess
        self.summary = FetchSummary()

    def read(self, url: str, parse: Callable[[bytes, str], Listing]) -> Listing | None:
        state = None if self.reprocess else load_state(self.store, url)
        result = self.client.get(url, page=False, validators=state)
        outcome, final = result.outcome, result.final
        listing = None
        if outcome == "not_modified" and state is not None:
            listing = Listing.from_state(state)
        elif outcome == "fetched" and final is not None:
            try:
                listing = parse(final.body, final.url)
            except Unreadable as err:
                result.fail("unreadable", str(err))
                outcome = "unreadable"
        states = {}
        if listing is not None:
            validators = {"etag": final.header("ETag"), "last_modified": final.header("Last-Modified")}
            if outcome == "not_modified" and state is not None:  # a 304 may omit them: keep the old ones
                validators = {key: validators[key] or state.get(key) for key in validators}
            states[url] = {**validators, **listing.to_state(), "checked_at": utc_iso(final.fetched_at)}
        self.archive.add(result, states)
        self.summary.count(outcome, document=True)
        if result.failure:
            log.warning("%s: %s (%s)", url, result.failure, result.detail)
        return listing

    def sitemaps(self, roots: tuple[str, ...], limit: int) -> list[tuple[str, str]]:
        """Pages of the sitemaps, following sitemap indexes breadth-first up to `limit` documents."""
        queue, queued, pages, read = deque(roots), set(roots), [], 0
        while queue and read < limit:
            listing = self.read(queue.popleft(), parse_sitemap)
            read += 1
            if listing is None:
                continue
            pages.extend(listing.pages)
            for child in filter(None, map(normalize_url, listing.sitemaps)):
                if child not in queued:
                    queued.add(child)
                    queue.append(child)
        if queue:
            log.warning("max_sitemaps %d reached; %d sitemaps left for later runs", limit, len(queue))
        return pages


def _newest_first(pages: list[tuple[str, str]]) -> list[str]:
    """Page URLs without repeats, dated ones newest first, undated ones after in listed order.

    URLs are normalised; one that cannot be (not http, broken) is passed on as it is,
    so that fetching records it as `bad_url` instead of it vanishing here.
    """
    ordered = sorted(pages, key=lambda page: page[1], reverse=True)  # stable: ties keep listed order
    return list(dict.fromkeys(normalize_url(url) or url for url, _ in ordered))


def discover(source: Source, context: FetchContext) -> Discovery:
    """The page URLs a source lists now. Feed and sitemap answers are archived under discovery/."""
    started = time.monotonic()
    if source.kind == "urls":
        urls = _newest_first([(url, "") for url in source.urls])
        return Discovery(urls, FetchSummary(discovered=len(urls)))
    with WarcArchive(context.store, layout.DISCOVERY_AREA, context.run_id, source.name) as archive:
        client = WebClient(source.options, context, on_robots_fetch=archive.add)
        reader = _DocumentReader(client, context.store, archive, context.reprocess)
        if source.kind == "feed":
            pages = [
                page
                for url in source.urls
                if (listing := reader.read(url, parse_feed))
                for page in listing.pages
            ]
        else:
            pages = reader.sitemaps(source.urls, source.options.max_sitemaps)
    urls = _newest_first(pages)
    summary = reader.summary
    summary.discovered = len(urls)
    summary.discovery_warc_keys = list(archive.keys)
    summary.seconds = round(time.monotonic() - started, 3)
    return Discovery(urls, summary)
