"""Raw bytes to text: refuse what is not text, then decode with the declared charset."""

from __future__ import annotations

import re

from pipeline.clean.errors import PageRejected
from pipeline.config import CleanConfig
from pipeline.records import RawPage

HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain"}
BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b", b"\x7fELF")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def _check_bytes(page: RawPage, config: CleanConfig) -> None:
    content = page.content
    if not content.strip():
        raise PageRejected("empty", "the page has no content")
    head = content[:8192]
    if head.startswith(BINARY_MAGIC) or b"\x00" in head:
        raise PageRejected("binary", "binary content (not text)")
    if page.content_type not in HTML_TYPES | TEXT_TYPES:
        raise PageRejected("unsupported_type", f"content type {page.content_type!r} is not HTML or text")


def decode(page: RawPage) -> str:
    """Decode with the declared charset (transport, then <meta>), else strict UTF-8."""
    declared = page.charset
    if declared is None and page.content_type in HTML_TYPES:
        match = META_CHARSET.search(page.content[:4096])
        declared = match.group(1).decode("ascii", "replace") if match else None
    encoding = declared or "utf-8"
    try:
        return page.content.decode(encoding)
    except LookupError:
        raise PageRejected("encoding", f"unknown charset {encoding!r}") from None
    except UnicodeDecodeError as err:
        where = "declared" if declared else "assumed (none declared)"
        raise PageRejected(
            "encoding", f"not valid {encoding} ({where}): {err.reason} at byte {err.start}"
        ) from None
