"""The dedup index in the store: what it keeps, a crash mid-run, and two runs at once."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline import commits, layout
from pipeline.commits import Manifest, RunCounts, RunObjects
from pipeline.config import CleanConfig, Config, DedupConfig
from pipeline.dedup import Story, index
from pipeline.dedup.segments import Segment
from pipeline.dedup.shingles import SHINGLE_SCHEME
from pipeline.dedup.stories import story_key
from pipeline.dedup.verification import Text
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
        store.put(key, index.encode_segment(changed, seen, CONFIG.dedup))
        manifest = Manifest(run, sequence, "2026-11-22T05:00:00Z", RunCounts(), RunObjects(index=key))
        commits.append(store, manifest)
    state = index.load_index(store, CONFIG.dedup)
    assert [run.run_id for run in commits.committed_runs(store)] == ["r1", "r2"] and state.sequence == 2
    assert state.seen.among([1, 2, 3, 4, 5]).tolist() == [True] * 4 + [False] and len(state.seen) == 4
    assert 3 in state.seen and 5 not in state.seen
    latest = state.all_stories()
    assert latest[first[0].story_id].canonical_url == "https://earlier.example/a"
    keys = np.array([story_key(story.story_id) for story in first], dtype=np.uint64)
    assert state.stories(keys)[int(keys[0])].canonical_url == "https://earlier.example/a"  # probed
    for story in first[1:]:
        loaded = latest[story.story_id]
        assert (loaded.published_at, loaded.fetched_at, loaded.words) == (
            story.published_at,
            story.fetched_at,
            story.words,
        )
        assert np.array_equal(loaded.shingles, story.shingles)
    assert state.bytes_per_page == state.segment_bytes / 4
    with pytest.raises(index.IndexMismatch, match="use the settings the index was built with"):
        index.load_index(store, DedupConfig(shingle_words=4))


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
    state = index.load_index(store, CONFIG.dedup)
    assert state.all_stories() == {} and len(state.seen) == 0  # ... but nobody reads it back
    again = ingest([original], store, "crashed", CONFIG)  # a retry of the same run commits it
    assert (again.canonical, again.already_ingested) == (1, 0)
    assert len(index.load_index(store, CONFIG.dedup).all_stories()) == 1


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
        run: extract_shard([source], store, run, 0, CONFIG)
        for run, source in (("run-a", original), ("run-b", copied))
    }
    errors: list[BaseException] = []
    first = threading.Thread(target=run_staged, args=(store, "run-a", staging["run-a"], errors))
    first.start()
    assert gate.inside.wait(30)  # A is writing, lease held
    second = threading.Thread(target=run_staged, args=(store, "run-b", staging["run-b"], errors))
    second.start()
    impatient = CONFIG.run.model_copy(update={"lease_wait_seconds": 0.2})
    with pytest.raises(LeaseBusy, match=r"run 'run-a' .* holds its lease; waited 0.2s\. Retry when"):
        Lease(store, "run-c", "c", impatient).acquire()
    assert commits.committed_runs(store) == []  # B is waiting, not committing beside A
    gate.release.set()
    first.join(60)
    second.join(60)
    assert errors == []
    state = index.load_index(store, CONFIG.dedup)
    assert [run.run_id for run in commits.committed_runs(store)] == ["run-a", "run-b"]
    assert len(state.all_stories()) == 1  # B found A's story: its page is a copy, not a second story


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
    state = index.load_index(store, CONFIG.dedup)
    [story] = state.all_stories().values()  # copies cost the index one page key each, nothing more
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
    pages = [
        wire_warc(tmp_path, write_warc, name, f"https://{name}.example/dam", text, moment)
        for name, text in texts.items()
    ]
    first = ingest(pages, store, "first", CONFIG)
    assert (first.canonical, first.duplicates) == (1, 2)
    [canonical] = index.load_index(store, CONFIG.dedup).all_stories().values()
    assert canonical.canonical_url != "https://fuller.example/dam"
    for run in ("second", "third"):
        mirror = wire_warc(
            tmp_path, write_warc, run, f"https://mirror-{run}.example/dam", texts["fuller"], moment
        )
        later = ingest([mirror], store, run, CONFIG)
        assert (later.canonical, later.duplicates, later.superseded) == (0, 1, 0), run
    assert len(index.load_index(store, CONFIG.dedup).all_stories()) == 1


def test_the_merge_plan_carries_like_a_counter() -> None:
    assert index.merge_plan([], 4) == (0, 0)
    assert index.merge_plan([0], 4) == (1, 0)  # a lone new segment: nothing to merge
    assert index.merge_plan([0, 0, 0], 4) == (3, 0)
    assert index.merge_plan([0, 0, 0, 0], 4) == (0, 1)
    assert index.merge_plan([2, 1, 1, 1, 0, 0, 0, 0], 4) == (1, 2)  # the carry ripples up
    assert index.merge_plan([1, 0, 0], 2) == (0, 2)


def probe_view(state: index.IndexState, stories: list[Story]) -> tuple:
    """What deduplication can see of the index: stories by key, texts, pages and candidates."""
    keys = np.array([story_key(story.story_id) for story in stories], dtype=np.uint64)
    found = state.stories(keys)
    digests = np.array(sorted(state_texts(state)), dtype=np.uint64)
    candidates = index.candidate_keys([story.shingles for story in stories], CONFIG.dedup)
    text, story, shared = state.candidates(candidates, CONFIG.dedup.max_bucket)
    return (
        {key: (s.story_id, s.canonical_url, s.shingles.tolist()) for key, s in found.items()},
        state.stories_of_texts(digests).tolist(),
        state.seen.among(list(range(100))).tolist(),
        sorted(zip(text.tolist(), story.tolist(), strict=True)),
        shared.sum() > 0,
    )


def state_texts(state: index.IndexState) -> set[int]:
    return {d for part in state.parts for d in part.contents().text_digests.tolist()}


@pytest.mark.parametrize("where", ["local", "s3"])
def test_compaction_merges_committed_segments_without_changing_what_runs_see(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Runs commit segments by hand; with fanout 2 their compactions keep few segments, and every
    probe answers as over the uncompacted segments. A compaction counts only once committed."""
    if where == "local":
        store: Store = LocalStore(tmp_path)
    else:  # the fixture first: it points the client at the moto server on 127.0.0.1
        bucket = request.getfixturevalue("s3_bucket")
        store = S3Store(make_s3_client(), bucket, "corpus")
    config = CONFIG.dedup.model_copy(update={"compaction_fanout": 2, "index_bucket_entries": 2})
    every = stories(7)
    plain = commit_seven_runs(store, config, every)
    state = index.load_index(store, config)
    assert len(state.parts) <= 3 and any(part.key.startswith("index/merged/") for part in state.parts)
    uncompacted = index.IndexState(plain, state.sequence)
    assert probe_view(state, every) == probe_view(uncompacted, every)
    assert state.all_stories()[every[0].story_id].canonical_url == "https://earlier.example/a"
    assert len(state.seen) == 14


