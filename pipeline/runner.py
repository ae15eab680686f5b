"""The ingest run, as stages a scheduler can call separately or `ingest` calls in a row.

    plan_shards -> extract_shard (per shard, parallel) -> deduplicate_run -> commit_run

Extraction looks at one page at a time and runs in worker processes. Everything that
needs the whole run or the persistent index (site templates, dedup, writing) happens
in `deduplicate_run`, under the store's lock. `commit_run` writes the manifest last:
until then nothing the run wrote is visible to readers or to later runs.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline import boilerplate, clean, index, output, templates
from pipeline.config import Config
from pipeline.dedup import Deduplicator, Supersession
from pipeline.extract import extract_files
from pipeline.records import Decision, Document, Rejection, utc_iso
from pipeline.sources import list_inputs
from pipeline.store import LockBusy, Store, acquire_lock, holds_lock, release_lock

LOCK_NAME = "index"


@dataclass
class RunSummary:
    """What one run did; the manifest's counts, and the operator's summary table."""

    run_id: str
    pages_in: int = 0
    canonical: int = 0
    duplicates: int = 0
    already_ingested: int = 0
    superseded: int = 0  # stories whose canonical this run replaced with an earlier or fuller copy
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    objects: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> RunSummary:
        counts = manifest["counts"]
        objects = manifest["objects"]
        return cls(
            run_id=manifest["run_id"],
            pages_in=counts["pages_in"],
            canonical=counts["canonical"],
            duplicates=counts["duplicates"],
            already_ingested=counts["already_ingested"],
            superseded=counts["superseded"],
            rejected=counts["rejected"],
            seconds=counts["seconds"],
            objects=[*objects["articles"], *objects["lineage"], objects["index"], objects["templates"]],
        )


def new_run_id(now: datetime | None = None) -> str:
    """A run id from the time, sortable and safe in object keys: 20261122T061500Z-3f9a.

    The random suffix keeps two runs started in the same second apart.
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def plan_shards(inputs: list[str], shards: int, s3_client=None) -> list[list[str]]:
    """Group the input files into at most `shards` groups of similar total size."""
    groups: list[list[str]] = [[] for _ in range(max(1, shards))]
    sizes = [0] * len(groups)
    for file in sorted(list_inputs(inputs, s3_client), key=lambda f: -f.size):
        smallest = sizes.index(min(sizes))
        groups[smallest].append(file.uri)
        sizes[smallest] += file.size
    return [sorted(group) for group in groups if group]


def _staging_key(run_id: str, shard: int) -> str:
    return f"staging/{run_id}/extract-{shard:05d}.jsonl.gz"


def extract_shard(
    inputs: list[str], store: Store, run_id: str, shard: int, config: Config, s3_client=None
) -> str:
    """Clean one shard's input files into a staging object; return its key (idempotent)."""
    items = extract_files(list_inputs(inputs, s3_client), config, s3_client)
    rows = ({"kind": type(item).__name__, **item.to_dict()} for item in items)
    key = _staging_key(run_id, shard)
    store.put(key, output.encode_jsonl_gz(rows))
    return key


def _read_staging(store: Store, keys: list[str]) -> list[Document | Rejection]:
    kinds = {"Document": Document, "Rejection": Rejection}
    return [
        kinds[row.pop("kind")].from_dict(row)
        for key in keys
        for row in output.decode_jsonl_gz(store.get(key))
    ]


# --- run level: templates, dedup, writing -----------------------------------------------------


def _item_key(item: Document | Rejection) -> int:
    return index.page_key(item.url, item.content_sha, item.fetched_at)


def _split_seen(
    items: list[Document | Rejection], seen: index.SeenPages, reprocess: bool
) -> tuple[list[Document | Rejection], int]:
    """Drop pages ingested by an earlier run (or twice in this one); count them."""
    fresh, skipped, keys = [], 0, set()
    for item in items:
        key = _item_key(item)
        if key in keys or (key in seen and not reprocess):
            skipped += 1
            continue
        keys.add(key)
        fresh.append(item)
    return fresh, skipped


def process(
    store: Store, run_id: str, items: list[Document | Rejection], config: Config, reprocess: bool = False
) -> dict[str, Any]:
    """Everything after extraction, against the index in the store; the caller holds the lock."""
    started = time.monotonic()
    state = index.load_index(store, config.dedup.shingle_words)
    fresh, already = _split_seen(items, state.seen, reprocess)
    docs = [item for item in fresh if isinstance(item, Document)]
    learned: boilerplate.SiteLines = {}
    finished = clean.finish_run(docs, config.clean, templates.load_templates(store, config.clean), learned)
    rejections = [item for item in fresh if isinstance(item, Rejection)]
    rejections += [item for item in finished if isinstance(item, Rejection)]
    docs = [item for item in finished if isinstance(item, Document)]

    dedup = Deduplicator(config.dedup, list(state.stories.values()))
    decisions = dedup.assign(docs)
    articles, lineage = _records(docs, decisions, rejections, run_id, dedup.superseded)

    prefix = f"run={run_id}"
    segment_key = f"{index.SEGMENT_PREFIX}{run_id}.npz"
    store.put(
        segment_key,
        index.encode_segment(dedup.changed, [_item_key(item) for item in fresh], config.dedup.shingle_words),
    )
    counts = Counter(decision.status for decision in decisions)
    return {
        "run_id": run_id,
        "counts": {
            "pages_in": len(items),
            "canonical": counts["canonical"],
            "duplicates": counts["duplicate"],
            "superseded": len(dedup.superseded),
            "already_ingested": already,
            "rejected": dict(Counter(r.reason for r in rejections)),
            "seconds": round(time.monotonic() - started, 3),
        },
        "objects": {
            "articles": output.write_parts(store, f"articles/{prefix}", articles),
            "lineage": output.write_parts(store, f"lineage/{prefix}", lineage),
            "index": segment_key,
            "templates": templates.save_templates(store, run_id, learned, config.clean),
        },
    }


