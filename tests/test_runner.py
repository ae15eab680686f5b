"""The ingest run end to end on one machine: seeds, reruns, incremental runs, bad input, S3."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from pipeline import output
from pipeline.config import Config, LimitsConfig
from pipeline.corpus import iter_articles, read_manifests
from pipeline.dedup import index
from pipeline.runner import (
    RunSummary,
    commit_run,
    extract_shard,
    ingest,
    plan_shards,
    prepare_run,
    probe_partition,
)
from pipeline.store import LocalStore, Store, open_store
from tests.conftest import SEED_CHROME, SEEDS


def read_rows(store: Store, kind: str) -> list[dict]:
    """Rows of every committed object of one kind ("articles" or "lineage")."""
    return [
        row
        for manifest in read_manifests(store)
        for key in manifest["objects"][kind]
        for row in output.decode_jsonl_gz(store.get(key))
    ]


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
    assert summary.canonical == 6  # latin-1 text labelled as nothing is read as browsers read it
    assert summary.pages_in == 12 and sum(summary.rejected.values()) == 6
    rejected = {row["url"].rsplit("/", 1)[-1]: row for row in read_rows(store, "lineage") if row["reason"]}
    reasons = {name: row["reason"] for name, row in rejected.items()}
    assert reasons == {
        "image.html": "binary",
        "photo.jpg": "binary",
        "empty.txt": "empty",
        "missing": "http_status",
        "huge.txt": "too_large",
        "broken.html": reasons["broken.html"],
    }
    assert reasons["broken.html"] in {"no_article", "too_short"}
    assert rejected["missing"]["detail"] == "HTTP status 404"
    assert all(row["status"] == "rejected" and row["detail"] for row in rejected.values())
    # Rejected pages are remembered too: a rerun records nothing twice.
    again = ingest([str(bad), str(SEEDS)], store, "bad-again", config)
    assert (again.already_ingested, again.rejected) == (12, {})


def test_staged_path_gives_the_same_corpus_as_ingest(store: LocalStore, tmp_path: Path) -> None:
    shards = plan_shards([str(SEEDS)], shards=2)
    assert sorted(uri for shard in shards for uri in shard) == sorted(str(p) for p in SEEDS.iterdir())
    keys = [
        key for n, files in enumerate(shards) for key in extract_shard(files, store, "staged", n, Config())
    ]
    assert store.list("commits/") == []  # nothing is visible before the commit
    summary = commit_run(store, "staged", keys, Config())
    assert (summary.canonical, summary.duplicates, summary.replay) == (5, 0, False)
    assert store.list("staging/") == []
    # A retried or cleared scheduled run of a committed run id changes nothing and says so.
    again = commit_run(store, "staged", keys, Config())
    assert (again.canonical, again.sequence, again.replay) == (5, summary.sequence, True)
    assert len(read_rows(store, "articles")) == 5 and len(store.list("commits/")) == 1


def test_s3_store_through_boto3(s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/corpus")
    summary = ingest([str(SEEDS)], store, "s3-run")
    assert summary.canonical == 5
    keys = store.list("")
    assert "runs/s3-run/manifest.json" in keys and "commits/000000000001.json" in keys
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


def test_a_failed_run_releases_the_lease_and_a_retry_finishes(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline import runner

    keys = extract_shard([str(SEEDS)], store, "flaky", 0, Config())

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(runner, "decide", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        commit_run(store, "flaky", keys, Config())
    [lease] = store.list("locks/")
    assert json.loads(store.get(lease))["released"]  # the next run is not held up
    monkeypatch.undo()
    assert commit_run(store, "flaky", keys, Config()).canonical == 5


def test_a_committed_run_id_is_refused_and_the_first_run_stays(store: LocalStore) -> None:
    from pipeline.runner import RunIdInUse

    first = ingest([str(SEEDS)], store, "once")
    with pytest.raises(RunIdInUse, match="'once' is already committed"):
        ingest([str(SEEDS)], store, "once")
    assert [m["run_id"] for m in read_manifests(store)] == ["once"]
    assert len(read_rows(store, "articles")) == first.canonical == 5


@pytest.mark.parametrize("run_id", ["../evil", "a/b", ".hidden"])
def test_path_like_run_ids_are_refused_before_anything_is_written(store: LocalStore, run_id: str) -> None:
    from pipeline.layout import BadRunId

    with pytest.raises(BadRunId, match="is not allowed"):
        ingest([str(SEEDS)], store, run_id)
    assert store.list("") == []


def test_default_run_ids_differ_within_one_second() -> None:
    from datetime import UTC, datetime

    from pipeline.runner import new_run_id

    moment = datetime(2026, 11, 22, 6, 15, tzinfo=UTC)
    ids = {new_run_id(moment) for _ in range(20)}
    assert len(ids) > 1 and all(run_id.startswith("20261122T061500Z-") for run_id in ids)


# --- runs read in batches (run.batch_pages) -------------------------------------------------


def news_page(text: str, published: str) -> bytes:
    """An article page with a publication time, from a seed's text."""
    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n") if len(line.split()) > 12)
    return (
        f'<html><head><meta property="article:published_time" content="{published}"></head>'
        f"<body><article>{paragraphs}</article></body></html>"
    ).encode()


