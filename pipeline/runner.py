"""The ingest run, as stages a scheduler can call separately or `ingest` calls in a row.

    plan_shards -> extract_shard (per shard, parallel) -> commit_run
    (or, dedup spread over workers: ... -> prepare_run -> probe_partition (per partition) -> commit_run)

Extraction looks at one page at a time and runs in worker processes (`pipeline.extract`).
Everything that needs the run's other pages or the persistent index happens under the store's
lease (`pipeline.lease`): the run loads what it needs of the store, then takes its pages in
batches of `run.batch_pages`, as they come out of extraction, each in three steps with typed
records between them:

    load (index, templates, commit sequence), then per batch:
        prepare (pages seen before, site templates) -> decide (dedup, records)
        -> write (article and lineage parts, index segment)

A batch is deduplicated against the committed index and the run's earlier batches, exactly as
a later run would be, so the run's memory is bounded by a batch, not by the run. Then the
commit: one conditional write of the run's manifest in the commit log (`pipeline.commits`).
Until then nothing the run wrote is visible to readers or later runs. docs/runs.md describes
the protocol, its exit codes and what a crash at each step leaves.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from pipeline import clean, commits, layout, output, templates
from pipeline.commits import CommitConflict, Manifest, RunCounts, RunObjects
from pipeline.config import Config
from pipeline.dedup import Deduplicator, Supersession, index, partitions
from pipeline.dedup.index import SeenPages
from pipeline.dedup.partitions import PartitionedStories
from pipeline.extract import extract_files
from pipeline.failpoints import failpoint
from pipeline.lease import Lease, LeaseBusy, LeaseLost, RunIdInUse
from pipeline.records import Decision, Document, Rejection, Serialisable, utc_iso
from pipeline.sources import list_inputs
from pipeline.store import Store, StoreError

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 3  # a run that loses the commit race deduplicates again against the newer index


@dataclass
class RunSummary:
    """What one run did; the manifest's counts, and the operator's summary table.

    `replay` is True when the run was committed before this call (a retried or cleared
    scheduled run): nothing new was written.
    """

    run_id: str
    pages_in: int = 0
    canonical: int = 0
    duplicates: int = 0
    already_ingested: int = 0
    superseded: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    objects: list[str] = field(default_factory=list)
    sequence: int = 0
    committed_at: str = ""
    replay: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_manifest(cls, manifest: Manifest, replay: bool = False) -> RunSummary:
        counts = manifest.counts
        return cls(
            run_id=manifest.run_id,
            pages_in=counts.pages_in,
            canonical=counts.canonical,
            duplicates=counts.duplicates,
            already_ingested=counts.already_ingested,
            superseded=counts.superseded,
            rejected=counts.rejected,
            seconds=counts.seconds,
            objects=manifest.objects.keys(),
            sequence=manifest.sequence,
            committed_at=manifest.committed_at,
            replay=replay,
        )


def new_run_id(now: datetime | None = None) -> str:
    """A run id from the time, sortable and safe in object keys: 20261122T061500Z-3f9a.

    The random suffix keeps two runs started in the same second apart.
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def plan_shards(inputs: list[str], shards: int, s3_client=None) -> list[list[str]]:
    """Group the input files into at most `shards` groups of similar total size."""
    groups: list[list[str]] = [[] for _ in range(max(1, shards))]
    sizes = [0] * len(groups)
    for file in sorted(list_inputs(inputs, s3_client), key=lambda f: -f.size):
        smallest = sizes.index(min(sizes))
        groups[smallest].append(file.uri)
        sizes[smallest] += file.size
    return [sorted(group) for group in groups if group]


def _rows(items: Iterable[Document | Rejection]) -> Iterator[dict[str, Any]]:
    return ({"kind": type(item).__name__, **item.to_dict()} for item in items)


def _items(rows: Iterable[dict[str, Any]]) -> Iterator[Document | Rejection]:
    kinds = {"Document": Document, "Rejection": Rejection}
    return (kinds[row.pop("kind")].from_dict(row) for row in rows)


def extract_shard(
    inputs: list[str], store: Store, run_id: str, shard: int, config: Config, s3_client=None
) -> list[str]:
    """Clean one shard's input files into staging objects, as they come; return their keys
    (idempotent: a retry writes the same keys)."""
    layout.check_run_id(run_id)
    staged = output.PartWriter(
        store, layout.staging_key(run_id, f"extract-{shard:05d}"), config.run.part_records
    )
    staged.add(_rows(extract_files(list_inputs(inputs, s3_client), config, s3_client)))
    return staged.close()


