"""Real pipeline runs for the chaos tests and the chaos benchmark: a crawl of dev pages, a run in
its own session, a kill at a failpoint and the rerun after it, and what a store holds afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psutil

from pipeline import layout
from pipeline.corpus import iter_articles, iter_lineage, read_manifests
from pipeline.store import Store, open_store
from tests.conftest import REPO, SHARED

PAGES = 40  # from the dev syndication set: originals, copies and hard negatives
# Several batches of pages and several article and lineage parts, to die between them.
SETTINGS = "run:\n  part_records: 8\n  batch_pages: 16\n"


def write_crawl(path: Path, pages: int = PAGES, skip: int = 0) -> Path:
    """Responses `skip` to `skip + pages` of the dev syndication WARC, as their own archive."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    with (SHARED / "eval/syndication-dev/corpus.warc.gz").open("rb") as source, path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        responses = (record for record in ArchiveIterator(source) if record.rec_type == "response")
        for number, record in enumerate(responses):
            if number >= skip + pages:
                break
            if number >= skip:
                writer.write_record(record)
    return path


class Run:
    """One finished `python -m pipeline ingest --quiet` in a session of its own (its session id is
    its pid, shared by every process it starts: the forkserver and the cleaning workers too).

    `failpoints` is a PIPELINE_FAILPOINTS value (pipeline.failpoints), e.g. "lease.taken=kill".
    """

    def __init__(
        self,
        store: str,
        inputs: Path | Sequence[Path],
        settings: Path | None,
        env: dict[str, str],
        failpoints: str = "",
        run_id: str | None = None,
    ) -> None:
        environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env}
        if failpoints:
            environment["PIPELINE_FAILPOINTS"] = failpoints
        command = [sys.executable, "-m", "pipeline", "ingest", "--store", store, "--quiet"]
        for path in [inputs] if isinstance(inputs, Path) else inputs:
            command += ["--input", str(path)]
        command += ["--config", str(settings)] if settings else []
        command += ["--run-id", run_id] if run_id else []
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stderr = process.communicate(timeout=300)[1]
        self.returncode = process.returncode
        self.seconds = time.monotonic() - started
        self.session = process.pid


def session_processes(session: int) -> list[psutil.Process]:
    """The live processes of a session (zombies aside): a run and everything it started."""
    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getsid(process.pid) == session and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process)
        except ProcessLookupError:
            continue
    return found


def survivors(session: int) -> list[int]:
    """Live processes of a session, after a grace period for them to notice their parent died."""
    deadline = time.monotonic() + 10
    while True:
        alive = [process.pid for process in session_processes(session)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def placed(store: Store) -> tuple[Counter, int]:
    """How often each URL has a lineage row (superseded rows aside), and how many stories."""
    rows = Counter(row["url"] for row in iter_lineage(store) if row["status"] != "superseded")
    return rows, len(list(iter_articles(store)))


def lost_and_doubled(rows: Counter, expected: Counter) -> tuple[int, int]:
    """Input pages without a lineage row, and rows beyond one per input page (a row for a URL
    nobody gave counts as doubled too)."""
    lost = sum(1 for url in expected if rows[url] == 0)
    doubled = sum(count - 1 if url in expected else count for url, count in rows.items())
    return lost, doubled


def newest_lease_generation(store: Store) -> int:
    """The store's newest lease generation (0 on a new store): a new one means a run took the lease."""
    keys = store.list(layout.lease_prefix(layout.INDEX_LEASE))
    return max((g for key in keys if (g := layout.lease_generation(key)) is not None), default=0)


class Sampler:
    """Calls `sample()` every 50 ms on a background thread while in use (`with`), until it
    returns True or the block ends."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def sample(self) -> bool:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._done.is_set() and not self.sample():
            self._done.wait(0.05)


class LeaseWatch(Sampler):
    """Notes the moment a new lease generation shows up in a store: when a run there has taken
    the lease and starts its work. Use around the run."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.before = newest_lease_generation(store)
        self.taken_at: float | None = None  # time.monotonic()

    def sample(self) -> bool:
        if newest_lease_generation(self.store) > self.before:
            self.taken_at = time.monotonic()
            return True
        return False


@dataclass(frozen=True)
class CrashAndRerun:
    """A run SIGKILLed at a failpoint, and the operator's immediate rerun of the same input."""

    point: str  # a failpoint name, with "@n" for its n-th passage
    killed: Run
    orphans: list[int]  # processes of the killed run alive 10 s after it died
    rerun: Run
    rerun_delay: float | None  # seconds from the kill to the rerun holding the lease (None: it never did)
    rows: Counter  # lineage rows per URL afterwards (superseded rows aside)
    stories: int
    pages_in: list[int]  # per committed run: the pages it accounted for


def crash_and_rerun(point: str, uri: str, crawl: Path, settings: Path, env: dict[str, str]) -> CrashAndRerun:
    """Kill a run over `crawl` at `point` ("name" or "name@n"), rerun it at once, and look."""
    name, _, nth = point.partition("@")
    killed = Run(uri, crawl, settings, env, failpoints=f"{name}=kill" + (f"@{nth}" if nth else ""))
    died = time.monotonic()
    orphans = survivors(killed.session)
    store = open_store(uri)
    with LeaseWatch(store) as watch:
        rerun = Run(uri, crawl, settings, env)
    rows, stories = placed(store)
    return CrashAndRerun(
        point,
        killed,
        orphans,
        rerun,
        None if watch.taken_at is None else watch.taken_at - died,
        rows,
        stories,
        [manifest["counts"]["pages_in"] for manifest in read_manifests(store)],
    )
