"""Raw archives a fetch wrote that no ingest has read yet: how `fetch`, then `ingest`, loses nothing.

A page, once archived, is marked fetched, so a later fetch never asks for it again; its
only way into the corpus is the archive. So every raw archive part the `fetch` command
stores gets a marker at once (before the states of its pages are saved), and the next
`ingest` takes every marked archive as input and removes the markers of those it read
once its run is committed:

    pending-ingest/<archive key>     an empty object, e.g.
    pending-ingest/raw/dt=2024-05-01/<run_id>-<source>-0000.warc.gz

A crash before the markers are removed makes the next ingest read those archives again;
their pages are then `already_ingested` (the index knows them), never stored twice.
"""

from __future__ import annotations

from pipeline import layout
from pipeline.store import Store


def mark_pending(store: Store, archive_key: str) -> None:
    """Record a stored raw archive as waiting for ingest."""
    store.put(layout.pending_key(archive_key), b"")


def pending_archives(store: Store) -> list[str]:
    """Keys of the raw archives waiting for ingest, oldest run first (keys carry the run's time)."""
    return [key.removeprefix(layout.PENDING_PREFIX) for key in store.list(layout.PENDING_PREFIX)]


def mark_ingested(store: Store, archive_keys: list[str]) -> None:
    """The archives were read by a committed ingest run: they wait no more."""
    for key in archive_keys:
        store.delete(layout.pending_key(key))
