"""The extraction stage: read input files into raw pages and clean each page in worker processes.

Looks at one page at a time, so it can run anywhere (a CLI run, one Airflow shard task);
everything that needs the whole run happens later, under the store's lease.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from functools import partial
from itertools import islice

from pipeline import clean
from pipeline.config import CleanConfig, Config
from pipeline.records import Document, RawPage, Rejection
from pipeline.sources import InputFile, read_input


def _pages(files: list[InputFile], config: Config, s3_client) -> Iterator[RawPage | Rejection]:
    for file in files:
        yield from read_input(file, config.limits.max_page_bytes, s3_client)


def _extract_or_pass(item: RawPage | Rejection, config: CleanConfig) -> Document | Rejection:
    return item if isinstance(item, Rejection) else clean.extract(item, config)


def _bounded_map(executor: Executor, fn: Callable, items: Iterable, window: int) -> Iterator:
    """executor.map that keeps at most `window` items in flight, so a huge WARC streams."""
    items = iter(items)
    pending: list[Future] = [executor.submit(fn, item) for item in islice(items, window)]
    while pending:
        result = pending.pop(0).result()
        pending.extend(executor.submit(fn, item) for item in islice(items, 1))
        yield result


def extract_files(
    files: list[InputFile], config: Config, s3_client=None, on_page: Callable[[], None] | None = None
) -> list[Document | Rejection]:
    """Clean every page of the input files, using one process per core."""
    workers = config.clean.workers or os.cpu_count() or 1
    work = partial(_extract_or_pass, config=config.clean)
    results = []
    with ProcessPoolExecutor(max_workers=workers) as executor:
        for result in _bounded_map(executor, work, _pages(files, config, s3_client), window=8 * workers):
            results.append(result)
            if on_page:
                on_page()
    return results
