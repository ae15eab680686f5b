"""kill -9 at every step of a run, on a folder and on S3: the next run must just work.

Each case starts a real `python -m pipeline ingest` that SIGKILLs itself at one failpoint
(`pipeline.failpoints`), then the operator's immediate rerun. The rerun must take the dead
run's lease over at once and exit 0, and the store must then hold exactly what one
uninterrupted run stores: every input page in the lineage once, no page twice, the same
stories. No process of the killed run may survive it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from pipeline.failpoints import NAMES
from tests.chaos.runs import PAGES, Run, crash_and_rerun, lost_and_doubled, survivors
from tests.conftest import REPO

WRITE_POINTS = {"write.article_part", "write.lineage_part"}


def check_crash_and_rerun(
    point: str,
    make_store: Callable[[str], str],
    crawl: Path,
    settings: Path,
    env: dict[str, str],
    reference: tuple[Run, Counter, int],
) -> None:
    uninterrupted, expected_rows, expected_stories = reference

    outcome = crash_and_rerun(point, make_store(f"killed-{point}"), crawl, settings, env)
    killed, rerun = outcome.killed, outcome.rerun
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr)
    assert outcome.orphans == [], f"processes of the run killed at {point} survived it"
    assert rerun.returncode == 0, (point, rerun.stderr)
    assert outcome.rerun_delay is not None and outcome.rerun_delay < 10, (point, outcome.rerun_delay)
    waited = rerun.seconds - uninterrupted.seconds
    assert waited < 10, f"the rerun waited ({waited:.1f}s more than an uninterrupted run) after {point}"
    if point != "lease.released":
        assert "took over the lease of run" in rerun.stderr, rerun.stderr
    assert lost_and_doubled(outcome.rows, expected_rows) == (0, 0), f"lost or doubled after {point}"
    assert outcome.stories == expected_stories, point
    assert all(pages == PAGES for pages in outcome.pages_in)  # each committed run accounted for every page


@pytest.mark.parametrize("point", [*NAMES, "write.index_segment@2"])  # and after a second batch
def test_kill_at_every_step_on_a_folder(
    point: str, tmp_path: Path, crawl: Path, settings: Path, reference
) -> None:
    check_crash_and_rerun(point, lambda name: str(tmp_path / name), crawl, settings, {}, reference)


@pytest.mark.parametrize(
    "point", ["lease.taken", *sorted(WRITE_POINTS), "commit.before_manifest", "commit.after_manifest"]
)
def test_kill_at_the_steps_that_write_on_s3(
    point: str, s3_bucket: str, crawl: Path, settings: Path, reference
) -> None:
    env = {key: os.environ[key] for key in os.environ if key.startswith("AWS_")}
    check_crash_and_rerun(point, lambda name: f"s3://{s3_bucket}/{name}", crawl, settings, env, reference)


def test_a_kill_from_outside_while_pages_are_cleaned_leaves_no_worker(
    tmp_path: Path, crawl: Path, settings: Path
) -> None:
    store = str(tmp_path / "corpus")
    command = [sys.executable, "-m", "pipeline", "ingest", "--input", str(crawl), "--store", store, "--quiet"]
    slow = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "PIPELINE_FAILPOINTS": "extract.page=sleep:30"}
    run = subprocess.Popen(command, cwd=REPO, env=slow, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(psutil.Process(run.pid).children(recursive=True)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)  # the forkserver and its cleaning workers are up
    assert len(psutil.Process(run.pid).children(recursive=True)) >= 3
    os.kill(run.pid, signal.SIGKILL)
    run.wait(10)
    assert survivors(run.pid) == []
    rerun = Run(store, crawl, settings, {})
    assert rerun.returncode == 0 and "took over the lease" in rerun.stderr, rerun.stderr
