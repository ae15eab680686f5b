"""Text to numbers for deduplication: word shingles, MinHash signatures, LSH bands.

Everything works on a whole batch of texts at once with numpy, because per-word Python
work is what makes naive MinHash slow: words are hashed from the code points of all
texts in one pass, shingles combine word hashes, and signatures are datasketch's own
MinHash computed for every text in one go. docs/dedup.md explains the choices.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import cache

import numpy as np

# Bump when any hash below changes: stored indexes name the scheme their shingles used.
SHINGLE_SCHEME = "nfkc-casefold-words/poly32-1"
WORD = re.compile(r"\w+")
BMP = 0x10000  # code points above the Basic Multilingual Plane are classified one by one
# Flags on code points (which need 21 bits) while texts are split into words. The two that
# need more work both have the top bit, so one max() finds whether a batch has any.
CODE_POINT = (1 << 21) - 1
WORD_FLAG = 1 << 29  # a word character
EXPANDS = 1 << 31  # normalises to several characters, some of them word characters
COMPOSES = 1 << 31 | 1 << 30  # may merge with its neighbour: the whole text is normalised as a string
HASH_BASE = 0x01000193  # odd, so it has an inverse modulo 2**32
MIN_POWERS = 1 << 16


def odd_constants(count: int, seed: int, bits: int) -> list[int]:
    """Fixed odd constants from SplitMix64: the same in every NumPy and Python version."""
    constants, state, mask = [], seed, (1 << 64) - 1
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        value = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
        value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & mask
        constants.append(((value ^ (value >> 31)) >> (64 - bits)) | 1)
    return constants


# Multipliers that weigh a word by its place in a shingle, so that order matters in its hash.
PLACE_WEIGHTS = np.array(odd_constants(64, seed=1, bits=32), dtype=np.uint32)


# --- words and shingles, for a whole batch at once ----------------------------------------------


def normalise(text: str) -> str:
    """Compatibility-normalised and case-folded: "ﬁ", "Ａ" and "A" read the same."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    """The words deduplication compares (`shingle_batch` hashes exactly these, faster)."""
    return WORD.findall(normalise(text))


def _is_word_character(char: str) -> bool:
    return char.isalnum() or char == "_"


@cache
def _composing_marks() -> frozenset[int]:
    """Code points that canonical composition can merge into the character before them."""
    marks = set()
    for point in range(0x110000):
        decomposition = unicodedata.decomposition(chr(point))
        if decomposition and not decomposition.startswith("<"):
            marks.update(int(part, 16) for part in decomposition.split()[1:])
    return frozenset(marks)


def _classify(point: int) -> int:
    """A code point's normalised form, with WORD_FLAG for a word character. A character whose
    form is several characters with a word character among them ("ß", "ﬁ", "½") is itself
    with EXPANDS; one that can merge with its neighbours (combining marks, Hangul jamo) is
    itself with COMPOSES."""
    char = chr(point)
    jamo = 0x1100 <= point < 0x1200 or 0xA960 <= point < 0xA980 or 0xD7B0 <= point < 0xD800
    if point in _composing_marks() or jamo:
        return point | COMPOSES
    form = char if 0xD800 <= point < 0xE000 else normalise(char)
    if len(form) != 1:
        return point | EXPANDS if any(_is_word_character(c) for c in form + char) else point
    return _plain(ord(form))


def _plain(point: int) -> int:
    """A code point as it stands, with WORD_FLAG for a word character."""
    return point | (WORD_FLAG if _is_word_character(chr(point)) else 0)


@cache
def _code_point_table() -> np.ndarray:
    """`_classify` for every code point of the Basic Multilingual Plane."""
    return np.array([_classify(point) for point in range(BMP)], dtype=np.uint32)


@cache
def _classify_astral(point: int) -> int:
    """`_classify` for a code point beyond the table (rare: emoji, historic scripts), once each."""
    return _classify(point)


@cache
def _expansion(point: int) -> np.ndarray:
    """The normalised characters one character stands for."""
    return np.array([_plain(ord(char)) for char in normalise(chr(point))], dtype=np.uint32)


@cache
def _powers(length: int) -> tuple[np.ndarray, np.ndarray]:
    """HASH_BASE**i and its inverse (mod 2**32) for i < length."""

    def cumulative(base: int) -> np.ndarray:
        return np.cumprod(np.full(length, base, dtype=np.uint32), dtype=np.uint32) * np.uint32(
            pow(base, -1, 1 << 32)
        )

    return cumulative(HASH_BASE), cumulative(pow(HASH_BASE, -1, 1 << 32))


def fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser: a bijection that spreads every input bit over the output."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _lookup(raw: np.ndarray) -> np.ndarray:
    """`_classify` for many code points: the BMP by table, the few others one by one."""
    points = np.take(_code_point_table(), raw, mode="clip")
    astral = np.flatnonzero(raw >= BMP)
    if len(astral):
        points[astral] = [_classify_astral(point) for point in raw[astral].tolist()]
    return points


def _classified_points(texts: list[str]) -> np.ndarray:
    """The normalised code points of the texts, each text followed by a NUL (no word
    character, so words never span texts), with WORD_FLAG set on word characters."""
    points = _lookup(_code_points("\0".join(texts) + "\0"))
    if points.max() < EXPANDS:
        return points
    special = np.flatnonzero(points >= EXPANDS)
    at = special[points[special] >= COMPOSES]
    if len(at):  # rare: normalise those texts as whole strings
        starts = np.cumsum([0] + [len(text) + 1 for text in texts])
        composing = set((np.searchsorted(starts, at, side="right") - 1).tolist())
        points = np.concatenate(
            [
                _lookup(_code_points(normalise(text) + "\0"))
                if i in composing
                else points[starts[i] : starts[i + 1]]
                for i, text in enumerate(texts)
            ]
        )
        special = np.flatnonzero(points >= EXPANDS)
        alone = special[points[special] >= COMPOSES]  # composed with nothing: stays as it is
        points[alone] = [_plain(point & CODE_POINT) for point in points[alone].tolist()]
        special = special[points[special] >= EXPANDS]
    if len(special) == 0:
        return points
    pieces = np.split(points, special)
    expansions = [_expansion(point & ~EXPANDS) for point in points[special].tolist()]
    return np.concatenate(
        [pieces[0]] + [p for e, piece in zip(expansions, pieces[1:], strict=True) for p in (e, piece[1:])]
    )


def _word_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of the words of the texts, and each text's number of words.

    A word's hash is the polynomial sum of its code points, taken from one running sum
    over the whole batch: no Python object per word.
    """
    points = _classified_points(texts)
    is_word = np.zeros(len(points) + 1, dtype=bool)
    np.greater_equal(points, WORD_FLAG, out=is_word[1:])  # no EXPANDS or COMPOSES are left
    edges = np.flatnonzero(is_word[1:] != is_word[:-1])  # a word's start, then its end, ...
    starts, ends = edges[0::2], edges[1::2]  # the last character is a NUL, so every word ends
    powers, inverses = _powers(max(MIN_POWERS, 1 << math.ceil(math.log2(len(points)))))
    running = np.cumsum(points * powers[: len(points)], dtype=np.uint32)
    before = np.where(starts > 0, running[starts - 1], np.uint32(0))
    hashes = fmix32((running[ends - 1] - before) * inverses[starts])
    separators = np.flatnonzero(points == 0)
    return hashes, np.diff(np.searchsorted(starts, separators), prepend=0)


