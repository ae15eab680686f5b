"""The news_pipeline plugin is found in the plugins folder and its parts are wired in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def test_plugin_is_registered_with_its_macros_and_listener(airflow_db) -> None:
    from airflow import plugins_manager

    plugins_manager.ensure_plugins_loaded()
    assert plugins_manager.get_import_errors() == {}
    info = {plugin["name"]: plugin for plugin in plugins_manager.get_plugin_info()}
    assert info["news_pipeline"]["macros"] == [
        "pipeline.layout.landing_prefix",
        "pipeline.layout.landing_prefixes",
    ]
    assert info["news_pipeline"]["listeners"] == ["news_plugin.FailedRunListener"]


def test_listener_is_registered_with_the_listener_manager(airflow_db) -> None:
    from airflow.listeners.listener import get_listener_manager

    listeners = get_listener_manager().pm.get_plugins()
    assert "FailedRunListener" in {type(listener).__name__ for listener in listeners}


def test_landing_macros_render_in_task_templates(airflow_db) -> None:
    from airflow.sdk.execution_time import macros
    from airflow.sdk.plugins_manager import integrate_macros_plugins
    from jinja2 import Environment

    integrate_macros_plugins()  # what the task runner does before it renders a task's templates
    template = "{{ macros.news_pipeline.landing_prefix(data_interval_start) }}"
    start = datetime(2026, 11, 22, 7, 30, tzinfo=timezone(timedelta(hours=2)))
    rendered = Environment().from_string(template).render(macros=macros, data_interval_start=start)
    assert rendered == "landing/dt=2026-11-22/hour=05/"
    # Every hour the window overlaps, the partial ones included.
    assert macros.news_pipeline.landing_prefixes(start, start + timedelta(hours=2)) == [
        "landing/dt=2026-11-22/hour=05/",
        "landing/dt=2026-11-22/hour=06/",
        "landing/dt=2026-11-22/hour=07/",
    ]


def test_listener_never_raises_into_the_scheduler(airflow_db, caplog) -> None:
    from news_plugin import FailedRunListener

    class BrokenRun:  # a run whose attributes cannot be read (e.g. detached from its session)
        dag_id = "news_ingest"

        @property
        def run_id(self) -> str:
            raise RuntimeError("instance is not bound to a session")

    FailedRunListener().on_dag_run_failed(dag_run=BrokenRun(), msg="task_failure")
    FailedRunListener().on_task_instance_failed(previous_state=None, task_instance=BrokenRun(), error="x")

    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "news_pipeline listener: could not log a failed run",
        "news_pipeline listener: could not log a failed task",
    ]
