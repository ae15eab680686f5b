"""The streaming merge of segments answers every probe as the segments it replaces did.

The expectation is built in plain Python from what each segment was given: a story's newest
version wins with that version's candidate keys, page keys are united, a text's newest story
wins, and at most `max_bucket` entries are kept per key (the oldest segment's first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from pipeline.config import DedupConfig
from pipeline.dedup import Story
from pipeline.dedup.segments import BytesSource, Contents, Segment, encode, merged_file
from pipeline.dedup.stories import story_key

SCHEME = "test-scheme"
HOT_KEY = 7 << 40  # a candidate key many stories share, beyond the cap


@dataclass
class Part:
    """What one segment was given, in plain Python."""

    stories: list[Story]
    candidates: list[tuple[int, int]]  # (candidate key, story key)
    pages: list[int]
    texts: list[tuple[int, int]]  # (digest, story key)

    def contents(self) -> Contents:
        def column(pairs: list[tuple[int, int]], at: int) -> np.ndarray:
            return np.array([pair[at] for pair in pairs], dtype=np.uint64)

        return Contents(
            self.stories,
            column(self.candidates, 0),
            column(self.candidates, 1),
            np.array(self.pages, dtype=np.uint64),
            column(self.texts, 0),
            column(self.texts, 1),
        )


def random_part(rng: np.random.Generator, number: int, size: int, shared_keys: list[int]) -> Part:
    """Stories drawn from a small pool (so later parts hold new versions of earlier parts' stories),
    each with random candidate keys, some shared between stories, and the hot key; page keys and
    digests partly shared with other parts; key 0 in every table."""
    ids = sorted({int(n) for n in rng.integers(0, 40, size)})
    stories = [
        Story(
            f"s_{n:04d}",
            f"https://site{n}.example/version{number}",
            None,
            f"2020-01-{number + 1:02d}T00:00:00Z",
            int(rng.integers(1, 900)),
            rng.integers(0, 1 << 32, int(rng.integers(0, 300)), dtype=np.uint64).astype(np.uint32),
        )
        for n in ids
    ]
    candidates = []
    for story in stories:
        owner = story_key(story.story_id)
        own = rng.integers(1, 1 << 64, int(rng.integers(0, 12)), dtype=np.uint64).tolist()
        shared = rng.choice(shared_keys, 3, replace=False).tolist()
        candidates += [(int(key), owner) for key in [HOT_KEY, *own, *shared, 0][: int(rng.integers(1, 20))]]
    pages = [*rng.integers(0, 1 << 64, 20, dtype=np.uint64).tolist(), *rng.integers(0, 30, 5).tolist(), 0]
    placed = [story_key(story.story_id) for story in stories]
    texts = (
        {int(digest): placed[int(rng.integers(len(placed)))] for digest in rng.integers(0, 25, 6)}
        if placed
        else {}
    )
    return Part(stories, candidates, pages, list(texts.items()))  # one story per digest in a segment


def parts_of(seed: int, count: int) -> list[Part]:
    rng = np.random.default_rng(seed)
    shared_keys = rng.integers(1, 1 << 64, 6, dtype=np.uint64).tolist()
    sizes = [int(rng.integers(0, 30)) for _ in range(count)]
    sizes[int(rng.integers(count))] = 0  # an empty segment among them
    return [random_part(rng, number, size, shared_keys) for number, size in enumerate(sizes)]


def expected(parts: list[Part], cap: int) -> dict:
    """What probes of the merged segment must answer, from the parts in plain Python."""
    newest: dict[int, tuple[int, Story]] = {}
    for number, part in enumerate(parts):
        for story in part.stories:
            newest[story_key(story.story_id)] = (number, story)
    candidates: dict[int, list[int]] = {}
    for number, part in enumerate(parts):
        per_key: dict[int, list[int]] = {}
        for key, owner in part.candidates:  # a segment itself keeps the first `cap` per key
            per_key.setdefault(key, []).append(owner)
        for key, owners in per_key.items():
            kept = [owner for owner in owners[:cap] if newest[owner][0] == number]
            candidates.setdefault(key, []).extend(kept)
    texts: dict[int, int] = {}
    for part in parts:
        texts.update(part.texts)
    return {
        "stories": {key: story for key, (_, story) in newest.items()},
        "candidates": {key: sorted(owners[:cap]) for key, owners in candidates.items() if owners},
        "pages": {page for part in parts for page in part.pages},
        "texts": texts,
    }


def segment(data: bytes, config: DedupConfig) -> Segment:
    return Segment("merged", BytesSource(data), config.index_read_gap, config.index_probe_batch)


def observed(merged: Segment, parts: list[Part], cap: int) -> dict:
    """The same, from probes of the merged segment, for every key any part held and some absent ones."""
    absent = [1, 2, 3, 1 << 63, (1 << 64) - 1]
    story_keys = np.array(
        sorted({story_key(s.story_id) for part in parts for s in part.stories}) + absent, dtype=np.uint64
    )
    query, rows = merged.lookup("story_keys", story_keys, cap=1)
    stories = dict(zip(story_keys[query].tolist(), merged.stories(rows), strict=True))
    keys = np.array(sorted({key for part in parts for key, _ in part.candidates} | set(absent)), np.uint64)
    query, owners = merged.lookup("candidate_keys", keys, cap=cap)
    candidates: dict[int, list[int]] = {}
    for key, owner in zip(keys[query].tolist(), owners.tolist(), strict=True):
        candidates.setdefault(key, []).append(owner)
    pages = np.array(sorted({page for part in parts for page in part.pages} | set(absent)), np.uint64)
    found, _ = merged.lookup("page_keys", pages)
    digests = np.array(sorted({d for part in parts for d, _ in part.texts} | set(absent)), np.uint64)
    query, owners = merged.lookup("text_digests", digests, cap=1)
    return {
        "stories": stories,
        "candidates": {key: sorted(owners) for key, owners in candidates.items()},
        "pages": set(pages[found].tolist()),
        "texts": dict(zip(digests[query].tolist(), owners.tolist(), strict=True)),
    }


def same_stories(left: dict[int, Story], right: dict[int, Story]) -> bool:
    def view(stories: dict[int, Story]) -> dict:
        return {
            key: (s.story_id, s.canonical_url, s.published_at, s.fetched_at, s.words, s.shingles.tolist())
            for key, s in stories.items()
        }

    return view(left) == view(right)


def merge(
    parts: list[Part], config: DedupConfig, level: int = 1, parts_config: DedupConfig | None = None
) -> bytes:
    """The merge of `parts`, each first encoded as a segment (with `parts_config`, by default `config`)."""
    opened = [segment(encode(part.contents(), SCHEME, 0, parts_config or config), config) for part in parts]
    with merged_file(opened, SCHEME, level, config) as path:
        return path.read_bytes()


def assert_answers_as(parts: list[Part], merged: Segment, config: DedupConfig) -> None:
    """The merged segment answers every probe as the parts it merges would have."""
    got, want = observed(merged, parts, config.max_bucket), expected(parts, config.max_bucket)
    assert same_stories(got["stories"], want["stories"])
    assert (got["candidates"], got["pages"], got["texts"]) == (
        want["candidates"],
        want["pages"],
        want["texts"],
    )


TINY = {"compaction_chunk_entries": 1, "compaction_chunk_bytes": 1}  # every bucket and story a chunk


@pytest.mark.parametrize(
    ("seed", "count", "settings"),
    [
        (1, 4, TINY),
        (2, 4, {"compaction_chunk_entries": 5, "compaction_chunk_bytes": 700}),
        (3, 3, TINY),
        (4, 7, {"compaction_chunk_entries": 3, "compaction_chunk_bytes": 3000}),
        (5, 4, {}),  # the default chunks: everything in one
    ],
)
def test_the_streaming_merge_answers_as_the_merged_segments_did(
    seed: int, count: int, settings: dict
) -> None:
    """Small buckets (2 entries on average: many overflow) and a cap of 4, below the hot key's
    stories; chunks of a few buckets and a few stories, so entries and stories cross chunks."""
    config = DedupConfig(index_bucket_entries=2, max_bucket=4, index_probe_batch=7, **settings)
    parts = parts_of(seed, count)
    want = expected(parts, config.max_bucket)
    assert len(want["candidates"][HOT_KEY]) == config.max_bucket  # the cap is reached across parts
    assert any(  # some story has a stale version in an older part
        story_key(s.story_id) in {story_key(t.story_id) for later in parts[n + 1 :] for t in later.stories}
        for n, part in enumerate(parts)
        for s in part.stories
    )
    merged = segment(merge(parts, config, level=3), config)
    got = observed(merged, parts, config.max_bucket)
    assert same_stories(got["stories"], want["stories"])
    assert got["candidates"] == want["candidates"]
    assert got["pages"] == want["pages"] and 0 in got["pages"]
    assert got["texts"] == want["texts"]
    assert merged.story_count == len(want["stories"]) and merged.level == 3 and merged.scheme == SCHEME
    assert merged.entries("page_keys") == len(want["pages"])
    assert merged.entries("story_keys") == len(want["stories"])
    assert merged.entries("candidate_keys") == sum(map(len, want["candidates"].values()))
    assert sorted(s.story_id for s in merged.contents().stories) == sorted(
        s.story_id for s in want["stories"].values()
    )


def test_segments_written_before_filters_merge_into_one_with_filters() -> None:
    """Parts without filters (`index_filter_bits` 0: what runs wrote before there were filters)
    merge into a segment with them, which answers as the parts did."""
    config = DedupConfig(index_bucket_entries=2, max_bucket=4, **TINY)
    unfiltered = config.model_copy(update={"index_filter_bits": 0})
    parts = parts_of(8, 4)
    merged = segment(merge(parts, config, parts_config=unfiltered), config)
    assert all(table["filter_words"] > 0 for table in merged.tables.values())
    assert_answers_as(parts, merged, config)


def test_the_chunk_sizes_change_nothing_but_memory() -> None:
    parts = parts_of(6, 4)
    config = DedupConfig(index_bucket_entries=2, max_bucket=4)
    whole = merge(parts, config)
    assert merge(parts, config.model_copy(update=TINY)) == whole
    assert merge(parts, config.model_copy(update={"compaction_chunk_entries": 9})) == whole


def test_merging_only_empty_segments_gives_an_empty_segment() -> None:
    config = DedupConfig(**TINY)
    merged = segment(merge([Part([], [], [], []), Part([], [], [], [])], config), config)
    assert merged.story_count == 0 and merged.contents().stories == []
    assert all(merged.entries(name) == 0 for name in merged.tables)
    assert merged.lookup("page_keys", np.array([0, 5], np.uint64))[0].tolist() == []


def test_a_merged_segment_merges_again() -> None:
    """The merge's own output is a valid input: two merges in a row equal one of everything."""
    config = DedupConfig(index_bucket_entries=2, max_bucket=4, **TINY)
    parts = parts_of(7, 6)
    first = segment(merge(parts[:3], config), config)
    rest = [segment(encode(part.contents(), SCHEME, 0, config), config) for part in parts[3:]]
    with merged_file([first, *rest], SCHEME, 2, config) as path:
        again = segment(path.read_bytes(), config)
    assert_answers_as(parts, again, config)


def test_the_merged_file_is_removed_afterwards() -> None:
    config = DedupConfig()
    part = segment(encode(Part([], [], [1], []).contents(), SCHEME, 0, config), config)
    with merged_file([part], SCHEME, 1, config) as path:
        assert path.exists()
    assert not path.exists() and not path.parent.exists()
