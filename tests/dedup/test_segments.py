"""A segment answers probes alike whether it is a mapped file, bytes in memory or read by ranges."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import DedupConfig
from pipeline.dedup import index
from pipeline.dedup.segments import (
    MAGIC,
    PREFIX,
    READ_AHEAD_BYTES,
    BytesSource,
    Contents,
    FileSource,
    Segment,
    StoreSource,
    _prefix,
    bucket_filters,
    bucket_of,
    encode,
    filter_pass_rate,
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


@pytest.mark.parametrize(("filter_bits", "hashes"), [(8, 3), (16, 1), (16, 3), (32, 3)])
def test_a_filter_lets_every_stored_key_through_and_few_absent_ones(filter_bits: int, hashes: int) -> None:
    """No stored key is filtered out; of absent keys about `filter_pass_rate` get through (their
    bits set by other keys) and read their bucket: probes of absent keys read a small share."""
    rng = np.random.default_rng(5)
    config = DedupConfig(index_filter_bits=filter_bits, index_filter_hashes=hashes)
    stored = rng.integers(1, 1 << 64, 200_000, dtype=np.uint64)
    contents = Contents(candidate_keys=stored, candidate_stories=np.arange(len(stored), dtype=np.uint64))
    absent = rng.integers(1, 1 << 64, 20_000, dtype=np.uint64)
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
    expected = filter_pass_rate(filter_bits, hashes) * len(absent)
    assert 0.5 * expected < buckets_read < 1.5 * expected
    assert read[filter_bits] < read[0] / 3


def test_a_segment_written_before_the_choice_of_filter_bits_reads_its_one_bit_a_key() -> None:
    """Segments written when every key set one filter bit name no `filter_hashes`: probed as one
    bit a key, every stored key is found (read as three, most would be filtered out)."""
    stored = np.random.default_rng(6).integers(1, 1 << 64, 20_000, dtype=np.uint64)
    contents = Contents(candidate_keys=stored, candidate_stories=np.arange(len(stored), dtype=np.uint64))
    data = encode(contents, "test", 0, DedupConfig(index_filter_hashes=1))
    (length,) = struct.unpack("<Q", data[len(MAGIC) : PREFIX])
    header = json.loads(data[PREFIX : PREFIX + length])
    for table in header["tables"].values():
        del table["filter_hashes"]
    sizes = {name: size for name, (_, size) in header["sections"].items()}
    old = _prefix(header, sizes) + data[PREFIX + length :]
    query, value = Segment("test", BytesSource(old), gap=0, batch=1024).lookup("candidate_keys", stored)
    assert np.array_equal(np.sort(query), np.arange(len(stored))) and np.array_equal(value, query)
    # and what they wrote: the bit `key % (64 * words)` of the bucket's filter
    slots, words = slots_for(DedupConfig().index_bucket_entries), 8
    table = np.zeros((4 * slots, 2), dtype="<u8")
    table[: len(stored[:100]), 0] = stored[:100]
    one_bit = np.zeros(4 * words, dtype="<u8")
    for row, key in enumerate(stored[:100].tolist()):
        bit = key % (64 * words)
        one_bit[row // slots * words + bit // 64] |= np.uint64(1 << (bit % 64))
    assert np.array_equal(bucket_filters(table, slots, words, 1), one_bit)


@pytest.mark.parametrize("spacing", [1, 200], ids=["close-mapped", "far-pread"])
def test_a_file_gathers_units_as_bytes_in_memory_do(spacing: int, tmp_path: Path) -> None:
    """Units far apart (`READ_AHEAD_BYTES` on average) are read one `pread` each, close ones
    from a map of their range: both give the rows of the bytes in memory, repeats included,
    and a range's partial last unit padded with zeros, not filled from beyond the range."""
    data = np.random.default_rng(7).integers(0, 1 << 64, 1 << 20, dtype=np.uint64).tobytes()
    path = tmp_path / "units"
    path.write_bytes(data)
    width, start, end = 104, 24, len(data) - 40
    last = (end - start) // (8 * width)  # partial: the range ends inside it
    units = np.unique(np.append(np.arange(0, last, spacing), last))
    units = np.sort(np.append(units, units[-1]))
    assert ((end - start) / len(units) > READ_AHEAD_BYTES) == (spacing > 1)
    gathered = FileSource(os.open(path, os.O_RDONLY)).rows(start, end, units, width)
    assert np.array_equal(gathered, BytesSource(data).rows(start, end, units, width))
    assert gathered[-1, -1] == 0 and gathered[-1, 0] != 0
    os.truncate(path, end - 8 * width)  # cut by an outsider: the last units are gone
    with pytest.raises(ValueError, match="ends at byte"):
        FileSource(os.open(path, os.O_RDONLY)).rows(start, end, units[-3:], width)