def _chunks(texts: list[str], characters: int) -> list[list[str]]:
    """Consecutive texts in groups of about `characters`, which bounds memory."""
    chunks: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if size and size + len(text) > characters:
            chunks.append([])
            size = 0
        chunks[-1].append(text)
        size += len(text) + 1
    return chunks


def shingle_batch(texts: list[str], size: int, chunk_characters: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Each text's `size`-word shingles as 32-bit hashes in text order (repeats kept), and
    each text's number of words.

    A text shorter than `size` words has one shingle of all its words, an empty text none.
    """
    shingle_lists: list[np.ndarray] = []
    word_counts = []
    for chunk in _chunks(texts, chunk_characters) if texts else []:
        hashes, counts = _word_hashes(chunk)
        width = max(0, len(hashes) - size + 1)
        combined = np.zeros(width, dtype=np.uint32)
        for place in range(size):
            combined += hashes[place : place + width] * PLACE_WEIGHTS[place]
        shingles = fmix32(combined)
        ends = np.cumsum(counts)
        for start, end in zip((ends - counts).tolist(), ends.tolist(), strict=True):
            if end - start >= size:
                shingle_lists.append(shingles[start : end - size + 1])
            else:
                whole = (hashes[start:end] * PLACE_WEIGHTS[: end - start]).sum(dtype=np.uint32)
                shingle_lists.append(
                    fmix32(np.array([whole], dtype=np.uint32)) if end > start else shingles[:0]
                )
        word_counts.append(counts)
    return shingle_lists, np.concatenate(word_counts) if word_counts else np.zeros(0, dtype=np.int64)


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """np.unique for the small arrays here (NumPy 2's hash-based np.unique is slower)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
