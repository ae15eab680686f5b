"""Index segments: immutable objects of hashed lookup tables, probed in batches.

A segment holds some stories (each at one version), their candidate keys, the keys of the
pages a run saw and the digests of the texts it placed. Every lookup table maps 64-bit keys
(hashes, so uniform) to 64-bit values, laid out as fixed-size *buckets*: a key's bucket is
given by its top bits, so a probe computes where to read without any index in memory and
reads one bucket (`slots` pairs of key and value) per key: from a file (a local folder, or
the local copy of an S3 segment) gathered from a memory map or, when far apart, one pread
each; from a remote store by ranged reads with neighbouring buckets coalesced into one range.
Beside its buckets a table has a *filter*: `filter_words` words of bits per bucket, where
each key the bucket holds sets `filter_hashes` bits of one word (chosen by the key's low
bits). A probe reads its bucket's filter first and the bucket only when the key's bits are
set in its word: most of a run's keys are in no table, and a filter is a thirteenth of its
table, so at scale those probes share memory pages instead of each faulting in a page of
its own.
The few entries a full bucket cannot take (an unlucky bucket, or many stories sharing a key)
sit in a small sorted *overflow* table read at open. What a run reads and holds thus grows
with its own probes, not with the index. docs/dedup.md ("The index") gives the layout and its cost model.

    b"DEDUPSEG1\n" | header length (8 bytes, little-endian) | header (JSON) | sections

The header names each section's place and each table's buckets and slots. Story records are
JSON metadata, a NUL, then the canonical's shingles (uint32) in text order.

A compaction merges segments by streaming (`merged_file`): table by table, a key range at a
time, since a key range is a run of buckets in every segment.
"""

from __future__ import annotations

import itertools
import json
import math
import mmap
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

import numpy as np

from pipeline.config import DedupConfig
from pipeline.dedup.stories import Story, story_key

MAGIC = b"DEDUPSEG1\n"
PREFIX = len(MAGIC) + 8
# The lookup tables and what their values are.
TABLES = {
    "candidate_keys": "story key",  # LSH band and sampled-shingle keys
    "story_keys": "record row",
    "page_keys": "nothing",  # pages the runs saw (`index.page_key`): a set
    "text_digests": "story key",  # digest of each text placed
}
# The sections of a segment, in the order they are written. A segment without filters (written
# before them) reads as before: every probe reads its bucket.
SECTIONS = [
    *(section for name in TABLES for section in (name, name + ".overflow", name + ".filter")),
    "story_offsets",
    "story_records",
]
EMPTY = 0  # the key of a free slot; a real key of 0 is kept in the overflow table
OFFSETS_READ = 64  # story offsets are read in runs of this many
COPY_CHUNK = 1 << 20  # bytes held at a time while sections are joined into a segment file
# Linux reads this much around a page fault on a file not in memory. A probe batch whose units
# lie further apart than that on average reads each with its own `pread` instead
# (`FileSource.rows`): for a run of 1,000 pages, the candidate buckets from about 7 x 10^5
# stories on.
READ_AHEAD_BYTES = 128 << 10


