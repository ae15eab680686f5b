"""What downstream readers get: article and lineage records, as gzipped JSON Lines.

The record shapes are the data contract documented in docs/corpus.md; bump
SCHEMA_VERSION whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pipeline import layout
from pipeline.failpoints import failpoint
from pipeline.records import Decision, Document, Rejection
from pipeline.store import Store

if TYPE_CHECKING:  # only for annotations: readers need no numpy
    from pipeline.dedup import Supersession

SCHEMA_VERSION = "1.4"


def encode_jsonl_gz(rows: Iterable[dict[str, Any]]) -> bytes:
    """Gzipped JSON Lines with a fixed gzip timestamp, so equal rows give equal bytes."""
    text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
    return gzip.compress(text.encode(), mtime=0)


def decode_jsonl_gz(data: bytes) -> Iterator[dict[str, Any]]:
    for line in gzip.decompress(data).decode().split("\n"):  # not splitlines: texts hold U+2028 and friends
        if line:
            yield json.loads(line)


class PartWriter:
    """Rows written as they come, as `<prefix>/part-00000.jsonl.gz`, ... of `part_records` each
    (small enough to stream, large enough to list cheaply): a run holds at most one part's rows.
    `point` names the failpoint reached after each part (pipeline.failpoints)."""

    def __init__(self, store: Store, prefix: str, part_records: int, point: str | None = None) -> None:
        self.store, self.prefix, self.part_records, self.point = store, prefix, part_records, point
        self.keys: list[str] = []
        self._rows: list[dict[str, Any]] = []

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self._rows.append(row)
            if len(self._rows) == self.part_records:
                self._flush()

    def close(self) -> list[str]:
        """Write the last, partial part; return every key written, in order."""
        if self._rows:
            self._flush()
        return self.keys

    def _flush(self) -> None:
        key = layout.part_key(self.prefix, len(self.keys))
        self.store.put(key, encode_jsonl_gz(self._rows))
        if self.point:
            failpoint(self.point)
        self.keys.append(key)
        self._rows = []


def article_row(
    doc: Document, decision: Decision, duplicates: list[dict], run_id: str, supersedes: str | None = None
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "id": decision.story_id,
        "url": doc.url,
        "declared_canonical_url": doc.canonical_url,
        "title": doc.title,
        "text": doc.text,
        "author": doc.author,
        "published_at": doc.published_at,
        "fetched_at": doc.fetched_at,
        "source": doc.source,
        "sitename": doc.sitename,
        "language": doc.language,
        "content_sha256": doc.content_sha,
        "duplicates": duplicates,
        "supersedes": supersedes,
        "run_id": run_id,
    }


def lineage_row(item: Document | Rejection, decision: Decision | None, run_id: str) -> dict[str, Any]:
    row = {
        "schema_version": SCHEMA_VERSION,
        "url": item.url,
        "fetched_at": item.fetched_at,
        "content_sha256": item.content_sha,
        "run_id": run_id,
        "status": "rejected",
        "article_id": None,
        "canonical_url": None,
        "similarity": None,
        "method": None,
        "reason": None,
        "detail": None,
    }
    if isinstance(item, Rejection):
        row.update(reason=item.reason, detail=item.detail)
    elif decision is not None:
        row.update(
            status=decision.status,
            article_id=decision.story_id,
            canonical_url=decision.canonical_url,
            similarity=decision.similarity,
            method=decision.method,
        )
    return row


def superseded_row(change: Supersession, run_id: str) -> dict[str, Any]:
    """Lineage of a story's former canonical page, once an earlier or fuller publication replaced it."""
    return {
        "schema_version": SCHEMA_VERSION,
        "url": change.old_url,
        "fetched_at": None,
        "content_sha256": None,
        "run_id": run_id,
        "status": "superseded",
        "article_id": change.story_id,
        "canonical_url": change.new_url,
        "similarity": None,
        "method": None,
        "reason": None,
        "detail": f"an earlier or fuller publication of the story is now its canonical: {change.new_url}",
    }
