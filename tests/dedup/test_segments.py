"""A segment answers probes alike whether it is a mapped file, bytes in memory or read by ranges."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import DedupConfig
from pipeline.dedup import index
from pipeline.dedup.segments import (
    BytesSource,
    Contents,
    FileSource,
    Segment,
    StoreSource,
    bucket_of,
    encode,
    filter_words,
    slots_for,
)
from pipeline.dedup.stories import story_key
from pipeline.store import LocalStore
from tests.dedup.test_index import CONFIG, stories

KEY = "index/segments/r1.seg"
COUNT = 150  # story offsets span three runs of OFFSETS_READ, the last one partial


@pytest.fixture(params=["file", "bytes", "ranges"])
def source_kind(request) -> str:
    return request.param


@pytest.fixture(params=[16, 0], ids=["filters", "no-filters"])
def segment(request, source_kind: str, tmp_path: Path) -> Segment:
    """A segment as each source reads it, with filters and without (as runs wrote it before them)."""
    config = CONFIG.dedup.model_copy(update={"index_filter_bits": request.param})
    store = LocalStore(tmp_path)
    store.put(KEY, index.encode_segment(stories(COUNT), list(range(1, 2 * COUNT, 2)), config))
    source = {
        "file": lambda: FileSource(os.open(store.location(KEY), os.O_RDONLY)),
        "bytes": lambda: BytesSource(store.get(KEY)),
        "ranges": lambda: StoreSource(store, KEY),
    }[source_kind]()
    return Segment(KEY, source, gap=1, batch=7)  # small batches: one probe spans many of them


def test_every_story_comes_back_from_its_row(segment: Segment) -> None:
    every = stories(COUNT)
    keys = np.array([story_key(story.story_id) for story in every], dtype=np.uint64)
    query, rows = segment.lookup("story_keys", keys[::-1], cap=1)
    assert query.tolist() == list(range(COUNT)) and sorted(rows.tolist()) == list(range(COUNT))
    found = segment.stories(rows)
    for story, expected in zip(found, every[::-1], strict=True):
        assert (story.story_id, story.canonical_url, story.words) == (
            expected.story_id,
            expected.canonical_url,
            expected.words,
        )
        assert np.array_equal(story.shingles, expected.shingles)


def test_page_keys_and_candidate_keys_are_found_and_nothing_else(segment: Segment) -> None:
    found, _ = segment.lookup("page_keys", np.arange(2 * COUNT + 5, dtype=np.uint64))
    assert found.tolist() == list(range(1, 2 * COUNT, 2))
    every = stories(COUNT)
    keys = index.candidate_keys([story.shingles for story in every], CONFIG.dedup)
    owners = np.array([story_key(story.story_id) for story in every], dtype=np.uint64)[keys.owner]
    query, story = segment.lookup("candidate_keys", keys.keys, cap=CONFIG.dedup.max_bucket)
    assert np.array_equal(story, owners[query]) and len(np.unique(query)) == len(keys.keys)
    missing, _ = segment.lookup("candidate_keys", keys.keys + np.uint64(1))
    assert len(missing) == 0


class CountingSource:
    """A segment in memory read by ranges (not mapped), counting the bytes the probes read."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.bytes_read = 0

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        self.bytes_read += sum(end - start for start, end in ranges)
        return [self.data[start:end] for start, end in ranges]

    def whole(self) -> bytes:
        return self.data


@pytest.mark.parametrize("filter_bits", [8, 16, 32])
def test_a_filter_lets_every_stored_key_through_and_few_absent_ones(filter_bits: int) -> None:
    """No stored key is filtered out; of absent keys about 1 - e^(-1/bits) get through (their
    bit set by another key) and read their bucket: probes of absent keys read a small share."""
    rng = np.random.default_rng(5)
    config = DedupConfig(index_filter_bits=filter_bits)
    stored = rng.integers(1, 1 << 64, 200_000, dtype=np.uint64)
    contents = Contents(candidate_keys=stored, candidate_stories=np.arange(len(stored), dtype=np.uint64))
    absent = rng.integers(1, 1 << 64, 2_000, dtype=np.uint64)  # most in a bucket of their own
    read = {}
    for bits in (filter_bits, 0):
        source = CountingSource(
            encode(contents, "test", 0, config.model_copy(update={"index_filter_bits": bits}))
        )
        part = Segment("test", source, gap=0, batch=1024)
        query, value = part.lookup("candidate_keys", stored)
        assert np.array_equal(np.sort(query), np.arange(len(stored))) and np.array_equal(value, query)
        source.bytes_read = 0
        assert len(part.lookup("candidate_keys", absent)[0]) == 0
        read[bits] = source.bytes_read
    buckets = len(np.unique(bucket_of(absent, part.tables["candidate_keys"]["buckets"])))
    filters_read = 8 * filter_words(config) * buckets
    buckets_read = (read[filter_bits] - filters_read) / (16 * slots_for(config.index_bucket_entries))
    assert 0 < buckets_read < 1.5 * (1 - math.exp(-1 / filter_bits)) * len(absent)
    assert read[filter_bits] < read[0] / 4
