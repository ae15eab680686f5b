"""Manual re-ingest of archives: WARC files (e.g. CC-NEWS), folders or `s3://` prefixes, and/or
the landing partitions of a date range of the corpus store.

Trigger it from the UI or `airflow dags trigger news_reprocess --conf '{...}'`; the Params
below are checked when the run is created. Pages an earlier run already ingested (same URL,
same bytes) are skipped unless `reprocess` is on. One trigger is one pipeline run
(`news_reprocess-<trigger time>`): retrying or clearing its tasks writes nothing twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException
from news_common import DEFAULT_ARGS, connect, plan, run_stages

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def landing_range(first_day: str | None, last_day: str | None) -> tuple[datetime, datetime] | None:
    """The window [first_day 00:00, last_day + 1 day) in UTC, or None when no range is given.

    Checks what the Params' JSON schema cannot: both ends given together, in order.
    """
    if first_day is None and last_day is None:
        return None
    if first_day is None or last_day is None:
        raise AirflowFailException("give both landing_from and landing_to, or neither")
    start, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
    if last < start:
        raise AirflowFailException(f"landing_to ({last_day}) is before landing_from ({first_day})")
    return (
        datetime.combine(start, time(), UTC),
        datetime.combine(last + timedelta(days=1), time(), UTC),
    )


@dag(
    dag_id="news_reprocess",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "inputs": Param(
            [],
            type="array",
            items={"type": "string", "pattern": r"^(s3://[a-z0-9][a-z0-9.-]+[a-z0-9](/.*)?|/.+)$"},
            description="WARC files, folders (absolute paths on the workers) or s3://bucket/prefix/ to read",
        ),
        "landing_from": Param(
            None,
            type=["null", "string"],
            pattern=DATE_PATTERN,
            format="date",
            description="First day (UTC) of the store's landing partitions to read again",
        ),
        "landing_to": Param(
            None,
            type=["null", "string"],
            pattern=DATE_PATTERN,
            format="date",
            description="Last day (UTC, included) of the landing partitions to read again",
        ),
        "reprocess": Param(
            False,
            type="boolean",
            description="Clean and deduplicate pages again even if an earlier run already ingested them",
        ),
        "shards": Param(4, type="integer", minimum=1, maximum=64, description="Parallel cleaning tasks"),
    },
    tags=["news"],
    doc_md=__doc__,
)
def news_reprocess() -> None:
    @task(execution_timeout=timedelta(minutes=30))
    def find_inputs(
        *, params: dict[str, Any] | None = None, dag_run: Any = None, ti: Any = None
    ) -> list[dict[str, Any]]:
        """The given inputs plus the landing partitions of the date range, split into shards."""
        from pipeline.layout import landing_prefixes

        window = landing_range(params["landing_from"], params["landing_to"])
        if not params["inputs"] and window is None:
            raise AirflowFailException("nothing to read: give inputs, or landing_from and landing_to")
        store, client = connect(params["inputs"])
        landed = (
            [store.location(prefix) for prefix in landing_prefixes(*window) if store.list(prefix)]
            if window
            else []
        )
        pipeline_run = f"news_reprocess-{dag_run.run_after.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        locations = [*params["inputs"], *landed]
        return plan(ti, pipeline_run, locations, params["shards"], params["reprocess"], client)

    run_stages(find_inputs())


news_reprocess()
