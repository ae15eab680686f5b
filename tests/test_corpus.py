"""Reading the corpus as docs/corpus.md tells readers to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline import output
from pipeline.config import Config
from pipeline.corpus import (
    corpus_report,
    iter_articles,
    iter_lineage,
    read_manifests,
    site_of,
)
from pipeline.dedup import index
from pipeline.runner import commit_run, extract_shard, ingest
from pipeline.store import LocalStore, Store, open_store

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "corpus")


def _parts(store: Store, prefix: str, rows: list[dict], part_records: int = 5000) -> list[str]:
    writer = output.PartWriter(store, prefix, part_records, "write.article_part")
    writer.add(rows)
    return writer.close()


def _write_run(
    store: Store,
    run_id: str,
    sequence: int,
    articles: list[dict],
    lineage: list[dict],
    key: str = "",
    part_records: int = 5000,
) -> None:
    """A committed run written by hand in the documented layout (`key`: where its manifest goes)."""
    keys = {
        "articles": _parts(store, f"articles/run={run_id}", articles, part_records),
        "lineage": _parts(store, f"lineage/run={run_id}", lineage),
        "index": f"index/segments/{run_id}.npz",
    }
    manifest = {
        "schema_version": "1.2",
        "run_id": run_id,
        "sequence": sequence,
        "committed_at": f"2026-11-22T0{sequence}:00:00Z",
        "counts": {
            "pages_in": len(lineage),
            "canonical": len(articles),
            "duplicates": 0,
            "already_ingested": 0,
            "rejected": {},
            "seconds": 0.1,
        },
        "objects": keys,
    }
    store.put(keys["index"], index.encode_segment([], [], Config().dedup))
    store.put(key or f"commits/{sequence:012d}.json", json.dumps(manifest).encode())


@pytest.mark.parametrize("part_records", [1, 2, 5000])
def test_within_a_run_the_record_written_last_is_current(store: LocalStore, part_records: int) -> None:
    # A run that reads its pages in batches may publish a story in one batch and give it an
    # earlier canonical in a later one: in a later part, or further down the same part.
    articles = [
        {"id": "s_1", "title": "first", "source": "a.example"},
        {"id": "s_2", "title": "other", "source": "b.example"},
        {"id": "s_1", "title": "second", "source": "a.example"},
    ]
    _write_run(store, "batched", 1, articles, [], part_records=part_records)

    assert {article["id"]: article["title"] for article in iter_articles(store)} == {
        "s_1": "second",
        "s_2": "other",
    }


def test_later_record_of_a_story_supersedes_the_earlier_one(store: LocalStore) -> None:
    # Run ids sort the other way round from commit order: only `sequence` counts.
    _write_run(
        store,
        "b-first",
        1,
        [
            {"id": "s_1", "title": "old", "source": "a.example"},
            {"id": "s_2", "title": "other", "source": "b.example"},
        ],
        [],
    )
    _write_run(store, "a-second", 2, [{"id": "s_1", "title": "new", "source": "a.example"}], [])

    assert [manifest["run_id"] for manifest in read_manifests(store)] == ["b-first", "a-second"]
    assert sorted((a["id"], a["title"]) for a in iter_articles(store)) == [("s_1", "new"), ("s_2", "other")]


def test_objects_of_an_uncommitted_run_are_invisible(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import commits

    config = Config()
    ingest([str(SEEDS)], store, run_id="committed", config=config)
    staged = extract_shard([str(SEEDS / "000_44712f9b74aee763.txt")], store, "in-flight", 0, config)

    def power_cut(*args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(commits, "append", power_cut)
    with pytest.raises(RuntimeError, match="power cut"):  # every object written, no commit
        commit_run(store, "in-flight", staged, config, reprocess=True)

    assert store.list("lineage/run=in-flight/")
    assert [manifest["run_id"] for manifest in read_manifests(store)] == ["committed"]
    assert {row["run_id"] for row in iter_lineage(store)} == {"committed"}
    assert {article["run_id"] for article in iter_articles(store)} == {"committed"}


def test_manifests_of_a_store_written_before_the_commit_log_are_adopted(store: LocalStore) -> None:
    article = {"id": "s_9", "title": "t", "source": "a.example"}
    _write_run(store, "old", 1, [article], [], "runs/old/manifest.json")
    ingest([str(SEEDS)], store, run_id="new")
    assert [(m["run_id"], m["sequence"]) for m in read_manifests(store)] == [("old", 1), ("new", 2)]


def test_report_counts_sources_duplicates_and_biggest_stories(store: LocalStore, tmp_path: Path) -> None:
    ingest([str(SEEDS)], store, run_id="seeds")
    copies = tmp_path / "copies"
    copies.mkdir()
    shutil.copy(SEEDS / "002_f1b319162d563aac.txt", copies / "syndicated.txt")
    ingest([str(copies)], store, run_id="copies")

    report = corpus_report(store)

    assert report["runs"] == ["seeds", "copies"]
    assert (report["pages_in"], report["canonical"], report["duplicates"]) == (6, 5, 1)
    assert report["duplicate_rate"] == round(1 / 6, 4)
    assert report["articles_by_site"] == {"unknown": 5}  # plain-text scrapes name no publisher
    biggest = report["biggest_stories"][0]
    assert biggest["pages"] == 2
    assert biggest["url"] == (SEEDS / "002_f1b319162d563aac.txt").as_uri()
    assert biggest["title"]
    assert [story["pages"] for story in report["biggest_stories"][1:]] == [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("url", "declared", "sitename", "source", "site"),
    [
        ("https://www.example.com/a", None, "Example News", "example.com", "example.com"),
        ("s3://landing/a.html", "https://news.example.org/a", None, "news.example.org", "news.example.org"),
        ("s3://landing/a.html", None, "Example News", "landing", "Example News"),
        ("file:///data/a.html", None, None, "file", "unknown"),
    ],
)
def test_a_landed_page_counts_under_its_publisher_not_its_bucket(
    url: str, declared: str | None, sitename: str | None, source: str, site: str
) -> None:
    article = {"url": url, "declared_canonical_url": declared, "sitename": sitename, "source": source}
    assert site_of(article) == site


def test_report_over_some_runs_only(store: LocalStore, tmp_path: Path) -> None:
    ingest([str(SEEDS)], store, run_id="seeds")
    ingest([str(SEEDS)], store, run_id="rerun")  # every page already ingested

    rerun = [manifest for manifest in read_manifests(store) if manifest["run_id"] == "rerun"]
    report = corpus_report(store, rerun)

    assert (report["pages_in"], report["already_ingested"], report["canonical"]) == (5, 5, 0)
    assert report["duplicate_rate"] == 0.0
    assert report["articles_by_site"] == {} and report["biggest_stories"] == []


def test_corpus_reads_an_s3_store(s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/corpus/")
    ingest([str(SEEDS)], store, run_id="seeds")

    assert len(list(iter_articles(store))) == 5
    assert corpus_report(store)["canonical"] == 5
