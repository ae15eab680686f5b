"""The glue between Airflow and the pipeline: connection -> boto3 client -> store."""

from __future__ import annotations

import os

import pytest

CORES = len(os.sched_getaffinity(0))


def test_client_comes_from_the_connection_with_checksums_only_when_required(
    airflow_db, corpus_bucket: str
) -> None:
    from news_common import connect

    store, client = connect()

    assert store.uri == f"s3://{corpus_bucket}/"  # the Variable news_store_uri
    assert client.meta.endpoint_url.startswith("http://127.0.0.1:")  # the connection's endpoint_url
    assert client.meta.config.request_checksum_calculation == "when_required"
    assert client.meta.config.response_checksum_validation == "when_required"
    store.put("probe", b"written through the news_s3 connection")
    assert store.get("probe") == b"written through the news_s3 connection"


def test_local_store_needs_no_client(airflow_db, tmp_path, monkeypatch) -> None:
    from news_common import connect

    monkeypatch.setenv("AIRFLOW_VAR_NEWS_STORE_URI", str(tmp_path / "corpus"))
    store, client = connect([str(tmp_path / "inputs")])

    assert client is None
    assert store.uri == (tmp_path / "corpus").as_uri()


@pytest.mark.parametrize(
    ("variable", "settings_workers", "expected"),
    [(None, 0, min(2, CORES)), ("1", 0, 1), ("64", 0, CORES), ("64", 1, 1)],
)
def test_extract_processes_are_capped(
    airflow_db, monkeypatch, variable: str | None, settings_workers: int, expected: int
) -> None:
    from news_common import with_extract_processes

    from pipeline.config import Config, load_config

    if variable is not None:
        monkeypatch.setenv("AIRFLOW_VAR_NEWS_EXTRACT_PROCESSES", variable)
    config = load_config(None)
    config = config.model_copy(
        update={"clean": config.clean.model_copy(update={"workers": settings_workers})}
    )

    capped = with_extract_processes(config)

    assert isinstance(capped, Config) and capped.clean.workers == expected
    assert capped.dedup == config.dedup


def test_extract_processes_refuses_a_bad_variable(airflow_db, monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from news_common import with_extract_processes

    from pipeline.config import load_config

    monkeypatch.setenv("AIRFLOW_VAR_NEWS_EXTRACT_PROCESSES", "0")
    with pytest.raises(AirflowFailException, match="news_extract_processes must be a whole number >= 1"):
        with_extract_processes(load_config(None))


def test_only_a_commit_made_by_the_run_itself_is_news(airflow_db) -> None:
    from datetime import UTC, datetime

    from news_common import is_news

    from pipeline.runner import RunSummary

    started = datetime(2026, 11, 22, 6, 0, 5, tzinfo=UTC)
    assert is_news(RunSummary("r", committed_at="2026-11-22T06:01:00Z"), started)
    # A retry after the attempt that committed died: the run's own commit, not told yet.
    assert is_news(RunSummary("r", committed_at="2026-11-22T06:01:00Z", replay=True), started)
    # A rerun (cleared, or a second run) of an interval committed before it started.
    assert not is_news(RunSummary("r", committed_at="2026-11-22T06:00:00Z", replay=True), started)
