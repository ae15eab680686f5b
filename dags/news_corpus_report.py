"""Downstream example: subscribe to the `news_corpus` asset and report on the day's runs.

This is the pattern for teams that consume the corpus: schedule on the asset, then read
only what run manifests list (`pipeline.corpus`, the contract in docs/corpus.md); never
list `articles/` directly, which may hold objects of a run still in progress.

Every new run (asset event) refreshes the report of the UTC day its data belongs to: the day
of the run's data interval (a `news_ingest` run of 23:00-24:00 committed after midnight
counts for the day it ingested), or the commit day for runs without one (`news_reprocess`).
The report (articles by publisher, duplicate rate, the stories with the most copies) is the
task's return value (XCom, visible in the UI) and is logged.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import dag, task
from news_common import DEFAULT_ARGS, connect, interval_start, news_corpus

log = logging.getLogger(__name__)


def data_day(run_id: str, committed_at: str) -> str:
    """The UTC day a committed run's data belongs to: its interval's, else its commit's."""
    start = interval_start(run_id)
    return f"{start:%Y-%m-%d}" if start else committed_at[:10]


@dag(
    dag_id="news_corpus_report",
    schedule=[news_corpus],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["news", "consumer"],
    doc_md=__doc__,
)
def news_corpus_report() -> None:
    @task
    def daily_report(*, triggering_asset_events: Any = None, dag_run: Any = None) -> dict[str, Any]:
        """Report on the runs whose data belongs to the day of the newest triggering run."""
        from pipeline.corpus import corpus_report, read_manifests

        events = list(triggering_asset_events[news_corpus]) if triggering_asset_events else []
        newest = max(events, key=lambda event: event.timestamp, default=None)
        if newest is not None:
            day = data_day(newest.extra["run_id"], f"{newest.timestamp.astimezone(UTC):%Y-%m-%d}")
        else:  # triggered by hand
            day = f"{dag_run.run_after.astimezone(UTC):%Y-%m-%d}"
        store, _ = connect()
        manifests = [m for m in read_manifests(store) if data_day(m["run_id"], m["committed_at"]) == day]
        report = {
            "day": day,
            "store": store.uri,
            "triggered_by": [event.extra.get("run_id") for event in events],
            **corpus_report(store, manifests),
        }
        log.info("corpus report for %s:\n%s", day, json.dumps(report, indent=1, ensure_ascii=False))
        return report

    daily_report()


news_corpus_report()
