"""What Airflow must load as a plugin for the news pipeline, and nothing else.

- Macros for the store's landing layout, for templated fields of any operator:
  `{{ macros.news_pipeline.landing_prefix(data_interval_start) }}` gives
  `landing/dt=2026-11-22/hour=05/`.
- A listener that turns failures of the news DAGs into structured log lines, so on-call can
  alert on one pattern and act on it: `news_task_failed {...}` in the task's log for every
  failed attempt (with the error), and `news_run_failed {...}` in the scheduler's log for a
  failed run (with the command that reruns its failed tasks).

The run hook runs inside the scheduler loop, whose database session refuses commits: a
listener that queries the database there (even a read through a new session) breaks the
loop and the scheduler crash-loops. So the listener only reads what the event hands it, and
catches and logs any exception of its own.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from pipeline.layout import landing_prefix, landing_prefixes

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun

log = logging.getLogger(__name__)

NEWS_DAG_PREFIX = "news_"


def failed_run_record(dag_run: DagRun, msg: str) -> dict:
    """What an operator needs to know about a failed run, and how to rerun what failed.

    Only the run's own columns: no query (the failed tasks are in their `news_task_failed` lines).
    """
    start, end = dag_run.data_interval_start, dag_run.data_interval_end
    when = dag_run.logical_date.isoformat() if dag_run.logical_date else None
    return {
        "dag_id": dag_run.dag_id,
        "run_id": dag_run.run_id,
        "data_interval": [start.isoformat(), end.isoformat()] if start and end else None,
        "reason": msg,
        "rerun": (
            f"airflow tasks clear {dag_run.dag_id} -s {when} -e {when} --only-failed --yes"
            if when
            else f"clear the failed tasks of run {dag_run.run_id} in the UI"
        ),
    }


def failed_task_record(task_instance: Any, error: Any) -> dict:
    """One failed attempt: which task, which try, and why."""
    return {
        "dag_id": task_instance.dag_id,
        "task_id": task_instance.task_id,
        "map_index": task_instance.map_index,
        "run_id": task_instance.run_id,
        "try_number": task_instance.try_number,
        "error": f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error),
    }


class FailedRunListener:
    """Logs failures of the news DAGs: task attempts (in the worker, or in the scheduler for a task
    that died without reporting) and runs (in the scheduler). Never raises."""

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        try:
            if task_instance.dag_id.startswith(NEWS_DAG_PREFIX):
                log.error("news_task_failed %s", json.dumps(failed_task_record(task_instance, error)))
        except Exception:
            log.exception("news_pipeline listener: could not log a failed task")

    @hookimpl
    def on_dag_run_failed(self, dag_run: DagRun, msg: str) -> None:
        try:
            if dag_run.dag_id.startswith(NEWS_DAG_PREFIX):
                log.error("news_run_failed %s", json.dumps(failed_run_record(dag_run, msg)))
        except Exception:
            log.exception("news_pipeline listener: could not log a failed run")


class NewsPipelinePlugin(AirflowPlugin):
    name = "news_pipeline"
    macros: ClassVar[list[Any]] = [landing_prefix, landing_prefixes]
    listeners: ClassVar[list[Any]] = [FailedRunListener()]
