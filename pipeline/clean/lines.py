"""Helpers on single lines that every rule uses: word keys, bare text, headline tests.

`line_key` is the hot one (every rule compares lines by it): it is memoised, so a line
is reduced once per worker process however many rules look at it, and chrome lines
that recur on every page of a site are reduced once per run.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

WORD = re.compile(r"\w+")
SENTENCE_END = re.compile(r"[.!?…:]['\"”’»)\]]*$")
BARE_STRIP = " \t\u200b\u00a0:|-–—•·*[](){}\"'“”‘’.,;!?"


@lru_cache(maxsize=1 << 16)
def line_key(line: str) -> str:
    """A line reduced to lowercase words, so near-identical chrome compares equal."""
    return " ".join(WORD.findall(unicodedata.normalize("NFKC", line).casefold()))


def line_digest(key: str) -> str:
    """A short fixed-size name for a line key: templates are remembered without page text."""
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def bare(line: str) -> str:
    """The line without the punctuation and bullets that frame chrome ("| Share :")."""
    return line.strip(BARE_STRIP).strip()


def is_short(line: str, words: int) -> bool:
    """A line of at most `words` words that does not end a sentence: a link or a label, not prose."""
    return len(line.split()) <= words and not line.rstrip().endswith((".", "!", "?", ".”", '."'))


def is_headline(line: str) -> bool:
    return 2 <= len(line.split()) <= 25 and not line.endswith(".")


@lru_cache(maxsize=1024)
def _word_set(key: str) -> frozenset[str]:
    return frozenset(key.split())


def same_headline(key: str, title_key: str, min_overlap: float) -> bool:
    """True for the title itself or a slightly reworded copy of it (word Jaccard >= min_overlap).

    Asked of every line of a page against the same title, so the title's words are split
    once, and a line with too few words to reach the overlap is not split at all.
    """
    if not title_key or not key or key.count(" ") >= 40:
        return False
    title_words = _word_set(title_key)
    if key.count(" ") + 1 < min_overlap * len(title_words):  # shared / union <= its words / title's
        return False
    words = set(key.split())
    return len(words & title_words) / len(words | title_words) >= min_overlap
