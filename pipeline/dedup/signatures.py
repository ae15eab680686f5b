"""MinHash signatures and LSH bands for a whole batch at once, and the pairs sharing bands.

The signatures are datasketch's own MinHash (bit for bit), computed for every text of a
batch in one go; band keys are 64-bit, and pairs sharing keys come from one sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.config import DedupConfig
from pipeline.dedup.shingles import fmix32, odd_constants, unique_sorted

MAX_HASH = np.uint32((1 << 32) - 1)
# Multipliers that weigh a signature row by its place in a band, so that order matters in a band key.
ROW_WEIGHTS = np.array(odd_constants(64, seed=2, bits=64), dtype=np.uint64)
SAMPLE_SALT = np.uint64(
    odd_constants(1, seed=3, bits=64)[0]
)  # keeps sampled-shingle keys apart from band keys


class Signer:
    """MinHash signatures for many shingle sets at once, equal to datasketch's own.

    datasketch 2.0's default "affine32" scheme: each 32-bit hash is pre-mixed with the
    MurmurHash3 finaliser, then permutation k is `a_k * h + b_k` in wrapping uint32.
    Doing that for a whole batch in numpy is what makes the dedup stage fast.
    """

    SCHEME = "affine32"

    def __init__(self, num_perm: int, seed: int) -> None:
        # Imported here: datasketch imports scipy (half a second of CPU), which the processes
        # that never sign a text (cleaning, fetching, reporting, most Airflow tasks) skip.
        from datasketch import MinHash

        a, b = MinHash(num_perm=num_perm, seed=seed, scheme=self.SCHEME).permutations
        self.a = a.astype(np.uint32)
        self.b = b.astype(np.uint32)

    def signatures_of(self, values: np.ndarray, owner: np.ndarray, count: int, chunk: int) -> np.ndarray:
        """Signatures of `count` sets given as hash values and the set each belongs to (ascending)."""
        rows = np.full((count, len(self.a)), MAX_HASH, dtype=np.uint32)
        values = fmix32(values.astype(np.uint32))
        a, b = self.a[:, None], self.b[:, None]
        buffer = np.empty((len(self.a), chunk), dtype=np.uint32)  # num_perm x chunk stays in the CPU cache
        for lo in range(0, len(values), chunk):
            part = values[None, lo : lo + chunk]
            permuted = buffer[:, : part.shape[1]]  # one row per permutation: contiguous
            np.multiply(a, part, out=permuted)
            np.add(permuted, b, out=permuted)
            sets = owner[lo : lo + chunk]
            first = np.concatenate(([0], np.flatnonzero(sets[1:] != sets[:-1]) + 1))
            np.minimum.at(rows, sets[first], np.minimum.reduceat(permuted, first, axis=1).T)
        return rows


def minhash_sample(shingle_lists: list[np.ndarray], rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The shingles whose hash lies in the lowest 1/`rate` of the range, and their texts.

    Every copy samples the same shingles, so the sample's Jaccard similarity estimates the
    whole texts'. A text so short that none of its shingles qualifies keeps them all.
    """
    limit = np.uint32(((1 << 32) - 1) // rate)
    samples = [shingles[shingles <= limit] for shingles in shingle_lists]
    samples = [
        sample if len(sample) else shingles for sample, shingles in zip(samples, shingle_lists, strict=True)
    ]
    values = np.concatenate(samples) if samples else np.zeros(0, dtype=np.uint32)
    return values, np.repeat(np.arange(len(samples)), [len(sample) for sample in samples])


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per (text, band): two texts share it when all rows of that band agree.

    The banding of datasketch's MinHashLSH (band i is rows i*r .. i*r+r-1); the band number
    is part of the key, so keys of different bands never meet.
    """
    grouped = signatures.reshape(len(signatures), bands, rows).astype(np.uint64)
    keys = np.broadcast_to(np.arange(bands, dtype=np.uint64) * ROW_WEIGHTS[rows], grouped.shape[:2]).copy()
    for row in range(rows):
        keys += grouped[:, :, row] * ROW_WEIGHTS[row]
    keys ^= keys >> np.uint64(31)
    keys *= np.uint64(0xBF58476D1CE4E5B9)
    return keys ^ (keys >> np.uint64(29))


def _count_pairs(
    rows: np.ndarray, others: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (row, other) pairs with how often each occurs, ordered by row."""
    pairs = np.sort(rows.astype(np.int64) * width + others)
    first = np.flatnonzero(np.concatenate((pairs[:1] == pairs[:1], pairs[1:] != pairs[:-1])))
    return pairs[first] // width, pairs[first] % width, np.diff(np.append(first, len(pairs)))


@dataclass
class Postings:
    """Candidate keys of many texts, flat: text `owner[i]` has key `keys[i]`; `count` texts.

    Owners ascend, so among equal keys the earlier text comes first. Band keys give every
    text `bands` keys; sampled shingles (`sample_keys`) a number that grows with its length.
    """

    keys: np.ndarray  # uint64
    owner: np.ndarray  # int64
    count: int

    @classmethod
    def of_rows(cls, keys: np.ndarray) -> Postings:
        """From a (texts x keys) array such as `band_keys`."""
        return cls(keys.ravel(), np.repeat(np.arange(len(keys), dtype=np.int64), keys.shape[1]), len(keys))

    def __add__(self, other: Postings) -> Postings:
        """Both texts' keys (the same texts, numbered alike)."""
        owner = np.concatenate((self.owner, other.owner))
        order = np.argsort(owner, kind="stable")
        return Postings(
            np.concatenate((self.keys, other.keys))[order], owner[order], max(self.count, other.count)
        )

    def renumbered(self, new_number: np.ndarray) -> Postings:
        """The same keys with text t renamed `new_number[t]` (a permutation), owners ascending again."""
        owner = new_number[self.owner]
        order = np.argsort(owner, kind="stable")
        return Postings(self.keys[order], owner[order], self.count)


def sample_keys(shingle_lists: list[np.ndarray], rate: int, most: int) -> Postings:
    """A key per distinct shingle whose hash lies in the lowest 1/`rate` of the range, at most
    the `most` lowest of a text.

    The same shingles are picked in every copy, so a truncated copy keeps the keys of the
    part it kept, and an extended copy the original's: two texts share about their common
    shingles / `rate` keys, however long the longer one is; a long text's `most` keys are
    spread over all of it (docs/dedup.md, "Recall on truncated and extended copies"). The
    keys are mixed apart from band keys.
    """
    counts = [len(shingles) for shingles in shingle_lists]
    values = np.concatenate(shingle_lists).astype(np.uint64) if shingle_lists else np.zeros(0, np.uint64)
    owner = np.repeat(np.arange(len(shingle_lists), dtype=np.uint64), counts)
    chosen = values <= np.uint64(((1 << 32) - 1) // rate)
    distinct = unique_sorted((owner[chosen] << np.uint64(32)) | values[chosen])  # by text, then value
    texts = distinct >> np.uint64(32)
    firsts = np.flatnonzero(np.concatenate(([True], texts[1:] != texts[:-1])))[: len(texts)]
    place = np.arange(len(distinct)) - np.repeat(firsts, np.diff(np.append(firsts, len(distinct))))
    distinct = distinct[place < most]
    keys = (distinct & np.uint64(0xFFFFFFFF)) + SAMPLE_SALT
    keys ^= keys >> np.uint64(31)
    keys *= np.uint64(0x94D049BB133111EB)
    keys ^= keys >> np.uint64(29)
    return Postings(keys, (distinct >> np.uint64(32)).astype(np.int64), len(shingle_lists))


def candidate_keys(shingle_lists: list[np.ndarray], config: DedupConfig) -> Postings:
    """The texts' candidate keys: LSH bands of their MinHash signatures, and sampled shingles."""
    values, owner = minhash_sample(shingle_lists, config.minhash_sample)
    signer = Signer(config.num_perm, config.seed)
    signatures = signer.signatures_of(values, owner, len(shingle_lists), config.signature_block)
    bands = Postings.of_rows(band_keys(signatures, config.bands, config.rows))
    if not config.containment_sample:
        return bands
    return bands + sample_keys(shingle_lists, config.containment_sample, config.containment_keys)


def shared_keys_within(postings: Postings, max_bucket: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(text, earlier text, number of keys in common) for the texts of one batch sharing keys.

    A text meets at most the `max_bucket` nearest earlier texts of each bucket.
    """
    order = np.argsort(postings.keys, kind="stable")  # equal keys keep their owners ascending
    ordered, rows = postings.keys[order], postings.owner[order]
    later, earlier = [], []
    for distance in range(1, max_bucket + 1):
        same = np.flatnonzero(ordered[distance:] == ordered[:-distance])
        if len(same) == 0:
            break
        later.append(rows[same + distance])
        earlier.append(rows[same])
    if not later:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    later_rows, earlier_rows = np.concatenate(later), np.concatenate(earlier)
    distinct = later_rows != earlier_rows
    return _count_pairs(later_rows[distinct], earlier_rows[distinct], postings.count)


@dataclass
class Neighbours:
    """For each query text, the texts it shares candidate keys with and how many keys."""

    starts: np.ndarray  # query row q's neighbours are entries starts[q] .. starts[q + 1]
    rows: np.ndarray
    shared: np.ndarray

    @classmethod
    def of_pairs(
        cls, queries: int, query_rows: np.ndarray, rows: np.ndarray, shared: np.ndarray
    ) -> Neighbours:
        """From pairs ordered by query row."""
        return cls(np.searchsorted(query_rows, np.arange(queries + 1)), rows, shared)

    def of(self, query: int) -> zip:
        lo, hi = self.starts[query], self.starts[query + 1]
        return zip(self.rows[lo:hi].tolist(), self.shared[lo:hi].tolist(), strict=True)
