"""Command line: `python -m pipeline ingest --input seeds` and friends.

Exit codes: 0 the run committed (rejected pages included; a cleanup after the commit that
failed is only a warning), 2 a usage, input or store problem, a busy store, or a run id in use
(said in one line, no traceback). docs/runs.md has the details. `report` exits 2 for a store
without committed runs.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pipeline import layout
from pipeline.config import load_config
from pipeline.pending import mark_ingested, pending_archives
from pipeline.report import run_report
from pipeline.report_html import standalone_page
from pipeline.runner import RunIdInUse, RunSummary, committed_summary, ingest, new_run_id
from pipeline.sources import InputError
from pipeline.store import DEFAULT_STORE, Store, StoreError, open_store

if TYPE_CHECKING:  # fetching is imported when a command fetches: an ingest never pays for it
    from pipeline.fetch import FetchSummary

console = Console(stderr=True, soft_wrap=True)  # an error is one line, however long
ALLOW_PRIVATE_HELP = (
    "let fetching reach private, loopback and link-local addresses (refused by default: feeds and "
    "redirects must not reach internal services)"
)
REDIS_URL_HELP = (
    "share each host's request spacing, concurrency cap and robots.txt with every other fetch using this "
    "Redis database, e.g. redis://localhost:6379/1 (default: $NEWS_REDIS_URL, else kept in this process)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Turn raw news pages into a clean, deduplicated corpus with lineage.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "ingest",
        help="clean, deduplicate and store raw pages",
        description="Read raw pages, clean them, fold syndicated copies into one canonical article per "
        "story, and write articles, lineage and a run manifest to the store.",
    )
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="PATH",
        help="a folder (recursive: .html/.htm pages, .txt scrapes, .warc/.warc.gz archives; other files "
        "are rejected with their reason), a single file, or s3://bucket/prefix; repeat for several. "
        "Every ingest also reads the raw archives that `fetch` left in the store for it",
    )
    run.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="URI",
        help=f"where the corpus goes: a folder, file://PATH or s3://bucket/prefix "
        f"(default: {DEFAULT_STORE}); S3 credentials and endpoint come the standard AWS way "
        "(AWS_* variables, profiles, AWS_ENDPOINT_URL)",
    )
    run.add_argument(
        "--run-id",
        default=None,
        help="name of this run in the store: 1-128 letters, digits, '_', '.' or '-' (default: the UTC "
        "time and a random suffix, e.g. 20261122T061500Z-3f9a); a run id that is committed or in use "
        "by a running run is refused",
    )
    run.add_argument(
        "--config", metavar="FILE", help="YAML file overriding thresholds (see pipeline/config.py)"
    )
    run.add_argument(
        "--reprocess",
        action="store_true",
        help="process pages even if an earlier run ingested the same URL with the same bytes",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    run.add_argument(
        "--sources",
        metavar="FILE",
        help="first fetch the feeds, sitemaps and URL lists of this sources file (docs/sources.md), "
        "then ingest the fetched pages with any --input (and what earlier fetches left for ingest)",
    )
    run.add_argument("--allow-private", action="store_true", help=ALLOW_PRIVATE_HELP)
    run.add_argument(
        "--redis-url", default=os.environ.get("NEWS_REDIS_URL"), metavar="URL", help=REDIS_URL_HELP
    )
    fetch = commands.add_parser(
        "fetch",
        help="fetch pages from the web into the store's raw/ WARC archive",
        description="Discover article URLs in feeds, sitemaps and URL lists, and fetch them politely "
        "(robots.txt, per-host rate limits, retries); every answer is archived as WARC under raw/.",
    )
    fetch.add_argument("--sources", required=True, metavar="FILE", help="the sources file (docs/sources.md)")
    fetch.add_argument(
        "--store",
        default=DEFAULT_STORE,
        metavar="URI",
        help=f"where archives and fetch state go: a folder, file://PATH or s3://bucket/prefix "
        f"(default: {DEFAULT_STORE})",
    )
    fetch.add_argument(
        "--run-id", default=None, help="names the run's archive files (default: the current UTC time)"
    )
    fetch.add_argument(
        "--reprocess",
        action="store_true",
        help="fetch pages an earlier run fetched, and feeds and sitemaps unconditionally",
    )
    fetch.add_argument("--allow-private", action="store_true", help=ALLOW_PRIVATE_HELP)
    fetch.add_argument(
        "--redis-url", default=os.environ.get("NEWS_REDIS_URL"), metavar="URL", help=REDIS_URL_HELP
    )
    fetch.add_argument("--quiet", action="store_true", help="no progress bar and no summary table")
    fetch.add_argument(
        "--per-host", action="store_true", help="progress and summary per host as well as for the run"
    )
    report = commands.add_parser(
        "report",
        help="write what the committed runs did as one HTML page",
        description="Write the runs report: each committed run's counts, duration and throughput, charts "
        "of pages, duplicate rate and rejection rate over time, and rejected pages by reason with sample "
        "URLs. The page is one self-contained file (chart library and data inlined): open it in any "
        "browser, no server or network needed.",
    )
    report.add_argument(
        "--store", default=DEFAULT_STORE, metavar="URI", help=f"the store to read (default: {DEFAULT_STORE})"
    )
    report.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    return parser


def summary_table(summary: RunSummary, store_uri: str) -> Table:
    table = Table(title=f"run {summary.run_id}", caption=f"store: {store_uri}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("pages in", str(summary.pages_in))
    table.add_row("canonical articles", str(summary.canonical))
    table.add_row("duplicates folded", str(summary.duplicates))
    table.add_row("stories with a new canonical", str(summary.superseded))
    table.add_row("already ingested (skipped)", str(summary.already_ingested))
    table.add_row("rejected", str(sum(summary.rejected.values())))
    for reason, count in sorted(summary.rejected.items()):
        table.add_row(f"  rejected: {reason}", str(count))
    table.add_row("seconds", f"{summary.seconds:.1f}")
    return table


def fetch_table(summary: FetchSummary, run_id: str) -> Table:
    table = Table(title=f"fetch {run_id}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("discovered", "documents", "fetched", "not_modified", "skipped_seen", "skipped_robots"):
        table.add_row(name.replace("_", " "), str(getattr(summary, name)))
    table.add_row("over max_pages (next run)", str(summary.over_limit))
    for reason, count in sorted(summary.failed.items()):
        table.add_row(f"  failed: {reason}", str(count))
    table.add_row("archives written", str(len(summary.warc_keys)))
    table.add_row("pages per second", f"{summary.pages_per_second:.2f}")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    return table


def hosts_table(summary: FetchSummary) -> Table:
    """Pages per host and outcome group (fetched, not modified, skipped, failed)."""
    from pipeline.fetch.progress import GROUPS as FETCH_GROUPS

    table = Table(title="pages per host")
    table.add_column("host")
    for group in FETCH_GROUPS:
        table.add_column(group.replace("_", " "), justify="right")
    for origin, groups in sorted(summary.hosts.items()):
        table.add_row(origin, *(str(groups.get(group, 0)) for group in FETCH_GROUPS))
    return table


@contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[Callable[[], None]]:
    """A live count of pages on the terminal; yields the callback that advances it."""
    columns = (SpinnerColumn(), TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    live = not quiet and console.is_terminal  # a log file gets the summary, not bar frames
    with Progress(*columns, console=console, disable=not live, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda: progress.advance(task)


def fetch_from_sources(
    args: argparse.Namespace, store: Store, run_id: str, per_host: bool = False
) -> FetchSummary:
    """Fetch the sources file's pages; the raw archives are recorded for the next ingest."""
    from pipeline.fetch import FetchContext, RichFetchProgress, fetch_sources, load_sources, open_politeness

    sources = load_sources(args.sources)
    context = FetchContext(
        store,
        run_id,
        politeness=open_politeness(args.redis_url),  # an unreachable Redis stops here, before any request
        allow_private=args.allow_private,
        reprocess=args.reprocess,
        mark_pending=True,
        progress=RichFetchProgress(console, per_host=per_host, quiet=args.quiet),
    )
    with context.progress:
        summary = fetch_sources(sources, context)
    if not args.quiet:
        Console().print(fetch_table(summary, run_id))
        if per_host:
            Console().print(hosts_table(summary))
    return summary


