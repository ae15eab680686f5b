"""Worker processes that run one task at a time under a CPU-time and memory limit.

A page that makes the cleaner loop or swell must cost a rejection, not the run: each
task runs in a pebble worker process whose memory is capped (RLIMIT_DATA, set once per
worker) and whose CPU time is capped per task (RLIMIT_CPU set to the time used so far
plus the allowance; the kernel kills the worker with SIGXCPU past it), with a wall-clock
timeout as a backstop. A worker that dies fails only its own task, and pebble starts a
new one. Workers are forked from a small forkserver (not from the main process with all
its memory) and die with it: each asks the kernel for SIGKILL when its parent dies, and
the forkserver exits when the main process goes, even on kill -9.
"""

from __future__ import annotations

import ctypes
import gc
import math
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import signal
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool

from pipeline.records import Reason

PR_SET_PDEATHSIG = 1  # linux/prctl.h
MEMORY_RESERVE = 16 << 20
WORKER_PRELOAD = ["pipeline.clean.preload"]  # imported once in the forkserver, shared by workers
TASKS_PER_WORKER = 1000  # then a fresh worker, so leaks and fragmentation never reach the memory limit
R = TypeVar("R")


@dataclass(frozen=True)
class TaskFailed:
    """A task that did not finish: why, as a rejection reason, and a detail for people."""

    reason: Reason
    detail: str


def _die_with_parent(main_pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    try:
        os.kill(main_pid, 0)  # the main process may have died before the prctl took effect
    except ProcessLookupError:
        os._exit(1)


def _release_forkserver() -> None:
    """Drop the worker's copy of the forkserver's liveness pipe.

    The forkserver exits when every holder of that pipe is gone; it hands a copy to each
    process it forks, so without this the workers would keep it alive, and it them.
    """
    server = multiprocessing.forkserver._forkserver
    if server._forkserver_alive_fd is not None:
        os.close(server._forkserver_alive_fd)
        server._forkserver_alive_fd = None


def _init_worker(main_pid: int, memory_bytes: int) -> None:
    _die_with_parent(main_pid)
    _release_forkserver()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGXCPU would dump core otherwise
    hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
    soft = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# Memory the worker holds back and gives up on MemoryError, so it can still report it.
# Kept from task to task: allocating it for each one cost as much as a small page's cleaning.
_reserve: bytearray | None = None


def _run_limited(fn: Callable[..., R], args: tuple, cpu_seconds: float) -> R | TaskFailed:
    """Run `fn(*args)` in the worker with `cpu_seconds` more CPU time than it has used."""
    global _reserve
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(_cpu_used() + cpu_seconds), hard))
    try:
        if _reserve is None:
            _reserve = bytearray(MEMORY_RESERVE)
        return fn(*args)
    except MemoryError:
        _reserve = None
        gc.collect()
        return TaskFailed("memory_limit", "cleaning needed more memory than the worker may use")
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def _forkserver_context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


class LimitedPool:
    """A process pool whose tasks each run under `cpu_seconds` of CPU and `memory_mb` of memory."""

    def __init__(
        self, workers: int, cpu_seconds: float, memory_mb: int, wall_seconds: float | None = None
    ) -> None:
        self.cpu_seconds = cpu_seconds
        # A backstop for a task that waits instead of computing; CPU time is what the limit means.
        self.wall_seconds = wall_seconds or 3 * cpu_seconds + 30
        self.pool = ProcessPool(
            max_workers=workers,
            max_tasks=TASKS_PER_WORKER,
            initializer=_init_worker,
            initargs=(os.getpid(), memory_mb << 20),
            context=_forkserver_context(),
        )

    def __enter__(self) -> LimitedPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.pool.stop()  # kill the workers: their results are not wanted any more
        else:
            self.pool.close()
        self.pool.join()

    def submit(self, fn: Callable[..., R], *args: Any) -> Future:
        """Start `fn(*args)` in a worker; `fn` must be importable by name (it is pickled)."""
        return self.pool.schedule(_run_limited, args=(fn, args, self.cpu_seconds), timeout=self.wall_seconds)

    def result(self, future: Future) -> Any:
        """The task's result, or a TaskFailed saying which limit it hit or how its worker died."""
        try:
            return future.result()
        except FutureTimeout:
            return TaskFailed("time_limit", f"not done after {self.wall_seconds:g} s of wall-clock time")
        except ProcessExpired as expired:
            return self._death(expired.exitcode)

    def _death(self, exitcode: int | None) -> TaskFailed:
        if exitcode == -signal.SIGXCPU:
            return TaskFailed("time_limit", f"more than {self.cpu_seconds:g} s of CPU time")
        name = signal.Signals(-exitcode).name if exitcode is not None and exitcode < 0 else None
        how = f"killed by {name}" if name else f"exit code {exitcode}"
        return TaskFailed("worker_died", f"the cleaning process died ({how})")
