"""The dedup index in the store: what it keeps, a crash mid-run, and two runs at once."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline import commits, index, layout
from pipeline.commits import Manifest, RunCounts, RunObjects
from pipeline.config import CleanConfig, Config
from pipeline.dedup import Story
from pipeline.lease import Lease, LeaseBusy
from pipeline.runner import commit_run, extract_shard, ingest
from pipeline.store import LocalStore, S3Store, Store, make_s3_client
from tests.dedup.test_canonical import page
from tests.dedup.texts import DATELINE, TRAILER, WIRE_STORY

CONFIG = Config(clean=CleanConfig(workers=1))


def stories(count: int) -> list[Story]:
    rng = np.random.default_rng(count)
    return [
        Story(
            f"s_{n:020d}",
            f"https://site{n}.example/a",
            None if n % 2 else "2020-09-14T08:00:00Z",
            "2020-09-15T00:00:00Z",
            60 + n,
            rng.integers(0, 1 << 32, 56 + n, dtype=np.uint64).astype(np.uint32),
        )
        for n in range(count)
    ]


def test_segments_round_trip_and_a_later_segment_wins(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first, second = stories(3), stories(2)
    second[0] = replace(second[0], canonical_url="https://earlier.example/a")  # a new canonical for story 0
    runs = {"r1": (first, [1, 2, 3]), "r2": (second[:1], [4])}
    for sequence, (run, (changed, seen)) in enumerate(runs.items(), start=1):
        key = layout.segment_key(run)
        store.put(key, index.encode_segment(changed, seen, shingle_words=5))
        manifest = Manifest(run, sequence, "2026-11-22T05:00:00Z", RunCounts(), RunObjects(index=key))
        commits.append(store, manifest)
    state = index.load_index(store, shingle_words=5)
    assert [run.run_id for run in commits.committed_runs(store)] == ["r1", "r2"] and state.sequence == 2
    assert state.seen.keys.tolist() == [1, 2, 3, 4] and 3 in state.seen and 5 not in state.seen
    assert state.stories[first[0].story_id].canonical_url == "https://earlier.example/a"
    for story in first[1:]:
        loaded = state.stories[story.story_id]
        assert (loaded.published_at, loaded.fetched_at, loaded.words) == (
            story.published_at,
            story.fetched_at,
            story.words,
        )
        assert np.array_equal(loaded.shingles, story.shingles)
    assert state.bytes_per_page == state.segment_bytes / 4
    with pytest.raises(index.IndexMismatch, match="shingle"):
        index.load_index(store, shingle_words=4)


def wire_warc(tmp_path: Path, write_warc, name: str, url: str, paragraphs: list[str], published: str) -> str:
    return str(
        write_warc(tmp_path / f"{name}.warc.gz", [(url, 200, "text/html", page(name, paragraphs, published))])
    )


class CrashBeforeCommit(LocalStore):
    """A store whose run dies after writing everything but its manifest."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        if key.startswith(layout.COMMITS_PREFIX):
            raise RuntimeError("power failure")
        return super().put_if_absent(key, data)


def test_a_run_that_crashed_before_its_manifest_leaves_nothing_behind(tmp_path: Path, write_warc) -> None:
    original = wire_warc(
        tmp_path, write_warc, "original", "https://wire.example/dam", WIRE_STORY, "2020-09-14T08:00:00Z"
    )
    with pytest.raises(RuntimeError, match="power failure"):
        ingest([original], CrashBeforeCommit(tmp_path / "corpus"), "crashed", CONFIG)
    store = LocalStore(tmp_path / "corpus")
    assert store.list(layout.SEGMENT_PREFIX)  # the segment was written ...
    state = index.load_index(store, CONFIG.dedup.shingle_words)
    assert state.stories == {} and len(state.seen) == 0  # ... but nobody reads it back
    again = ingest([original], store, "crashed", CONFIG)  # a retry of the same run commits it
    assert (again.canonical, again.already_ingested) == (1, 0)
    assert len(index.load_index(store, CONFIG.dedup.shingle_words).stories) == 1


