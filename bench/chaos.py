"""Benchmark: runs killed at every step, and one run over hostile input, as an operator meets them.

    python bench/chaos.py [--points lease.taken,write.lineage_part@3] [--backends folder,s3] [--no-zoo]

Kill points. A crawl of 40 dev pages (tests/chaos/runs.py) is ingested by a real
`python -m pipeline ingest` that SIGKILLs itself at one failpoint (PIPELINE_FAILPOINTS="<point>=kill";
`name@n` dies at the n-th passage), and the operator reruns it at once; on a local folder and on S3
(moto's server on 127.0.0.1). Per point and store:
  killed   the killed run's exit code (-9: it died there)
  rerun    the rerun's exit code
  delay    seconds from the killed run's death (its exit, as seen here) to the moment the rerun holds
           the lease, i.e. starts its work: its lease generation appears in the store (polled every
           50 ms). Interpreter start-up and imports of the rerun are included.
  wall     the rerun's whole wall time, start to exit
  lost     input pages without a lineage row afterwards
  doubled  lineage rows beyond one per input page
  stories  whether the store holds as many stories as after one uninterrupted run
  orphans  processes of the killed run still alive 10 s after it died
A point is survived when all of these are as the issue asks (the target line).

Zoo. One run over the zoo of hostile inputs (tests/chaos/zoo.py) plus the good seed pages, on a folder:
its exit code, the inputs, lineage rows (per reason), good pages stored, inputs whose row is wrong
or missing, wall time, and the peak RSS of all its processes: every 50 ms the RSS of each process of
the run's session (the main process, the forkserver, the cleaning workers) is summed, and the largest
sum is reported. Pages shared between processes count once per process, so this overstates.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script or a module

import psutil

from pipeline.corpus import iter_lineage
from pipeline.failpoints import NAMES
from pipeline.store import make_s3_client, open_store
from tests.chaos.runs import (
    PAGES,
    SETTINGS,
    CrashAndRerun,
    Run,
    Sampler,
    crash_and_rerun,
    lost_and_doubled,
    placed,
    session_processes,
    write_crawl,
)
from tests.chaos.zoo import STORED, good_pages, hostile, outcome, problems, write_zoo
from tests.conftest import SEEDS, moto_server, s3_environment

# and deeper into the cleaning, the writes and the batches
POINTS = (*NAMES, "extract.page@20", "write.lineage_part@3", "write.index_segment@2")
BACKENDS = ("folder", "s3")
BUCKET = "chaos-bench"
RERUN_DELAY_TARGET = 10.0  # seconds
PEAK_RSS_TARGET = 1.5e9  # bytes
ZOO_WALL_TARGET = 240.0  # seconds, on 2 cores
MB = 1e6


class PeakRss(Sampler):
    """The largest sum of RSS over the processes of this benchmark's child sessions (each run
    starts a session of its own), sampled every 50 ms while in use."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0
        self.samples = 0

    def sample(self) -> bool:
        total = 0
        for child in psutil.Process().children():
            for process in session_processes(child.pid):
                try:
                    total += process.memory_info().rss
                except psutil.Error:  # it ended while we looked
                    continue
        self.peak = max(self.peak, total)
        self.samples += 1
        return False


def survived(outcome: CrashAndRerun, expected_rows: Counter, expected_stories: int) -> bool:
    return (
        outcome.killed.returncode == -9
        and outcome.rerun.returncode == 0
        and outcome.rerun_delay is not None
        and outcome.rerun_delay <= RERUN_DELAY_TARGET
        and lost_and_doubled(outcome.rows, expected_rows) == (0, 0)
        and outcome.stories == expected_stories
        and not outcome.orphans
    )