def wire_copy(text: str) -> str:
    """The first two thirds of a story, as a wire service republishes it."""
    lines = [line for line in text.split("\n") if len(line.split()) > 12]
    return "\n".join(lines[: 2 * len(lines) // 3])


def batched(batch_pages: int) -> Config:
    return Config(run={"batch_pages": batch_pages})


def current_canonicals(store: Store) -> dict[str, str]:
    """Each page's story, named by the story's current canonical URL."""
    current = {article["id"]: article["url"] for article in iter_articles(store)}
    return {
        row["url"]: current[row["article_id"]]
        for row in read_rows(store, "lineage")
        if row["status"] in ("canonical", "duplicate")
    }


def test_a_run_in_batches_stores_what_one_batch_stores(tmp_path: Path, write_warc) -> None:
    # Originals first, then their copies (later, shorter), spread over batches of three pages.
    texts = [path.read_text() for path in sorted(SEEDS.iterdir())]
    records = [
        (f"https://origin.example/{n}", 200, "text/html", news_page(text, "2020-09-14T08:00:00Z"))
        for n, text in enumerate(texts)
    ]
    records += [
        (f"https://wire.example/{n}", 200, "text/html", news_page(wire_copy(text), "2020-09-14T11:00:00Z"))
        for n, text in enumerate(texts)
    ]
    warc = write_warc(tmp_path / "pages.warc.gz", records)
    whole, in_batches = LocalStore(tmp_path / "whole"), LocalStore(tmp_path / "batches")

    one = ingest([str(warc)], whole, "one", batched(5000))
    several = ingest([str(warc)], in_batches, "several", batched(3))

    assert (one.canonical, one.duplicates) == (5, 5)
    assert (several.canonical, several.duplicates, several.superseded) == (5, 5, 0)
    assert current_canonicals(in_batches) == current_canonicals(whole)
    [manifest] = read_manifests(in_batches)
    assert len(manifest["objects"]["index_batches"]) == 3  # four batches of pages ...
    assert len(index.load_index(in_batches, Config().dedup).parts) == 1  # ... merged into one segment
    assert ingest([str(warc)], in_batches, "again", batched(3)).already_ingested == 10


def test_a_later_batch_may_find_the_original_of_a_story_an_earlier_batch_published(
    store: LocalStore, tmp_path: Path, write_warc
) -> None:
    text = (SEEDS / "002_f1b319162d563aac.txt").read_text()
    copy = ("https://wire.example/copy", 200, "text/html", news_page(wire_copy(text), "2020-09-14T11:00:00Z"))
    original = ("https://origin.example/a", 200, "text/html", news_page(text, "2020-09-14T08:00:00Z"))
    warc = write_warc(tmp_path / "pages.warc.gz", [copy, original])

    summary = ingest([str(warc)], store, "late-original", batched(1))

    # The copy was the story's canonical for one batch; the original supersedes it, as a later run would.
    assert (summary.canonical, summary.duplicates, summary.superseded) == (2, 0, 1)
    [article] = iter_articles(store)
    assert (article["url"], article["supersedes"]) == (original[0], copy[0])
    rows = [(row["url"], row["status"], row["canonical_url"]) for row in read_rows(store, "lineage")]
    assert (copy[0], "superseded", original[0]) in rows


@pytest.mark.parametrize("reprocess", [False, True])
def test_a_page_met_again_in_a_later_batch_is_stored_once(
    tmp_path: Path, write_warc, reprocess: bool
) -> None:
    pages = [
        (f"https://origin.example/{path.stem}", 200, "text/plain", path.read_bytes())
        for path in sorted(SEEDS.iterdir())
    ]
    warc = write_warc(tmp_path / "pages.warc.gz", [*pages, pages[0]])  # the first page again, last
    store = LocalStore(tmp_path / "corpus")
    if reprocess:
        ingest([str(warc)], store, "first", batched(2))

    summary = ingest([str(warc)], store, "run", batched(2), reprocess=reprocess)

    assert (summary.pages_in, summary.already_ingested) == (6, 1)
    run_rows = [row for row in read_rows(store, "lineage") if row["run_id"] == "run"]
    assert sorted(row["url"] for row in run_rows) == sorted(url for url, *_ in pages)


# --- a scheduled run's dedup spread over workers --------------------------------------------


def decisions(store: Store) -> set[tuple]:
    """Every page's decision: its story, the story's canonical, how it was recognised."""
    return {
        (row["url"], row["status"], row["article_id"], row["canonical_url"], row["similarity"], row["method"])
        for row in read_rows(store, "lineage")
    }


def spread_over_partitions(store: Store, warc: Path, run_id: str, config: Config, count: int) -> RunSummary:
    """What the DAG's tasks do: extract, prepare, probe each partition, commit."""
    staged = extract_shard([str(warc)], store, run_id, 0, config)
    prepared = prepare_run(store, run_id, staged, config)
    probes = [probe_partition(store, run_id, prepared, p, count, config) for p in range(count)]
    return commit_run(store, run_id, staged, config, prepared=prepared, probe_keys=probes)


@pytest.fixture
def history_and_copies(tmp_path: Path, write_warc) -> tuple[Path, Path]:
    """Five stories stored by a first run; then their copies, a page seen before and new stories."""
    texts = [path.read_text() for path in sorted(SEEDS.iterdir())]
    first = [
        (f"https://origin.example/{n}", 200, "text/html", news_page(text, "2020-09-14T08:00:00Z"))
        for n, text in enumerate(texts[:3])
    ]
    later = [
        (f"https://wire.example/{n}", 200, "text/html", news_page(wire_copy(text), "2020-09-14T11:00:00Z"))
        for n, text in enumerate(texts)
    ]
    # A page read before, and an earlier publication of a stored story: it becomes the canonical.
    later += [
        first[1],
        ("https://first.example/0", 200, "text/html", news_page(texts[0], "2020-09-14T06:00:00Z")),
    ]
    return write_warc(tmp_path / "first.warc.gz", first), write_warc(tmp_path / "later.warc.gz", later)


@pytest.mark.parametrize("batch_pages", [3, 5000])
def test_dedup_spread_over_partitions_decides_as_one_process(
    tmp_path: Path, history_and_copies: tuple[Path, Path], batch_pages: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.runner")
    first, later = history_and_copies
    config = batched(batch_pages)
    one, spread = LocalStore(tmp_path / "one"), LocalStore(tmp_path / "spread")
    for store in (one, spread):
        ingest([str(first)], store, "first", config)

    alone = ingest([str(later)], one, "later", config)
    partitioned = spread_over_partitions(spread, later, "later", config, count=4)

    assert "preparing again" not in caplog.text  # the partitions' probes were used
    assert (partitioned.canonical, partitioned.duplicates, partitioned.superseded) == (
        alone.canonical,
        alone.duplicates,
        alone.superseded,
    )
    assert alone.superseded == 1 and alone.already_ingested == 1
    assert decisions(spread) == decisions(one)
    assert current_canonicals(spread) == current_canonicals(one)
    assert spread.list("staging/") == []
    # A rerun adds nothing.
    before = sorted(spread.list(""))
    assert spread_over_partitions(spread, later, "later", config, count=4).replay
    assert sorted(spread.list("")) == before


def test_a_commit_after_the_probes_makes_the_run_decide_again(
    tmp_path: Path, history_and_copies: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pipeline.runner")
    first, later = history_and_copies
    one, spread = LocalStore(tmp_path / "one"), LocalStore(tmp_path / "spread")
    staged = extract_shard([str(later)], spread, "later", 0, Config())
    prepared = prepare_run(spread, "later", staged, Config())
    probes = [probe_partition(spread, "later", prepared, p, 2, Config()) for p in range(2)]
    for store in (one, spread):  # another run commits the stories the copies are copies of
        ingest([str(first)], store, "first")

    commit_run(spread, "later", staged, Config(), prepared=prepared, probe_keys=probes)

    assert "prepared against commit 0, the store is at 1: preparing again" in caplog.text
    ingest([str(later)], one, "later")
    assert decisions(spread) == decisions(one)