def _read_staging(store: Store, keys: list[str]) -> Iterator[Document | Rejection]:
    for key in keys:
        yield from _items(output.decode_jsonl_gz(store.get(key)))


# --- under the lease: load, then per batch prepare -> decide -> write, then commit ------------


@dataclass
class Loaded:
    """What a run needs of the committed store; the run's own batches join it as they go."""

    index: index.IndexState  # the committed segments, then those of the run's batches
    templates: templates.RunTemplates
    committed_parts: int  # the first `committed_parts` of `index.parts` are committed
    run_pages: set[int] = field(default_factory=set)  # page keys of the run's batches so far

    def read_before(self, keys: list[int], reprocess: bool) -> list[bool]:
        """Whether each page was read by an earlier run (never, with `reprocess`)."""
        return SeenPages(self.index.parts[: 0 if reprocess else self.committed_parts]).among(keys).tolist()


@dataclass
class Batch:
    """One batch of a run's pages after the run-level half of cleaning, ready to deduplicate."""

    docs: list[Document]
    rejections: list[Rejection]
    counts: RunCounts  # pages in and already ingested, so far

    @property
    def page_keys(self) -> list[int]:
        """The keys of the pages it reads for the first time (for the index)."""
        return [_item_key(item) for item in (*self.docs, *self.rejections)]


@dataclass
class Computed:
    """One batch's results, ready to write: records, the index segment and the counts."""

    articles: list[dict[str, Any]]
    lineage: list[dict[str, Any]]
    segment: bytes
    counts: RunCounts


def load(store: Store, config: Config) -> Loaded:
    runs = commits.committed_runs(store)
    state = index.load_index(store, config.dedup, runs)
    evidence = templates.load_evidence(store, config.clean, runs)
    return Loaded(state, templates.RunTemplates(evidence, config.clean), len(state.parts))


def _item_key(item: Document | Rejection) -> int:
    return index.page_key(item.url, item.content_sha, item.fetched_at)


def prepare(loaded: Loaded, items: list[Document | Rejection], config: Config, reprocess: bool) -> Batch:
    """Drop the pages read before (by an earlier run or batch, or twice in this batch), then
    remove site templates (those known, and those this batch shows) from the others."""
    keys = [_item_key(item) for item in items]
    fresh = []
    for item, key, seen in zip(items, keys, loaded.read_before(keys, reprocess), strict=True):
        if not seen and key not in loaded.run_pages:
            loaded.run_pages.add(key)
            fresh.append(item)
    docs = [item for item in fresh if isinstance(item, Document)]
    learned: clean.SiteLines = {}
    finished = clean.finish_run(docs, config.clean, loaded.templates.known, learned)
    loaded.templates.add(learned)
    rejections = [item for item in fresh if isinstance(item, Rejection)]
    rejections += [item for item in finished if isinstance(item, Rejection)]
    docs = [item for item in finished if isinstance(item, Document)]
    counts = RunCounts(pages_in=len(items), already_ingested=len(items) - len(fresh))
    return Batch(docs, rejections, counts)


def decide(
    loaded: Loaded, batch: Batch, run_id: str, config: Config, probes: partitions.Probes | None = None
) -> Computed:
    """Dedup and records for one batch, against the loaded index (with the run's earlier
    batches); `probes`: what workers found in the committed segments, if they probed them."""
    stored = (
        loaded.index if probes is None else PartitionedStories(loaded.index, loaded.committed_parts, probes)
    )
    dedup = Deduplicator(config.dedup, stored)
    decisions = dedup.assign(batch.docs)
    articles, lineage = _records(batch.docs, decisions, batch.rejections, run_id, dedup.superseded)
    segment = index.encode_segment(dedup.changed, batch.page_keys, config.dedup, dedup.placed_texts)
    statuses = Counter(decision.status for decision in decisions)
    counts = RunCounts(
        pages_in=batch.counts.pages_in,
        canonical=statuses["canonical"],
        duplicates=statuses["duplicate"],
        superseded=len(dedup.superseded),
        already_ingested=batch.counts.already_ingested,
        rejected=dict(Counter(r.reason for r in batch.rejections)),
    )
    return Computed(articles, lineage, segment, counts)