def bucket_of(keys: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket of each key: its place in the key range, so buckets follow key order."""
    return ((keys.astype(np.uint64) >> np.uint64(32)) * np.uint64(buckets)) >> np.uint64(32)


def slots_for(mean: int) -> int:
    """Slots of a bucket holding `mean` entries on average: 3.5 standard deviations more (a
    bucket overflows about once in 4,000)."""
    return mean + math.ceil(3.5 * math.sqrt(mean))


def filter_words(config: DedupConfig) -> int:
    """uint64 words of filter per bucket: `index_filter_bits` for each of its mean entries."""
    return math.ceil(config.index_filter_bits * config.index_bucket_entries / 64)


def _filter_masks(keys: np.ndarray, words: int, hashes: int) -> tuple[np.ndarray, np.ndarray]:
    """A key's word in its bucket's filter and the `hashes` bits it sets there, all chosen by its
    low bits (the top 32 chose the bucket): bits 0-5 and 16 on give the bits, bits 6-15 the
    word (a filter has at most 1,024 words: `DedupConfig`). One word answers a probe, as in a
    blocked Bloom filter. The first bit must stay `key & 63` in word `(key >> 6) % words`:
    that is the one-bit filter segments wrote before `filter_hashes` (read with `hashes` 1),
    and what a reader of that version tests, so a newer segment never hides a key from it."""
    word = ((keys >> np.uint64(6)) % np.uint64(words)).astype(np.int64)
    masks = np.uint64(1) << (keys & np.uint64(63))
    for shift in range(16, 16 + 6 * (hashes - 1), 6):
        masks |= np.uint64(1) << ((keys >> np.uint64(shift)) & np.uint64(63))
    return word, masks


def filter_pass_rate(bits: int, hashes: int) -> float:
    """The share of absent keys a filter lets through: a word holds n keys, n ~ Poisson(64 / bits),
    which set each of its bits with probability 1 - e^(-hashes n / 64); a key passes when its
    `hashes` bits are all set (docs/dedup.md, "Filters")."""
    mean = 64 / bits
    held = np.arange(int(mean + 10 * math.sqrt(mean) + 10))
    chance = np.exp(held * math.log(mean) - mean - np.array([math.lgamma(n + 1) for n in held]))
    return float(np.sum(chance * (1 - np.exp(-hashes * held / 64)) ** hashes))


def bucket_filters(table: np.ndarray, slots: int, words: int, hashes: int) -> np.ndarray:
    """The filter words of a run of buckets given as (key, value) rows, `slots` rows a bucket."""
    filters = np.zeros(len(table) // slots * words, dtype="<u8")
    used = np.flatnonzero(table[:, 0] != EMPTY)
    word, masks = _filter_masks(table[used, 0], words, hashes)
    np.bitwise_or.at(filters, (used // slots) * words + word, masks)
    return filters


def _first_per_key(keys: np.ndarray, values: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """The entries sorted by key (stably), only the first `cap` of each key kept: a probe never takes more."""
    order = np.argsort(keys, kind="stable")
    keys, values = keys.astype(np.uint64)[order], values.astype(np.uint64)[order]
    first_of_key = np.concatenate(([True], keys[1:] != keys[:-1]))[: len(keys)]
    starts = np.flatnonzero(first_of_key)
    rank_in_key = np.arange(len(keys)) - np.repeat(starts, np.diff(np.append(starts, len(keys))))
    return keys[rank_in_key < cap], values[rank_in_key < cap]


def _place(
    keys: np.ndarray, values: np.ndarray, buckets: int, slots: int, first: int, end: int
) -> tuple[np.ndarray, np.ndarray]:
    """Buckets [first, end) of a table of `buckets` buckets, holding these entries (sorted by key,
    all in those buckets), and the entries they cannot take (the overflow), as (key, value) rows."""
    bucket = bucket_of(keys, buckets).astype(np.int64) - first
    starts = np.searchsorted(bucket, np.arange(end - first))
    place = np.arange(len(keys)) - starts[bucket]
    fits = (place < slots) & (keys != EMPTY)
    table = np.zeros(((end - first) * slots, 2), dtype="<u8")
    table[bucket[fits] * slots + place[fits]] = np.stack((keys[fits], values[fits]), axis=1)
    return table, np.stack((keys[~fits], values[~fits]), axis=1).astype("<u8")


class Sections(Protocol):
    """Where a segment's sections are written: in memory (`SectionBuffer`) or to files (`SectionWriter`)."""

    def append(self, name: str, data: bytes) -> None: ...


class SectionBuffer:
    """A segment's sections gathered in memory: a run's own segment, one batch's worth."""

    def __init__(self) -> None:
        self.sections: dict[str, bytearray] = {}

    def append(self, name: str, data: bytes) -> None:
        self.sections.setdefault(name, bytearray()).extend(data)


def write_buckets(
    writer: Sections,
    name: str,
    entries: tuple[np.ndarray, np.ndarray],
    buckets: int,
    span: tuple[int, int],
    config: DedupConfig,
) -> None:
    """Buckets [first, end) of table `name` (`buckets` of them), holding these (keys, values),
    sorted by key and all in those buckets: their section, filter and overflow appended to `writer`."""
    slots, words = slots_for(config.index_bucket_entries), filter_words(config)
    table, overflow = _place(*entries, buckets, slots, *span)
    writer.append(name, table.tobytes())
    if words:
        filters = bucket_filters(table, slots, words, config.index_filter_hashes)
        writer.append(name + ".filter", filters.tobytes())
    writer.append(name + ".overflow", overflow.tobytes())


def table_header(buckets: int, entries: int, config: DedupConfig) -> dict:
    """A table's entry in the segment header: its shape, which a probe needs to find a key."""
    return {
        "buckets": buckets,
        "slots": slots_for(config.index_bucket_entries),
        "entries": entries,
        "filter_words": filter_words(config),
        "filter_hashes": config.index_filter_hashes,
    }


def layout_table(
    writer: Sections, name: str, keys: np.ndarray, values: np.ndarray, config: DedupConfig
) -> dict:
    """Table `name` written whole to `writer`, and its header entry. Of many entries with one key,
    only the first `max_bucket` are kept: a probe never takes more."""
    keys, values = _first_per_key(keys, values, config.max_bucket)
    buckets = max(1, math.ceil(len(keys) / config.index_bucket_entries))
    write_buckets(writer, name, (keys, values), buckets, (0, buckets), config)
    return table_header(buckets, len(keys), config)


class Source(Protocol):
    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]: ...
    def whole(self) -> bytes: ...


