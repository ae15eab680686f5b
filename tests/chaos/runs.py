"""Real pipeline runs for the chaos tests: a crawl of dev pages, a run in its own session, and
what a store holds afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

from pipeline.corpus import iter_articles, iter_lineage
from pipeline.store import Store
from tests.conftest import REPO, SHARED

PAGES = 40  # from the dev syndication set: originals, copies and hard negatives
SETTINGS = "run:\n  part_records: 8\n"  # several article and lineage parts, to die between them


def write_crawl(path: Path, pages: int = PAGES) -> Path:
    """The first `pages` responses of the dev syndication WARC, as their own archive."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    with (SHARED / "eval/syndication-dev/corpus.warc.gz").open("rb") as source, path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        kept = 0
        for record in ArchiveIterator(source):
            if record.rec_type == "response" and kept < pages:
                writer.write_record(record)
                kept += 1
    return path


class Run:
    """One finished `python -m pipeline ingest` in a session of its own (its session id is its pid,
    shared by every process it starts: the forkserver and the cleaning workers too)."""

    def __init__(
        self, store: str, crawl: Path, settings: Path, env: dict[str, str], failpoint: str = ""
    ) -> None:
        environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env}
        if failpoint:
            environment["PIPELINE_FAILPOINTS"] = f"{failpoint}=kill"
        command = [sys.executable, "-m", "pipeline", "ingest", "--input", str(crawl), "--store", store]
        started = time.monotonic()
        process = subprocess.Popen(
            [*command, "--config", str(settings), "--quiet"],
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


def survivors(session: int) -> list[int]:
    """Live processes of a session, after a grace period for them to notice their parent died."""
    deadline = time.monotonic() + 10
    while True:
        alive = []
        for process in psutil.process_iter(["status"]):
            try:
                if os.getsid(process.pid) == session and process.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(process.pid)
            except ProcessLookupError:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def placed(store: Store) -> tuple[Counter, int]:
    """How often each URL has a lineage row (superseded rows aside), and how many stories."""
    rows = Counter(row["url"] for row in iter_lineage(store) if row["status"] != "superseded")
    return rows, len(list(iter_articles(store)))
