"""Command line: `python -m pipeline ingest --input seeds` and friends.

Exit codes: 0 the run finished (rejected pages included), 2 a usage, input or store
problem (said in one line, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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

from pipeline.config import load_config
from pipeline.runner import RunSummary, ingest, new_run_id
from pipeline.sources import InputError
from pipeline.store import DEFAULT_STORE, StoreError, open_store

console = Console(stderr=True)


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
        help="a folder (recursive: .html/.htm pages, .txt scrapes, .warc/.warc.gz archives), a single file, "
        "or an s3://bucket/prefix; repeat for several",
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
        help="name of this run in the store (default: the current UTC time, e.g. 20261122T061500Z); "
        "re-running a committed run id does nothing",
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
    return parser


def summary_table(summary: RunSummary, store_uri: str) -> Table:
    table = Table(title=f"run {summary.run_id} -> {store_uri}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("pages in", str(summary.pages_in))
    table.add_row("canonical articles", str(summary.canonical))
    table.add_row("duplicates folded", str(summary.duplicates))
    table.add_row("already ingested (skipped)", str(summary.already_ingested))
    table.add_row("rejected", str(sum(summary.rejected.values())))
    for reason, count in sorted(summary.rejected.items()):
        table.add_row(f"  rejected: {reason}", str(count))
    table.add_row("seconds", f"{summary.seconds:.1f}")
    return table


def run_ingest(args: argparse.Namespace) -> int:
    if not args.input:
        console.print("error: give at least one --input")
        return 2
    config = load_config(args.config)
    store = open_store(args.store)
    run_id = args.run_id or new_run_id()
    with Progress(
        SpinnerColumn(),
        TextColumn("cleaning pages"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=args.quiet,
        transient=True,
    ) as progress:
        task = progress.add_task("pages", total=None)
        summary = ingest(args.input, store, run_id, config, on_page=lambda: progress.advance(task))
    if not args.quiet:
        Console().print(summary_table(summary, store.uri))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_ingest(args)
    except (StoreError, InputError, ValueError, OSError) as err:
        console.print(f"error: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
