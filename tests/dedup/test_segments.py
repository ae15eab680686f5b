"""A segment answers probes alike whether it is a mapped file, bytes in memory or read by ranges."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pipeline.dedup import index
from pipeline.dedup.segments import BytesSource, FileSource, Segment, StoreSource
from pipeline.dedup.stories import story_key
from pipeline.store import LocalStore
from tests.dedup.test_index import CONFIG, stories

KEY = "index/segments/r1.seg"
COUNT = 150  # story offsets span three runs of OFFSETS_READ, the last one partial


@pytest.fixture(params=["file", "bytes", "ranges"])
def segment(request, tmp_path: Path) -> Segment:
    store = LocalStore(tmp_path)
    store.put(KEY, index.encode_segment(stories(COUNT), list(range(1, 2 * COUNT, 2)), CONFIG.dedup))
    source = {
        "file": lambda: FileSource(os.open(store.location(KEY), os.O_RDONLY)),
        "bytes": lambda: BytesSource(store.get(KEY)),
        "ranges": lambda: StoreSource(store, KEY),
    }[request.param]()
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
