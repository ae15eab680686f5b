"""A whole `ingest` against bare trafilatura on the same WARC, one worker on one CPU.

    python -m bench.ingest_speed --warc pages.warc.gz --rounds 5

(`python -m bench.extraction --write-warc` builds such a WARC.) Each round runs, in
turn (who goes first alternates), two processes pinned to `--cpu`:
- `python -m pipeline ingest --input WARC` into a fresh scratch store, with
  `clean: {workers: 1}`: reading, cleaning in the worker, site templates, dedup, writing;
- `python -m bench.extraction --only-trafilatura --warc WARC`: reading the same pages
  and `trafilatura.extract` on each.
It prints, per round and as medians, the CPU seconds and wall seconds of each and the
ratio of their pages per CPU-second (ingest / trafilatura): the per-core ratio. CPU time
counts every process a run starts: this process makes itself their subreaper, so the
cleaning workers and their forkserver, which the ingest process never waits for, are
reaped here and their time is counted too. On a shared machine the CPU figures move
less than the wall-clock ones; the ratio of a pair run back to back moves least.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


@dataclass
class Timing:
    cpu: float
    wall: float


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reap_all() -> None:
    """Wait for every descendant left behind (orphans come to this process)."""
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def timed(command: list[str], cpu: int) -> Timing:
    """CPU time of the command and every process it started, and its wall-clock time."""
    before, start = _children_cpu(), time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, preexec_fn=lambda: os.sched_setaffinity(0, {cpu})
    )
    wall = time.perf_counter() - start
    _reap_all()
    return Timing(_children_cpu() - before, wall)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warc", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU both run on")
    args = parser.parse_args(argv)
    _become_subreaper()
    python = sys.executable
    scratch = Path(tempfile.mkdtemp(prefix="ingest-speed-"))
    config = scratch / "one-worker.yaml"
    config.write_text("clean: {workers: 1}\n")
    trafilatura = [python, "-m", "bench.extraction", "--only-trafilatura", "--warc", str(args.warc)]
    ratios, cpu_ratios = [], []
    try:
        for number in range(args.rounds):
            store = scratch / f"store-{number}"
            ingest = [python, "-m", "pipeline", "ingest", "--input", str(args.warc), "--store", str(store)]
            ingest += ["--config", str(config), "--quiet"]
            runs = {"ingest": ingest, "trafilatura": trafilatura}
            order = list(runs) if number % 2 == 0 else list(reversed(runs))
            times = {name: timed(runs[name], args.cpu) for name in order}
            shutil.rmtree(store, ignore_errors=True)
            ours, theirs = times["ingest"], times["trafilatura"]
            cpu_ratios.append(theirs.cpu / ours.cpu)
            ratios.append(theirs.wall / ours.wall)
            print(
                f"round {number + 1}: ingest {ours.cpu:6.2f} s CPU {ours.wall:6.2f} s wall, trafilatura "
                f"{theirs.cpu:6.2f} s CPU {theirs.wall:6.2f} s wall; ratio CPU {cpu_ratios[-1]:.3f} "
                f"wall {ratios[-1]:.3f}",
                flush=True,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"per-core ratio ingest / trafilatura, median of {args.rounds}:")
    for name, values in (("CPU time", cpu_ratios), ("wall time", ratios)):
        median = statistics.median(values)
        print(f"  by {name:9} {median:.3f}  (min {min(values):.3f}, max {max(values):.3f})")


if __name__ == "__main__":
    main()