def commit_seven_runs(
    store: Store, config: DedupConfig, every: list[Story], swept: list | None = None
) -> list:
    """Seven runs committed by hand, one story each (the last gives the first a new canonical),
    each compacting as the plan says; with `swept`, each sweeps after its commit as runs do.
    Returns each run's own segment, opened before any compaction."""
    plain: list[Segment] = []
    for number, story in enumerate(every):
        run = f"r{number}"
        changed = [story] if number != 6 else [replace(every[0], canonical_url="https://earlier.example/a")]
        state = index.load_index(store, config)
        objects = RunObjects(index=layout.segment_key(run))
        store.put(
            objects.index,
            index.encode_segment(changed, [number, 50 + number], config, {number: story.story_id}),
        )
        plain.append(index.open_segment(store, objects.index, config, index.segment_cache(config)))
        state.parts.append(plain[-1])
        index.compact(store, run, state, objects, config)
        commits.append(store, Manifest(run, number + 1, "2026-11-22T05:00:00Z", RunCounts(), objects))
        commits.roll_forward(store)
        if swept is not None:
            swept += index.sweep(store, commits.committed_runs(store), config)
    return plain


def test_replaced_segments_are_swept_some_commits_later(tmp_path: Path) -> None:
    config = CONFIG.dedup.model_copy(
        update={"compaction_fanout": 2, "index_bucket_entries": 2, "index_sweep_after_commits": 2}
    )
    every = stories(7)
    kept, swept_store = LocalStore(tmp_path / "kept"), LocalStore(tmp_path / "swept")
    commit_seven_runs(kept, config, every)
    swept: list[str] = []
    commit_seven_runs(swept_store, config, every, swept)

    runs = commits.committed_runs(swept_store)
    old_enough = {key for run in runs if run.merged and run.sequence <= len(runs) - 2 for key in run.replaces}
    recent = {key for run in runs if run.merged and run.sequence > len(runs) - 2 for key in run.replaces}
    stored = set(swept_store.list("index/"))
    assert swept and set(swept) == old_enough - set(index.live_segments(runs))
    assert not stored & set(swept)
    assert recent | set(index.live_segments(runs)) <= stored
    assert probe_view(index.load_index(swept_store, config), every) == probe_view(
        index.load_index(kept, config), every
    )


