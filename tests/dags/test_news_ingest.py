"""news_ingest under dag.test(): a real scheduled-interval run against S3 (moto) through the
`news_s3` connection, reruns of the same interval, a manual run, and an empty interval."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.dags.checks import LANDING, SEEDS, bucket_objects, corpus_events

# dag.test(logical_date=06:00) runs the interval before it, 05:00-06:00, as the scheduler would.
LOGICAL_DATE = datetime(2026, 11, 22, 6, tzinfo=UTC)
PIPELINE_RUN = "news_ingest-20261122T0500Z"


def returned(dag_run, task_id: str):
    """What a task of the DAG run returned (its XCom)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value"
        )
        return XComModel.deserialize_value(session.scalars(query).one())


@pytest.fixture
def landed(corpus_bucket: str, s3) -> str:
    """The five seed scrapes dropped into the landing partition of 05:00."""
    for seed in SEEDS:
        s3.put_object(Bucket=corpus_bucket, Key=LANDING + seed.name, Body=seed.read_bytes())
    return corpus_bucket


def test_run_ingests_its_interval_and_reruns_add_nothing(fresh_dag, landed: str, s3) -> None:
    from pipeline.corpus import iter_articles, read_manifests
    from pipeline.store import open_store

    first = fresh_dag("news_ingest").test(logical_date=LOGICAL_DATE)

    assert first.state == "success"
    states = {(ti.task_id, ti.map_index): ti.state for ti in first.get_task_instances()}
    # No sources file is configured: the fetch tasks map to nothing, the landing is ingested.
    fetching = {"discover_source", "share_pages", "fetch_source"}
    assert {state for (task_id, _), state in states.items() if task_id in fetching} == {"skipped"}
    assert {state for (task_id, _), state in states.items() if task_id not in fetching} == {"success"}
    # Five files in the default four shards: four mapped extract_shard instances.
    assert sorted(index for task_id, index in states if task_id == "extract_shard") == [0, 1, 2, 3]
    store = open_store(f"s3://{landed}/", s3_client=s3)
    assert [manifest["run_id"] for manifest in read_manifests(store)] == [PIPELINE_RUN]
    articles = list(iter_articles(store))
    assert sorted(article["url"] for article in articles) == [
        f"s3://{landed}/{LANDING}{s.name}" for s in SEEDS
    ]
    assert not store.list("staging/")
    assert all(json.loads(store.get(key))["released"] for key in store.list("locks/"))
    assert [event["run_id"] for event in corpus_events(first)] == [PIPELINE_RUN]
    after_first = bucket_objects(s3, landed)

    rerun = fresh_dag("news_ingest").test(logical_date=LOGICAL_DATE)
    assert rerun.state == "success"
    assert bucket_objects(s3, landed) == after_first

    # A manual run without a logical date takes the last complete interval: the same one.
    manual = fresh_dag("news_ingest").test(
        logical_date=None, run_after=datetime(2026, 11, 22, 6, 20, tzinfo=UTC)
    )
    assert manual.state == "success"
    assert [event["run_id"] for event in corpus_events(manual)] == [PIPELINE_RUN]
    assert bucket_objects(s3, landed) == after_first

    # The downstream example reads the day's runs through their manifests.
    committed_at = datetime.fromisoformat(read_manifests(store)[0]["committed_at"])
    report_run = fresh_dag("news_corpus_report").test(run_after=committed_at)
    assert report_run.state == "success"
    report = returned(report_run, "daily_report")
    assert report["day"] == f"{committed_at:%Y-%m-%d}"
    assert (report["runs"], report["canonical"], report["duplicate_rate"]) == ([PIPELINE_RUN], 5, 0.0)
    assert report["articles_by_source"] == {landed: 5}


def test_interval_with_nothing_landed_is_skipped(fresh_dag, landed: str, s3) -> None:
    run = fresh_dag("news_ingest").test(logical_date=datetime(2026, 11, 22, 7, tzinfo=UTC))

    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {
        "list_sources": "success",
        "discover_source": "skipped",
        "share_pages": "skipped",
        "fetch_source": "skipped",
        "find_inputs": "success",
        "extract_shard": "skipped",
        "commit_run": "skipped",
    }
    assert corpus_events(run) == []
    assert not [key for key in bucket_objects(s3, landed) if not key.startswith("landing/")]
