"""The ingest run end to end on one machine: seeds, reruns, incremental runs, bad input, S3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import output
from pipeline.config import Config, LimitsConfig
from pipeline.runner import commit_run, deduplicate_run, extract_shard, ingest, plan_shards
from pipeline.store import LocalStore, Store, open_store
from tests.conftest import SEED_CHROME, SEEDS


def read_rows(store: Store, kind: str) -> list[dict]:
    """Rows of every committed object of one kind ("articles" or "lineage")."""
    rows = []
    for key in store.list("runs/"):
        manifest = json.loads(store.get(key))
        for object_key in manifest["objects"][kind]:
            rows.extend(output.decode_jsonl_gz(store.get(object_key)))
    return rows


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "corpus")


def test_seeds_are_five_clean_articles(store: LocalStore) -> None:
    summary = ingest([str(SEEDS)], store, "seeds")
    assert (summary.pages_in, summary.canonical, summary.duplicates, summary.rejected) == (5, 5, 0, {})
    articles = read_rows(store, "articles")
    assert len({a["id"] for a in articles}) == 5
    for article in articles:
        assert article["title"] and article["title"] not in article["text"]
        assert len(article["text"].split()) > 200
        for chrome in SEED_CHROME:
            assert chrome not in article["text"], (article["url"], chrome)
        assert Path(article["url"].removeprefix("file://")).name in article["url"]
        assert article["language"] == "en"
        assert article["duplicates"] == []


def test_rerun_of_the_same_input_adds_nothing(store: LocalStore) -> None:
    ingest([str(SEEDS)], store, "first")
    again = ingest([str(SEEDS)], store, "second")
    assert (again.canonical, again.duplicates, again.already_ingested) == (0, 0, 5)
    assert len(read_rows(store, "articles")) == 5
    assert len(read_rows(store, "lineage")) == 5
    # The same run id again is a no-op that reports the committed run.
    assert ingest([str(SEEDS)], store, "first").canonical == 5
    assert len(read_rows(store, "articles")) == 5


def test_second_run_finds_copies_of_stories_stored_earlier(store: LocalStore, tmp_path: Path) -> None:
    ingest([str(SEEDS)], store, "first")
    later = tmp_path / "later"
    later.mkdir()
    original = (SEEDS / "002_f1b319162d563aac.txt").read_text()
    paragraphs = [p for p in original.split("\n") if len(p.split()) > 12]
    # A wire copy: new headline, dateline, the first two thirds of the story, an agency trailer.
    copy = ["Putin pledges support to Lukashenko", "", "SOCHI, Russia (AP) —"]
    copy += [*paragraphs[: 2 * len(paragraphs) // 3], "Copyright 2020 The Associated Press."]
    (later / "wire-copy.txt").write_text("\n\n".join(copy))
    summary = ingest([str(later)], store, "second")
    assert (summary.canonical, summary.duplicates) == (0, 1)
    row = read_rows(store, "lineage")[-1]
    assert row["status"] == "duplicate" and row["url"].endswith("wire-copy.txt")
    assert row["canonical_url"].endswith("002_f1b319162d563aac.txt")
    assert row["similarity"] >= 0.75 and row["method"] == "containment"


def test_bad_input_is_rejected_with_a_reason_and_the_run_goes_on(
    store: LocalStore, tmp_path: Path, write_warc
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "image.html").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (bad / "empty.txt").write_bytes(b"")
    (bad / "broken.html").write_bytes(b"<html><body><div><p>Unclosed <b>tags <table><tr><td>")
    (bad / "latin1.txt").write_bytes("Café society in Zürich, déjà vu. ".encode("latin-1") * 30)
    (bad / "huge.txt").write_bytes(b"word " * 3000)
    write_warc(
        bad / "crawl.warc.gz",
        [
            ("https://news.example/missing", 404, "text/html", b"<html>Not here</html>"),
            ("https://news.example/photo.jpg", 200, "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 100),
        ],
    )
    config = Config(limits=LimitsConfig(max_page_bytes=10_000))
    summary = ingest([str(bad), str(SEEDS)], store, "bad", config)
    assert summary.canonical == 5
    assert summary.pages_in == 12 and sum(summary.rejected.values()) == 7
    rejected = {row["url"].rsplit("/", 1)[-1]: row for row in read_rows(store, "lineage") if row["reason"]}
    reasons = {name: row["reason"] for name, row in rejected.items()}
    assert reasons == {
        "image.html": "binary",
        "photo.jpg": "binary",
        "empty.txt": "empty",
        "latin1.txt": "encoding",
        "missing": "http_status",
        "huge.txt": "too_large",
        "broken.html": reasons["broken.html"],
    }
    assert reasons["broken.html"] in {"no_article", "too_short"}
    assert "utf-8" in rejected["latin1.txt"]["detail"]
    assert rejected["missing"]["detail"] == "HTTP status 404"
    assert all(row["status"] == "rejected" and row["detail"] for row in rejected.values())
    # Rejected pages are remembered too: a rerun records nothing twice.
    again = ingest([str(bad), str(SEEDS)], store, "bad-again", config)
    assert (again.already_ingested, again.rejected) == (12, {})


def test_staged_path_gives_the_same_corpus_as_ingest(store: LocalStore, tmp_path: Path) -> None:
    shards = plan_shards([str(SEEDS)], shards=2)
    assert sorted(uri for shard in shards for uri in shard) == sorted(str(p) for p in SEEDS.iterdir())
    keys = [extract_shard(files, store, "staged", n, Config()) for n, files in enumerate(shards)]
    deduplicate_run(store, "staged", keys, Config())
    assert store.list("runs/") == []  # nothing is visible before the commit
    summary = commit_run(store, "staged")
    assert (summary.canonical, summary.duplicates) == (5, 0)
    assert store.list("staging/") == [] and store.list("locks/") == []
    # A retried commit (or dedup) of a committed run changes nothing.
    assert commit_run(store, "staged").canonical == 5
    deduplicate_run(store, "staged", keys, Config())
    assert len(read_rows(store, "articles")) == 5


def test_s3_store_through_boto3(s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/corpus")
    summary = ingest([str(SEEDS)], store, "s3-run")
    assert summary.canonical == 5
    keys = store.list("")
    assert "runs/s3-run/manifest.json" in keys
    assert any(key.startswith("articles/run=s3-run/") for key in keys)
    assert len(read_rows(store, "articles")) == 5
    assert ingest([str(SEEDS)], store, "s3-rerun").already_ingested == 5


def test_inputs_can_be_read_from_s3(s3_bucket: str) -> None:
    from pipeline.store import make_s3_client

    client = make_s3_client()
    for path in SEEDS.iterdir():
        client.put_object(Bucket=s3_bucket, Key=f"landing/dt=2020-09-14/{path.name}", Body=path.read_bytes())
    store = open_store(f"s3://{s3_bucket}/corpus")
    summary = ingest([f"s3://{s3_bucket}/landing/"], store, "from-s3")
    assert summary.canonical == 5
    urls = {row["url"] for row in read_rows(store, "lineage")}
    assert f"s3://{s3_bucket}/landing/dt=2020-09-14/000_44712f9b74aee763.txt" in urls


def test_a_failed_dedup_releases_the_lock_and_a_retry_finishes(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import runner

    keys = [extract_shard([str(SEEDS)], store, "flaky", 0, Config())]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(runner, "process", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        deduplicate_run(store, "flaky", keys, Config())
    assert store.list("locks/") == []  # the next run is not held up for an hour
    monkeypatch.undo()
    deduplicate_run(store, "flaky", keys, Config())
    assert commit_run(store, "flaky").canonical == 5


def test_commit_refuses_when_the_run_lost_its_lock(store: LocalStore) -> None:
    from pipeline.store import LockBusy, acquire_lock

    keys = [extract_shard([str(SEEDS)], store, "slow", 0, Config())]
    deduplicate_run(store, "slow", keys, Config())
    # The lock was broken as stale and taken by another run meanwhile.
    acquire_lock(store, "index", owner="other", stale_seconds=0.0)
    with pytest.raises(LockBusy, match="no longer holds the index lock"):
        commit_run(store, "slow")
    assert store.list("runs/") == []


def test_default_run_ids_differ_within_one_second() -> None:
    from datetime import UTC, datetime

    from pipeline.runner import new_run_id

    moment = datetime(2026, 11, 22, 6, 15, tzinfo=UTC)
    ids = {new_run_id(moment) for _ in range(20)}
    assert len(ids) > 1 and all(run_id.startswith("20261122T061500Z-") for run_id in ids)