def test_a_compaction_of_a_run_that_never_committed_is_ignored_and_tidied(tmp_path: Path, write_warc) -> None:
    config = CONFIG.model_copy(update={"dedup": CONFIG.dedup.model_copy(update={"compaction_fanout": 2})})
    store = LocalStore(tmp_path / "corpus")
    first = wire_warc(tmp_path, write_warc, "a", "https://wire.example/a", WIRE_STORY, "2020-09-14T08:00:00Z")
    ingest([first], store, "first", config)
    second = wire_warc(
        tmp_path, write_warc, "b", "https://wire.example/b", [DATELINE, *WIRE_STORY], "2020-09-14T09:00:00Z"
    )
    with pytest.raises(RuntimeError, match="power failure"):
        ingest([second], CrashBeforeCommit(tmp_path / "corpus"), "crashed", config)
    assert store.list(layout.MERGED_PREFIX) == ["index/merged/crashed.seg"]  # written, not committed
    assert [part.key for part in index.load_index(store, config.dedup).parts] == ["index/segments/first.seg"]
    again = ingest([second], store, "again", config)
    assert again.duplicates == 1
    assert store.list(layout.MERGED_PREFIX) == ["index/merged/again.seg"]  # the crashed run's is gone
    assert [part.key for part in index.load_index(store, config.dedup).parts] == ["index/merged/again.seg"]


def test_a_segment_of_the_first_layout_is_still_read(tmp_path: Path) -> None:
    """Stores written before segments were sorted tables hold compressed numpy archives."""
    store = LocalStore(tmp_path)
    [story] = stories(1)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        scheme=np.array(f"{SHINGLE_SCHEME}/5"),
        story_ids=np.array([story.story_id]),
        canonical_urls=np.array([story.canonical_url]),
        published=np.array([story.published_at or ""]),
        fetched=np.array([story.fetched_at]),
        words=np.array([story.words]),
        shingle_counts=np.array([len(story.shingles)]),
        shingles=story.shingles,
        seen=np.array([7], dtype=np.uint64),
    )
    store.put("index/segments/old.npz", buffer.getvalue())
    objects = RunObjects(index="index/segments/old.npz")
    commits.append(store, Manifest("old", 1, "2026-11-22T05:00:00Z", RunCounts(), objects))
    state = index.load_index(store, CONFIG.dedup)
    assert 7 in state.seen and state.all_stories()[story.story_id].canonical_url == story.canonical_url
    digest = Text(story.shingles, story.words).digest  # the canonical's own text is known word for word
    assert state.stories_of_texts(np.array([digest], dtype=np.uint64)).tolist() == [story_key(story.story_id)]


def test_a_key_many_stored_stories_share_meets_only_max_bucket_of_them() -> None:
    """Thousands of stories sharing a key (a stock phrase) cost a probe `max_bucket` of them."""
    [story] = stories(1)
    many = [replace(story, story_id=f"s_{n:020d}") for n in range(100)]
    config = CONFIG.dedup.model_copy(update={"max_bucket": 8})
    state = index.in_memory(many, config)
    keys = index.candidate_keys([story.shingles], config)
    _, found, shared = state.candidates(keys, config.max_bucket)
    assert len(set(found.tolist())) == 8 and set(shared.tolist()) == {len(keys.keys)}
