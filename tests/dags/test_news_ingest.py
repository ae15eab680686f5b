"""news_ingest under dag.test(): a real scheduled-interval run against S3 (moto) through the
`news_s3` connection, reruns of the same interval, a manual run, and an empty interval."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.dags.checks import LANDING, SEEDS, bucket_objects, corpus_events

# A run's logical date is the start of its data interval, as for the scheduler's runs: 05:00-06:00.
LOGICAL_DATE = datetime(2026, 11, 22, 5, tzinfo=UTC)
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

    # A rerun of the committed interval reads nothing, writes nothing and tells no subscriber.
    rerun = fresh_dag("news_ingest").test(logical_date=LOGICAL_DATE)
    assert rerun.state == "success"
    assert bucket_objects(s3, landed) == after_first
    assert corpus_events(rerun) == []

    # A manual run without a logical date takes the last complete interval: the same one.
    manual = fresh_dag("news_ingest").test(
        logical_date=None, run_after=datetime(2026, 11, 22, 6, 20, tzinfo=UTC)
    )
    assert manual.state == "success"
    assert returned(manual, "find_inputs") == []
    assert corpus_events(manual) == []
    assert bucket_objects(s3, landed) == after_first

    # The downstream example reports on the day of the data interval (not of the commit, which is
    # today), counting the landed pages under their publisher: these scrapes name none.
    report_run = fresh_dag("news_corpus_report").test(run_after=LOGICAL_DATE + timedelta(hours=1))
    assert report_run.state == "success"
    report = returned(report_run, "daily_report")
    assert report["day"] == f"{LOGICAL_DATE:%Y-%m-%d}"
    assert (report["runs"], report["canonical"], report["duplicate_rate"]) == ([PIPELINE_RUN], 5, 0.0)
    assert report["articles_by_site"] == {"unknown": 5}


def test_interval_with_nothing_landed_is_skipped(fresh_dag, landed: str, s3) -> None:
    run = fresh_dag("news_ingest").test(logical_date=datetime(2026, 11, 22, 6, tzinfo=UTC))

    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {
        "list_sources": "success",
        "discover_source": "skipped",
        "share_pages": "skipped",
        "fetch_source": "skipped",
        "find_inputs": "success",
        "extract_shard": "skipped",
        "prepare_run": "skipped",
        "probe_partition": "skipped",
        "commit_run": "skipped",
    }
    assert corpus_events(run) == []
    assert not [key for key in bucket_objects(s3, landed) if not key.startswith("landing/")]


def test_a_run_reads_every_hour_since_the_last_committed_interval() -> None:
    from news_ingest import reading_start, run_interval

    def at(hour: int) -> datetime:
        return datetime(2026, 11, 22, hour, tzinfo=UTC)

    # Given a logical date, that interval; without one, the last complete one before the trigger.
    assert run_interval(at(5), at(9)) == (at(5), at(6))
    assert run_interval(None, datetime(2026, 11, 22, 9, 20, tzinfo=UTC)) == (at(8), at(9))
    # 03:00 was the last interval committed before 09:00: the run of 09:00 reads from 04:00.
    committed = ["news_ingest-20261122T0100Z", "news_ingest-20261122T0300Z", "news_reprocess-20261122T1000Z"]
    assert reading_start(committed, at(9)) == at(4)
    # A backfill of 02:00 reads its own hour; so does the very first run.
    assert reading_start(committed, at(2)) == at(2)
    assert reading_start([], at(9)) == at(9)