@runtime_checkable
class Mapped(Protocol):
    """A source whose bytes can be indexed in place (a file, or memory): a probe gathers its
    units with one copy, instead of one read call per range."""

    def rows(self, start: int, end: int, units: np.ndarray, width: int) -> np.ndarray:
        """Units (ascending, repeats allowed) of `width` uint64 each, counted from byte `start`, as rows."""
        ...


def _rows(values: np.ndarray, units: np.ndarray, width: int) -> np.ndarray:
    """Units (ascending, repeats allowed) of `width` values as rows (a copy); the last unit of
    `values` may be partial and is padded with zeros."""
    complete = len(values) // width
    whole = values[: complete * width].reshape(complete, width)
    if len(units) == 0 or units[-1] < complete:
        return whole[units]
    rows = np.zeros((len(units), width), values.dtype)
    inside = units < complete
    rows[inside] = whole[units[inside]]
    rows[~inside, : len(values) - complete * width] = values[complete * width :]
    return rows


@dataclass
class StoreSource:
    """A segment object in a store, read by ranges."""

    store: object  # pipeline.store.Store
    key: str

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return self.store.get_ranges(self.key, ranges)  # type: ignore[attr-defined]

    def whole(self) -> bytes:
        return self.store.get(self.key)  # type: ignore[attr-defined]


