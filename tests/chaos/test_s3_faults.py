"""Runs against an S3 endpoint that fails: errors, dropped connections, slow and lost answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.corpus import read_manifests
from pipeline.store import open_store
from tests.chaos.runs import Run, placed
from tests.chaos.s3_faults import Faults, Rule, fault_proxy


@pytest.fixture
def aws_env(s3_env: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith("AWS_")}


def through(proxy: str, env: dict[str, str], attempts: int = 5) -> dict[str, str]:
    return {**env, "AWS_ENDPOINT_URL": proxy, "AWS_MAX_ATTEMPTS": str(attempts)}


def test_half_of_all_requests_failing_is_retried_and_nothing_is_lost(
    s3_bucket: str, aws_env: dict[str, str], crawl: Path, tmp_path: Path, reference
) -> None:
    _, expected_rows, expected_stories = reference
    settings = tmp_path / "defaults.yaml"  # one part per kind of object: fewer requests to retry
    settings.write_text("{}\n")
    faults = Faults([Rule("error", rate=0.3), Rule("drop", rate=0.2 / 0.7)])  # 30% + 20%: half fail
    uri = f"s3://{s3_bucket}/corpus"
    with fault_proxy(aws_env["AWS_ENDPOINT_URL"], faults) as proxy:
        run = Run(uri, crawl, settings, through(proxy, aws_env, attempts=25))
    assert run.returncode == 0, run.stderr
    assert faults.injected["error"] > 20 and faults.injected["drop"] > 10  # it really was that flaky
    rows, stories = placed(open_store(uri))
    assert rows == expected_rows and stories == expected_stories


def test_a_commit_whose_answer_was_lost_is_recognised_as_committed(
    s3_bucket: str, aws_env: dict[str, str], crawl: Path, settings: Path, reference
) -> None:
    """The conditional writes (lease, commit) reach S3, their answers do not: the retries meet
    their own objects, which must count as success, not as another run's."""
    _, expected_rows, expected_stories = reference
    conditional = Rule(
        "lose",
        methods=("PUT",),
        path=lambda path: f"/{layout.COMMITS_PREFIX}" in path or f"/{layout.LOCKS_PREFIX}" in path,
        times=2,
    )
    faults = Faults([conditional])
    uri = f"s3://{s3_bucket}/corpus"
    with fault_proxy(aws_env["AWS_ENDPOINT_URL"], faults) as proxy:
        run = Run(uri, crawl, settings, through(proxy, aws_env))
    assert run.returncode == 0, run.stderr
    assert faults.injected["lose"] == 2
    store = open_store(uri)
    assert [m["sequence"] for m in read_manifests(store)] == [1]
    assert placed(store) == (expected_rows, expected_stories)


def test_cleanup_that_fails_after_the_commit_still_exits_0_and_the_next_run_tidies(
    s3_bucket: str, aws_env: dict[str, str], crawl: Path, settings: Path
) -> None:
    after_commit = [
        Rule("error", methods=("PUT",), path=lambda path: path.endswith(layout.HEAD_KEY)),
        Rule("error", methods=("PUT",), path=lambda path: f"/{layout.RUNS_PREFIX}" in path),
        Rule("error", methods=("PUT",), body=lambda body: b'"released": true' in body),
    ]
    faults = Faults(after_commit)
    uri = f"s3://{s3_bucket}/corpus"
    with fault_proxy(aws_env["AWS_ENDPOINT_URL"], faults) as proxy:
        first = Run(uri, crawl, settings, through(proxy, aws_env, attempts=2))
    assert first.returncode == 0, first.stderr
    assert "the next run does it" in first.stderr and "not released" in first.stderr
    store = open_store(uri)
    assert not store.list(layout.RUNS_PREFIX)  # committed, but its conveniences are missing
    assert len(read_manifests(store)) == 1
    second = Run(uri, crawl, settings, aws_env)
    assert second.returncode == 0 and "took over the lease" in second.stderr, second.stderr
    assert len(store.list(layout.RUNS_PREFIX)) == 2  # rolled forward
    assert [m["counts"]["already_ingested"] for m in read_manifests(store)][-1] > 0
