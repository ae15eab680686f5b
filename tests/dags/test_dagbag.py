"""Every DAG file imports cleanly, and the DAGs have the shape docs/airflow.md describes."""

from __future__ import annotations

from pathlib import Path

import pytest

NEWS_DAGS = {"news_ingest", "news_reprocess", "news_corpus_report"}


def test_dag_files_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == NEWS_DAGS
    # news_common.py is a helper module: .airflowignore keeps the DAG processor from parsing it.
    assert {Path(stat.file).name for stat in dagbag.dagbag_stats} == {f"{dag_id}.py" for dag_id in NEWS_DAGS}


def test_ingest_runs_over_data_intervals_one_at_a_time(dagbag) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.get_dag("news_ingest")
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.max_active_runs == 1
    assert [task.task_id for task in dag.topological_sort()] == [
        "list_sources",
        "discover_source",
        "share_pages",
        "fetch_source",
        "find_inputs",
        "extract_shard",
        "prepare_run",
        "probe_partition",
        "commit_run",
    ]
    for task_id in ("discover_source", "fetch_source", "extract_shard", "probe_partition"):
        assert type(dag.get_task(task_id)).__name__ == "DecoratedMappedOperator"
    # Only the tasks that reach outside hosts wait for the news_external pool; cleaning has its own.
    assert {task.task_id for task in dag.tasks if task.pool == "news_external"} == {
        "discover_source",
        "fetch_source",
    }
    assert {task.task_id for task in dag.tasks if task.pool == "news_extract"} == {"extract_shard"}
    # commit_run adds its news_corpus event through an alias: only when it committed something new.
    assert [outlet.name for outlet in dag.get_task("commit_run").outlets] == ["news_corpus_commits"]


@pytest.mark.parametrize("dag_id", sorted(NEWS_DAGS))
def test_every_task_retries_with_backoff_and_has_a_timeout(dagbag, dag_id: str) -> None:
    for task in dagbag.get_dag(dag_id).tasks:
        assert task.retries >= 1 and task.retry_exponential_backoff > 1, task.task_id
        assert task.execution_timeout is not None, task.task_id


def test_report_is_scheduled_on_the_corpus_asset(dagbag) -> None:
    dag = dagbag.get_dag("news_corpus_report")
    assert [asset.name for asset in dag.schedule] == ["news_corpus"]
