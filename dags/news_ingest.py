"""Scheduled ingest: each run cleans, deduplicates and publishes the raw pages that landed in
its data interval under `landing/dt=YYYY-MM-DD/hour=HH/` of the corpus store.

Runs are hourly by default (set `NEWS_INGEST_CRON` in the environment of every Airflow
component to change it). The pipeline run id comes from the data interval
(`news_ingest-20261122T0500Z`), so retries, reruns and backfills of an interval reuse it and
write nothing twice. An interval with nothing in landing is skipped: no run, no asset event.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from news_common import DEFAULT_ARGS, connect, plan, run_stages

INGEST_CRON = os.environ.get("NEWS_INGEST_CRON", "0 * * * *")


def window_run_id(start: datetime) -> str:
    """The pipeline run id of the data interval starting at `start`."""
    return f"news_ingest-{start.astimezone(UTC):%Y%m%dT%H%MZ}"


def ingest_window(
    start: datetime | None, end: datetime | None, run_after: datetime
) -> tuple[datetime, datetime]:
    """The run's data interval; a manual run without a logical date takes the last complete
    interval before it was triggered, as a scheduled run at that time would have."""
    if start is not None and end is not None:
        return start, end
    from croniter import croniter

    schedule = croniter(INGEST_CRON, run_after.astimezone(UTC))
    end = schedule.get_prev(datetime)
    return schedule.get_prev(datetime), end


@dag(
    dag_id="news_ingest",
    schedule=CronDataIntervalTimetable(INGEST_CRON, timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,  # runs commit one at a time anyway (store lock); this keeps them in order
    default_args=DEFAULT_ARGS,
    params={
        "shards": Param(4, type="integer", minimum=1, maximum=64, description="Parallel cleaning tasks"),
    },
    tags=["news"],
    doc_md=__doc__,
)
def news_ingest() -> None:
    @task(execution_timeout=timedelta(minutes=10))
    def find_inputs(
        extra_locations: list[str] | None = None,
        *,
        params: dict[str, Any] | None = None,
        dag_run: Any = None,
        ti: Any = None,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The landing partitions of the interval that hold pages, split into shards.

        `extra_locations` is where other inputs of the interval join: the seam for a fetch
        task (`find_inputs(fetch_sources())`) returning the WARCs it wrote to `raw/`. Such a
        task reaches outside hosts, so it runs in the `news_external` pool (made by airflow-init).
        """
        from pipeline.corpus import landing_prefixes

        start, end = ingest_window(data_interval_start, data_interval_end, dag_run.run_after)
        store, client = connect(extra_locations)
        landed = [store.location(prefix) for prefix in landing_prefixes(start, end) if store.list(prefix)]
        locations = landed + (extra_locations or [])
        return plan(ti, window_run_id(start), locations, params["shards"], False, client)

    run_stages(find_inputs())


news_ingest()
