"""Index segments: immutable objects of hashed lookup tables, probed in batches.

A segment holds some stories (each at one version), their candidate keys, the keys of the
pages a run saw and the digests of the texts it placed. Every lookup table maps 64-bit keys
(hashes, so uniform) to 64-bit values, laid out as fixed-size *buckets*: a key's bucket is
given by its top bits, so a probe computes where to read without any index in memory and
reads one bucket (`slots` pairs of key and value) per key: from a file (a local folder, or
the local copy of an S3 segment) gathered from a memory map, from a remote store by ranged
reads with neighbouring buckets coalesced into one range. The few entries a full bucket
cannot take (an unlucky bucket, or many stories sharing a key) sit in a small sorted
*overflow* table read at open. What a run reads and holds thus grows with its own probes,
not with the index. docs/dedup.md ("The index") gives the layout and its cost model.

    b"DEDUPSEG1\n" | header length (8 bytes, little-endian) | header (JSON) | sections

The header names each section's place and each table's buckets and slots. Story records are
JSON metadata, a NUL, then the canonical's shingles (uint32) in text order.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

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
EMPTY = 0  # the key of a free slot; a real key of 0 is kept in the overflow table
OFFSETS_READ = 64  # story offsets are read in runs of this many


def bucket_of(keys: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket of each key: its place in the key range, so buckets follow key order."""
    return ((keys.astype(np.uint64) >> np.uint64(32)) * np.uint64(buckets)) >> np.uint64(32)


def slots_for(mean: int) -> int:
    """Slots of a bucket holding `mean` entries on average: 3.5 standard deviations more (a
    bucket overflows about once in 4,000)."""
    return mean + math.ceil(3.5 * math.sqrt(mean))


