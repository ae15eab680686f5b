"""Turning a page's bytes into text the way browsers do (the WHATWG Encoding Standard).

A byte-order mark wins over any declaration; then the charset the transport declared,
then the page's own <meta>. Labels mean what WHATWG says they mean (webencodings holds
its table): "iso-8859-1" and "ascii" are windows-1252, "gb2312" is GBK, an unknown label
is ignored. A label the bytes contradict is a mistake, so the page is read as UTF-8 when
it is valid UTF-8, else in the label's encoding with replacement characters; an
unlabelled page that is not UTF-8 is windows-1252 (latin-1 text labelled as UTF-8 too),
unless it is mostly UTF-8 with a few stray bytes.
"""

from __future__ import annotations

import webencodings

# Longest first: the UTF-32LE mark begins with the UTF-16LE one.
BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
WIDE_ENCODINGS = {"utf-16be", "utf-16le"}  # WHATWG names whose text is full of NUL bytes


class UnsafeEncoding(ValueError):
    """The page declares an encoding browsers refuse to decode (WHATWG's "replacement")."""


def bom_encoding(content: bytes) -> tuple[str, int] | None:
    """The Python codec a byte-order mark announces, and the mark's length."""
    for mark, codec in BOMS:
        if content.startswith(mark):
            return codec, len(mark)
    return None


def lookup(label: str | None) -> webencodings.Encoding | None:
    """The WHATWG encoding a charset label names; None for a missing or unknown label."""
    return webencodings.lookup(label) if label else None


def is_wide(content: bytes, transport_label: str | None) -> bool:
    """Whether NUL bytes are expected: UTF-16/32 announced by a BOM or by the transport."""
    encoding = lookup(transport_label)
    return bom_encoding(content) is not None or (encoding is not None and encoding.name in WIDE_ENCODINGS)


def _utf8_or_windows_1252(content: bytes) -> str:
    """Invalid UTF-8: stray bytes in a UTF-8 page, or a single-byte page (read as windows-1252)."""
    text = content.decode("utf-8", "replace")
    errors = text.count("\ufffd") - content.count("\ufffd".encode())
    non_ascii = len(text) - len(text.encode("ascii", "ignore")) - errors
    if non_ascii > errors:
        return text
    return content.decode(lookup("windows-1252").codec_info.name, "replace")


def decode(content: bytes, transport_label: str | None, meta_label: str | None = None) -> str:
    """The page's text. `meta_label` is the charset its <meta> declares (HTML only)."""
    bom = bom_encoding(content)
    if bom is not None:
        codec, length = bom
        return content[length:].decode(codec, "replace")
    encoding = lookup(transport_label)
    if encoding is None:
        encoding = lookup(meta_label)
        if encoding is not None and encoding.name in WIDE_ENCODINGS:
            encoding = lookup("utf-8")  # a page that can declare itself in ASCII is not UTF-16
    if encoding is not None and encoding.name == "replacement":
        raise UnsafeEncoding(f"charset {transport_label or meta_label!r} is not decoded by browsers")
    codec = encoding.codec_info.name if encoding is not None else "utf-8"
    try:
        return content.decode(codec)
    except UnicodeDecodeError:
        pass
    if encoding is None or encoding.name == "utf-8":
        return _utf8_or_windows_1252(content)
    try:
        return content.decode("utf-8")  # labelled wrongly, but valid UTF-8
    except UnicodeDecodeError:
        return content.decode(codec, "replace")
