"""Downstream example: subscribe to the `news_corpus` asset and report on the day's runs.

This is the pattern for teams that consume the corpus: schedule on the asset, then read
only what run manifests list (`pipeline.corpus`, the contract in docs/corpus.md); never
list `articles/` directly, which may hold objects of a run still in progress.

Every new run (asset event) refreshes the report of its UTC day: articles by source,
duplicate rate and the stories with the most copies. The report is the task's return value
(XCom, visible in the UI) and is logged.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import dag, task
from news_common import DEFAULT_ARGS, connect, news_corpus

log = logging.getLogger(__name__)


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
        """Report on the runs committed on the day of the newest triggering event."""
        from pipeline.corpus import corpus_report, read_manifests

        events = list(triggering_asset_events[news_corpus]) if triggering_asset_events else []
        moment = max((event.timestamp for event in events), default=dag_run.run_after)
        day = f"{moment.astimezone(UTC):%Y-%m-%d}"
        store, _ = connect()
        manifests = [m for m in read_manifests(store) if m["committed_at"].startswith(day)]
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
