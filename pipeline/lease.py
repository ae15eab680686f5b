"""The store's lease: one run at a time may change the index and commit (docs/runs.md).

A lease is a chain of generations, `locks/index/<generation>.json`, each created with the store's
conditional write, so two runs racing for the same generation cannot both win and nothing is
ever overwritten by a taker. The newest generation is the lease. It names its holder (host,
pid, run id, start) and a heartbeat the holder renews from a background thread. A run that
finds the newest holder provably dead (same host: the pid is gone; any host: no heartbeat for
`lease_expiry_seconds`) takes the lease over at once by creating the next generation, and says so.

The lease does not by itself make commits safe (a holder may stall, lose it, and wake up): the
commit is fenced by its own conditional write (`pipeline.commits`). The lease keeps runs from
doing work that could only fail at commit, and names a crashed run whose leftovers to tidy.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, replace

import psutil

from pipeline import layout
from pipeline.config import RunConfig
from pipeline.store import Store, StoreError

log = logging.getLogger(__name__)


class LeaseBusy(StoreError):
    """A live run held the lease for longer than this run would wait."""


class LeaseLost(StoreError):
    """Another run took the lease over: this run must not commit."""


class RunIdInUse(StoreError):
    """The run id names a committed run or one in flight."""


@dataclass(frozen=True)
class Holder:
    """What a lease generation records of the run that holds it."""

    run_id: str
    token: str  # tells two invocations with one run id apart (a scheduled run's retries share it)
    host: str
    pid: int
    pid_started: float  # the process's start time: a reused pid is not the holder
    started: float
    heartbeat: float
    released: bool = False

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> Holder:
        return cls(**json.loads(data))

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.started))
        return f"run {self.run_id!r} (pid {self.pid} on {self.host}, since {since} UTC)"


def this_process(run_id: str, token: str) -> Holder:
    now = time.time()
    pid = os.getpid()
    return Holder(run_id, token, socket.gethostname(), pid, psutil.Process(pid).create_time(), now, now)


def why_dead(holder: Holder, expiry_seconds: float, now: float | None = None) -> str | None:
    """Why the holder can no longer act on its lease, or None while it may still be alive."""
    if holder.released:
        return "released"
    if holder.host == socket.gethostname():
        try:
            if abs(psutil.Process(holder.pid).create_time() - holder.pid_started) > 1.0:
                return f"pid {holder.pid} on {holder.host} now belongs to another process"
        except psutil.NoSuchProcess:
            return f"pid {holder.pid} on {holder.host} is gone"
    silent = (now or time.time()) - holder.heartbeat
    if silent > expiry_seconds:
        return f"no heartbeat for {silent:.0f}s"
    return None


class Lease:
    """The index lease held by one run; use as a context manager around the run's work.

    `previous` is the holder this run followed (None on a new store), so the run can tidy what
    an abandoned run left behind.
    """

    def __init__(self, store: Store, run_id: str, token: str, config: RunConfig) -> None:
        self.store = store
        self.config = config
        self.holder = this_process(run_id, token)
        self.generation = 0
        self.previous: Holder | None = None
        self.lost = False
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _newest_generation(self) -> int:
        """The newest generation (0 when the store never had a lease)."""
        keys = self.store.list(layout.lease_prefix(layout.INDEX_LEASE))
        return max((g for key in keys if (g := layout.lease_generation(key)) is not None), default=0)

    def _newest(self) -> tuple[int, Holder | None, str | None]:
        """The newest generation, its holder, and why it has none (it is unreadable)."""
        newest = self._newest_generation()
        if newest == 0:
            return 0, None, "new store"
        try:
            return newest, Holder.decode(self.store.get(layout.lease_key(layout.INDEX_LEASE, newest))), None
        except KeyError:
            return newest, None, None  # tidied while we looked: look again
        except (ValueError, TypeError) as err:  # writes are atomic, so this one is damaged for good
            return newest, None, f"its lease object is unreadable ({err})"

    def acquire(self) -> None:
        """Take the lease, waiting up to `lease_wait_seconds` for a live holder; a dead holder's
        lease is taken over at once. The first write is the lease itself, so a read-only or
        unreachable store fails here, before any work."""
        deadline = time.monotonic() + self.config.lease_wait_seconds
        while True:
            generation, holder, dead = self._newest()
            if holder is not None:
                dead = why_dead(holder, self.config.lease_expiry_seconds)
            if holder is not None and holder.token == self.holder.token:
                dead = dead or "an earlier attempt of this run"
            if dead and self._create(generation + 1):
                self.previous = holder
                if holder is not None and not holder.released:
                    log.warning("took over the lease of %s: %s", holder.describe(), dead)
                self._tidy_generations()
                self._start_heartbeat()
                return
            if holder is not None and not dead and holder.run_id == self.holder.run_id:
                raise RunIdInUse(f"run id {holder.run_id!r} is in use by {holder.describe()}: choose another")
            if time.monotonic() >= deadline:
                who = holder.describe() if holder else "another run"
                raise LeaseBusy(
                    f"the store {self.store.uri} is busy: {who} holds its lease; waited "
                    f"{self.config.lease_wait_seconds:g}s. Retry when it has finished."
                )
            time.sleep(0.2 if dead else min(1.0, self.config.lease_heartbeat_seconds / 2))

    def _create(self, generation: int) -> bool:
        key = layout.lease_key(layout.INDEX_LEASE, generation)
        mine = replace(self.holder, heartbeat=time.time())
        if not self.store.put_if_absent(key, mine.encode()):
            try:  # our own write whose answer was lost, retried by the client: still ours
                if Holder.decode(self.store.get(key)).token != self.holder.token:
                    return False
                if self._newest_generation() != generation:
                    return False
            except (KeyError, ValueError, TypeError):
                return False
        self.generation = generation
        return True

    def _tidy_generations(self) -> None:
        """Older generations are history once this one exists; keep the chain short."""
        prefix = layout.lease_prefix(layout.INDEX_LEASE)
        for key in self.store.list(prefix):
            generation = layout.lease_generation(key)
            if generation is not None and generation < self.generation:
                try:
                    self.store.delete(key)
                except StoreError as err:
                    log.warning("could not delete old lease %s (the next run retries): %s", key, err)

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.config.lease_heartbeat_seconds):
            try:
                self.renew()
            except StoreError as err:  # a blip: the next beat tries again, expiry allows several
                log.warning("lease heartbeat failed: %s", err)
            if self.lost:
                return

    def renew(self) -> None:
        """Write a fresh heartbeat, or notice that another run took the lease over."""
        if self._newest_generation() != self.generation:
            self.lost = True
            log.error("lost the lease of %s to another run", self.store.uri)
            return
        key = layout.lease_key(layout.INDEX_LEASE, self.generation)
        self.store.put(key, replace(self.holder, heartbeat=time.time()).encode())

    def check(self) -> None:
        """Raise LeaseLost unless this run still holds the lease (call before committing)."""
        if self.lost or self._newest_generation() != self.generation:
            self.lost = True
            raise LeaseLost(
                f"run {self.holder.run_id!r} lost the lease of {self.store.uri} to another run; "
                "nothing was committed: run it again"
            )

    def release(self) -> None:
        """Mark the lease released so the next run need not wait (best effort: a run whose
        release fails leaves a lease that the next run sees as dead and takes over)."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        if self.generation == 0 or self.lost:
            return
        try:
            if self._newest_generation() == self.generation:
                key = layout.lease_key(layout.INDEX_LEASE, self.generation)
                self.store.put(key, replace(self.holder, heartbeat=time.time(), released=True).encode())
        except StoreError as err:
            log.warning("lease of %s not released (the next run takes it over): %s", self.store.uri, err)
