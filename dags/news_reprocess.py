"""Manual re-ingest of archives: WARC files (e.g. CC-NEWS), folders or `s3://` prefixes, and/or
the landing partitions of a date range of the corpus store.

Trigger it from the UI or `airflow dags trigger news_reprocess --conf '{...}'`; the Params
below are checked when the run is created: types, formats and ranges (a date range is a first
day and a number of days, so it cannot be reversed). Its tag `strict-params` makes the
api-server refuse any other conf key when the run is created (plugins/strict_params.py): a
misspelt Param given through the UI or the REST API makes no run. `airflow dags trigger` writes
the run without the api-server: there, a misspelt key fails the run's first task at once.
Pages an earlier run already ingested (same URL, same bytes) are skipped unless `reprocess` is
on. One trigger is one pipeline run (`news_reprocess-<trigger time>`): retrying or clearing its
tasks writes nothing twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException
from news_common import DEFAULT_ARGS, STAGE_PARAMS, connect, plan, run_stages

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
MAX_LANDING_DAYS = 366

PARAMS = {
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
        description="First day (UTC) of the store's landing partitions to read again (none: no landing)",
    ),
    "landing_days": Param(
        1,
        type="integer",
        minimum=1,
        maximum=MAX_LANDING_DAYS,
        description="How many days of landing partitions, from landing_from on",
    ),
    "reprocess": Param(
        False,
        type="boolean",
        description="Clean and deduplicate pages again even if an earlier run already ingested them",
    ),
    **STAGE_PARAMS,
}


def check_conf(conf: dict[str, Any]) -> None:
    """Refuse conf keys that are not Params: Airflow passes them through, and a misspelt key
    would otherwise be ignored while its Param keeps its default. For runs the api-server did
    not create (`airflow dags trigger`, dag.test()); it refuses them itself (strict-params)."""
    unknown = sorted(set(conf) - set(PARAMS))
    if unknown:
        raise AirflowFailException(f"unknown Params {unknown}; the Params are {sorted(PARAMS)}")


def landing_range(first_day: str | None, days: int) -> tuple[datetime, datetime] | None:
    """The window [first_day 00:00, first_day + days) in UTC, or None without a first day."""
    if first_day is None:
        return None
    start = datetime.combine(date.fromisoformat(first_day), time(), UTC)
    return start, start + timedelta(days=days)


@dag(
    dag_id="news_reprocess",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["news", "strict-params"],
    doc_md=__doc__,
)
def news_reprocess() -> None:
    @task(execution_timeout=timedelta(minutes=30))
    def find_inputs(
        *, params: dict[str, Any] | None = None, dag_run: Any = None, ti: Any = None
    ) -> list[dict[str, Any]]:
        """The given inputs plus the landing partitions of the date range, split into shards."""
        from pipeline.layout import landing_prefixes

        check_conf(dag_run.conf or {})
        window = landing_range(params["landing_from"], params["landing_days"])
        if not params["inputs"] and window is None:
            raise AirflowFailException("nothing to read: give inputs, or landing_from (and landing_days)")
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
