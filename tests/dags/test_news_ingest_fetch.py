"""news_ingest fetching the web under dag.test(): the fixture news site on 127.0.0.1 is the
sources file's feed and sitemap, discovered and fetched by mapped tasks, archived in raw/ of
the S3 corpus store (moto, through the `news_s3` connection) and ingested with the interval's
landing pages; a rerun of the interval fetches nothing, and the next one nothing unchanged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.dags.checks import LANDING, SEEDS, bucket_objects, corpus_events
from tests.fetch.site import LINEAGE_REASONS, QUICK_OPTIONS, FixtureSite, sources_yaml

# dag.test(logical_date=06:00) runs the interval 05:00-06:00, as the scheduler would.
LOGICAL_DATE = datetime(2026, 11, 22, 6, tzinfo=UTC)
PIPELINE_RUN = "news_ingest-20261122T0500Z"
NEXT_LOGICAL_DATE = datetime(2026, 11, 22, 7, tzinfo=UTC)
ARTICLES = {f"/articles/{n}" for n in (1, 2, 3, 4, 5, 6, "old-1", "moved-target")}
FETCHED_PAGES = {*ARTICLES, "/syndicated/1", "/flaky", "/busy"}
SYNDICATED = {"/articles/1", "/syndicated/1"}  # the same text on two URLs


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as running:
        yield running


@pytest.fixture
def sources_file(site: FixtureSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture site's sources file, configured through the Variables the DAG reads.

    The site is on a loopback address, which fetching refuses unless private addresses are allowed.
    """
    path = tmp_path / "sources.yaml"
    path.write_text(sources_yaml(site.url, **QUICK_OPTIONS))
    monkeypatch.setenv("AIRFLOW_VAR_NEWS_SOURCES_FILE", str(path))
    monkeypatch.setenv("AIRFLOW_VAR_NEWS_FETCH_ALLOW_PRIVATE", "true")
    return path


def fetch_summaries(dag_run) -> list[dict]:
    """What the mapped fetch_source tasks of the DAG run returned, one per source."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids="fetch_source", key="return_value"
        )
        return [XComModel.deserialize_value(xcom) for xcom in session.scalars(query)]


def total(summaries: list[dict], count: str) -> int:
    return sum(summary[count] for summary in summaries)


def test_sources_are_fetched_by_mapped_tasks_and_ingested_once(
    fresh_dag, site: FixtureSite, sources_file: Path, corpus_bucket: str, s3
) -> None:
    from pipeline.corpus import iter_articles, iter_lineage, read_manifests
    from pipeline.store import open_store

    s3.put_object(Bucket=corpus_bucket, Key=LANDING + SEEDS[0].name, Body=SEEDS[0].read_bytes())
    store = open_store(f"s3://{corpus_bucket}/", s3_client=s3)

    first = fresh_dag("news_ingest").test(logical_date=LOGICAL_DATE)

    assert first.state == "success"
    states = Counter((ti.task_id, ti.state) for ti in first.get_task_instances())
    assert states[("discover_source", "success")] == states[("fetch_source", "success")] == 2
    assert {state for _, state in states} == {"success"}
    summaries = fetch_summaries(first)
    assert total(summaries, "fetched") == len(FETCHED_PAGES)
    assert total(summaries, "documents") == 4  # feed, sitemap index, news sitemap, archive sitemap
    # Archived under the interval's run id, per source, in the interval's day.
    raw = store.list("raw/")
    assert {key.rsplit("-", 1)[0] for key in raw} == {
        f"raw/dt=2026-11-22/{PIPELINE_RUN}-fixture-feed",
        f"raw/dt=2026-11-22/{PIPELINE_RUN}-fixture-sitemap",
    }
    assert sorted(key for summary in summaries for key in summary["warc_keys"]) == raw

    [manifest] = read_manifests(store)
    assert manifest["run_id"] == PIPELINE_RUN
    articles = {article["url"].removeprefix(site.url): article for article in iter_articles(store)}
    landed = f"s3://{corpus_bucket}/{LANDING}{SEEDS[0].name}"
    # Article 1 and its syndicated copy are one story, published once: dedup picks which
    # (the page fetched first), the other is folded into it.
    [kept] = SYNDICATED & set(articles)
    [copy] = SYNDICATED - {kept}
    assert set(articles) == {*(FETCHED_PAGES - SYNDICATED), kept, landed}
    assert [duplicate["url"] for duplicate in articles[kept]["duplicates"]] == [site.url + copy]
    lineage = [row for row in iter_lineage(store) if row["url"].startswith(site.url)]
    assert [row["url"] for row in lineage if row["status"] == "duplicate"] == [site.url + copy]
    rejected = [
        (row["url"].removeprefix(site.url), row["reason"]) for row in lineage if row["status"] == "rejected"
    ]
    assert sorted(rejected) == sorted(LINEAGE_REASONS.items())
    assert [event["run_id"] for event in corpus_events(first)] == [PIPELINE_RUN]
    assert corpus_events(first)[0]["duplicates"] == 1
    after_first, hits_after_first = bucket_objects(s3, corpus_bucket), site.hits.copy()

    # A rerun of the committed interval asks the site nothing and changes nothing.
    rerun = fresh_dag("news_ingest").test(logical_date=LOGICAL_DATE)
    assert rerun.state == "success"
    rerun_states = {ti.task_id: ti.state for ti in rerun.get_task_instances()}
    assert rerun_states["discover_source"] == rerun_states["fetch_source"] == "skipped"
    assert site.hits == hits_after_first
    assert bucket_objects(s3, corpus_bucket) == after_first

    # The next interval asks again, conditionally: no page fetched for good is requested again.
    later = fresh_dag("news_ingest").test(logical_date=NEXT_LOGICAL_DATE)
    assert later.state == "success"
    summaries = fetch_summaries(later)
    assert total(summaries, "fetched") == total(summaries, "documents") == 0
    assert total(summaries, "not_modified") == 4
    assert all(site.hits[path] == hits_after_first[path] for path in FETCHED_PAGES)
    assert [event["canonical"] for event in corpus_events(later)] == [0]
    assert {article["url"] for article in iter_articles(store)} == {
        article["url"] for article in articles.values()
    }