@dataclass
class BytesSource:
    """A segment held in memory (a legacy segment converted, or one just encoded)."""

    data: bytes

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return [self.data[start:end] for start, end in ranges]

    def whole(self) -> bytes:
        return self.data

    def rows(self, start: int, end: int, units: np.ndarray, width: int) -> np.ndarray:
        return _rows(np.frombuffer(self.data, "<u8", count=(end - start) // 8, offset=start), units, width)


@dataclass
class FileSource:
    """A segment file (in a local folder, or the cached copy of an S3 one), read by pread and
    probed by pread or through a memory map; the open handle keeps the file readable even if
    it is removed meanwhile (a cache eviction), and segments are never rewritten in place."""

    handle: int  # file descriptor

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return [os.pread(self.handle, end - start, start) for start, end in ranges]

    def whole(self) -> bytes:
        return self.read([(0, os.fstat(self.handle).st_size)])[0]

    def rows(self, start: int, end: int, units: np.ndarray, width: int) -> np.ndarray:
        """Units far apart (further than `READ_AHEAD_BYTES` on average) are read one `pread`
        each: in the page cache that costs a third of a mapped page's first touch, and from
        disk the kernel reads little more than the unit's page for a small read. Close ones
        are gathered from a map of their range, for this call only: the pages it touched leave
        the process with the map, so a run's memory stays that of one probe batch whatever
        the size of the file."""
        if end - start > READ_AHEAD_BYTES * len(units):
            size = 8 * width
            pieces = [self._unit(at, min(size, end - at)) for at in (start + size * units).tolist()]
            return np.frombuffer(b"".join(piece.ljust(size, b"\0") for piece in pieces), "<u8").reshape(
                len(units), width
            )
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        with mmap.mmap(self.handle, end - aligned, access=mmap.ACCESS_READ, offset=aligned) as mapped:
            values = np.frombuffer(mapped, "<u8", count=(end - start) // 8, offset=start - aligned)
            found = _rows(values, units, width)
            del values  # the map cannot close while an array points into it
        return found

    def _unit(self, at: int, length: int) -> bytes:
        """`length` bytes from `at`; a file cut short is an error, never a unit of empty slots."""
        piece = os.pread(self.handle, length, at)
        if len(piece) != length:
            raise ValueError(f"segment file ends at byte {at + len(piece)}, inside a unit it lists")
        return piece

    def __del__(self) -> None:
        os.close(self.handle)


@dataclass
class Contents:
    """Everything a segment holds, in memory: what a run adds, or what a merge combines."""

    stories: list[Story] = field(default_factory=list)
    candidate_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    candidate_stories: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    page_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    text_digests: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    text_stories: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))


def _record(story: Story) -> bytes:
    meta = {
        "id": story.story_id,
        "url": story.canonical_url,
        "published": story.published_at,
        "fetched": story.fetched_at,
        "words": story.words,
    }
    return json.dumps(meta, separators=(",", ":")).encode() + b"\0" + story.shingles.astype("<u4").tobytes()


def _story(record: bytes) -> Story:
    meta, shingles = record.split(b"\0", 1)
    fields = json.loads(meta)
    return Story(
        fields["id"],
        fields["url"],
        fields["published"],
        fields["fetched"],
        fields["words"],
        np.frombuffer(shingles, dtype="<u4").astype(np.uint32),
    )


def encode(contents: Contents, scheme: str, level: int, config: DedupConfig) -> bytes:
    """The segment object: each table in buckets of about `index_bucket_entries` entries, at most
    `max_bucket` per key."""
    keys = np.array([story_key(story.story_id) for story in contents.stories], dtype=np.uint64)
    records = [_record(story) for story in contents.stories]
    offsets = np.concatenate(([0], np.cumsum([len(record) for record in records]))).astype("<u8")
    tables = {
        "candidate_keys": (contents.candidate_keys, contents.candidate_stories),
        "story_keys": (keys, np.arange(len(keys), dtype=np.uint64)),
        "page_keys": (np.unique(contents.page_keys.astype(np.uint64)), np.zeros(0, np.uint64)),
        "text_digests": (contents.text_digests, contents.text_stories),
    }
    header: dict = {"scheme": scheme, "level": level, "stories": len(keys), "tables": {}}
    buffer = SectionBuffer()
    for name, (table_keys, values) in tables.items():
        values = values if len(values) == len(table_keys) else np.zeros(len(table_keys), np.uint64)
        header["tables"][name] = layout_table(buffer, name, table_keys, values, config)
    buffer.append("story_offsets", offsets.tobytes())
    buffer.append("story_records", b"".join(records))
    sections = buffer.sections
    prefix = _prefix(header, {name: len(data) for name, data in sections.items()})
    return prefix + b"".join(sections.get(name, b"") for name in SECTIONS)


def _prefix(header: dict, sizes: dict[str, int]) -> bytes:
    """What precedes a segment's sections: the magic, the header's length and the header, which
    names where each section (`SECTIONS`, in order; `sizes` in bytes) starts after it."""
    header["sections"], position = {}, 0
    for name in SECTIONS:
        header["sections"][name] = [position, sizes.get(name, 0)]
        position += sizes.get(name, 0)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<Q", len(encoded)) + encoded


def _coalesce(units: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct unit numbers as runs (firsts, ends), merging runs at most `gap` units apart."""
    if len(units) == 0:
        return units.astype(np.int64), units.astype(np.int64)
    breaks = np.flatnonzero(np.diff(units) > gap + 1)
    firsts = np.concatenate(([units[0]], units[breaks + 1])).astype(np.int64)
    lasts = np.concatenate((units[breaks], [units[-1]])).astype(np.int64)
    return firsts, lasts + 1


class Segment:
    """One segment, opened by reading its header and overflow tables; tables are probed in batches."""

    def __init__(self, key: str, source: Source, gap: int, batch: int) -> None:
        self.key = key
        self.source = source
        self.batch = batch  # keys probed at a time, bounding a probe's buffers
        self.gap = gap  # buckets between two needed ones that a probe reads rather than splitting a range
        prefix = source.read([(0, PREFIX)])[0]
        if prefix[: len(MAGIC)] != MAGIC:
            raise ValueError(f"{key} is not an index segment")
        (length,) = struct.unpack("<Q", prefix[len(MAGIC) :])
        header = json.loads(source.read([(PREFIX, PREFIX + length)])[0])
        self.scheme: str = header["scheme"]
        self.level: int = header["level"]
        self.story_count: int = header["stories"]
        self.tables: dict[str, dict] = header["tables"]
        base = PREFIX + length
        self.sections = {name: (base + start, size) for name, (start, size) in header["sections"].items()}
        self.size = base + sum(size for _, size in self.sections.values())
        names = [name + ".overflow" for name in TABLES]
        pieces = source.read([(start, start + size) for start, size in (self.sections[n] for n in names)])
        self.overflow = {
            name: np.frombuffer(piece, "<u8").reshape(-1, 2)
            for name, piece in zip(TABLES, pieces, strict=True)
        }

    def entries(self, name: str) -> int:
        return self.tables[name]["entries"]

    def section_bytes(self, name: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a section (for a merge, which reads every section piece by piece)."""
        base, size = self.sections[name]
        return self.source.read([(base + start, base + min(end, size))])[0]

    def _units(self, name: str, units: np.ndarray, width: int) -> np.ndarray:
        """Units (ascending, repeats allowed) of `width` uint64 each from a section, as rows:
        gathered in place from a mapped source, else read by ranges (each unit once, neighbours
        coalesced)."""
        start, size = self.sections[name]
        if len(units) == 0:
            return np.zeros((0, width), np.uint64)
        if isinstance(self.source, Mapped):
            low = start + 8 * width * int(units[0])
            high = start + min(8 * width * (int(units[-1]) + 1), size)  # a section's last unit may be partial
            return self.source.rows(low, high, units - units[0], width)
        firsts, ends = _coalesce(units, self.gap)
        lows = start + 8 * width * firsts
        highs = start + np.minimum(8 * width * ends, size)
        pieces = self.source.read(list(zip(lows.tolist(), highs.tolist(), strict=True)))
        values = np.frombuffer(b"".join(pieces), "<u8")
        run_of = np.searchsorted(firsts, units, side="right") - 1
        before = np.concatenate(([0], np.cumsum(ends - firsts)[:-1]))
        return _rows(values, before[run_of] + units - firsts[run_of], width)

    def lookup(self, name: str, queries: np.ndarray, cap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(query number, value) for every entry of table `name` whose key equals a query; at most
        `cap` entries per query (the first in key order), queries in ascending order."""
        queries = np.asarray(queries, dtype=np.uint64)
        by_key = np.argsort(queries, kind="stable")  # batches of neighbouring keys read disjoint buckets
        found_query, found_value = [], []
        for lo in range(0, len(queries), self.batch):
            batch = by_key[lo : lo + self.batch]
            query, value = self._lookup(name, queries[batch])
            found_query.append(batch[query])
            found_value.append(value)
        if not found_query:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        query, value = np.concatenate(found_query), np.concatenate(found_value)
        order = np.argsort(query, kind="stable")  # by query number, each query's entries in key order
        query, value = query[order], value[order]
        if cap is not None and len(query):
            starts = np.flatnonzero(np.concatenate(([True], query[1:] != query[:-1])))
            rank = np.arange(len(query)) - np.repeat(starts, np.diff(np.append(starts, len(query))))
            query, value = query[rank < cap], value[rank < cap]
        return query, value

    def _lookup(self, name: str, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One batch of queries, in ascending key order (so their buckets ascend too)."""
        table = self.tables[name]
        buckets, slots, words = table["buckets"], table["slots"], table.get("filter_words", 0)
        bucket = bucket_of(queries, buckets).astype(np.int64)
        maybe = np.arange(len(queries))
        if words:  # the bucket only where all the key's filter bits are set
            word, masks = _filter_masks(queries, words, table.get("filter_hashes", 1))
            filters = self._units(name + ".filter", bucket, words)
            maybe = np.flatnonzero((filters[maybe, word] & masks) == masks)
        rows = self._units(name, bucket[maybe], 2 * slots)  # each bucket: key, value, key, value, ...
        wanted = queries[maybe, None]
        hit, hit_slot = np.nonzero((rows[:, 0::2] == wanted) & (wanted != EMPTY))
        query = [maybe[hit]]
        value = [rows[hit, 2 * hit_slot + 1]]
        overflow = self.overflow[name]
        if len(overflow):
            lo = np.searchsorted(overflow[:, 0], queries, side="left")
            counts = np.searchsorted(overflow[:, 0], queries, side="right") - lo
            query.append(np.repeat(np.arange(len(queries)), counts))
            value.append(overflow[np.repeat(lo, counts) + ramps(counts), 1])
        query_all, value_all = np.concatenate(query), np.concatenate(value)
        order = np.argsort(query_all, kind="stable")  # by query; within one, bucket slots then overflow
        return query_all[order], value_all[order]

    def stories(self, rows: np.ndarray) -> list[Story]:
        """The stories at these record rows."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return []
        width = OFFSETS_READ
        needed = np.unique(np.concatenate((rows, rows + 1)) // width)
        units = self._units("story_offsets", needed, width)

        def offsets(of: np.ndarray) -> list[int]:
            return (start + units[np.searchsorted(needed, of // width), of % width]).tolist()

        start = self.sections["story_records"][0]
        ranges = list(zip(offsets(rows), offsets(rows + 1), strict=True))
        return [_story(record) for record in self.source.read(ranges)]

    def contents(self) -> Contents:
        """Everything the segment holds (for a merge)."""
        everything = self.source.whole()

        def section(name: str) -> np.ndarray:
            start, length = self.sections[name]
            return np.frombuffer(everything, "<u8", count=length // 8, offset=start)

        def table(name: str) -> tuple[np.ndarray, np.ndarray]:
            slots = section(name).reshape(-1, 2)
            pairs = np.concatenate((slots[slots[:, 0] != EMPTY], section(name + ".overflow").reshape(-1, 2)))
            return pairs[:, 0].copy(), pairs[:, 1].copy()

        offsets = section("story_offsets").tolist()
        start, _ = self.sections["story_records"]
        records = [
            everything[start + offsets[row] : start + offsets[row + 1]] for row in range(self.story_count)
        ]
        stories = [_story(record) for record in records]
        candidate_keys, candidate_stories = table("candidate_keys")
        text_digests, text_stories = table("text_digests")
        return Contents(
            stories, candidate_keys, candidate_stories, table("page_keys")[0], text_digests, text_stories
        )


def ramps(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., n-1 for each n of `counts`, concatenated."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


class SectionWriter:
    """A segment written section by section into files of a work folder, then joined after its
    header (which names where each section starts), so no section is ever held whole in memory."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, BinaryIO] = {}

    def append(self, name: str, data: bytes) -> None:
        if name not in self.files:
            self.files[name] = (self.folder / f"{name}.part").open("w+b")
        self.files[name].write(data)

    def finish(self, target: Path, header: dict) -> None:
        """The segment file at `target`, its `SECTIONS` in order; the section files are removed."""
        sizes = {name: part.tell() for name, part in self.files.items()}
        with target.open("wb") as out:
            out.write(_prefix(header, sizes))
            for name in SECTIONS:
                if name in self.files:
                    with self.files.pop(name) as part:
                        part.seek(0)
                        shutil.copyfileobj(part, out, COPY_CHUNK)
                    (self.folder / f"{name}.part").unlink()


@dataclass
class Versions:
    """The story versions of each merged part (oldest first) that a later part replaces, and the
    merged row each part's first kept story gets. Held in memory: 16 bytes per replaced version,
    a small share of the stories (a story is rewritten when an earlier copy shows up)."""

    rows: list[np.ndarray]  # per part, the sorted rows of its replaced versions
    keys: list[np.ndarray]  # per part, their story keys, sorted
    first_row: list[int]

    def merged_rows(self, rows: np.ndarray, numbers: np.ndarray) -> np.ndarray:
        """The merged row of each kept story, given its part and its row there."""
        merged = np.zeros(len(rows), dtype=np.uint64)
        for number, replaced in enumerate(self.rows):
            mine = numbers == number
            dropped_before = np.searchsorted(replaced, rows[mine])  # a kept row is never in `replaced`
            merged[mine] = self.first_row[number] + rows[mine] - dropped_before
        return merged


def _entries_in(part: Segment, name: str, buckets: int, first: int, end: int) -> np.ndarray:
    """The (key, value) entries of a table of `part` whose keys fall in buckets [first, end) of a
    table of `buckets` buckets. Buckets follow key order, so these are a run of the part's own
    buckets (trimmed at its ends), then its overflow entries in that key range."""
    low, high = -(-(first << 32) // buckets), -(-(end << 32) // buckets)  # the keys' top 32 bits
    slots, own = part.tables[name]["slots"], part.tables[name]["buckets"]
    start, stop = (low * own) >> 32, (((high - 1) * own) >> 32) + 1
    pairs = np.frombuffer(part.section_bytes(name, 16 * slots * start, 16 * slots * stop), "<u8")
    pairs = pairs.reshape(-1, 2)
    top = pairs[:, 0] >> np.uint64(32)
    pairs = pairs[(pairs[:, 0] != EMPTY) & (top >= low) & (top < high)]
    overflow = part.overflow[name]
    lo, hi = np.searchsorted(overflow[:, 0] >> np.uint64(32), [low, high])
    return np.concatenate((pairs, overflow[lo:hi]))


def _chunks(
    parts: list[Segment], name: str, buckets: int, step: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Bucket ranges [first, end) of `step` buckets of a merged table, each with the parts' entries
    in it as (key, value, part number) rows: parts oldest first, each part's entries in its table
    order (so a stable sort by key keeps the oldest first, as a merge in memory would)."""
    for first in range(0, buckets, step):
        end = min(buckets, first + step)
        found = [_entries_in(part, name, buckets, first, end) for part in parts]
        numbers = np.repeat(np.arange(len(parts), dtype=np.uint64), [len(pairs) for pairs in found])
        yield first, end, np.column_stack((np.concatenate(found).reshape(-1, 2), numbers))


def _newest(entries: np.ndarray) -> np.ndarray:
    """Where each key's entry of the newest part is among (key, value, part) rows (its first, if
    that part has several): the others are replaced."""
    order = np.lexsort((np.arange(len(entries)), -entries[:, 2].astype(np.int64), entries[:, 0]))
    keys = entries[order, 0]
    return order[np.concatenate(([True], keys[1:] != keys[:-1]))[: len(keys)]]


def _buckets(parts: list[Segment], count: Callable[[Segment], int], mean: int) -> int:
    """A merged table's buckets, from the parts' entries: an upper bound of what the merge keeps
    (replaced versions, repeated keys and entries past the cap drop out), which leaves its buckets
    a little emptier (probes read the same bytes) but needs no pass over the tables to count."""
    return max(1, math.ceil(sum(count(part) for part in parts) / mean))


def _replaced_versions(parts: list[Segment], config: DedupConfig) -> Versions:
    """Which story versions later parts replace: a pass over the parts' story_keys tables in key
    ranges, where all versions of a story meet."""
    mean = config.index_bucket_entries
    buckets = _buckets(parts, lambda part: part.story_count, mean)
    step = max(1, config.compaction_chunk_entries // mean)
    found: list[list[np.ndarray]] = [[] for _ in parts]
    for _, _, entries in _chunks(parts, "story_keys", buckets, step):
        replaced = np.ones(len(entries), dtype=bool)
        replaced[_newest(entries)] = False
        for number in np.unique(entries[replaced, 2]).tolist():
            found[number].append(entries[replaced & (entries[:, 2] == number), :2])
    pairs = [np.concatenate(mine).reshape(-1, 2) if mine else np.zeros((0, 2), np.uint64) for mine in found]
    kept = [part.story_count - len(mine) for part, mine in zip(parts, pairs, strict=True)]
    return Versions(
        rows=[np.sort(mine[:, 1]) for mine in pairs],
        keys=[np.sort(mine[:, 0]) for mine in pairs],
        first_row=np.concatenate(([0], np.cumsum(kept)[:-1])).astype(int).tolist(),
    )


def _copy_stories(parts: list[Segment], versions: Versions, writer: SectionWriter, chunk: int) -> int:
    """Copy every kept story record, part after part, about `chunk` bytes at a time (offsets
    `chunk` / 8 rows at a time); returns how many were kept."""
    position, kept = 0, 0
    writer.append("story_offsets", np.zeros(1, "<u8").tobytes())
    for part, replaced in zip(parts, versions.rows, strict=True):
        rows_per_read = max(1, chunk // 8)
        for first in range(0, part.story_count, rows_per_read):
            end = min(part.story_count, first + rows_per_read)
            offsets = np.frombuffer(part.section_bytes("story_offsets", 8 * first, 8 * (end + 1)), "<u8")
            offsets = offsets.astype(np.int64)
            window = (offsets[:-1] - offsets[0]) // chunk  # rows starting in one window are read together
            cuts = [0, *(np.flatnonzero(np.diff(window)) + 1).tolist(), end - first]
            for lo, hi in itertools.pairwise(cuts):
                data = part.section_bytes("story_records", int(offsets[lo]), int(offsets[hi]))
                rows = np.arange(first + lo, first + hi)
                keep = ~np.isin(rows, replaced)
                starts = offsets[lo:hi][keep] - offsets[lo]
                ends = offsets[lo + 1 : hi + 1][keep] - offsets[lo]
                if not keep.all():
                    data = b"".join(data[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True))
                merged_ends = position + np.cumsum(ends - starts)
                writer.append("story_records", data)
                writer.append("story_offsets", merged_ends.astype("<u8").tobytes())
                position = int(merged_ends[-1]) if len(merged_ends) else position
                kept += int(keep.sum())
    return kept


def _kept(name: str, entries: np.ndarray, versions: Versions) -> tuple[np.ndarray, np.ndarray]:
    """The (keys, values) of a chunk's (key, value, part) entries that the merged table keeps."""
    keys, values, numbers = entries[:, 0], entries[:, 1], entries[:, 2]
    if name == "candidate_keys":  # only the keys of a story's newest version
        stale = np.zeros(len(entries), dtype=bool)
        for number, replaced in enumerate(versions.keys):
            mine = numbers == number
            stale[mine] = np.isin(values[mine], replaced)
        return keys[~stale], values[~stale]
    if name == "page_keys":  # a set
        unique = np.unique(keys)
        return unique, np.zeros(len(unique), np.uint64)
    newest = _newest(entries)  # a story's newest version, a text's newest story
    if name == "story_keys":
        return keys[newest], versions.merged_rows(values[newest], numbers[newest])
    return keys[newest], values[newest]


@contextmanager
def merged_file(parts: list[Segment], scheme: str, level: int, config: DedupConfig) -> Iterator[Path]:
    """The segment merging `parts` (oldest first) in a temporary file, removed on leaving: a story's
    newest version wins with that version's candidate keys, page keys are united, a text's newest
    story wins, and at most `max_bucket` entries are kept per key (the oldest first).

    Streamed, so its memory is set by `compaction_chunk_entries` and `compaction_chunk_bytes`, not
    by the parts' sizes: each table is merged a range of buckets at a time (a key range, so a run of
    each part's buckets), the story records are copied a chunk of rows at a time, and the sections
    go to files joined after the header at the end. Disk: about twice the merged segment, briefly.
    """
    mean = config.index_bucket_entries
    step = max(1, config.compaction_chunk_entries // mean)
    with tempfile.TemporaryDirectory(prefix="dedup-merge-") as work:
        writer = SectionWriter(Path(work))
        versions = _replaced_versions(parts, config)
        stories = _copy_stories(parts, versions, writer, config.compaction_chunk_bytes)
        header: dict = {"scheme": scheme, "level": level, "stories": stories, "tables": {}}
        for name in TABLES:
            buckets, entries = _buckets(parts, lambda part, name=name: part.entries(name), mean), 0
            for first, end, found in _chunks(parts, name, buckets, step):
                keys, values = _first_per_key(*_kept(name, found, versions), config.max_bucket)
                write_buckets(writer, name, (keys, values), buckets, (first, end), config)
                entries += len(keys)
            header["tables"][name] = table_header(buckets, entries, config)
        target = Path(work) / "merged.seg"
        writer.finish(target, header)
        yield target
