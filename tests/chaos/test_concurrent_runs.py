"""Two runs on one store at once, as two operators (or a scheduler and an operator) start them.

Two real `python -m pipeline ingest` processes start together on one store, a folder or S3, with
overlapping crawls (pages 0-27 and 12-39 of the chaos crawl). The lease lets one work at a time:
the other waits for it, or after `run.lease_wait_seconds` gives up with exit 2 and one line saying
the store is busy, and its rerun fills the gap. Either way the store must end as after one
uninterrupted run over both crawls: every page in the lineage once, none twice, the same stories.

A second process given the run id of a run in flight is refused at once (exit 2, one line), and
the first run finishes intact.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.corpus import read_manifests
from pipeline.store import open_store
from tests.chaos.runs import (
    PAGES,
    SETTINGS,
    Run,
    lost_and_doubled,
    newest_lease_generation,
    placed,
    write_crawl,
)

OVERLAP = 16  # pages both crawls hold
HOLD_SECONDS = 6  # the first run's pause once it holds the lease: the second run's time to be refused


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The chaos crawl in two overlapping halves."""
    folder = tmp_path_factory.mktemp("halves")
    half = (PAGES + OVERLAP) // 2
    return (
        write_crawl(folder / "first.warc.gz", pages=half),
        write_crawl(folder / "second.warc.gz", pages=half, skip=PAGES - half),
    )


@pytest.fixture(params=["folder", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A store on a folder or on the moto S3 server, and the environment a run needs to reach it."""
    if request.param == "folder":
        return str(tmp_path / "corpus"), {}
    bucket = request.getfixturevalue("s3_bucket")  # and the AWS environment, in os.environ
    aws = {key: value for key, value in os.environ.items() if key.startswith("AWS_")}
    return f"s3://{bucket}/corpus", aws


def settings_waiting(folder: Path, seconds: float) -> Path:
    path = folder / f"wait-{seconds:g}.yaml"
    path.write_text(f"{SETTINGS}  lease_wait_seconds: {seconds}\n")
    return path


def one_line_error(run: Run, saying: str) -> bool:
    lines = run.stderr.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("error:") and saying in lines[0]


@pytest.mark.parametrize("wait", [0.5, 60], ids=["gives-up", "waits"])
def test_two_runs_started_together_end_as_one_run_over_both_crawls(
    wait: float,
    place: tuple[str, dict[str, str]],
    crawls: tuple[Path, Path],
    tmp_path: Path,
    reference: tuple[Run, Counter, int],
) -> None:
    _, expected_rows, expected_stories = reference
    uri, env = place
    settings = settings_waiting(tmp_path, wait)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda crawl: Run(uri, crawl, settings, env), crawls))

    busy = [run for run in runs if run.returncode != 0]
    assert all(one_line_error(run, "is busy") for run in busy), [(r.returncode, r.stderr) for r in busy]
    assert all(run.returncode in (0, 2) for run in runs)
    if wait < 1:  # the lease holder needs longer than that: the other run may give up, not both
        assert len(busy) <= 1
    else:
        assert not busy, [run.stderr for run in busy]
    for run in busy:  # the operator runs it again
        again = Run(uri, crawls[runs.index(run)], settings, env)
        assert again.returncode == 0, again.stderr

    store = open_store(uri)
    rows, stories = placed(store)
    assert lost_and_doubled(rows, expected_rows) == (0, 0)
    assert stories == expected_stories
    manifests = read_manifests(store)
    assert [manifest["sequence"] for manifest in manifests] == [1, 2]
    assert sum(manifest["counts"]["already_ingested"] for manifest in manifests) == OVERLAP


def test_a_run_id_in_flight_is_refused_and_its_run_finishes_intact(
    crawl: Path, crawls: tuple[Path, Path], tmp_path: Path, reference: tuple[Run, Counter, int]
) -> None:
    """On a folder only: the lease tests refuse a live run id on S3 too (tests/test_lease.py)."""
    _, expected_rows, expected_stories = reference
    uri, env = str(tmp_path / "corpus"), {}
    settings = settings_waiting(tmp_path, 60)
    holding = f"lease.taken=sleep:{HOLD_SECONDS}"
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(Run, uri, crawl, settings, env, failpoints=holding, run_id="hourly-0600")
        store = open_store(uri)
        deadline = time.monotonic() + 60
        while newest_lease_generation(store) == 0 and not first.done() and time.monotonic() < deadline:
            time.sleep(0.05)  # until the first run holds the lease
        second = Run(uri, crawls[1], settings, env, run_id="hourly-0600")
        assert not first.done(), f"the second run took longer than the first's {HOLD_SECONDS}s pause"
        assert second.returncode == 2 and one_line_error(second, "is in use"), second.stderr
        assert first.result().returncode == 0, first.result().stderr

    rows, stories = placed(store)
    assert lost_and_doubled(rows, expected_rows) == (0, 0)
    assert stories == expected_stories
    assert [manifest["run_id"] for manifest in read_manifests(store)] == ["hourly-0600"]
