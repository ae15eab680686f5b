"""Batch MinHash and LSH banding agree with datasketch's own, one text at a time."""

from __future__ import annotations

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from pipeline.config import DedupConfig
from pipeline.dedup.signatures import (
    Postings,
    Signer,
    band_keys,
    minhash_sample,
    sample_keys,
    shared_keys_within,
)


def signatures(signer: Signer, sets: list[np.ndarray]) -> np.ndarray:
    """The signature of each set, through the batch interface the product uses."""
    owner = np.repeat(np.arange(len(sets)), [len(values) for values in sets])
    return signer.signatures_of(np.concatenate(sets), owner, len(sets), DedupConfig().signature_block)


def lean(signature: np.ndarray, seed: int) -> LeanMinHash:
    return LeanMinHash(seed=seed, hashvalues=signature, scheme=Signer.SCHEME)


def test_signatures_equal_datasketch_minhash() -> None:
    sets = [
        np.array(s, dtype=np.uint32) for s in ([7, 1, 99, 4_000_000_000], [5], [], list(range(1000, 3000, 7)))
    ]
    signer = Signer(num_perm=64, seed=3)
    for values, signature in zip(sets, signatures(signer, sets), strict=True):
        reference = MinHash(num_perm=64, seed=3, scheme="affine32", hashfunc=int)
        reference.update_batch(values.tolist())
        assert np.array_equal(reference.hashvalues.astype(np.uint32), signature)
        assert lean(signature, seed=3).jaccard(reference) == 1.0


def test_sample_is_consistent_across_texts_and_keeps_tiny_texts_whole() -> None:
    long, short = (
        np.arange(1, 4000, dtype=np.uint32) * np.uint32(1_000_003),
        np.array([5, 6], dtype=np.uint32),
    )
    values, owner = minhash_sample([long, long[:2000], short], rate=4)
    first, second, third = (set(values[owner == i].tolist()) for i in range(3))
    assert second == first & set(long[:2000].tolist())  # a copy samples the same shingles
    assert 0.2 < len(first) / len(long) < 0.3
    assert third == {5, 6}


def test_lsh_pairs_equal_datasketch_minhashlsh() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 1 << 32, 400, dtype=np.uint64).astype(np.uint32)
    sets = [
        base,
        base[:300],
        base[100:],
        rng.integers(0, 1 << 32, 400, dtype=np.uint64).astype(np.uint32),
        base[::2],
    ]
    signer = Signer(num_perm=32, seed=1)
    rows = signatures(signer, sets)
    keys = band_keys(rows, bands=16, rows=2)
    lsh = MinHashLSH(num_perm=32, params=(16, 2))
    for number, signature in enumerate(rows):
        lsh.insert(number, lean(signature, seed=1))
    expected = {(q, i) for q in range(len(sets)) for i in lsh.query(lean(rows[q], seed=1)) if i != q}
    later, earlier, _ = shared_keys_within(Postings.of_rows(keys), max_bucket=64)
    assert {(a, b) for a, b in zip(later.tolist(), earlier.tolist(), strict=True)} == {
        (q, i) for q, i in expected if i < q
    }


def test_a_huge_bucket_pairs_each_page_with_a_bounded_number() -> None:
    keys = Postings.of_rows(np.repeat(np.arange(4, dtype=np.uint64)[None, :], 500, axis=0))  # 500 copies
    later, _, shared = shared_keys_within(keys, max_bucket=8)
    assert len(later) <= 500 * 8
    assert set(shared.tolist()) == {4}


def test_sampled_shingle_keys_are_shared_in_proportion_to_the_common_part() -> None:
    rng = np.random.default_rng(5)
    original = rng.integers(0, 1 << 32, 2000, dtype=np.uint64).astype(np.uint32)
    local = rng.integers(0, 1 << 32, 18000, dtype=np.uint64).astype(np.uint32)
    texts = [original, original[:200], np.concatenate((local[:9000], original, local[9000:])), local[:500]]
    keys = sample_keys(texts, rate=8, most=64)
    per_text = np.bincount(keys.owner, minlength=4)
    assert per_text[0] == 64 and per_text[2] == 64 and 15 <= per_text[1] <= 40  # 200 / 8 expected
    assert np.all(np.diff(keys.owner) >= 0)
    later, earlier, shared = shared_keys_within(keys, max_bucket=64)
    pairs = {(a, b): n for a, b, n in zip(later.tolist(), earlier.tolist(), shared.tolist(), strict=True)}
    assert pairs[(1, 0)] >= 3  # a tenth of the original: its keys are spread over the whole text
    assert pairs[(2, 0)] >= 3  # the original inside ten times its length
    assert (3, 0) not in pairs and (3, 1) not in pairs
    assert not set(sample_keys([original], rate=8, most=64).keys) & set(
        band_keys(signatures(Signer(num_perm=8, seed=1), [original]), bands=4, rows=2).ravel()
    )
