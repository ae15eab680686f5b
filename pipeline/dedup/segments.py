"""Index segments: immutable objects of sorted arrays, probed by batched range reads.

A segment holds some stories (each at one version), their candidate keys, the keys of the
pages a run saw and the digests of the texts it placed. Every lookup table is a sorted
array of 64-bit keys with its values alongside; the segment keeps every `block`-th key
("fences", a few bytes per thousand entries) and a probe reads only the blocks its queries
fall in, coalesced into ranges, so what a run reads and holds grows with its own pages, not
with the index. docs/dedup.md ("The index") gives the layout and its cost model.

    b"DEDUPSEG1\\n" | header length (8 bytes, little-endian) | header (JSON) | sections

The header names each section's offset, type and length. Story records are JSON metadata,
a NUL, then the canonical's shingles (uint32) in text order.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pipeline.dedup.stories import Story, story_key

MAGIC = b"DEDUPSEG1\n"
PREFIX = len(MAGIC) + 8
# Sorted key sections and the section holding their values (None: a set of keys).
TABLES = {
    "candidate_keys": "candidate_stories",  # LSH band and sampled-shingle keys -> story key
    "story_keys": "story_rows",  # story key -> its record
    "page_keys": None,  # pages the runs saw (`index.page_key`)
    "text_digests": "text_stories",  # digest of each text placed -> story key
}


class Source(Protocol):
    def read(self, ranges: list[tuple[int, int]]) -> list[bytes]: ...
    def whole(self) -> bytes: ...


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


def encode(contents: Contents, scheme: str, level: int, block: int) -> bytes:
    """The segment object: every table sorted by key, with its fences."""
    keys = np.array([story_key(story.story_id) for story in contents.stories], dtype=np.uint64)
    records = [_record(story) for story in contents.stories]
    offsets = np.concatenate(([0], np.cumsum([len(record) for record in records]))).astype(np.uint64)
    tables = {
        "candidate_keys": (contents.candidate_keys, contents.candidate_stories),
        "story_keys": (keys, np.arange(len(keys), dtype=np.uint64)),
        "page_keys": (np.unique(contents.page_keys.astype(np.uint64)), None),
        "text_digests": (contents.text_digests, contents.text_stories),
    }
    sections: dict[str, np.ndarray | bytes] = {}
    for name, (table_keys, values) in tables.items():
        order = np.argsort(table_keys, kind="stable")
        sorted_keys = table_keys.astype(np.uint64)[order]
        sections[name] = sorted_keys
        sections[name + ".fences"] = sorted_keys[::block]
        if values is not None:
            sections[TABLES[name]] = values.astype(np.uint64)[order]  # type: ignore[index]
    sections["story_offsets"] = offsets
    sections["story_records"] = b"".join(records)
    header: dict = {"scheme": scheme, "level": level, "block": block, "stories": len(keys), "sections": {}}
    body, position = [], 0
    for name, section in sections.items():
        data = section if isinstance(section, bytes) else section.astype("<u8").tobytes()
        header["sections"][name] = [position, len(data)]  # from the end of the header
        body.append(data)
        position += len(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<Q", len(encoded)) + encoded + b"".join(body)


def _coalesce(blocks: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Sorted distinct block numbers as (first, end) runs, merging runs at most `gap` blocks apart."""
    if len(blocks) == 0:
        return []
    breaks = np.flatnonzero(np.diff(blocks) > gap + 1)
    firsts = np.concatenate(([blocks[0]], blocks[breaks + 1]))
    lasts = np.concatenate((blocks[breaks], [blocks[-1]]))
    return list(zip(firsts.tolist(), (lasts + 1).tolist(), strict=True))


