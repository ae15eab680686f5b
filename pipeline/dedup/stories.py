"""What the index keeps of a story, and the names stories go by."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from pipeline.records import Document


@dataclass
class Story:
    """What the index keeps of one story: its canonical page, enough to verify and choose."""

    story_id: str
    canonical_url: str
    published_at: str | None
    fetched_at: str
    words: int
    shingles: np.ndarray  # uint32: the canonical text's shingles in text order


@dataclass(frozen=True)
class Supersession:
    """A stored story's canonical, replaced by an earlier or fuller publication."""

    story_id: str
    old_url: str
    new_url: str


def new_story_id(doc: Document) -> str:
    return "s_" + hashlib.sha256(f"{doc.url}\n{doc.content_sha}".encode()).hexdigest()[:20]


def story_key(story_id: str) -> int:
    """64 bits naming a story in the index tables."""
    return int.from_bytes(hashlib.blake2b(story_id.encode(), digest_size=8).digest(), "little")
