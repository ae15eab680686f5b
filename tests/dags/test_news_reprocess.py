"""news_reprocess: Params are checked when a run is created, impossible combinations fail the
run at once with a clear message, and a WARC archive plus a landing date range are ingested,
skipped when seen, and ingested again on request (`reprocess`)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from tests.dags.checks import SEEDS

ARCHIVE_KEY = "archives/CC-NEWS-20201014123000-00001.warc.gz"


def seeds_warc() -> bytes:
    """A gzipped WARC with one 200 response record per seed, as a news crawl would hold."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for seed in SEEDS:
        headers = StatusAndHeaders(
            "200 OK", [("Content-Type", "text/plain; charset=utf-8")], protocol="HTTP/1.1"
        )
        record = writer.create_warc_record(
            f"https://news.example/{seed.stem}",
            "response",
            payload=io.BytesIO(seed.read_bytes()),
            http_headers=headers,
        )
        writer.write_record(record)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"shards": 0}, "Invalid input for param shards: 0 is less than the minimum of 1"),
        ({"inputs": ["relative/folder"]}, "Invalid input for param inputs"),
        ({"inputs": "s3://bucket/prefix/"}, "Invalid input for param inputs"),
        ({"landing_from": "22.11.2026"}, "Invalid input for param landing_from"),
        (
            {"landing_from": "2026-02-30"},
            "Invalid input for param landing_from: '2026-02-30' is not a 'date'",
        ),
        # A range is a first day and a count of days: it cannot be reversed, nor too long.
        ({"landing_days": 0}, "Invalid input for param landing_days: 0 is less than the minimum of 1"),
        ({"landing_days": 367}, "Invalid input for param landing_days: 367 is greater than the maximum"),
        ({"reprocess": "yes"}, "Invalid input for param reprocess"),
    ],
)
def test_invalid_params_are_rejected_before_a_run_exists(fresh_dag, conf: dict, message: str) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=message):
        fresh_dag("news_reprocess").test(run_conf=conf)


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        # A run the api-server did not create (dag.test(), `airflow dags trigger`) can have any
        # conf key: a misspelt Param fails the first task (tests/dags/test_strict_params.py: the
        # api-server refuses it).
        (
            {"landing_from": "2026-11-22", "landing_to": "2026-11-23"},
            "unknown Params ['landing_to']; the Params are ['dedup_partitions', 'inputs', 'landing_days',",
        ),
        ({}, "nothing to read: give inputs, or landing_from (and landing_days)"),
    ],
)
def test_impossible_requests_fail_the_run_at_once(
    fresh_dag, corpus_bucket: str, conf: dict, message: str, caplog
) -> None:
    run = fresh_dag("news_reprocess").test(run_conf=conf)

    assert run.state == "failed"
    find_inputs = next(ti for ti in run.get_task_instances() if ti.task_id == "find_inputs")
    assert (find_inputs.state, find_inputs.try_number) == ("failed", 1)  # no retries for a bad request
    # The plugin's listener logged the failed attempt with its error, and the failed run with
    # the command that reruns it.
    task_failure, run_failure = (
        logged(caplog, "news_task_failed"),
        logged(caplog, "news_run_failed"),
    )
    assert (task_failure["task_id"], task_failure["try_number"]) == ("find_inputs", 1)
    assert task_failure["error"].startswith("AirflowFailException: ") and message in task_failure["error"]
    assert (run_failure["dag_id"], run_failure["run_id"]) == ("news_reprocess", run.run_id)
    assert run_failure["rerun"].startswith("airflow tasks clear news_reprocess -s ")


def logged(caplog: pytest.LogCaptureFixture, event: str) -> dict:
    """The one `<event> {json}` line the listener logged."""
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(event + " ")]
    assert len(lines) == 1, lines
    return json.loads(lines[0].removeprefix(event + " "))


def test_archive_and_landing_range_are_ingested_once_unless_reprocessed(
    fresh_dag, corpus_bucket: str, s3
) -> None:
    from pipeline.corpus import read_manifests
    from pipeline.store import open_store

    s3.put_object(Bucket=corpus_bucket, Key=ARCHIVE_KEY, Body=seeds_warc())
    for seed in SEEDS:
        s3.put_object(
            Bucket=corpus_bucket, Key=f"landing/dt=2026-11-22/hour=13/{seed.name}", Body=seed.read_bytes()
        )
    conf = {
        "inputs": [f"s3://{corpus_bucket}/archives/"],
        "landing_from": "2026-11-22",
        "landing_days": 1,
    }
    store = open_store(f"s3://{corpus_bucket}/", s3_client=s3)

    def counts_of(run_after: datetime, **extra: bool) -> dict:
        run = fresh_dag("news_reprocess").test(run_after=run_after, run_conf={**conf, **extra})
        assert run.state == "success"
        manifest = read_manifests(store)[-1]
        assert manifest["run_id"] == f"news_reprocess-{run_after:%Y%m%dT%H%M%SZ}"
        return manifest["counts"]

    # The WARC's five pages and the five landed copies of them: five stories, five duplicates.
    first = counts_of(datetime(2026, 11, 23, 8, tzinfo=UTC))
    assert (first["pages_in"], first["canonical"], first["duplicates"]) == (10, 5, 5)
    again = counts_of(datetime(2026, 11, 23, 9, tzinfo=UTC))
    assert (again["pages_in"], again["already_ingested"], again["canonical"]) == (10, 10, 0)
    forced = counts_of(datetime(2026, 11, 23, 10, tzinfo=UTC), reprocess=True)
    assert (forced["pages_in"], forced["already_ingested"]) == (10, 0)
