"""The commit log: one manifest per committed run, `commits/<sequence>.json` (docs/runs.md).

Committing a run is creating the next sequence's object with the store's conditional write
(local: an atomic link that fails if the file exists; S3: `If-None-Match: *`). Two runs that
deduplicated against the same sequence cannot both commit after it, and a stale run can never
commit over a newer one: whoever loses must deduplicate again. That one write is the commit:
everything after it (the run's `runs/<id>/manifest.json` copy, the index HEAD) only makes
lookups faster, and a run that dies before doing it leaves it to the next run (`roll_forward`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline import layout
from pipeline.output import SCHEMA_VERSION
from pipeline.store import Store, StoreError


class CommitConflict(StoreError):
    """Another run committed the sequence this run deduplicated against first."""


@dataclass
class RunCounts:
    """What a run did with its pages (the manifest's `counts`)."""

    pages_in: int = 0
    canonical: int = 0
    duplicates: int = 0
    superseded: int = 0  # stories whose canonical this run replaced with an earlier or fuller copy
    already_ingested: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, other: RunCounts) -> None:
        """Add a batch's page counts (not its seconds) to the run's."""
        self.pages_in += other.pages_in
        self.canonical += other.canonical
        self.duplicates += other.duplicates
        self.superseded += other.superseded
        self.already_ingested += other.already_ingested
        self.rejected = dict(Counter(self.rejected) + Counter(other.rejected))


@dataclass
class RunObjects:
    """The objects a run wrote (the manifest's `objects`): readers read nothing else."""

    articles: list[str] = field(default_factory=list)
    lineage: list[str] = field(default_factory=list)
    index: str = ""  # the index segment of the run's first batch of pages ...
    templates: str = ""
    index_merged: str = ""  # a compaction's merged index segment (pipeline.dedup.index) ...
    index_replaces: list[str] = field(default_factory=list)  # ... and the segments it replaces
    index_batches: list[str] = field(default_factory=list)  # ... and those of its later batches

    @property
    def segments(self) -> list[str]:
        """The run's own index segments, in the order it wrote them."""
        return [self.index, *self.index_batches]

    def keys(self) -> list[str]:
        return [
            *self.articles,
            *self.lineage,
            *self.segments,
            self.templates,
            *filter(None, [self.index_merged]),
        ]


@dataclass
class Manifest:
    run_id: str
    sequence: int
    committed_at: str
    counts: RunCounts
    objects: RunObjects
    schema_version: str = SCHEMA_VERSION

    def encode(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        counts, objects = data["counts"], data["objects"]
        return cls(
            run_id=data["run_id"],
            sequence=data["sequence"],
            committed_at=data["committed_at"],
            counts=RunCounts(**{k: counts[k] for k in RunCounts.__dataclass_fields__ if k in counts}),
            objects=RunObjects(**{k: objects[k] for k in RunObjects.__dataclass_fields__ if k in objects}),
            schema_version=data.get("schema_version", SCHEMA_VERSION),
        )

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        return cls.from_dict(json.loads(data))


@dataclass(frozen=True)
class CommittedRun:
    """One entry of the index HEAD: a committed run and its index segment."""

    run_id: str
    segment: str
    sequence: int
    merged: str = ""  # the segment the run's compaction wrote, if any ...
    replaces: tuple[str, ...] = ()  # ... and the segments it replaces
    batches: tuple[str, ...] = ()  # the segments of the run's later batches of pages

    @property
    def segments(self) -> list[str]:
        return [self.segment, *self.batches]


def _committed(manifest: Manifest) -> CommittedRun:
    objects = manifest.objects
    return CommittedRun(
        manifest.run_id,
        objects.index,
        manifest.sequence,
        objects.index_merged,
        tuple(objects.index_replaces),
        tuple(objects.index_batches),
    )


def commit_sequences(store: Store) -> list[int]:
    return sorted(s for key in store.list(layout.COMMITS_PREFIX) if (s := layout.commit_sequence(key)))


def read_manifests(store: Store, after: int = 0) -> list[Manifest]:
    """Manifests of the committed runs with a sequence above `after`, in commit order."""
    return [
        Manifest.decode(store.get(layout.commit_key(sequence)))
        for sequence in commit_sequences(store)
        if sequence > after
    ]


def find(store: Store, run_id: str) -> Manifest | None:
    """The manifest of run `run_id` if it is committed (after `roll_forward`, which the lease
    holder runs first, the run copy is there for every committed run)."""
    try:
        return Manifest.decode(store.get(layout.manifest_key(run_id)))
    except KeyError:
        return None


def append(store: Store, manifest: Manifest) -> None:
    """Commit: create the manifest's sequence in the log, or raise CommitConflict.

    An existing entry for the same run is this run's own earlier write whose answer was lost
    (a client retry after a dropped connection): the run is committed.
    """
    if store.put_if_absent(layout.commit_key(manifest.sequence), manifest.encode()):
        return
    holder = Manifest.decode(store.get(layout.commit_key(manifest.sequence)))
    if holder.run_id != manifest.run_id:
        raise CommitConflict(
            f"run {holder.run_id!r} committed sequence {manifest.sequence} of {store.uri} first"
        )


def _head(store: Store) -> list[CommittedRun]:
    try:
        head = json.loads(store.get(layout.HEAD_KEY))
    except KeyError:
        return []
    if "sequence" not in head:  # written before the commit log existed: rebuild it
        return []
    return [
        CommittedRun(
            **{
                **entry,
                "replaces": tuple(entry.get("replaces", ())),
                "batches": tuple(entry.get("batches", ())),
            }
        )
        for entry in head["runs"]
    ]


def committed_runs(store: Store) -> list[CommittedRun]:
    """Every committed run in commit order: the HEAD cache, then the log entries after it."""
    runs = _head(store)
    newer = read_manifests(store, after=runs[-1].sequence if runs else 0)
    return runs + [_committed(m) for m in newer]


def last_sequence(runs: list[CommittedRun]) -> int:
    return runs[-1].sequence if runs else 0


def _adopt_legacy_manifests(store: Store) -> None:
    """Stores written before schema 1.2 have manifests only under runs/: enter them in the log."""
    if commit_sequences(store):
        return
    legacy = [
        Manifest.decode(store.get(key))
        for key in store.list(layout.RUNS_PREFIX)
        if key.endswith("/manifest.json")
    ]
    for manifest in sorted(legacy, key=lambda m: m.sequence):
        store.put_if_absent(layout.commit_key(manifest.sequence), manifest.encode())


def roll_forward(store: Store) -> list[CommittedRun]:
    """Bring the run copies and the HEAD cache up to the log (call with the lease held); return
    every committed run, as `committed_runs` would."""
    _adopt_legacy_manifests(store)
    runs = _head(store)
    newer = read_manifests(store, after=last_sequence(runs))
    if not newer:
        return runs
    for manifest in newer:
        store.put(layout.manifest_key(manifest.run_id), manifest.encode())
    runs += [_committed(m) for m in newer]
    head = {"sequence": last_sequence(runs), "runs": [asdict(run) for run in runs]}
    store.put(layout.HEAD_KEY, json.dumps(head, indent=1).encode())
    return runs