class RunWriter:
    """A run's objects, written batch by batch under its own keys (invisible until the commit
    lists them): article and lineage parts as they fill, and one index segment per batch, which
    the run's later batches then deduplicate against."""

    def __init__(self, store: Store, run_id: str, config: Config) -> None:
        self.store, self.run_id, self.config = store, run_id, config
        part = config.run.part_records
        self.articles = output.PartWriter(store, layout.articles_prefix(run_id), part, "write.article_part")
        self.lineage = output.PartWriter(store, layout.lineage_prefix(run_id), part, "write.lineage_part")
        self.segments: list[str] = []
        self.counts = RunCounts()
        self.cache = index.segment_cache(config.dedup)

    def write(self, computed: Computed, loaded: Loaded) -> None:
        self.articles.add(computed.articles)
        self.lineage.add(computed.lineage)
        key = layout.segment_key(self.run_id, len(self.segments))
        self.store.put(key, computed.segment)
        failpoint("write.index_segment")
        self.segments.append(key)
        loaded.index.parts.append(index.open_segment(self.store, key, self.config.dedup, self.cache))
        self.counts.add(computed.counts)

    def close(self, learned: clean.SiteLines) -> RunObjects:
        return RunObjects(
            articles=self.articles.close(),
            lineage=self.lineage.close(),
            index=self.segments[0],
            index_batches=self.segments[1:],
            templates=templates.save_templates(self.store, self.run_id, learned, self.config.clean),
        )


def batches(items: Iterable[Document | Rejection], size: int) -> Iterator[list[Document | Rejection]]:
    """The items in lists of `size`; at least one list, so a run without pages commits too."""
    items = iter(items)
    batch = list(islice(items, size))
    yield batch
    while batch := list(islice(items, size)):
        yield batch


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


def _commit(
    store: Store, lease: Lease, run_id: str, objects: RunObjects, counts: RunCounts, base: int
) -> Manifest:
    """The commit: the run's manifest as the log entry after `base`, fenced by the lease and by
    the log's conditional write."""
    manifest = Manifest(run_id, base + 1, utc_iso(datetime.now(UTC)), counts, objects)
    lease.check()
    failpoint("commit.before_manifest")
    commits.append(store, manifest)
    return manifest


def _after_commit(store: Store, config: Config) -> None:
    """Run copy, HEAD and sweeping replaced index segments: conveniences the next run does again,
    so a failure here is a warning."""
    try:
        failpoint("commit.after_manifest")
        runs = commits.roll_forward(store)
        failpoint("commit.after_head")
        index.sweep(store, runs, config.dedup)
    except (StoreError, OSError) as err:
        log.warning(
            "run committed; updating the index HEAD or sweeping failed (the next run does it): %s", err
        )


def _tidy(store: Store, lease: Lease) -> None:
    """Before the run's own work: roll the log forward and remove what the run before this one
    wrote if it never committed (it crashed, or failed and released the lease)."""
    commits.roll_forward(store)
    previous = lease.previous
    if previous is None or previous.run_id == lease.holder.run_id or commits.find(store, previous.run_id):
        return
    prefixes, keys = layout.run_outputs(previous.run_id)
    leftovers = [key for prefix in prefixes for key in store.list(prefix)] + keys
    for key in leftovers:
        store.delete(key)
    log.info("removed what uncommitted run %r left behind", previous.run_id)


BatchSource = Callable[[Loaded], Iterator[tuple[Batch, "partitions.Probes | None"]]]


def _prepared_here(
    read_items: Callable[[], Iterable[Document | Rejection]], config: Config, reprocess: bool
) -> BatchSource:
    """Batches of the pages `read_items` gives, prepared as they are taken."""

    def source(loaded: Loaded) -> Iterator[tuple[Batch, partitions.Probes | None]]:
        for items in batches(read_items(), config.run.batch_pages):
            yield prepare(loaded, items, config, reprocess), None

    return source