class Segment:
    """One segment, opened by reading its header and fences; tables are probed in batches."""

    def __init__(self, key: str, source: Source, gap: int) -> None:
        self.key = key
        self.source = source
        self.gap = gap  # blocks between two needed ones that a probe reads rather than splitting a range
        prefix = source.read([(0, PREFIX)])[0]
        if prefix[: len(MAGIC)] != MAGIC:
            raise ValueError(f"{key} is not an index segment")
        (length,) = struct.unpack("<Q", prefix[len(MAGIC) :])
        header = json.loads(source.read([(PREFIX, PREFIX + length)])[0])
        self.scheme: str = header["scheme"]
        self.level: int = header["level"]
        self.block: int = header["block"]
        self.story_count: int = header["stories"]
        self.size = PREFIX + length + sum(size for _, size in header["sections"].values())
        base = PREFIX + length
        self.sections = {name: (base + start, size) for name, (start, size) in header["sections"].items()}
        names = [name + ".fences" for name in TABLES]
        pieces = source.read([(start, start + length) for start, length in (self.sections[n] for n in names)])
        self.fences = {name: np.frombuffer(piece, "<u8") for name, piece in zip(TABLES, pieces, strict=True)}

    def entries(self, name: str) -> int:
        return self.sections[name][1] // 8

    def _read_blocks(self, name: str, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The entries of a section in these (sorted, distinct) blocks, and their positions."""
        start, _ = self.sections[name]
        total = self.entries(name)
        runs = [
            (first * self.block, min(end * self.block, total)) for first, end in _coalesce(blocks, self.gap)
        ]
        pieces = self.source.read([(start + 8 * lo, start + 8 * hi) for lo, hi in runs])
        values = np.frombuffer(b"".join(pieces), "<u8")
        positions = np.concatenate([np.arange(lo, hi) for lo, hi in runs]) if runs else np.zeros(0, np.int64)
        return values, positions

    def lookup(self, name: str, queries: np.ndarray, cap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(query number, value) for every entry of table `name` whose key equals a query; at most
        `cap` entries per query (the first in key order). A table without values gives positions."""
        fences = self.fences[name]
        queries = np.asarray(queries, dtype=np.uint64)
        if len(fences) == 0 or len(queries) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.uint64)
        first = np.maximum(np.searchsorted(fences, queries, side="left") - 1, 0)
        end = np.maximum(np.searchsorted(fences, queries, side="right"), first + 1)
        spans = end - first
        blocks = np.unique(np.repeat(first, spans) + _ramps(spans))
        keys, positions = self._read_blocks(name, blocks)
        lo = np.searchsorted(keys, queries, side="left")
        counts = np.searchsorted(keys, queries, side="right") - lo
        if cap is not None:
            counts = np.minimum(counts, cap)
        query = np.repeat(np.arange(len(queries)), counts)
        entry = np.repeat(lo, counts) + _ramps(counts)
        values_name = TABLES[name]
        if values_name is None:
            return query, positions[entry].astype(np.uint64)
        values, _ = self._read_blocks(values_name, blocks)
        return query, values[entry]

    def stories(self, rows: np.ndarray) -> list[Story]:
        """The stories at these record rows."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return []
        wanted = np.unique(np.concatenate((rows, rows + 1)))
        values, positions = self._read_blocks("story_offsets", np.unique(wanted // self.block))
        offset_of = dict(zip(positions.tolist(), values.tolist(), strict=True))
        start, _ = self.sections["story_records"]
        ranges = [(start + offset_of[row], start + offset_of[row + 1]) for row in rows.tolist()]
        return [_story(record) for record in self.source.read(ranges)]

    def contents(self) -> Contents:
        """Everything the segment holds (for a merge)."""
        everything = self.source.whole()

        def section(name: str) -> np.ndarray:
            start, length = self.sections[name]
            return np.frombuffer(everything, "<u8", count=length // 8, offset=start)

        offsets = section("story_offsets").tolist()
        start, _ = self.sections["story_records"]
        records = [
            everything[start + offsets[row] : start + offsets[row + 1]] for row in range(self.story_count)
        ]
        stories = [_story(record) for record in records]
        return Contents(
            stories,
            section("candidate_keys").copy(),
            section("candidate_stories").copy(),
            section("page_keys").copy(),
            section("text_digests").copy(),
            section("text_stories").copy(),
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
