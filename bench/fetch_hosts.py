"""Benchmark: many hosts at once. Pages/s reached against the politeness limit, and peak memory.

    python bench/fetch_hosts.py [--hosts 125] [--pages 10000] [--rate 2] [--sources 10]

`--hosts` fixture sites (tests/fetch/site.py) listen on 127.0.1.1, 127.0.1.2, ... (loopback
only), served by a separate process so that serving does not compete with fetching for
this process's interpreter. `--sources` URL-list sources each list an equal share of the
`--pages` article URLs, spread over every host, plus a tenth of another source's URLs (the
same page listed twice is fetched once). Each host allows `--rate` requests per second, so
the politeness limit is hosts x rate requests per second; robots.txt (one per host) counts
as a request. Prints pages/s and requests/s reached, their share of the limit, and this
process's peak resident memory (the fetcher's; the servers run elsewhere).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.fetch import FetchContext, FetchOptions, Source, fetch_sources
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite

SPAWN = multiprocessing.get_context("spawn")


def host_address(number: int) -> str:
    """The loopback address of host `number` (0-based): 127.0.1.1 upwards, 250 per third octet."""
    return f"127.0.{1 + number // 250}.{1 + number % 250}"


def serve(hosts: int, pipe: Connection) -> None:
    """Run the fixture sites until told to stop; sends their base URLs, then their request counts."""
    with ExitStack() as stack:
        sites = [stack.enter_context(FixtureSite(host_address(n))) for n in range(hosts)]
        pipe.send([site.url for site in sites])
        pipe.recv()  # stop
        pipe.send(sum(sum(site.hits.values()) for site in sites))


def build_sources(urls: list[str], pages: int, sources: int, options: FetchOptions) -> list[Source]:
    """`sources` URL lists sharing `pages` articles round-robin over the hosts; each also lists a
    tenth of the next source's URLs, so a tenth of all pages is listed twice."""
    articles = [f"{urls[n % len(urls)]}/articles/{n}" for n in range(pages)]
    shares = [articles[i::sources] for i in range(sources)]
    return [
        Source(
            f"bench-{i:02d}", "urls", tuple(share + shares[(i + 1) % sources][: len(share) // 10]), options
        )
        for i, share in enumerate(shares)
    ]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=125, help="fixture hosts (default 125)")
    parser.add_argument("--pages", type=int, default=10_000, help="distinct article pages (default 10000)")
    parser.add_argument("--rate", type=float, default=2.0, help="requests/s allowed per host (default 2)")
    parser.add_argument("--sources", type=int, default=10, help="URL-list sources (default 10)")
    args = parser.parse_args()
    options = FetchOptions(rate=args.rate, max_concurrency=2, timeout=30, retries=1, max_pages=args.pages)
    ours, theirs = SPAWN.Pipe()
    server = SPAWN.Process(target=serve, args=(args.hosts, theirs), daemon=True)
    server.start()
    urls = ours.recv()
    sources = build_sources(urls, args.pages, args.sources, options)
    limit = args.hosts * args.rate
    print(f"{args.hosts} hosts at {args.rate:g} requests/s each: politeness limit {limit:g} requests/s")
    print(f"{args.pages} pages in {len(sources)} sources ({sum(len(s.urls) for s in sources)} listings)")
    before = peak_rss_mb()
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        summary = fetch_sources(
            sources, FetchContext(LocalStore(folder), "20240501T060000Z", allow_private=True)
        )
        seconds = time.monotonic() - started
    ours.send("stop")
    served = ours.recv()
    server.join(timeout=30)
    print(f"fetched {summary.fetched}, failed {summary.failed}, discovered {summary.discovered}")
    print(f"requests served: {served} ({args.hosts} robots.txt)")
    shortest = (served / args.hosts) / args.rate  # every host busy at its limit from start to end
    print(f"seconds: {seconds:.1f} (at the limit all along: {shortest:.1f})")
    print(f"pages/s: {summary.fetched / seconds:.1f} ({summary.fetched / seconds / limit:.0%} of the limit)")
    print(f"requests/s: {served / seconds:.1f} ({served / seconds / limit:.0%} of the limit)")
    print(f"peak memory of the fetching process: {peak_rss_mb():.0f} MiB (before fetching: {before:.0f} MiB)")


if __name__ == "__main__":
    main()
