"""Fetching from the web: feeds, news sitemaps and URL lists, politely, every answer archived.

    load_sources(path) -> [Source]                 the documented sources file (docs/sources.md)
    discover(source, store, run_id) -> Discovery   page URLs a source lists now
    fetch_urls(source, urls, store, run_id) -> FetchSummary
    fetch_sources(sources, store, run_id) -> FetchSummary   both, for every source
    open_politeness(redis_url) -> Politeness       host budgets in-process, or shared through Redis

A scheduler maps `discover` and `fetch_urls` over sources; `fetch_sources` is the
one-machine path. The written WARCs (`FetchSummary.warc_keys`) are ingest's input.
"""

from pipeline.fetch.discover import Discovery, discover
from pipeline.fetch.politeness import Politeness, SharedStateError, open_politeness
from pipeline.fetch.run import fetch_sources, fetch_urls
from pipeline.fetch.sources_file import FetchOptions, Source, SourcesError, load_sources
from pipeline.fetch.summary import FetchSummary

__all__ = [
    "Discovery",
    "FetchOptions",
    "FetchSummary",
    "Politeness",
    "SharedStateError",
    "Source",
    "SourcesError",
    "discover",
    "fetch_sources",
    "fetch_urls",
    "load_sources",
    "open_politeness",
]
