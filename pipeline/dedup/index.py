"""The persistent dedup index: what later runs need to know of earlier ones.

Each committed run adds one immutable segment (`layout.segment_key`, format in
`pipeline.dedup.segments`): the stories it created or whose canonical it changed, with their
candidate keys, the keys of the pages it saw and the digests of the texts it placed. The
index is the committed segments in commit order, a later segment's version of a story
winning. A run probes them in batches, reading only the blocks its pages' keys fall in, so
its cost grows with its pages, not with the stored stories.

Compaction keeps the number of segments logarithmic: when the newest `compaction_fanout`
segments have the same level, the run merges them into one segment of the next level
(`index/merged/<run_id>.seg`) and its manifest says which segments that one replaces. Like
everything a run writes, the merged segment counts only once the run's commit lands; the
segments it replaces stay in place for readers of older commits. docs/dedup.md ("The
index") describes the layout, the cost model and compaction.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import layout
from pipeline.commits import CommittedRun, RunObjects, committed_runs, last_sequence
from pipeline.config import DedupConfig
from pipeline.dedup import segments
from pipeline.dedup.cache import SegmentCache, default_cache_dir
from pipeline.dedup.segments import BytesSource, Contents, Segment
from pipeline.dedup.shingles import SHINGLE_SCHEME
from pipeline.dedup.signatures import Postings, candidate_keys
from pipeline.dedup.stories import Story, story_key
from pipeline.dedup.verification import Text
from pipeline.store import Store


class IndexMismatch(ValueError):
    """The stored index was built with other shingle or candidate-key settings than the configuration's."""