def _records(
    docs: list[Document],
    decisions: list[Decision],
    rejections: list[Rejection],
    run_id: str,
    superseded: list[Supersession],
) -> tuple[list[dict], list[dict]]:
    """Article rows (one per canonical, with the copies folded into it) and lineage rows,
    including one per stored canonical that an earlier or fuller publication replaced."""
    replaced = {change.story_id: change.old_url for change in superseded}
    copies: dict[str, list[dict]] = {}
    for doc, decision in zip(docs, decisions, strict=True):
        if decision.status == "duplicate":
            copies.setdefault(decision.story_id, []).append(
                {"url": doc.url, "similarity": decision.similarity, "method": decision.method}
            )
    articles = [
        output.article_row(
            doc, decision, copies.get(decision.story_id, []), run_id, replaced.get(decision.story_id)
        )
        for doc, decision in zip(docs, decisions, strict=True)
        if decision.status == "canonical"
    ]
    lineage = [
        output.lineage_row(doc, decision, run_id) for doc, decision in zip(docs, decisions, strict=True)
    ]
    lineage += [output.lineage_row(rejection, None, run_id) for rejection in rejections]
    lineage += [output.superseded_row(change, run_id) for change in superseded]
    return articles, lineage


def _committed(store: Store, run_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(store.get(manifest_key(run_id)))
    except KeyError:
        return None


def committed_summary(store: Store, run_id: str) -> RunSummary | None:
    """The summary of a committed run, or None while the run has no manifest."""
    committed = _committed(store, run_id)
    return None if committed is None else RunSummary.from_manifest(committed)


def deduplicate_run(
    store: Store, run_id: str, staging_keys: list[str], config: Config, reprocess: bool = False
) -> dict[str, Any]:
    """Dedup the run's staged pages and write its objects; holds the lock until commit_run.

    Safe to retry: the same run id rewrites the same keys, and a committed run is left alone.
    A failure releases the lock, so the runs after it are not held up.
    """
    committed = _committed(store, run_id)
    if committed is not None:
        return committed
    acquire_lock(store, LOCK_NAME, owner=run_id)
    try:
        result = process(store, run_id, _read_staging(store, staging_keys), config, reprocess)
        store.put(f"staging/{run_id}/result.json", json.dumps(result).encode())
    except BaseException:
        release_lock(store, LOCK_NAME, owner=run_id)
        raise
    return result


def commit_run(store: Store, run_id: str) -> RunSummary:
    """Publish the run: manifest last, then HEAD; release the lock and drop staging.

    The run must still hold the lock it took in `deduplicate_run`: if the lock was broken
    as stale meanwhile, another run may have changed the index, and publishing would
    put the two runs' stories side by side; the run must then be deduplicated again.
    """
    committed = _committed(store, run_id)
    if committed is None:
        if not holds_lock(store, LOCK_NAME, owner=run_id):
            raise LockBusy(
                f"run {run_id!r} no longer holds the index lock in {store.uri} (it was broken as stale); "
                "run its deduplicate_run again before committing"
            )
        committed = _write_manifest(store, json.loads(store.get(f"staging/{run_id}/result.json")))
    release_lock(store, LOCK_NAME, owner=run_id)
    for key in store.list(f"staging/{run_id}/"):
        store.delete(key)
    return RunSummary.from_manifest(committed)


def _write_manifest(store: Store, result: dict[str, Any]) -> dict[str, Any]:
    runs = index.committed_runs(store)
    manifest = {
        "schema_version": output.SCHEMA_VERSION,
        "sequence": len(runs) + 1,
        "committed_at": utc_iso(datetime.now(UTC)),
        **result,
    }
    store.put(manifest_key(result["run_id"]), json.dumps(manifest, indent=1).encode())
    index.record_commit(store, result["run_id"], result["objects"]["index"])
    return manifest


def ingest(
    inputs: list[str],
    store: Store,
    run_id: str | None = None,
    config: Config | None = None,
    s3_client=None,
    reprocess: bool = False,
    on_page: Callable[[], None] | None = None,
) -> RunSummary:
    """The whole run on one machine: the same stages a scheduler runs, without staging objects.

    A run id that is already committed returns that run's summary and does nothing, also
    when a run of the same id committed while this one waited for the lock.
    """
    started = time.monotonic()
    config = config or Config()
    run_id = run_id or new_run_id()
    committed = _committed(store, run_id)
    if committed is None:
        items = extract_files(list_inputs(inputs, s3_client), config, s3_client, on_page)
        acquire_lock(store, LOCK_NAME, owner=run_id)
        try:
            committed = _committed(store, run_id)
            if committed is None:
                result = process(store, run_id, items, config, reprocess)
                result["counts"]["seconds"] = round(time.monotonic() - started, 3)
                committed = _write_manifest(store, result)
        finally:
            release_lock(store, LOCK_NAME, owner=run_id)
    return RunSummary.from_manifest(committed)


__all__ = [
    "LockBusy",
    "RunSummary",
    "commit_run",
    "committed_summary",
    "deduplicate_run",
    "extract_shard",
    "ingest",
    "new_run_id",
    "plan_shards",
]
