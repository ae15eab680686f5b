"""Probes split by key across partitions: together they answer exactly what one process's probes do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline import layout
from pipeline.config import DedupConfig
from pipeline.dedup import Story, index, partitions
from pipeline.dedup.signatures import candidate_keys
from pipeline.dedup.verification import Text
from pipeline.store import LocalStore

# Few slots per key, so the cap on stories per key is met and must be met the same way.
CONFIG = DedupConfig(max_bucket=3, index_bucket_entries=4)


def story(number: int, shingles: np.ndarray) -> Story:
    return Story(
        f"s_{number:020d}", f"https://site{number}.example/a", None, "2020-09-15T00:00:00Z", 200, shingles
    )


def text_of(shingles: np.ndarray) -> Text:
    return Text(shingles, len(shingles) + 4)


@pytest.fixture
def state(tmp_path: Path) -> tuple[index.IndexState, int, list[np.ndarray]]:
    """Four committed segments and two of the run's own batches, over stories that share much
    text (so many keys, held by more stories than the cap), some stored again in a later
    segment with a new canonical; and the texts of a batch that copies some of them."""
    rng = np.random.default_rng(5)
    common = rng.integers(0, 1 << 32, 150, dtype=np.uint64).astype(np.uint32)
    texts = [
        np.concatenate((common[: 60 + n], rng.integers(0, 1 << 32, 80, dtype=np.uint64).astype(np.uint32)))
        for n in range(24)
    ]
    store = LocalStore(tmp_path)
    parts = []
    for number in range(6):
        members = list(range(4 * number, 4 * number + 4))
        changed = [story(n, texts[n]) for n in members]
        if number:  # a newer version of a story of the segment before
            changed.append(
                replace(story(members[0] - 1, texts[members[0] - 1]), canonical_url="https://new.example")
            )
        placed = {text_of(texts[n]).digest: f"s_{n:020d}" for n in members}
        key = layout.segment_key(f"r{number}")
        store.put(key, index.encode_segment(changed, [number], CONFIG, placed))
        parts.append(index.open_segment(store, key, CONFIG, index.segment_cache(CONFIG)))
    batch = [texts[n][10:130] for n in range(0, 24, 3)] + [texts[5], texts[22]]  # copies, two word for word
    batch += [rng.integers(0, 1 << 32, 90, dtype=np.uint64).astype(np.uint32)]  # and a page of its own
    return index.IndexState(parts, 4), 4, batch


@pytest.mark.parametrize("count", [1, 3, 4])
def test_partitions_answer_as_one_process(state, count: int) -> None:
    whole, committed_parts, batch = state
    keys = candidate_keys(batch, CONFIG)
    digests = np.array([text_of(shingles).digest for shingles in batch], dtype=np.uint64)
    asked = partitions.Asked(np.unique(keys.keys), np.unique(digests))
    committed = index.IndexState(whole.parts[:committed_parts], whole.sequence)

    found = [partitions.probe(committed, asked, p, count, CONFIG) for p in range(count)]
    split = partitions.PartitionedStories(whole, committed_parts, partitions.Probes.combined(found))

    expected = whole.candidates(keys, CONFIG.max_bucket)
    assert len(expected[0]) > len(batch) and expected[2].max() > 1  # the batch meets many stories
    for got, wanted in zip(split.candidates(keys, CONFIG.max_bucket), expected, strict=True):
        assert np.array_equal(got, wanted)
    assert np.array_equal(split.stories_of_texts(digests), whole.stories_of_texts(digests))
    assert np.count_nonzero(whole.stories_of_texts(digests)) == 2
    if count > 1:  # each partition asked only its share
        assert sum(len(probes.digests) for probes in found) == len(asked.digests)


def test_probes_survive_the_store(state) -> None:
    whole, _, batch = state
    keys = candidate_keys(batch, CONFIG).keys
    asked = partitions.Asked(np.unique(keys), np.array([7, 9], dtype=np.uint64))
    found = [partitions.probe(whole, asked, p, 2, CONFIG) for p in range(2)]

    [again_asked] = partitions.decode(partitions.encode([asked]), partitions.Asked)
    again = partitions.decode(partitions.encode(found), partitions.Probes)

    assert all(
        np.array_equal(a, b) for a, b in zip(vars(again_asked).values(), vars(asked).values(), strict=True)
    )
    for before, after in zip(found, again, strict=True):
        assert all(
            np.array_equal(a, b) for a, b in zip(vars(before).values(), vars(after).values(), strict=True)
        )
