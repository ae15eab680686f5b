"""The extraction stage: read input files into raw pages and clean each page in worker processes.

Looks at one page at a time, so it can run anywhere (a CLI run, one Airflow shard task);
everything that needs the whole run happens later, under the store's lease. Each page is
cleaned under the CPU-time and memory limits of `config.limits` (`pipeline.workers`); a
page that hits one is rejected with that reason and the run goes on. Results come back
in input order with a bounded number of pages in flight, so a huge WARC streams.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future

from pipeline import clean
from pipeline.config import Config
from pipeline.failpoints import failpoint
from pipeline.records import Document, RawPage, Rejection, utc_iso
from pipeline.sources import InputFile, read_input
from pipeline.workers import LimitedPool, TaskFailed

PAGES_IN_FLIGHT_PER_WORKER = 4


def _pages(files: list[InputFile], config: Config, s3_client) -> Iterator[RawPage | Rejection]:
    for file in files:
        yield from read_input(file, config.limits, s3_client)


def _failed(page: RawPage, failure: TaskFailed) -> Rejection:
    content_sha = hashlib.sha256(page.content).hexdigest()
    return Rejection(page.url, failure.reason, failure.detail, utc_iso(page.fetched_at), content_sha)


def _cleaned(
    pool: LimitedPool, items: Iterable[RawPage | Rejection], config: Config, window: int
) -> Iterator[Document | Rejection]:
    """Each item cleaned (a rejection passes through), in order, at most `window` in flight."""
    in_flight: deque[Rejection | tuple[RawPage, Future]] = deque()

    def finish() -> Document | Rejection:
        entry = in_flight.popleft()
        if isinstance(entry, Rejection):
            return entry
        page, future = entry
        result = pool.result(future)
        return _failed(page, result) if isinstance(result, TaskFailed) else result

    for item in items:
        in_flight.append(
            item if isinstance(item, Rejection) else (item, pool.submit(clean.extract, item, config.clean))
        )
        if len(in_flight) >= window:
            yield finish()
    while in_flight:
        yield finish()


def worker_count(config: Config) -> int:
    return config.clean.workers or len(os.sched_getaffinity(0))


def extract_files(
    files: list[InputFile], config: Config, s3_client=None, on_page: Callable[[], None] | None = None
) -> Iterator[Document | Rejection]:
    """Clean every page of the input files, in input order as they are ready, using one process
    per core (`config.clean.workers`).

    Workers start from a forkserver, which imports the `__main__` module of a script again:
    a script that calls this must keep its top-level work under `if __name__ == "__main__":`.
    """
    workers = worker_count(config)
    limits = config.limits
    with LimitedPool(workers, limits.page_cpu_seconds, limits.page_memory_mb) as pool:
        pages = _pages(files, config, s3_client)
        for result in _cleaned(pool, pages, config, window=PAGES_IN_FLIGHT_PER_WORKER * workers):
            failpoint("extract.page")
            if on_page:
                on_page()
            yield result
