"""Raw bytes to text: refuse what is not text, then decode the way browsers do (`pipeline.charsets`)."""

from __future__ import annotations

import re

from pipeline import charsets
from pipeline.clean.errors import PageRejected
from pipeline.records import RawPage

HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain"}
BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b", b"\x7fELF")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def check_bytes(page: RawPage) -> None:
    """Refuse, before any decoding work, a page that is empty, binary or of a type we cannot read."""
    content = page.content
    if not content.strip():
        raise PageRejected("empty", "the page has no content")
    head = content[:8192]
    nul_is_binary = not charsets.is_wide(content, page.charset)  # UTF-16/32 text is full of NULs
    if head.startswith(BINARY_MAGIC) or (nul_is_binary and b"\x00" in head):
        raise PageRejected("binary", "binary content (not text)")
    if page.content_type not in HTML_TYPES | TEXT_TYPES:
        raise PageRejected("unsupported_type", f"content type {page.content_type!r} is not HTML or text")


def decode(page: RawPage) -> str:
    """The page's text, decoded the way browsers do (`pipeline.charsets`): BOM, transport, <meta>."""
    meta = None
    if page.content_type in HTML_TYPES:
        match = META_CHARSET.search(page.content[:4096])
        meta = match.group(1).decode("ascii", "replace") if match else None
    try:
        return charsets.decode(page.content, page.charset, meta)
    except charsets.UnsafeEncoding as err:
        raise PageRejected("encoding", str(err)) from None