def run_fetch(args: argparse.Namespace) -> int:
    run_id = layout.check_run_id(args.run_id or new_run_id())
    store = open_store(args.store)
    fetch_from_sources(args, store, run_id, per_host=args.per_host)
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    run_id = layout.check_run_id(args.run_id or new_run_id())
    config = load_config(args.config)
    store = open_store(args.store)
    if committed_summary(store, run_id) is not None:  # said before any fetching or progress bar
        raise RunIdInUse(f"run id {run_id!r} is already committed: choose another")
    if args.sources:
        fetch_from_sources(args, store, run_id)
    pending = pending_archives(store)  # what this and earlier fetches archived and no ingest read
    args.input = list(dict.fromkeys([*args.input, *(store.location(key) for key in pending)]))
    if not args.input:
        console.print(
            "nothing to ingest: no fetched archives are waiting; give --input, or --sources to fetch first"
        )
        return 0 if args.sources else 2
    try:
        with progress_bar("cleaning pages", args.quiet) as advance:
            summary = ingest(args.input, store, run_id, config, reprocess=args.reprocess, on_page=advance)
    except StoreError as err:
        if args.sources:  # the fetch state already counts those pages as fetched: say how to finish
            raise StoreError(
                f"{err}\nthe fetched pages are archived and wait for the next ingest "
                f"(this run's: --run-id {run_id})"
            ) from err
        raise
    mark_ingested(store, pending)  # committed: those archives wait no more
    if not args.quiet:
        Console().print(summary_table(summary, store.uri))
    return 0


def write_report(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    figures = run_report(store)
    if not figures["runs"]:
        console.print(f"error: {store.uri} has no committed runs to report on")
        return 2
    Path(args.html).write_text(standalone_page(figures), encoding="utf-8")
    runs = len(figures["runs"])
    console.print(f"wrote {args.html}: {runs} runs of {store.uri}", markup=False, highlight=False)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ingest": run_ingest,
    "fetch": run_fetch,
    "report": write_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")  # one line each
    try:
        return COMMANDS[args.command](args)
    except (StoreError, InputError, ValueError, OSError) as err:
        console.print(f"error: {err}", markup=False, highlight=False)
        return 2
