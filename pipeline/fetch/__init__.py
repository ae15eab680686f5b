"""Fetching from the web: feeds, news sitemaps and URL lists, politely, every answer archived.

    load_sources(path) -> [Source]                     the documented sources file (docs/sources.md)
    FetchContext(store, run_id, ...)                    what every stage needs: store, run, host state
    discover(source, context) -> Discovery             page URLs a source lists now
    fetch_urls(source, urls, context) -> FetchSummary  one source's pages
    fetch_sources(sources, context) -> FetchSummary    both, for every source, as one plan
    open_politeness(redis_url) -> Politeness           host state in-process, or shared through Redis

A scheduler maps `discover` and `fetch_urls` over sources; `fetch_sources` is the
one-machine path. The written WARCs (`FetchSummary.warc_keys`) are ingest's input; with
`FetchContext(mark_pending=True)` they are also recorded for the next `ingest`
(pipeline/pending.py).
"""

from pipeline.fetch.context import FetchContext
from pipeline.fetch.discover import Discovery, discover
from pipeline.fetch.politeness import Politeness, SharedStateError
from pipeline.fetch.progress import FetchProgress, RichFetchProgress
from pipeline.fetch.run import fetch_sources, fetch_urls
from pipeline.fetch.shared_state import open_politeness
from pipeline.fetch.sources_file import FetchOptions, Source, SourcesError, load_sources
from pipeline.fetch.summary import FetchSummary

__all__ = [
    "Discovery",
    "FetchContext",
    "FetchOptions",
    "FetchProgress",
    "FetchSummary",
    "Politeness",
    "RichFetchProgress",
    "SharedStateError",
    "Source",
    "SourcesError",
    "discover",
    "fetch_sources",
    "fetch_urls",
    "load_sources",
    "open_politeness",
]