def page_key(url: str, content_sha: str | None, fetched_at: str | None = None) -> int:
    """64-bit key of one page version: its URL with its bytes (or fetch time when unread)."""
    digest = hashlib.sha256(f"{url}\n{content_sha or fetched_at}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def scheme(config: DedupConfig) -> str:
    """What the stored shingles and candidate keys depend on: an index is tied to these settings."""
    return (
        f"{SHINGLE_SCHEME}/{config.shingle_words} keys:{config.num_perm}={config.bands}x{config.rows}"
        f"/seed{config.seed}/sample{config.minhash_sample}"
        f"/containment{config.containment_sample}:{config.containment_keys}"
    )


class SeenPages:
    """The pages already ingested, looked up in every segment (one batched probe per segment)."""

    def __init__(self, parts: list[Segment]) -> None:
        self.parts = parts

    def __len__(self) -> int:
        return sum(part.entries("page_keys") for part in self.parts)

    def __contains__(self, key: int) -> bool:  # for one key; `among` for many
        return bool(self.among([key])[0])

    def among(self, keys: list[int]) -> np.ndarray:
        """For each key, whether its page was seen."""
        wanted = np.array(keys, dtype=np.uint64)
        seen = np.zeros(len(wanted), dtype=bool)
        for part in self.parts:
            found, _ = part.lookup("page_keys", wanted)
            seen[found] = True
        return seen


@dataclass
class IndexState:
    """The index as of a commit sequence: its segments, oldest first (a run that deduplicated
    against it commits the next sequence). Answers `deduplicator.StoredStories`."""

    parts: list[Segment] = field(default_factory=list)
    sequence: int = 0

    @property
    def seen(self) -> SeenPages:
        return SeenPages(self.parts)

    @property
    def segment_bytes(self) -> int:
        return sum(part.size for part in self.parts)

    @property
    def bytes_per_page(self) -> float:
        """Stored index size divided by the pages it accounts for (for the benchmark)."""
        return self.segment_bytes / max(1, len(self.seen))

    def candidates(self, keys: Postings, max_bucket: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(text, story key, keys shared) for every stored story sharing candidate keys with a text;
        a key shared by more than `max_bucket` stories of one segment meets the first of them."""
        return count_shared(*self.key_hits(keys, max_bucket))

    def key_hits(self, keys: Postings, max_bucket: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(text, story) of every candidate-key entry the texts' keys meet, per segment."""
        texts, stories = [], []
        for part in self.parts:
            query, story = part.lookup("candidate_keys", keys.keys, cap=max_bucket)
            texts.append(keys.owner[query])
            stories.append(story)
        return texts, stories

    def stories_of_texts(self, digests: np.ndarray) -> np.ndarray:
        """For each digest, the story of the newest segment that placed that text (0: none)."""
        found = np.zeros(len(digests), dtype=np.uint64)
        for part in reversed(self.parts):
            missing = np.flatnonzero(found == 0)
            if len(missing) == 0:
                break
            query, story = part.lookup("text_digests", digests[missing], cap=1)
            found[missing[query]] = story
        return found

    def stories(self, keys: np.ndarray) -> dict[int, Story]:
        """The newest version of each story, in the order of `keys`."""
        keys = np.asarray(keys, dtype=np.uint64)
        found: dict[int, Story] = {}
        missing = keys
        for part in reversed(self.parts):
            if len(missing) == 0:
                break
            query, rows = part.lookup("story_keys", missing, cap=1)
            for key, story in zip(missing[query].tolist(), part.stories(rows), strict=True):
                found[key] = story
            missing = np.delete(missing, query)
        return {key: found[key] for key in keys.tolist() if key in found}

    def all_stories(self) -> dict[str, Story]:
        """Every story at its newest version (reads every segment whole: for tests and tools)."""
        latest: dict[str, Story] = {}
        for part in self.parts:
            latest.update((story.story_id, story) for story in part.contents().stories)
        return latest


def count_shared(
    texts: list[np.ndarray], stories: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(text, story, keys shared) from the (text, story) pair of every key hit, whatever segment
    or worker found it."""
    if not texts:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64)
    text, story = np.concatenate(texts), np.concatenate(stories)
    order = np.lexsort((story, text))
    text, story = text[order], story[order]
    first = np.flatnonzero(np.concatenate(([True], (text[1:] != text[:-1]) | (story[1:] != story[:-1]))))
    first = first[: len(text)]
    return text[first], story[first], np.diff(np.append(first, len(text)))


def contents_of_run(
    stories: list[Story], seen: list[int], config: DedupConfig, texts: dict[int, str] | None = None
) -> Contents:
    """What a run adds to the index: its changed stories with their candidate keys, the pages
    it saw, and the digest of each text it placed with its story (`verification.Text.digest`)."""
    texts = texts or {}
    keys = candidate_keys([story.shingles for story in stories], config)
    owners = np.array([story_key(story.story_id) for story in stories], dtype=np.uint64)
    return Contents(
        stories=list(stories),
        candidate_keys=keys.keys,
        candidate_stories=owners[keys.owner] if len(stories) else np.zeros(0, np.uint64),
        page_keys=np.array(seen, dtype=np.uint64),
        text_digests=np.array(list(texts), dtype=np.uint64),
        text_stories=np.array([story_key(story_id) for story_id in texts.values()], dtype=np.uint64),
    )


def encode_segment(
    stories: list[Story], seen: list[int], config: DedupConfig, texts: dict[int, str] | None = None
) -> bytes:
    """One run's segment (level 0)."""
    return segments.encode(contents_of_run(stories, seen, config, texts), scheme(config), 0, config)


def in_memory(stories: list[Story], config: DedupConfig, texts: dict[int, str] | None = None) -> IndexState:
    """An index of these stories held in memory (to deduplicate against a list of stories)."""
    data = encode_segment(stories, [], config, texts)
    return IndexState([Segment("memory", BytesSource(data), config.index_read_gap, config.index_probe_batch)])


def _legacy(data: bytes, key: str, config: DedupConfig) -> bytes:
    """A segment of the first layout (a compressed numpy archive) in today's layout."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        shingle_scheme = str(arrays["scheme"])
        if shingle_scheme != f"{SHINGLE_SCHEME}/{config.shingle_words}":
            raise IndexMismatch(
                f"index segment {key} holds shingles of kind {shingle_scheme!r} but the configuration asks "
                f"for {scheme(config)!r}: use the settings the index was built with, or a new store"
            )
        offsets = np.concatenate(([0], np.cumsum(arrays["shingle_counts"])))
        stories = [
            Story(story_id, url, published or None, fetched, words, arrays["shingles"][lo:hi])
            for story_id, url, published, fetched, words, lo, hi in zip(
                arrays["story_ids"].tolist(),
                arrays["canonical_urls"].tolist(),
                arrays["published"].tolist(),
                arrays["fetched"].tolist(),
                arrays["words"].tolist(),
                offsets[:-1].tolist(),
                offsets[1:].tolist(),
                strict=True,
            )
        ]
        texts = {Text(story.shingles, story.words).digest: story.story_id for story in stories}
        if "text_digests" in arrays.files:  # segments written before schema 1.2 have none
            texts.update(zip(arrays["text_digests"].tolist(), arrays["text_stories"].tolist(), strict=True))
        return encode_segment(stories, arrays["seen"].tolist(), config, texts)


def segment_cache(config: DedupConfig) -> SegmentCache:
    """The local cache of remote segments the configuration asks for."""
    folder = config.index_cache_dir or default_cache_dir()
    return SegmentCache(Path(folder).expanduser(), config.index_cache_mb << 20)


def open_segment(store: Store, key: str, config: DedupConfig, cache: SegmentCache) -> Segment:
    """A committed segment, checked against the configuration's scheme."""
    source = cache.source(store, key)
    if source.read([(0, len(segments.MAGIC))])[0] != segments.MAGIC:
        source = BytesSource(_legacy(store.get(key), key, config))
    part = Segment(key, source, config.index_read_gap, config.index_probe_batch)
    if part.scheme != scheme(config):
        raise IndexMismatch(
            f"index segment {key} was built as {part.scheme!r} but the configuration asks for "
            f"{scheme(config)!r}: use the settings the index was built with, or a new store"
        )
    return part


def live_segments(runs: list[CommittedRun]) -> list[str]:
    """The segments that make up the index after these runs: each run's own (one per batch of its
    pages), with the segments a run's compaction merged replaced by the merged one."""
    live: list[str] = []
    for run in runs:
        live.extend(run.segments)
        if run.merged:
            live = [key for key in live if key not in set(run.replaces)] + [run.merged]
    return live


def load_index(store: Store, config: DedupConfig, runs: list[CommittedRun] | None = None) -> IndexState:
    """The index of the committed `runs` (default: all); segments of uncommitted runs are never read.
    Opening a segment reads its header and fences only."""
    runs = committed_runs(store) if runs is None else runs
    cache = segment_cache(config)
    parts = [open_segment(store, key, config, cache) for key in live_segments(runs)]
    return IndexState(parts, last_sequence(runs))


def merge_plan(levels: list[int], fanout: int) -> tuple[int, int]:
    """Where the merged tail of the segments starts, and its level (start == len: no merge).

    Like carrying in a base-`fanout` counter: `fanout` segments of one level at the tail become
    one of the next level, which may complete a group of that level in turn. Each story is
    rewritten about log_fanout(runs) times in all.
    """
    groups = [(level, number) for number, level in enumerate(levels)]  # (level, first segment)
    while len(groups) >= fanout and len({level for level, _ in groups[-fanout:]}) == 1:
        level, first = groups[-fanout]
        groups = [*groups[:-fanout], (level + 1, first)]
    if not groups or groups[-1][1] == len(levels) - 1:
        return len(levels), 0
    return groups[-1][1], groups[-1][0]


def sweep(store: Store, runs: list[CommittedRun], config: DedupConfig) -> list[str]:
    """Delete the segments compactions replaced at least `index_sweep_after_commits` commits ago;
    return their keys. Runs read the index as of the newest commit, and probes made for an older
    one are thrown away (`runner.commit_run`), so by then nothing reads them; the delay leaves a
    run that loaded the index just before a commit time to finish reading."""
    oldest_kept = last_sequence(runs) - config.index_sweep_after_commits
    replaced = {key for run in runs if run.merged and run.sequence <= oldest_kept for key in run.replaces}
    stored = set(store.list(layout.SEGMENT_PREFIX)) | set(store.list(layout.MERGED_PREFIX))
    swept = sorted((replaced & stored) - set(live_segments(runs)))
    for key in swept:
        store.delete(key)
    return swept


def compact(store: Store, run_id: str, state: IndexState, objects: RunObjects, config: DedupConfig) -> None:
    """Under the lease, before the commit: merge the newest segments if the plan says so, and name
    the merged segment and what it replaces in the run's objects (visible once committed).

    `state` ends with the run's own segments (`objects.segments`, one per batch). They count as
    one segment of level 0 in the plan, and a run with several always merges them (with the tail
    the plan adds), so every run leaves one segment and the plan's counting stays true.
    """
    parts = state.parts
    own = len(parts) - len(objects.segments)
    start, level = merge_plan([part.level for part in parts[:own]] + [0], config.compaction_fanout)
    if start > own and own < len(parts) - 1:
        start, level = own, 0
    if start >= len(parts):
        return
    key = layout.merged_segment_key(run_id)
    with segments.merged_file(parts[start:], scheme(config), level, config) as merged:
        store.put_file(key, merged)
    objects.index_merged = key
    objects.index_replaces = [part.key for part in parts[start:]]
