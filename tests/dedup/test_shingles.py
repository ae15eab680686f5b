"""Batch shingling agrees with its plain, one-word-at-a-time definition."""

from __future__ import annotations

import numpy as np

from pipeline.config import DedupConfig
from pipeline.dedup.shingles import HASH_BASE, PLACE_WEIGHTS, WORD_FLAG, fmix32, shingle_batch, words
from tests.dedup.texts import WIRE_STORY, text

BATCH = DedupConfig().text_batch_characters

TRICKY = [
    "",
    "one",
    "Plain ASCII text, with punctuation -- and numbers 2020-09-14!",
    "ﬁne ＡＢＣ ① ½ Straße İstanbul ΣΑΣ ǰ ﬅ",  # ligatures, full width, expansions, special case folds
    "Tiếng Việt Vie\u0302\u0323t e\u0301te\u0301",  # precomposed and decomposed accents
    "한국어 \u1112\u1161\u11ab",  # Hangul syllables and conjoining jamo
    "مَرْحَبًا بالعالم  क़िस्सा हिन्दी",  # Arabic harakat, Devanagari nukta
    "emoji 🙂 between words 𝐀𝐁 𠀀x_y",  # astral symbols and letters
]


def word_hash(word: str) -> int:
    """The word hash written out one character at a time."""
    total = sum((ord(char) | WORD_FLAG) * pow(HASH_BASE, place, 1 << 32) for place, char in enumerate(word))
    return int(fmix32(np.array([total % (1 << 32)], dtype=np.uint32))[0])


def shingle_hashes(text_: str, size: int) -> list[int]:
    hashes = [word_hash(word) for word in words(text_)]
    if len(hashes) < size:
        groups = [hashes] if hashes else []
    else:
        groups = [hashes[i : i + size] for i in range(len(hashes) - size + 1)]
    combined = [
        sum(h * int(w) for h, w in zip(group, PLACE_WEIGHTS, strict=False)) % (1 << 32) for group in groups
    ]
    return fmix32(np.array(combined, dtype=np.uint32)).tolist()


def test_batch_shingles_equal_the_word_by_word_definition() -> None:
    texts = [*TRICKY, text(WIRE_STORY)]
    batch, word_counts = shingle_batch(texts, 3, BATCH)
    for text_, got, count in zip(texts, batch, word_counts.tolist(), strict=True):
        assert count == len(words(text_)), text_
        assert got.tolist() == shingle_hashes(text_, 3), text_


def test_words_follow_unicode_normalisation() -> None:
    assert words("ﬁne Straße ＡＢＣ") == ["fine", "strasse", "abc"]
    assert (
        shingle_batch(["Vie\u0302\u0323t"], 1, BATCH)[0][0].tolist()
        == shingle_batch(["Việt"], 1, BATCH)[0][0].tolist()
    )


def test_chunking_does_not_change_the_result() -> None:
    texts = [*TRICKY, *WIRE_STORY] * 3
    whole, whole_counts = shingle_batch(texts, 5, BATCH)
    chunked, chunked_counts = shingle_batch(texts, 5, 300)
    assert np.array_equal(whole_counts, chunked_counts)
    assert all(np.array_equal(a, b) for a, b in zip(whole, chunked, strict=True))