def _deduplicate_and_commit(
    store: Store, lease: Lease, source: BatchSource, config: Config, started: float
) -> RunSummary:
    """load, then decide -> write per batch, then commit; all again (the pages read again) if
    another run committed first, which the lease makes rare."""
    run_id = lease.holder.run_id
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        loaded = load(store, config)
        run = RunWriter(store, run_id, config)
        for batch, probes in source(loaded):
            run.write(decide(loaded, batch, run_id, config, probes), loaded)
        objects = run.close(loaded.templates.learned)
        index.compact(store, run_id, loaded.index, objects, config.dedup)
        run.counts.seconds = round(time.monotonic() - started, 3)
        try:
            manifest = _commit(store, lease, run_id, objects, run.counts, loaded.index.sequence)
        except CommitConflict as err:
            if attempt == COMMIT_ATTEMPTS:
                raise
            log.warning("%s; deduplicating again", err)
            continue
        _after_commit(store, config)
        return RunSummary.from_manifest(manifest)
    raise AssertionError("unreachable")


def _refuse_if_committed(store: Store, run_id: str) -> None:
    committed = commits.find(store, run_id)
    if committed is not None:
        raise RunIdInUse(
            f"run id {run_id!r} is already committed (sequence {committed.sequence}, "
            f"{committed.committed_at}): choose another"
        )


def committed_summary(store: Store, run_id: str) -> RunSummary | None:
    """The summary of a committed run, or None while the run has no manifest."""
    committed = commits.find(store, run_id)
    return None if committed is None else RunSummary.from_manifest(committed, replay=True)


def commit_run(
    store: Store,
    run_id: str,
    staging_keys: list[str],
    config: Config,
    reprocess: bool = False,
    prepared: PreparedRun | None = None,
    probe_keys: list[str] | None = None,
) -> RunSummary:
    """Deduplicate a scheduled run's staged pages and commit it, under the lease.

    With `prepared` and `probe_keys` (`prepare_run`, then `probe_partition` for every partition)
    the batches and the probes of the committed index are taken from them, unless another run
    committed since they were made: then the staged pages are prepared and probed here, as
    without them. Either way the decisions are those of `ingest` over the same pages.

    Safe to retry and to rerun: the lease token is the run id, so a retry takes over its own
    earlier attempt at once, and a committed run returns its summary with `replay` set.
    """
    started = time.monotonic()
    layout.check_run_id(run_id)
    here = _prepared_here(lambda: _read_staging(store, staging_keys), config, reprocess)

    def source(loaded: Loaded) -> Iterator[tuple[Batch, partitions.Probes | None]]:
        if prepared is not None and prepared.sequence == loaded.index.sequence:
            return _prepared_batches(store, run_id, prepared, probe_keys or [], loaded)
        if prepared is not None:
            log.info(
                "run %s was prepared against commit %d, the store is at %d: preparing again",
                run_id,
                prepared.sequence,
                loaded.index.sequence,
            )
        return here(loaded)

    summary = committed_summary(store, run_id)
    if summary is None:  # else a rerun: it takes no lease and commits nothing
        with Lease(store, run_id, token=run_id, config=config.run) as lease:
            _tidy(store, lease)
            summary = committed_summary(store, run_id) or _deduplicate_and_commit(
                store, lease, source, config, started
            )
        failpoint("lease.released")
    _drop_staging(store, run_id)  # a rerun's extraction staged its pages again
    return summary


def _drop_staging(store: Store, run_id: str) -> None:
    try:
        for key in store.list(layout.staging_prefix(run_id)):
            store.delete(key)
    except StoreError as err:
        log.warning("run %s committed; removing its staging objects failed: %s", run_id, err)


def ingest(
    inputs: list[str],
    store: Store,
    run_id: str | None = None,
    config: Config | None = None,
    s3_client=None,
    reprocess: bool = False,
    on_page: Callable[[], None] | None = None,
) -> RunSummary:
    """The whole run on one machine: the lease first (so a busy, read-only or unreachable store
    fails before any cleaning), then extraction, dedup and the commit.

    A run id must be new: one that is committed, or in use by a live run, raises RunIdInUse;
    the run id of a run that died before committing may be used again.
    """
    started = time.monotonic()
    config = config or Config()
    run_id = layout.check_run_id(run_id or new_run_id())
    _refuse_if_committed(store, run_id)
    with Lease(store, run_id, token=secrets.token_hex(8), config=config.run) as lease:
        failpoint("lease.taken")
        _tidy(store, lease)
        _refuse_if_committed(store, run_id)
        files = list_inputs(inputs, s3_client)
        pages = _prepared_here(lambda: extract_files(files, config, s3_client, on_page), config, reprocess)
        summary = _deduplicate_and_commit(store, lease, pages, config, started)
    failpoint("lease.released")
    return summary