def kill_points(
    points: list[str], backends: list[str], folder: Path, s3_endpoint: str | None
) -> tuple[int, int]:
    """Kill and rerun at every point on every backend, printing a row each; (survived, cases)."""
    crawl = write_crawl(folder / "crawl.warc.gz")
    settings = folder / "settings.yaml"
    settings.write_text(SETTINGS)
    reference = Run(str(folder / "reference"), crawl, settings, {})
    if reference.returncode != 0:
        sys.exit(f"the uninterrupted run failed: {reference.stderr}")
    expected_rows, expected_stories = placed(open_store(str(folder / "reference")))
    print(
        f"kill -9 at a failpoint, then an immediate rerun ({PAGES} pages; an uninterrupted run: "
        f"{reference.seconds:.1f} s, {expected_stories} stories)"
    )
    columns = ("killed", "rerun", "delay s", "wall s", "lost", "doubled", "stories", "orphans")
    print(f"{'point':24} {'store':6} " + " ".join(f"{name:>8}" for name in columns))
    stores: dict[str, Callable[[str], str]] = {
        "folder": lambda name: str(folder / name),
        "s3": lambda name: f"s3://{BUCKET}/{name}",
    }
    environments = {"folder": {}, "s3": s3_environment(s3_endpoint) if s3_endpoint else {}}
    kept = cases = 0
    for point in points:
        for backend in backends:
            found = crash_and_rerun(
                point, stores[backend](f"killed-{point}"), crawl, settings, environments[backend]
            )
            lost, doubled = lost_and_doubled(found.rows, expected_rows)
            delay = "never" if found.rerun_delay is None else f"{found.rerun_delay:.2f}"
            figures = (
                found.killed.returncode,
                found.rerun.returncode,
                delay,
                f"{found.rerun.seconds:.2f}",
                lost,
                doubled,
                "equal" if found.stories == expected_stories else found.stories,
                "yes" if found.orphans else "no",
            )
            print(f"{point:24} {backend:6} " + " ".join(f"{figure:>8}" for figure in figures), flush=True)
            kept += survived(found, expected_rows, expected_stories)
            cases += 1
    print(
        f"target: killed -9, rerun 0, delay <= {RERUN_DELAY_TARGET:.0f} s, 0 lost, 0 doubled, "
        f"stories equal, no orphans"
    )
    print(f"kill points survived: {kept} of {cases}")
    return kept, cases


def zoo_run(folder: Path) -> None:
    """One run over the zoo and the seeds on a folder, with its peak memory; prints its figures."""
    seeds = sorted(SEEDS.iterdir())
    zoo = write_zoo(folder / "zoo", seeds)
    store = str(folder / "zoo-store")
    with PeakRss() as memory:
        run = Run(store, [folder / "zoo", SEEDS], None, {})
    lineage = list(iter_lineage(open_store(store)))
    good = good_pages(zoo, seeds)
    stored = {row["url"] for row in lineage if outcome(row) == STORED}
    wrong = problems(zoo, seeds, lineage)
    cores = len(os.sched_getaffinity(0))
    print(f"\none run over the zoo of hostile inputs and the good seed pages ({cores} cores)")
    print(f"exit code            {run.returncode}  (target 0)")
    print(
        f"inputs               {len(zoo) + len(seeds)}: {len(hostile(zoo))} hostile, "
        f"{len(zoo) - len(hostile(zoo))} good pages in disguise, {len(seeds)} seeds"
    )
    print(f"lineage rows         {len(lineage)}")
    for name, count in sorted(Counter(outcome(row) for row in lineage).items()):
        print(f"  {name:18} {count}")
    print(f"good pages stored    {len(good & stored)} of {len(good)}")
    print(f"inputs with a wrong or missing row: {len(wrong)}")
    for problem in wrong:
        print(f"  {problem}")
    print(f"wall time            {run.seconds:.1f} s  (target <= {ZOO_WALL_TARGET:.0f} s on 2 cores)")
    print(
        f"peak RSS, all its processes  {memory.peak / MB:.0f} MB  (target <= {PEAK_RSS_TARGET / MB:.0f} MB; "
        f"{memory.samples} samples)"
    )
    if run.returncode != 0:
        print(run.stderr[-3000:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--points",
        type=lambda value: [item for item in value.split(",") if item],
        default=list(POINTS),
        help=f"comma-separated failpoints, `name@n` for the n-th passage (default: {','.join(POINTS)})",
    )
    parser.add_argument(
        "--backends",
        type=lambda value: [item for item in value.split(",") if item],
        default=list(BACKENDS),
        help="comma-separated stores to kill runs on: folder, s3 (default: both; none: skip)",
    )
    parser.add_argument("--no-zoo", action="store_true", help="skip the run over the zoo")
    args = parser.parse_args()
    unknown = [point for point in args.points if point.partition("@")[0] not in NAMES]
    unknown += [backend for backend in args.backends if backend not in BACKENDS]
    if unknown:
        parser.error(f"unknown failpoint or backend: {', '.join(unknown)}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chaos-bench-") as temporary:
        folder = Path(temporary)
        if "s3" in args.backends:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
            with moto_server() as endpoint:
                os.environ.update(s3_environment(endpoint))  # for this process's own look at the store
                for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
                    os.environ.pop(name, None)
                make_s3_client().create_bucket(Bucket=BUCKET)
                kill_points(args.points, args.backends, folder, endpoint)
        elif args.backends:
            kill_points(args.points, args.backends, folder, None)
        if not args.no_zoo:
            zoo_run(folder)
    print(f"\nbenchmark total      {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