def layout_table(keys: np.ndarray, values: np.ndarray, mean: int, cap: int) -> tuple[dict, bytes, bytes]:
    """A table's bucket section and overflow section, and its header entry. Of many entries with
    one key, only the first `cap` are kept: a probe never takes more."""
    order = np.argsort(keys, kind="stable")
    keys, values = keys.astype(np.uint64)[order], values.astype(np.uint64)[order]
    first_of_key = np.concatenate(([True], keys[1:] != keys[:-1]))[: len(keys)]
    starts = np.flatnonzero(first_of_key)
    rank_in_key = np.arange(len(keys)) - np.repeat(starts, np.diff(np.append(starts, len(keys))))
    keep = rank_in_key < cap
    keys, values = keys[keep], values[keep]
    buckets = max(1, math.ceil(len(keys) / mean))
    slots = slots_for(mean)
    bucket = bucket_of(keys, buckets).astype(np.int64)
    firsts = np.searchsorted(bucket, np.arange(buckets))
    place = np.arange(len(keys)) - firsts[bucket]
    fits = (place < slots) & (keys != EMPTY)
    table = np.zeros((buckets * slots, 2), dtype="<u8")
    table[bucket[fits] * slots + place[fits]] = np.stack((keys[fits], values[fits]), axis=1)
    overflow = np.stack((keys[~fits], values[~fits]), axis=1).astype("<u8")
    header = {"buckets": buckets, "slots": slots, "entries": len(keys)}
    return header, table.tobytes(), overflow.tobytes()


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
    probed through a memory map; the open handle keeps the file readable even if it is
    removed meanwhile (a cache eviction), and segments are never rewritten in place."""

    handle: int  # file descriptor

    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return [os.pread(self.handle, end - start, start) for start, end in ranges]

    def whole(self) -> bytes:
        return self.read([(0, os.fstat(self.handle).st_size)])[0]

    def rows(self, start: int, end: int, units: np.ndarray, width: int) -> np.ndarray:
        """Mapped for this call only: the pages it touched leave the process with the map, so
        a run's memory stays that of one probe batch whatever the size of the file."""
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        with mmap.mmap(self.handle, end - aligned, access=mmap.ACCESS_READ, offset=aligned) as mapped:
            values = np.frombuffer(mapped, "<u8", count=(end - start) // 8, offset=start - aligned)
            found = _rows(values, units, width)
            del values  # the map cannot close while an array points into it
        return found

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


def encode(contents: Contents, scheme: str, level: int, mean: int, cap: int) -> bytes:
    """The segment object: each table in buckets of about `mean` entries, at most `cap` per key."""
    keys = np.array([story_key(story.story_id) for story in contents.stories], dtype=np.uint64)
    records = [_record(story) for story in contents.stories]
    offsets = np.concatenate(([0], np.cumsum([len(record) for record in records]))).astype("<u8")
    tables = {
        "candidate_keys": (contents.candidate_keys, contents.candidate_stories),
        "story_keys": (keys, np.arange(len(keys), dtype=np.uint64)),
        "page_keys": (np.unique(contents.page_keys.astype(np.uint64)), np.zeros(0, np.uint64)),
        "text_digests": (contents.text_digests, contents.text_stories),
    }
    header: dict = {"scheme": scheme, "level": level, "stories": len(keys), "tables": {}, "sections": {}}
    sections: dict[str, bytes] = {}
    for name, (table_keys, values) in tables.items():
        values = values if len(values) == len(table_keys) else np.zeros(len(table_keys), np.uint64)
        header["tables"][name], sections[name], sections[name + ".overflow"] = layout_table(
            table_keys, values, mean, cap
        )
    sections["story_offsets"] = offsets.tobytes()
    sections["story_records"] = b"".join(records)
    body, position = [], 0
    for name, data in sections.items():
        header["sections"][name] = [position, len(data)]  # from the end of the header
        body.append(data)
        position += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<Q", len(encoded)) + encoded + b"".join(body)


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
        buckets, slots = table["buckets"], table["slots"]
        bucket = bucket_of(queries, buckets).astype(np.int64)
        rows = self._units(name, bucket, 2 * slots)  # each query's bucket: key, value, key, value, ...
        hit_query, hit_slot = np.nonzero((rows[:, 0::2] == queries[:, None]) & (queries[:, None] != EMPTY))
        query = [hit_query]
        value = [rows[hit_query, 2 * hit_slot + 1]]
        overflow = self.overflow[name]
        if len(overflow):
            lo = np.searchsorted(overflow[:, 0], queries, side="left")
            counts = np.searchsorted(overflow[:, 0], queries, side="right") - lo
            query.append(np.repeat(np.arange(len(queries)), counts))
            value.append(overflow[np.repeat(lo, counts) + _ramps(counts), 1])
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


def _ramps(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., n-1 for each n of `counts`, concatenated."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def merge(parts: Iterable[Contents]) -> Contents:
    """Segments merged oldest first: a story's newest version wins, with the candidate keys of that
    version; page keys and text digests are united (a text's newest story wins)."""
    parts = list(parts)
    latest: dict[int, tuple[int, Story]] = {}
    for number, part in enumerate(parts):
        for story in part.stories:
            latest[story_key(story.story_id)] = (number, story)
    keep = [
        np.isin(part.candidate_stories, [k for k, (n, _) in latest.items() if n == number])
        for number, part in enumerate(parts)
    ]
    digests = np.concatenate([part.text_digests for part in parts[::-1]]) if parts else np.zeros(0, np.uint64)
    text_stories = np.concatenate([part.text_stories for part in parts[::-1]]) if parts else digests
    _, first = np.unique(digests, return_index=True)  # the newest segment's entry for each digest
    return Contents(
        stories=[story for _, story in sorted(latest.values(), key=lambda item: item[0])],
        candidate_keys=np.concatenate([p.candidate_keys[k] for p, k in zip(parts, keep, strict=True)]),
        candidate_stories=np.concatenate([p.candidate_stories[k] for p, k in zip(parts, keep, strict=True)]),
        page_keys=np.unique(np.concatenate([part.page_keys for part in parts])),
        text_digests=digests[first],
        text_stories=text_stories[first],
    )