# --- a scheduled run's dedup spread over workers: prepare -> probe (per partition) -> commit --


@dataclass
class PreparedRun(Serialisable):
    """A scheduled run's pages, prepared in batches (`prepare_run`) against one commit of the store."""

    sequence: int  # the commit the batches were prepared against
    batches: int


def _batch_key(run_id: str, number: int) -> str:
    return layout.staging_key(run_id, f"batch-{number:05d}.jsonl.gz")


def _keys_key(run_id: str, number: int) -> str:
    return layout.staging_key(run_id, f"keys-{number:05d}.npz")


def prepare_run(
    store: Store, run_id: str, staging_keys: list[str], config: Config, reprocess: bool = False
) -> PreparedRun:
    """The run-level half of cleaning for a scheduled run's staged pages, batch by batch, as
    `commit_run` would do it now; with each batch, its candidate keys and text digests, for the
    partitions to probe (`probe_partition`). Reads the store only (no lease)."""
    layout.check_run_id(run_id)
    loaded = load(store, config)
    count = 0
    for items in batches(_read_staging(store, staging_keys), config.run.batch_pages):
        batch = prepare(loaded, items, config, reprocess)
        header = {"kind": "Batch", **asdict(batch.counts)}
        rows = [header, *_rows([*batch.docs, *batch.rejections])]
        store.put(_batch_key(run_id, count), output.encode_jsonl_gz(rows))
        asked = partitions.batch_keys(batch.docs, config.dedup)
        store.put(_keys_key(run_id, count), partitions.encode([asked]))
        count += 1
    learned = output.encode_jsonl_gz([loaded.templates.learned])
    store.put(layout.staging_key(run_id, "templates.json.gz"), learned)
    return PreparedRun(loaded.index.sequence, count)


def probe_partition(
    store: Store, run_id: str, prepared: PreparedRun, partition: int, partitions_count: int, config: Config
) -> str:
    """Probe the committed index as of `prepared.sequence` with one partition of the keys of
    every prepared batch; return the key of the staged answers (`partitions.Probes`). Nothing is
    probed once another run has committed: `commit_run` would prepare and probe again anyway,
    and the segments of that older index may be swept."""
    runs = commits.committed_runs(store)
    found = []
    if commits.last_sequence(runs) == prepared.sequence:
        state = index.load_index(store, config.dedup, runs)
        for number in range(prepared.batches):
            [asked] = partitions.decode(store.get(_keys_key(run_id, number)), partitions.Asked)
            found.append(partitions.probe(state, asked, partition, partitions_count, config.dedup))
    else:
        log.info("run %s: another run committed since it was prepared, nothing to probe", run_id)
    key = layout.staging_key(run_id, f"probes-{partition:05d}.npz")
    store.put(key, partitions.encode(found))
    return key


def _prepared_batches(
    store: Store, run_id: str, prepared: PreparedRun, probe_keys: list[str], loaded: Loaded
) -> Iterator[tuple[Batch, partitions.Probes | None]]:
    [learned] = output.decode_jsonl_gz(store.get(layout.staging_key(run_id, "templates.json.gz")))
    loaded.templates.learned = learned
    found = [partitions.decode(store.get(key), partitions.Probes) for key in probe_keys]
    for number in range(prepared.batches):
        header, *rows = output.decode_jsonl_gz(store.get(_batch_key(run_id, number)))
        items = list(_items(rows))
        counts = RunCounts(pages_in=header["pages_in"], already_ingested=header["already_ingested"])
        batch = Batch(
            [item for item in items if isinstance(item, Document)],
            [item for item in items if isinstance(item, Rejection)],
            counts,
        )
        yield batch, partitions.Probes.combined([probes[number] for probes in found])


__all__ = [
    "LeaseBusy",
    "LeaseLost",
    "RunIdInUse",
    "RunSummary",
    "commit_run",
    "committed_summary",
    "extract_shard",
    "ingest",
    "new_run_id",
    "plan_shards",
    "prepare_run",
    "probe_partition",
]
