"""Deduplication: syndicated copies folded into stories, each with its original as canonical.

    shingles      text to word shingles (numbers), for a whole batch at once
    signatures    MinHash signatures, LSH band keys, pairs of texts sharing bands
    verification  is a page a copy of a story's reference text (containment in words)
    canonical     which member of a story is its original publication
    stories       what the index keeps of a story
    deduplicator  places a run's pages into stories, against the stored ones
    segments      immutable sorted tables in one object, probed by batched range reads
    index         what later runs remember of earlier ones: the committed segments, compaction

docs/dedup.md explains the method, its settings and the index layout.
"""

from pipeline.dedup.deduplicator import Deduplicator
from pipeline.dedup.stories import Story, Supersession

__all__ = ["Deduplicator", "Story", "Supersession"]
