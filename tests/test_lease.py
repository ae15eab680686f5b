"""The store's lease: one holder at a time, dead holders taken over at once, live ones waited for."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.config import RunConfig
from pipeline.lease import Holder, Lease, LeaseBusy, LeaseLost, RunIdInUse, this_process
from pipeline.store import LocalStore, Store, open_store

QUICK = RunConfig(lease_heartbeat_seconds=0.1, lease_expiry_seconds=1.0, lease_wait_seconds=0.5)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    return open_store(f"s3://{request.getfixturevalue('s3_bucket')}/corpus")


def holder_of(store: Store) -> Holder:
    keys = store.list(layout.lease_prefix(layout.INDEX_LEASE))
    return Holder.decode(store.get(keys[-1]))


def plant(store: Store, holder: Holder, generation: int = 1) -> None:
    """A lease left in the store by some other process."""
    store.put(layout.lease_key(layout.INDEX_LEASE, generation), holder.encode())


def a_dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_lease_names_its_holder_and_is_released(store: Store) -> None:
    with Lease(store, "run-a", "token-a", QUICK) as lease:
        holder = holder_of(store)
        assert (holder.run_id, holder.token, holder.released) == ("run-a", "token-a", False)
        assert lease.generation == 1 and lease.previous is None
    assert holder_of(store).released
    with Lease(store, "run-b", "token-b", QUICK) as lease:  # the next run need not wait
        assert lease.generation == 2 and lease.previous.run_id == "run-a"
    assert store.list(layout.lease_prefix(layout.INDEX_LEASE)) == [layout.lease_key(layout.INDEX_LEASE, 2)]


def test_a_live_holder_makes_the_next_run_wait_then_give_up_naming_it(store: Store) -> None:
    with Lease(store, "run-a", "token-a", QUICK):
        started = time.monotonic()
        with pytest.raises(LeaseBusy, match=r"busy: run 'run-a' \(pid \d+ on .*holds its lease; waited 0.5s"):
            Lease(store, "run-b", "token-b", QUICK).acquire()
        assert time.monotonic() - started >= QUICK.lease_wait_seconds


def test_the_run_id_of_a_live_run_is_refused_at_once(store: Store) -> None:
    with Lease(store, "run-a", "token-a", QUICK):
        patient = QUICK.model_copy(update=dict(lease_wait_seconds=30))
        started = time.monotonic()
        with pytest.raises(RunIdInUse, match="run id 'run-a' is in use by run 'run-a'"):
            Lease(store, "run-a", "another-invocation", patient).acquire()
        assert time.monotonic() - started < 5


def test_a_holder_whose_pid_is_gone_is_taken_over_at_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    crashed = replace(this_process("crashed", "t"), pid=a_dead_pid())
    plant(store, crashed)
    patient = QUICK.model_copy(update=dict(lease_wait_seconds=60, lease_expiry_seconds=3600))
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), Lease(store, "next", "t2", patient) as lease:
        assert time.monotonic() - started < 5
        assert lease.generation == 2 and lease.previous == crashed
    assert f"took over the lease of run 'crashed' (pid {crashed.pid}" in caplog.text
    assert "is gone" in caplog.text


def test_a_reused_pid_is_not_the_holder(store: Store) -> None:
    me = this_process("old", "t")
    plant(store, replace(me, pid_started=me.pid_started - 3600))  # our pid, but an older process had it
    with Lease(store, "next", "t2", QUICK.model_copy(update=dict(lease_expiry_seconds=3600))) as lease:
        assert lease.generation == 2


def test_a_holder_on_another_host_is_dead_only_once_its_heartbeat_is_old(store: Store) -> None:
    patient = QUICK.model_copy(update={"lease_expiry_seconds": 5.0})  # a busy host's pauses stay below it
    elsewhere = replace(this_process("remote", "t"), host="worker-7.internal")
    plant(store, elsewhere)
    with pytest.raises(LeaseBusy, match="remote"):
        Lease(store, "next", "t2", patient).acquire()  # fresh heartbeat: alive
    plant(store, replace(elsewhere, heartbeat=time.time() - 10))
    with Lease(store, "next", "t2", patient) as lease:  # silent for 10 s, expiry 5 s: dead
        assert lease.previous.run_id == "remote"


def test_an_unreadable_lease_object_does_not_wedge_the_store(store: Store) -> None:
    store.put(layout.lease_key(layout.INDEX_LEASE, 4), b"\x00not json")
    with Lease(store, "next", "t", QUICK) as lease:
        assert lease.generation == 5


def test_the_holder_renews_its_heartbeat(store: Store) -> None:
    with Lease(store, "run-a", "token-a", QUICK):
        first = holder_of(store).heartbeat
        time.sleep(0.5)
        assert holder_of(store).heartbeat > first


def test_a_holder_that_was_taken_over_knows_it_and_cannot_commit(store: Store) -> None:
    slow = Lease(store, "slow", "t1", QUICK)
    slow.acquire()
    slow.check()  # still ours
    plant(store, this_process("taker", "t2"), generation=slow.generation + 1)  # it looked dead to another run
    with pytest.raises(LeaseLost, match="'slow' lost the lease"):
        slow.check()
    slow.release()
    assert holder_of(store).run_id == "taker" and not holder_of(store).released  # release left it alone


def test_a_retry_of_a_scheduled_run_takes_over_its_own_attempt(store: Store) -> None:
    """Airflow retries a task while the old attempt may look alive: the token says it is the same run."""
    plant(store, this_process("news_ingest-20261122T0500Z", "news_ingest-20261122T0500Z"))
    run = "news_ingest-20261122T0500Z"
    with Lease(store, run, run, QUICK.model_copy(update=dict(lease_expiry_seconds=3600))) as lease:
        assert lease.generation == 2
