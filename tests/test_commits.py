"""The commit log: fenced commits, work after the commit that may fail, and tidying after a crash."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import commits, layout
from pipeline.commits import CommitConflict, Manifest, RunCounts, RunObjects
from pipeline.config import DedupConfig
from pipeline.corpus import iter_articles, read_manifests
from pipeline.dedup import index
from pipeline.lease import this_process
from pipeline.runner import ingest
from pipeline.store import LocalStore, StoreError
from tests.conftest import SEEDS
from tests.test_lease import a_dead_pid, plant


def manifest(run_id: str, sequence: int) -> Manifest:
    return Manifest(run_id, sequence, "2026-11-22T05:00:00Z", RunCounts(), RunObjects(index=f"{run_id}.npz"))


def test_a_sequence_is_committed_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    commits.append(store, manifest("first", 1))
    commits.append(store, manifest("first", 1))  # its own write, retried after a lost answer: fine
    with pytest.raises(CommitConflict, match="run 'first' committed sequence 1"):
        commits.append(store, manifest("stale", 1))
    assert [m.run_id for m in commits.read_manifests(store)] == ["first"]


class FailsAfterCommit(LocalStore):
    """The store goes away right after the commit: HEAD and the run copy cannot be written."""

    def put(self, key: str, data: bytes) -> None:
        if key == layout.HEAD_KEY or key.startswith(layout.RUNS_PREFIX):
            raise StoreError("503 Service Unavailable")
        super().put(key, data)


def test_failures_after_the_commit_do_not_fail_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        summary = ingest([str(SEEDS)], FailsAfterCommit(tmp_path), "committed")
    assert summary.canonical == 5 and "the next run does it" in caplog.text
    store = LocalStore(tmp_path)
    assert [m["run_id"] for m in read_manifests(store)] == ["committed"]  # readers see it at once
    assert store.list(layout.RUNS_PREFIX) == []
    again = ingest([str(SEEDS)], store, "next")  # rolls the log forward, then sees every page
    assert again.already_ingested == 5
    assert commits.find(store, "committed").sequence == 1
    assert [run.run_id for run in commits.committed_runs(store)] == ["committed", "next"]


def test_a_run_that_loses_the_commit_race_deduplicates_again(tmp_path: Path) -> None:
    """A stale holder (it lost the lease while stalled) commits just before the new holder does."""
    store = LocalStore(tmp_path)

    class Racing(LocalStore):
        def put_if_absent(self, key: str, data: bytes) -> bool:
            if key == layout.commit_key(1) and not store.list(layout.COMMITS_PREFIX):
                objects = RunObjects(index=layout.segment_key("faster"))
                store.put(objects.index, index.encode_segment([], [], DedupConfig()))
                commits.append(store, Manifest("faster", 1, "2026-11-22T05:00:00Z", RunCounts(), objects))
            return super().put_if_absent(key, data)

    summary = ingest([str(SEEDS)], Racing(tmp_path), "slower")
    assert summary.sequence == 2 and summary.canonical == 5
    assert [m["run_id"] for m in read_manifests(store)] == ["faster", "slower"]


def test_the_next_run_removes_what_a_crashed_run_left_and_commits_in_its_place(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    plant(store, replace(this_process("crashed", "t"), pid=a_dead_pid()))  # killed holding the lease
    leftovers = [f"{layout.articles_prefix('crashed')}/part-00000.jsonl.gz", layout.segment_key("crashed")]
    for key in leftovers:
        store.put(key, b"half written")
    summary = ingest([str(SEEDS)], store, "after")
    assert summary.canonical == 5 and len(list(iter_articles(store))) == 5
    assert not any(key in store.list("") for key in leftovers)
