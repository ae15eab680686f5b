"""Scheduled ingest: each run fetches the configured web sources (feeds, sitemaps, URL lists),
then cleans, deduplicates and publishes what it fetched together with the raw pages that
landed in its data interval under `landing/dt=YYYY-MM-DD/hour=HH/` of the corpus store.

Runs are hourly by default (set `NEWS_INGEST_CRON` in the environment of every Airflow
component to change it). The pipeline run id comes from the data interval
(`news_ingest-20261122T0500Z`), so retries, reruns and backfills of an interval reuse it and
write nothing twice. Fetching is optional: without the `news_sources_file` Variable the fetch
tasks map to nothing. With the `news_redis_url` Variable, the fetch tasks of every worker share
each host's rate limit, concurrency cap and robots.txt through that Redis database. An interval
with nothing fetched or landed is skipped: no run, no asset event.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, Variable, dag, task
from airflow.sdk.exceptions import AirflowFailException
from news_common import DEFAULT_ARGS, connect, fetch_politeness, plan, run_stages

INGEST_CRON = os.environ.get("NEWS_INGEST_CRON", "0 * * * *")
SOURCES_FILE_VARIABLE = "news_sources_file"  # optional sources file (docs/sources.md), readable by workers
ALLOW_PRIVATE_VARIABLE = "news_fetch_allow_private"  # "true": fetching may reach private addresses
FETCH_POOL = "news_external"  # tasks that reach hosts outside the stack (made by airflow-init)

log = logging.getLogger(__name__)


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


def fetch_allow_private() -> bool:
    """Whether fetching may reach private, loopback and link-local addresses (default: no)."""
    value = Variable.get(ALLOW_PRIVATE_VARIABLE, default="false").strip().lower()
    if value not in ("true", "false"):
        raise AirflowFailException(f"Variable {ALLOW_PRIVATE_VARIABLE} must be true or false, got {value!r}")
    return value == "true"


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
    def list_sources(
        *,
        dag_run: Any = None,
        ti: Any = None,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The sources to fetch, one mapped `discover_source` each; the pipeline run id and the
        address policy go to XCom beside them.

        Empty when no sources file is configured, and when the interval's run is already
        committed: what a rerun fetched could never join that run, and its pages, marked as
        fetched, would not be fetched again by a later one.
        """
        from pipeline.fetch import SourcesError, load_sources
        from pipeline.runner import committed_summary

        start, _ = ingest_window(data_interval_start, data_interval_end, dag_run.run_after)
        pipeline_run = window_run_id(start)
        ti.xcom_push(key="pipeline_run", value=pipeline_run)
        ti.xcom_push(key="allow_private", value=fetch_allow_private())
        path = Variable.get(SOURCES_FILE_VARIABLE, default=None)
        if not path:
            return []
        try:
            sources = load_sources(path)
        except SourcesError as err:
            raise AirflowFailException(f"{err} (Variable {SOURCES_FILE_VARIABLE})") from err
        store, _ = connect()
        if committed_summary(store, pipeline_run) is not None:
            log.info("%s is already committed: nothing is fetched for it again", pipeline_run)
            return []
        return [source.to_dict() for source in sources]

    @task(pool=FETCH_POOL, execution_timeout=timedelta(minutes=30))
    def discover_source(source: dict[str, Any], pipeline_run: str, allow_private: bool) -> dict[str, Any]:
        """The page URLs one source lists now (its feeds and sitemaps are archived under discovery/)."""
        from pipeline.fetch import FetchContext, Source, discover

        store, _ = connect()
        context = FetchContext(store, pipeline_run, fetch_politeness(), allow_private=allow_private)
        found = discover(Source.from_dict(source), context)
        return {"source": source, "urls": found.urls, "summary": found.summary.to_dict()}

    @task(execution_timeout=timedelta(minutes=10))
    def share_pages(found: Sequence[dict[str, Any]], pipeline_run: str) -> list[dict[str, Any]]:
        """Each source's share of the discovered pages: a page listed by several sources is fetched by
        one of them, and the page caps do not depend on the sources' order (pipeline/fetch/plan.py)."""
        from pipeline.fetch import FetchContext, Source
        from pipeline.fetch.plan import Listing, share_out

        store, _ = connect()
        listings = [Listing(Source.from_dict(item["source"]), item["urls"]) for item in found]
        shares = share_out(listings, FetchContext(store, pipeline_run))
        shared = []
        for item in found:
            share = shares[item["source"]["name"]]
            shared.append({**item, "urls": share, "summary": {**item["summary"], "discovered": len(share)}})
        return shared

    @task(pool=FETCH_POOL)
    def fetch_source(found: dict[str, Any], pipeline_run: str, allow_private: bool) -> dict[str, Any]:
        """Fetch one source's pages into raw/ WARCs; returns its whole fetch summary.

        A retry files under the same run id: it skips the pages already archived and reports
        the archives of earlier attempts too.
        """
        from pipeline.fetch import FetchContext, FetchSummary, Source, fetch_urls

        store, _ = connect()
        context = FetchContext(store, pipeline_run, fetch_politeness(), allow_private=allow_private)
        fetched = fetch_urls(Source.from_dict(found["source"]), found["urls"], context)
        return FetchSummary.from_dict(found["summary"]).merge(fetched).to_dict()

    # Runs when the fetch tasks were skipped (nothing to fetch), not when one of them failed:
    # committing without a source's pages would lose them, as they are marked fetched.
    @task(execution_timeout=timedelta(minutes=10), trigger_rule=TriggerRule.NONE_FAILED)
    def find_inputs(
        fetched: Sequence[dict[str, Any]],
        *,
        params: dict[str, Any] | None = None,
        dag_run: Any = None,
        ti: Any = None,
        data_interval_start: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The landing partitions of the interval that hold pages and the archives every source
        fetched (`fetched`: their fetch summaries), split into shards."""
        from pipeline.layout import landing_prefixes

        start, end = ingest_window(data_interval_start, data_interval_end, dag_run.run_after)
        store, client = connect()
        landed = [store.location(prefix) for prefix in landing_prefixes(start, end) if store.list(prefix)]
        archives = sorted({key for summary in fetched for key in summary["warc_keys"]})
        locations = landed + [store.location(key) for key in archives]
        return plan(ti, window_run_id(start), locations, params["shards"], False, client)

    sources = list_sources()
    run = {"pipeline_run": sources["pipeline_run"], "allow_private": sources["allow_private"]}
    found = discover_source.partial(**run).expand(source=sources)
    shared = share_pages(found, pipeline_run=sources["pipeline_run"])
    fetched = fetch_source.partial(**run).expand(found=shared)
    run_stages(find_inputs(fetched))


news_ingest()