class Gate:
    """Holds a run inside its leased section until the test lets it go."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.release = threading.Event()

    def on_put(self, key: str) -> None:
        if key.startswith(layout.SEGMENT_PREFIX) and not self.release.is_set():
            self.inside.set()
            assert self.release.wait(30), "the test never released the gate"


class GatedStore:
    """Any store, with its writes reported to a gate first (other operations pass through)."""

    def __init__(self, inner: Store, gate: Gate) -> None:
        self.inner, self.gate, self.uri = inner, gate, inner.uri

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def put(self, key: str, data: bytes) -> None:
        self.gate.on_put(key)
        self.inner.put(key, data)


def run_staged(store: Store, run_id: str, staging: list[str], errors: list[BaseException]) -> None:
    try:
        commit_run(store, run_id, staging, CONFIG)
    except BaseException as error:
        errors.append(error)


def two_runs_at_once(store: Store, gate: Gate, tmp_path: Path, write_warc) -> None:
    """Run A holds the lease; run B must wait for it, then see what A stored."""
    original = wire_warc(
        tmp_path, write_warc, "original", "https://wire.example/dam", WIRE_STORY, "2020-09-14T08:00:00Z"
    )
    copy = [DATELINE + WIRE_STORY[0], *WIRE_STORY[1:], TRAILER]
    copied = wire_warc(tmp_path, write_warc, "copy", "https://copy.example/dam", copy, "2020-09-14T12:00:00Z")
    staging = {
        run: [extract_shard([source], store, run, 0, CONFIG)]
        for run, source in (("run-a", original), ("run-b", copied))
    }
    errors: list[BaseException] = []
    first = threading.Thread(target=run_staged, args=(store, "run-a", staging["run-a"], errors))
    first.start()
    assert gate.inside.wait(30)  # A is writing, lease held
    second = threading.Thread(target=run_staged, args=(store, "run-b", staging["run-b"], errors))
    second.start()
    impatient = CONFIG.run.model_copy(update={"lease_wait_seconds": 0.2})
    with pytest.raises(LeaseBusy, match=r"run 'run-a' .* holds its lease; waited 0s\. Retry when"):
        Lease(store, "run-c", "c", impatient).acquire()
    assert commits.committed_runs(store) == []  # B is waiting, not committing beside A
    gate.release.set()
    first.join(60)
    second.join(60)
    assert errors == []
    state = index.load_index(store, CONFIG.dedup.shingle_words)
    assert [run.run_id for run in commits.committed_runs(store)] == ["run-a", "run-b"]
    assert len(state.stories) == 1  # B found A's story: its page is a copy, not a second story


def test_two_runs_at_once_on_a_local_store(tmp_path: Path, write_warc) -> None:
    gate = Gate()
    two_runs_at_once(GatedStore(LocalStore(tmp_path / "corpus"), gate), gate, tmp_path, write_warc)


def test_two_runs_at_once_on_s3(s3_bucket: str, tmp_path: Path, write_warc) -> None:
    gate = Gate()
    two_runs_at_once(
        GatedStore(S3Store(make_s3_client(), s3_bucket, "corpus"), gate), gate, tmp_path, write_warc
    )


def test_the_index_keeps_one_hash_per_word_of_each_canonical(tmp_path: Path, write_warc) -> None:
    store = LocalStore(tmp_path / "corpus")
    original = wire_warc(
        tmp_path, write_warc, "original", "https://wire.example/dam", WIRE_STORY, "2020-09-14T08:00:00Z"
    )
    copy = wire_warc(
        tmp_path,
        write_warc,
        "copy",
        "https://copy.example/dam",
        [*WIRE_STORY, TRAILER],
        "2020-09-14T09:00:00Z",
    )
    ingest([original, copy], store, "one", CONFIG)
    state = index.load_index(store, CONFIG.dedup.shingle_words)
    [story] = state.stories.values()  # copies cost the index one page key each, nothing more
    assert len(story.shingles) == story.words - CONFIG.dedup.shingle_words + 1
    assert len(state.seen) == 2


def test_word_for_word_copies_of_an_earlier_runs_copy_never_supersede(tmp_path: Path, write_warc) -> None:
    """A fuller copy lost to the text its run's pages share; mirrors of it in later runs must not
    win against the stored canonical alone (same time: the fuller page would)."""
    store = LocalStore(tmp_path / "corpus")
    moment = "2020-09-14T08:00:00Z"
    texts = {
        "original": WIRE_STORY,
        "dateline": [DATELINE + WIRE_STORY[0], *WIRE_STORY[1:]],
        "fuller": [*WIRE_STORY, TRAILER],
    }
    pages = [wire_warc(tmp_path, write_warc, name, f"https://{name}.example/dam", text, moment)
             for name, text in texts.items()]
    first = ingest(pages, store, "first", CONFIG)
    assert (first.canonical, first.duplicates) == (1, 2)
    [canonical] = index.load_index(store, CONFIG.dedup.shingle_words).stories.values()
    assert canonical.canonical_url != "https://fuller.example/dam"
    for run in ("second", "third"):
        mirror = wire_warc(
            tmp_path, write_warc, run, f"https://mirror-{run}.example/dam", texts["fuller"], moment
        )
        later = ingest([mirror], store, run, CONFIG)
        assert (later.canonical, later.duplicates, later.superseded) == (0, 1, 0), run
    assert len(index.load_index(store, CONFIG.dedup.shingle_words).stories) == 1
