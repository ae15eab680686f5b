"""The cleaning pool: each task under a CPU-time and memory limit, workers that die with their parent."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from pipeline.workers import LimitedPool, TaskFailed

REPO = Path(__file__).resolve().parent.parent


def spin() -> None:
    while True:
        pass


def swell() -> int:
    return len(bytearray(4 << 30))  # 4 GiB


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def wait() -> None:
    time.sleep(120)


def double(value: int) -> int:
    return 2 * value


def loaded_and_frozen() -> tuple[list[str], int, int]:
    """What the worker found loaded before its first task, and its frozen and collected objects."""
    from justext.core import define_stoplist

    from pipeline.clean.language import _detector

    loaded = {
        "trafilatura": "trafilatura" in sys.modules,
        "justext stoplists": define_stoplist.cache_info().currsize > 0,
        "language model": _detector.cache_info().currsize > 0,
        "dateparser": "dateparser" in sys.modules,
    }
    return [name for name, there in loaded.items() if there], gc.get_freeze_count(), len(gc.get_objects())


def test_a_task_over_its_cpu_time_fails_alone_and_the_pool_goes_on() -> None:
    with LimitedPool(workers=1, cpu_seconds=1, memory_mb=1024) as pool:
        spinning, after = pool.submit(spin), pool.submit(double, 21)
        failed = pool.result(spinning)
        assert failed == TaskFailed("time_limit", "more than 1 s of CPU time")
        assert pool.result(after) == 42


def test_a_task_over_its_memory_fails_with_memory_limit() -> None:
    with LimitedPool(workers=1, cpu_seconds=10, memory_mb=300) as pool:
        failed = pool.result(pool.submit(swell))
        assert isinstance(failed, TaskFailed) and failed.reason == "memory_limit"
        assert pool.result(pool.submit(double, 2)) == 4


def test_a_killed_worker_fails_only_its_own_task() -> None:
    with LimitedPool(workers=2, cpu_seconds=10, memory_mb=1024) as pool:
        futures = [pool.submit(double, 1), pool.submit(die), pool.submit(double, 3)]
        results = [pool.result(future) for future in futures]
    assert results == [2, TaskFailed("worker_died", "the cleaning process died (killed by SIGKILL)"), 6]


def test_a_task_that_waits_is_stopped_by_the_wall_clock_backstop() -> None:
    with LimitedPool(workers=1, cpu_seconds=1, memory_mb=1024, wall_seconds=1) as pool:
        failed = pool.result(pool.submit(wait))
        assert isinstance(failed, TaskFailed) and failed.reason == "time_limit"


POOL_SCRIPT = """
import sys, time
sys.path.insert(0, {repo!r})
from pipeline.workers import LimitedPool

def spin():
    while True:
        pass

if __name__ == "__main__":
    with LimitedPool(workers=2, cpu_seconds=600, memory_mb=1024) as pool:
        futures = [pool.submit(spin) for _ in range(4)]
        print("started", flush=True)
        time.sleep(600)
"""


def busy_descendants(process: psutil.Popen, count: int, timeout: float = 60) -> list[psutil.Process]:
    """The process's descendants, once `count` of them are burning CPU."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = process.children(recursive=True)
        busy = [child for child in children if child.cpu_times().user > 0.5]
        if len(busy) >= count:
            return children
        time.sleep(0.2)
    raise AssertionError(f"no {count} busy workers within {timeout} s")


def test_no_worker_survives_a_kill_9_of_the_main_process(tmp_path: Path) -> None:
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent(POOL_SCRIPT.format(repo=str(REPO))))
    main = psutil.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    descendants: list[psutil.Process] = []
    try:
        assert main.stdout.readline().strip() == "started"
        descendants = busy_descendants(main, count=2)  # two spinning workers (and the forkserver)
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=10)
        _, alive = psutil.wait_procs(descendants, timeout=10)
        assert alive == [], f"survived the main process: {alive}"
    finally:
        for process in [main, *descendants]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()


def test_a_worker_starts_with_the_readers_loaded_and_frozen_out_of_collection() -> None:
    """The forkserver preloads the cleaning modules and freezes them (`pipeline.clean.preload`):
    a worker's collections walk only what its pages made, not the libraries it was born with."""
    with LimitedPool(workers=1, cpu_seconds=30, memory_mb=1024) as pool:
        loaded, frozen, collected = pool.submit(loaded_and_frozen).result(timeout=60)
    assert loaded == ["trafilatura", "justext stoplists", "language model", "dateparser"]
    assert frozen > 50_000 and frozen > 5 * collected  # 69,393 against 4,075 on 2026-12-04
