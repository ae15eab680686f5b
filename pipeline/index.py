"""The persistent dedup index: what later runs need to know of earlier ones.

Each committed run adds one immutable segment (`index/segments/<run_id>.npz`) holding
the stories it created or changed, the text hashes it learned and the keys of the
pages it saw. The index is the union of the segments of committed runs, in commit
order, a later segment's version of a story winning. A run that crashed before its
manifest was written left a segment nobody lists, so no partial state is read back.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field

import numpy as np

from pipeline.dedup import Story
from pipeline.store import Store

HEAD_KEY = "index/HEAD.json"
SEGMENT_PREFIX = "index/segments/"


def page_key(url: str, content_sha: str | None, fetched_at: str | None = None) -> int:
    """64-bit key of one page version: its URL with its bytes (or fetch time when unread)."""
    digest = hashlib.sha256(f"{url}\n{content_sha or fetched_at}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass
class IndexState:
    """The index as loaded: stories by id, exact text hashes, and pages already ingested."""

    stories: dict[str, Story] = field(default_factory=dict)
    exact: dict[str, str] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    runs: list[str] = field(default_factory=list)  # committed runs, in commit order

    def bytes_per_page(self, store: Store) -> float:
        """Stored index size divided by pages it accounts for (for the benchmark)."""
        total = sum(len(store.get(key)) for key in store.list(SEGMENT_PREFIX))
        return total / max(1, len(self.seen))


def encode_segment(stories: list[Story], exact: dict[str, str], seen: list[int]) -> bytes:
    """One run's additions as a compressed numpy archive (no pickles)."""
    lengths = np.array([len(s.shingles) for s in stories], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        story_ids=np.array([s.story_id for s in stories], dtype=str),
        canonical_urls=np.array([s.canonical_url for s in stories], dtype=str),
        sort_times=np.array([s.sort_time for s in stories], dtype=str),
        text_lengths=np.array([s.text_length for s in stories], dtype=np.int64),
        signatures=np.array([s.signature for s in stories], dtype=np.uint32) if stories else np.zeros((0, 0)),
        shingle_lengths=lengths,
        shingles=np.concatenate([s.shingles for s in stories]) if stories else np.array([], np.uint32),
        exact_hashes=np.array(list(exact), dtype=str),
        exact_stories=np.array(list(exact.values()), dtype=str),
        seen=np.array(seen, dtype=np.uint64),
    )
    return buffer.getvalue()


def _apply_segment(state: IndexState, data: bytes) -> None:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        offsets = np.concatenate(([0], np.cumsum(arrays["shingle_lengths"])))
        shingles = arrays["shingles"]
        for i, story_id in enumerate(arrays["story_ids"].tolist()):
            state.stories[story_id] = Story(
                story_id=story_id,
                canonical_url=str(arrays["canonical_urls"][i]),
                sort_time=str(arrays["sort_times"][i]),
                text_length=int(arrays["text_lengths"][i]),
                shingles=shingles[offsets[i] : offsets[i + 1]].copy(),
                signature=arrays["signatures"][i].copy(),
            )
        state.exact.update(
            zip(arrays["exact_hashes"].tolist(), arrays["exact_stories"].tolist(), strict=True)
        )
        state.seen.update(arrays["seen"].tolist())


def committed_runs(store: Store) -> list[dict]:
    """Manifests of committed runs in commit order (HEAD first, then any it missed)."""
    try:
        head = json.loads(store.get(HEAD_KEY))
    except KeyError:
        head = {"runs": []}
    listed = {entry["run_id"] for entry in head["runs"]}
    missed = []
    for key in store.list("runs/"):
        if key.endswith("/manifest.json") and key.split("/")[1] not in listed:
            missed.append(json.loads(store.get(key)))
    missed.sort(key=lambda manifest: (manifest["sequence"], manifest["committed_at"]))
    return head["runs"] + [{"run_id": m["run_id"], "segment": m["objects"]["index"]} for m in missed]


def load_index(store: Store) -> IndexState:
    state = IndexState()
    for entry in committed_runs(store):
        _apply_segment(state, store.get(entry["segment"]))
        state.runs.append(entry["run_id"])
    return state


def record_commit(store: Store, run_id: str, segment_key: str) -> None:
    """Add a committed run to HEAD, the fast path for loading (call with the lock held)."""
    runs = committed_runs(store)
    if run_id not in {entry["run_id"] for entry in runs}:
        runs.append({"run_id": run_id, "segment": segment_key})
    store.put(HEAD_KEY, json.dumps({"runs": runs}, indent=1).encode())
