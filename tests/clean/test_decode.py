"""Bytes to text the way browsers read them: byte-order marks, charset labels and their mistakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.clean.decode import check_bytes, decode
from pipeline.records import RawPage

FETCHED = datetime(2020, 9, 20, tzinfo=UTC)


def raw(content: bytes, charset: str | None = None, content_type: str = "text/html") -> RawPage:
    return RawPage("https://site.example/news/budget", content, content_type, FETCHED, charset=charset)


def test_the_bom_beats_the_declared_charset() -> None:
    content = b"\xef\xbb\xbf" + "<p>caf\u00e9 \u20ac</p>".encode()
    assert decode(raw(content, charset="iso-8859-1")) == "<p>café €</p>"
    assert decode(raw("\ufeff<p>\u00e9</p>".encode("utf-16-le"), charset="utf-8")) == "<p>é</p>"


def test_a_utf16_charset_from_the_transport_is_not_binary() -> None:
    page_ = raw("<p>plain words</p>".encode("utf-16-le"), charset="utf-16le")
    check_bytes(page_)
    assert decode(page_) == "<p>plain words</p>"


@pytest.mark.parametrize(
    ("content", "charset", "text"),
    [
        (b"<p>caf\xe9 \x80</p>", "iso-8859-1", "<p>café €</p>"),  # WHATWG: iso-8859-1 is windows-1252
        (b"<p>caf\xe9</p>", "ascii", "<p>café</p>"),  # so is ascii
        ("<p>café</p>".encode(), "foo", "<p>café</p>"),  # an unknown label is ignored: UTF-8
        (b"<p>caf\xe9 cr\xe8me</p>", "utf-8", "<p>café crème</p>"),  # latin-1 labelled as UTF-8
        (b"<p>caf\xe9</p>", None, "<p>café</p>"),  # unlabelled and not UTF-8: windows-1252
        ("<p>na\u00efve caf\u00e9 \u00fcber</p>".encode() + b"\xa0", "utf-8", "<p>naïve café über</p>\ufffd"),
        ("<p>\u65e5\u672c</p>".encode(), "euc-jp", "<p>日本</p>"),  # not EUC-JP, but valid UTF-8
        ("<p>\u65e5\u672c\u8a9e</p>".encode("cp932"), "Shift_JIS", "<p>日本語</p>"),
        ("<p>\u4e2d\u6587</p>".encode("gbk"), "gb2312", "<p>中文</p>"),  # WHATWG: gb2312 is GBK
    ],
)
def test_charset_labels_and_mistakes_are_read_as_browsers_read_them(
    content: bytes, charset: str | None, text: str
) -> None:
    assert decode(raw(content, charset=charset)) == text


def test_the_meta_charset_is_used_when_the_transport_says_nothing() -> None:
    content = b'<html><head><meta charset="windows-1251"></head><body><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>'
    assert "<p>Привет</p>" in decode(raw(content))
    utf16_claim = b'<meta http-equiv="Content-Type" content="text/html; charset=utf-16"><p>caf\xc3\xa9</p>'
    assert decode(raw(utf16_claim)).endswith("<p>café</p>")  # an ASCII page is not UTF-16: UTF-8
