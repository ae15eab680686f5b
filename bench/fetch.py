"""Benchmark: fetch the fixture news site from several local hosts with default politeness.

    python bench/fetch.py [--hosts 4] [--articles 20] [--rate R]

Each host (127.0.0.1, 127.0.0.2, ...) serves the fixture site of tests/fetch/site.py:
a feed and a sitemap index listing `--articles` articles plus the pages that go wrong
(404, 500 then 200, 429 + Retry-After, a 2 s page, redirect loop, binary file, ...).
Prints the fetch summary, pages/s and requests/s, then the same for a second run,
which should fetch nothing (304s and already-fetched URLs). The default options are
the sources file defaults (rate 1 request/s per host); `--rate 0` removes the spacing
to show what the machinery itself sustains.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.fetch import FetchContext, FetchOptions, FetchSummary, Source, fetch_sources
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite


def report(label: str, summary: FetchSummary, requests: int) -> None:
    counts = {k: v for k, v in summary.to_dict().items() if not k.endswith("warc_keys")}
    print(f"{label}: {json.dumps(counts)}")
    per_second = requests / summary.seconds if summary.seconds else 0.0
    print(
        f"{label}: {summary.pages_per_second:.2f} pages/s "
        f"({summary.fetched} pages in {summary.seconds:.1f} s), "
        f"{per_second:.1f} requests/s served ({requests} requests), {len(summary.warc_keys)} page archives"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=4, help="fixture hosts, 127.0.0.1 upwards (default 4)")
    parser.add_argument("--articles", type=int, default=20, help="articles per host (default 20)")
    parser.add_argument("--rate", type=float, default=None, help="requests/s per host (default: the default)")
    args = parser.parse_args()
    options = FetchOptions() if args.rate is None else replace(FetchOptions(), rate=args.rate)
    print(f"options: {json.dumps(options.__dict__, default=list)}")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as folder:
        sites = [
            stack.enter_context(FixtureSite(f"127.0.0.{n}", articles=args.articles))
            for n in range(1, args.hosts + 1)
        ]
        sources = [
            source
            for i, site in enumerate(sites, 1)
            for source in (
                Source(f"host{i}-feed", "feed", (f"{site.url}/feed.xml",), options),
                Source(f"host{i}-sitemap", "sitemap", (f"{site.url}/sitemap_index.xml",), options),
            )
        ]
        store = LocalStore(folder)
        print(f"{args.hosts} hosts x ({args.articles} articles + 11 other pages), {len(sources)} sources")
        for label, run_id in (("first run", "20240501T060000Z"), ("second run", "20240501T070000Z")):
            before = sum(sum(site.hits.values()) for site in sites)
            summary = fetch_sources(sources, FetchContext(store, run_id, allow_private=True))
            report(label, summary, sum(sum(site.hits.values()) for site in sites) - before)


if __name__ == "__main__":
    main()
