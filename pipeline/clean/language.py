"""The language of an article's text, and its length in words for scripts with and without spaces."""

from __future__ import annotations

import re

UNSPACED_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def language(text: str, sample_chars: int) -> str | None:
    """ISO 639-1 code of the text, from py3langid (offline, ships its model) on its first characters.

    The cost grows with the text; a few paragraphs tell the language as well as the whole.
    """
    import py3langid

    if not text.strip():
        return None
    code, _ = py3langid.classify(text[:sample_chars])
    return code


def load_model() -> None:
    """Load py3langid's model now, instead of on the first text it reads (a third of a second)."""
    import py3langid

    py3langid.classify("")


def word_count(text: str) -> int:
    """Words, counting scripts written without spaces (Chinese, Japanese) at two characters a word."""
    unspaced = len(UNSPACED_SCRIPT.findall(text))
    return len(text.split()) + unspaced // 2
