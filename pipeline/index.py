"""The persistent dedup index: what later runs need to know of earlier ones.

Each committed run adds one immutable segment (`layout.segment_key`) holding
the stories it created or whose canonical it changed, and the keys of the pages it
saw. The index is the union of the segments of committed runs in commit order, a
later segment's version of a story winning. A run that crashed before its commit left a
segment no manifest lists, so no partial state is ever read back.

Per story the index keeps the canonical page's URL, times, word count and shingle
hashes in text order (4 bytes a word: verification needs where each shingle is); per
page only a 64-bit key. MinHash signatures are recomputed from the shingles on load.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import numpy as np

from pipeline.commits import CommittedRun, committed_runs, last_sequence
from pipeline.dedup import Story
from pipeline.shingles import SHINGLE_SCHEME
from pipeline.store import Store


class IndexMismatch(ValueError):
    """The stored index was built with other shingle settings than the configuration's."""


def page_key(url: str, content_sha: str | None, fetched_at: str | None = None) -> int:
    """64-bit key of one page version: its URL with its bytes (or fetch time when unread)."""
    digest = hashlib.sha256(f"{url}\n{content_sha or fetched_at}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


class SeenPages:
    """Keys of the pages already ingested: a sorted uint64 array (8 bytes a page, where a
    Python set of ints takes about 70) searched by bisection."""

    def __init__(self, keys: np.ndarray | None = None) -> None:
        self.keys = np.unique(np.zeros(0, np.uint64) if keys is None else keys.astype(np.uint64))

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: int) -> bool:  # for one key; `among` for many
        return bool(self.among([key])[0])

    def among(self, keys: list[int]) -> np.ndarray:
        """For each key, whether its page was seen (one vectorised search for many keys)."""
        wanted = np.array(keys, dtype=np.uint64)
        places = np.minimum(np.searchsorted(self.keys, wanted), max(0, len(self.keys) - 1))
        return self.keys[places] == wanted if len(self.keys) else np.zeros(len(wanted), dtype=bool)


@dataclass
class IndexState:
    """The index as loaded: stories by id, the pages already ingested, and the commit sequence
    it reflects (a run that deduplicated against it commits the next one)."""

    stories: dict[str, Story] = field(default_factory=dict)
    seen: SeenPages = field(default_factory=SeenPages)
    texts: dict[int, str] = field(default_factory=dict)  # digest of every placed text -> its story
    segment_bytes: int = 0
    sequence: int = 0

    @property
    def bytes_per_page(self) -> float:
        """Stored index size divided by the pages it accounts for (for the benchmark)."""
        return self.segment_bytes / max(1, len(self.seen))


def _scheme(shingle_words: int) -> str:
    return f"{SHINGLE_SCHEME}/{shingle_words}"


def encode_segment(
    stories: list[Story], seen: list[int], shingle_words: int, texts: dict[int, str] | None = None
) -> bytes:
    """One run's additions as a compressed numpy archive (no pickles); `texts` maps the digest of
    each text the run placed to its story (`dedup.Text.digest`)."""
    texts = texts or {}
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        scheme=np.array(_scheme(shingle_words)),
        story_ids=np.array([s.story_id for s in stories], dtype=str),
        canonical_urls=np.array([s.canonical_url for s in stories], dtype=str),
        published=np.array([s.published_at or "" for s in stories], dtype=str),
        fetched=np.array([s.fetched_at for s in stories], dtype=str),
        words=np.array([s.words for s in stories], dtype=np.int64),
        shingle_counts=np.array([len(s.shingles) for s in stories], dtype=np.int64),
        shingles=np.concatenate([s.shingles for s in stories]).astype(np.uint32)
        if stories
        else np.zeros(0, np.uint32),
        seen=np.array(seen, dtype=np.uint64),
        text_digests=np.array(list(texts), dtype=np.uint64),
        text_stories=np.array(list(texts.values()), dtype=str),
    )
    return buffer.getvalue()


def _apply_segment(state: IndexState, data: bytes, key: str, shingle_words: int) -> np.ndarray:
    """Add a segment's stories to `state`; the keys of the pages it saw."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        scheme = str(arrays["scheme"])
        if scheme != _scheme(shingle_words):
            raise IndexMismatch(
                f"index segment {key} holds shingles of kind {scheme!r} but the configuration asks for "
                f"{_scheme(shingle_words)!r}: use the settings the index was built with, or a new store"
            )
        offsets = np.concatenate(([0], np.cumsum(arrays["shingle_counts"])))
        shingles = arrays["shingles"]
        published = arrays["published"].tolist()
        fetched = arrays["fetched"].tolist()
        urls = arrays["canonical_urls"].tolist()
        words = arrays["words"].tolist()
        for i, story_id in enumerate(arrays["story_ids"].tolist()):
            state.stories[story_id] = Story(
                story_id=story_id,
                canonical_url=urls[i],
                published_at=published[i] or None,
                fetched_at=fetched[i],
                words=words[i],
                shingles=shingles[offsets[i] : offsets[i + 1]],
            )
        seen = arrays["seen"]
        if "text_digests" in arrays.files:  # segments written before schema 1.2 have none
            digests, stories = arrays["text_digests"].tolist(), arrays["text_stories"].tolist()
            state.texts.update(zip(digests, stories, strict=True))
    state.segment_bytes += len(data)
    return seen


def load_index(store: Store, shingle_words: int, runs: list[CommittedRun] | None = None) -> IndexState:
    """The index of the committed `runs` (default: all); segments of uncommitted runs are never read."""
    state = IndexState()
    runs = committed_runs(store) if runs is None else runs
    seen = [_apply_segment(state, store.get(run.segment), run.segment, shingle_words) for run in runs]
    state.seen = SeenPages(np.concatenate(seen) if seen else None)
    state.sequence = last_sequence(runs)
    return state
