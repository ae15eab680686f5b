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


def same_headline(key: str, title_key: str, min_overlap: float) -> bool:
    """True for the title itself or a slightly reworded copy of it (word Jaccard >= min_overlap)."""
    if not title_key or not key or key.count(" ") >= 40:
        return False
    words, title_words = set(key.split()), set(title_key.split())
    return len(words & title_words) / len(words | title_words) >= min_overlap
