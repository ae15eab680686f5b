"""Probing the index split by key across workers, with exactly one process's answers.

Which stored stories a batch of pages may join is found by probing the committed index with
the batch's candidate keys (LSH bands and sampled shingles) and text digests: the part of a
run's work that grows with the index. Probes of different keys are independent, so the keys
are split into partitions (`key % partitions`) and each partition is probed by its own worker
(an Airflow mapped task): `probe` returns, per committed segment, every (key, story) entry a
probe meets, capped per key as the index caps it, and each digest's newest story.

The one process that then decides stories joins its pages' keys to what the partitions found
(`PartitionedStories`) and probes only the segments its run wrote since (its own earlier
batches). Since a probe's answer for a key does not depend on the other keys, the deduplicator
gets exactly the answers `IndexState` gives, and so makes exactly the same decisions; the
tests compare them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from pipeline.config import DedupConfig
from pipeline.dedup.index import IndexState, count_shared
from pipeline.dedup.segments import ramps
from pipeline.dedup.shingles import shingle_batch
from pipeline.dedup.signatures import Postings, candidate_keys
from pipeline.dedup.stories import Story
from pipeline.dedup.verification import Text
from pipeline.records import Document

EMPTY = np.zeros(0, np.uint64)


@dataclass
class Asked:
    """The distinct candidate keys and text digests of one batch's pages: what its probes ask."""

    keys: np.ndarray
    digests: np.ndarray


@dataclass
class Probes:
    """What probing the committed index found for some keys and digests of one batch."""

    keys: np.ndarray  # candidate key of each entry met (uint64), an entry per segment and story ...
    stories: np.ndarray  # ... and its story key
    digests: np.ndarray  # text digests probed ...
    digest_stories: np.ndarray  # ... and the newest story that placed each (0: none)

    @classmethod
    def combined(cls, found: list[Probes]) -> Probes:
        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in found]) if found else EMPTY

        return cls(joined("keys"), joined("stories"), joined("digests"), joined("digest_stories"))


Arrays = TypeVar("Arrays", Asked, Probes)


def batch_keys(docs: list[Document], config: DedupConfig) -> Asked:
    """What the probes of a batch of pages ask, computed as `Deduplicator.assign` computes it."""
    shingle_lists, words = shingle_batch(
        [doc.text for doc in docs], config.shingle_words, config.text_batch_characters
    )
    keys = candidate_keys(shingle_lists, config).keys
    digests = [
        Text(shingles, count).digest for shingles, count in zip(shingle_lists, words.tolist(), strict=True)
    ]
    return Asked(np.unique(keys), np.unique(np.array(digests, dtype=np.uint64)))


def in_partition(values: np.ndarray, partition: int, partitions: int) -> np.ndarray:
    return values[values % np.uint64(partitions) == np.uint64(partition)]


def probe(state: IndexState, asked: Asked, partition: int, partitions: int, config: DedupConfig) -> Probes:
    """One partition's share of a batch's probes of the committed index `state`."""
    keys = in_partition(asked.keys, partition, partitions)
    digests = in_partition(asked.digests, partition, partitions)
    found_keys, found_stories = [EMPTY], [EMPTY]
    for part in state.parts:
        query, story = part.lookup("candidate_keys", keys, cap=config.max_bucket)
        found_keys.append(keys[query])
        found_stories.append(story)
    return Probes(
        np.concatenate(found_keys), np.concatenate(found_stories), digests, state.stories_of_texts(digests)
    )


def encode(batches: list[Asked] | list[Probes]) -> bytes:
    """What was asked or found for every batch of a run, as one object."""
    arrays = {f"{name}_{n}": value for n, item in enumerate(batches) for name, value in vars(item).items()}
    buffer = io.BytesIO()
    np.savez(buffer, batches=np.array(len(batches)), **arrays)
    return buffer.getvalue()


def decode(data: bytes, kind: type[Arrays]) -> list[Arrays]:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return [
            kind(*(arrays[f"{name}_{n}"] for name in kind.__dataclass_fields__))
            for n in range(int(arrays["batches"]))
        ]


class PartitionedStories:
    """The stored stories for one batch (`deduplicator.StoredStories`): the committed segments'
    answers from the partitions' probes, the run's own newer segments probed here."""

    def __init__(self, state: IndexState, committed_parts: int, probes: Probes) -> None:
        self.state = state
        self.own = IndexState(state.parts[committed_parts:], state.sequence)
        order = np.argsort(probes.keys, kind="stable")
        self.keys, self.key_stories = probes.keys[order], probes.stories[order]
        self.digests = dict(zip(probes.digests.tolist(), probes.digest_stories.tolist(), strict=True))

    def candidates(self, keys: Postings, max_bucket: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        low = np.searchsorted(self.keys, keys.keys, side="left")
        counts = np.searchsorted(self.keys, keys.keys, side="right") - low
        texts, stories = self.own.key_hits(keys, max_bucket)
        texts.append(np.repeat(keys.owner, counts))
        stories.append(self.key_stories[np.repeat(low, counts) + ramps(counts)])
        return count_shared(texts, stories)

    def stories_of_texts(self, digests: np.ndarray) -> np.ndarray:
        committed = np.array([self.digests[d] for d in digests.tolist()], dtype=np.uint64)  # all were probed
        newest = self.own.stories_of_texts(digests)
        return np.where(newest != 0, newest, committed)

    def stories(self, keys: np.ndarray) -> dict[int, Story]:
        return self.state.stories(keys)
