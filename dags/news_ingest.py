"""Scheduled ingest: each run fetches the configured web sources (feeds, sitemaps, URL lists),
then cleans, deduplicates and publishes what it fetched together with the raw pages that
landed in its data interval under `landing/dt=YYYY-MM-DD/hour=HH/` of the corpus store, and in
every earlier hour no committed run read (after an outage of the scheduler, or failed runs).

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

from airflow.sdk import CronDataIntervalTimetable, TriggerRule, Variable, dag, task
from airflow.sdk.exceptions import AirflowFailException
from news_common import (
    DEFAULT_ARGS,
    STAGE_PARAMS,
    connect,
    fetch_politeness,
    interval_start,
    plan,
    run_stages,
    window_run_id,
)

INGEST_CRON = os.environ.get("NEWS_INGEST_CRON", "0 * * * *")
SOURCES_FILE_VARIABLE = "news_sources_file"  # optional sources file (docs/sources.md), readable by workers
ALLOW_PRIVATE_VARIABLE = "news_fetch_allow_private"  # "true": fetching may reach private addresses
FETCH_POOL = "news_external"  # tasks that reach hosts outside the stack (made by airflow-init)

log = logging.getLogger(__name__)


def interval_at(moment: datetime) -> tuple[datetime, datetime]:
    """The schedule's interval that starts at `moment`, or that `moment` falls in."""
    from croniter import croniter

    start = croniter(INGEST_CRON, moment.astimezone(UTC) + timedelta(seconds=1)).get_prev(datetime)
    return start, croniter(INGEST_CRON, start).get_next(datetime)


def run_interval(logical_date: datetime | None, run_after: datetime) -> tuple[datetime, datetime]:
    """The data interval a run is for: the one starting at its logical date (scheduled runs,
    backfills, and manual runs given a logical date: Airflow infers a manual run's
    data_interval from the trigger time, not from the date asked for); without a logical date,
    the last complete interval before the trigger, as a scheduled run at that time would take."""
    if logical_date is not None:
        return interval_at(logical_date)
    from croniter import croniter

    schedule = croniter(INGEST_CRON, run_after.astimezone(UTC))
    end = schedule.get_prev(datetime)
    return schedule.get_prev(datetime), end


def reading_start(committed: list[str], start: datetime) -> datetime:
    """Where a run's landing window starts: at the end of the newest interval committed before
    its own, so the hours no run took (the scheduler was down, runs failed) are read now; at
    its own start when no earlier interval is committed (the first run)."""
    ends = [interval_at(begun)[1] for run in committed if (begun := interval_start(run)) and begun < start]
    return min(max(ends), start) if ends else start


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
    params=STAGE_PARAMS,
    tags=["news"],
    doc_md=__doc__,
)
def news_ingest() -> None:
    @task(execution_timeout=timedelta(minutes=10))
    def list_sources(*, dag_run: Any = None, ti: Any = None) -> list[dict[str, Any]]:
        """The sources to fetch, one mapped `discover_source` each; the pipeline run id and the
        address policy go to XCom beside them.

        Empty when no sources file is configured, and when the interval's run is already
        committed: what a rerun fetched could never join that run, and its pages, marked as
        fetched, would not be fetched again by a later one.
        """
        from pipeline.fetch import SourcesError, load_sources
        from pipeline.runner import committed_summary

        start, _ = run_interval(dag_run.logical_date, dag_run.run_after)
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
    ) -> list[dict[str, Any]]:
        """The landing partitions that hold pages, from the end of the newest interval committed
        before this one to the end of this one (`reading_start`), and the archives every source
        fetched (`fetched`: their fetch summaries), split into shards.

        Nothing for an interval already committed: a rerun adds nothing and sends no event.
        """
        from pipeline.commits import committed_runs
        from pipeline.layout import landing_prefixes
        from pipeline.runner import committed_summary

        start, end = run_interval(dag_run.logical_date, dag_run.run_after)
        pipeline_run = window_run_id(start)
        store, client = connect()
        if committed_summary(store, pipeline_run) is not None:
            log.info("%s is already committed: nothing to read again", pipeline_run)
            return plan(ti, pipeline_run, [], params["shards"], False, client)
        first = reading_start([run.run_id for run in committed_runs(store)], start)
        if first < start:
            log.info("no committed run read the landing hours from %s to %s: reading them now", first, start)
        landed = [store.location(prefix) for prefix in landing_prefixes(first, end) if store.list(prefix)]
        archives = sorted({key for summary in fetched for key in summary["warc_keys"]})
        locations = landed + [store.location(key) for key in archives]
        return plan(ti, pipeline_run, locations, params["shards"], False, client)

    sources = list_sources()
    run = {"pipeline_run": sources["pipeline_run"], "allow_private": sources["allow_private"]}
    found = discover_source.partial(**run).expand(source=sources)
    shared = share_pages(found, pipeline_run=sources["pipeline_run"])
    fetched = fetch_source.partial(**run).expand(found=shared)
    run_stages(find_inputs(fetched))


news_ingest()
