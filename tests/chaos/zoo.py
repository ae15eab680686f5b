"""A zoo of hostile inputs, and what an ingest run must make of each.

`write_zoo` writes the inputs into a folder and returns, per input, the lineage rows it may
cause and the outcomes acceptable for each: a rejection reason (pipeline.records.Reason), or
STORED for a page that must become an article or a copy of one. The bombs are built in
well under a second: after a full flush deflate forgets what came before, so every copy of
a block of zeros compresses to the same bytes and the compressed file is those bytes
repeated (`repeated_gzip`).
"""

from __future__ import annotations

import html
import os
import random
import socket
import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STORED = "stored"  # the page became an article, or a copy of one (lineage status canonical or duplicate)
MiB = 1 << 20
PAGE_REASONS = frozenset({"no_article", "too_short", "index_page", "error_page", "empty"})
LIMIT_REASONS = frozenset({"time_limit", "memory_limit"})  # a page that costs too much says which limit


@dataclass(frozen=True)
class Expected:
    """What one input must cause: a row for at least one of `rows`' URLs, at most one for each,
    with an outcome from that URL's set; a stored page must be in the story of `copy_of`."""

    case: str
    rows: Mapping[str, frozenset[str]]
    copy_of: str | None = None  # the URL of the good page whose text it holds


def expect(case: str, path: Path, *outcomes: str, copy_of: str | None = None) -> Expected:
    """One input file, one row at its own URL (links not followed, as the pipeline lists them)."""
    return Expected(case, {url_of(path): frozenset(outcomes)}, copy_of)


def noise(size: int) -> bytes:
    """Random bytes, the same in every run (a failure must repeat)."""
    return random.Random(size).randbytes(size)


def url_of(path: Path) -> str:
    """The URL lineage gives a local file: its absolute path, as a file: URI."""
    return Path(os.path.abspath(path)).as_uri()


# --- good pages, re-dressed ------------------------------------------------------------------------


def article_html(text: str, charset: str | None = "utf-8") -> str:
    """A plain-text scrape as the article page it came from: first line the title, then paragraphs."""
    title, *paragraphs = [line.strip() for line in text.splitlines() if line.strip()]
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{html.escape(paragraph)}</p>\n" for paragraph in paragraphs)
    return (
        f"<!DOCTYPE html>\n<html><head>{meta}<title>{html.escape(title)}</title></head>\n"
        f"<body><article><h1>{html.escape(title)}</h1>\n{body}</article></body></html>\n"
    )


def _encoding_traps(folder: Path, seed: Path) -> list[Expected]:
    """One good article in every encoding a browser reads right; each must join the seed's story."""
    text, like = seed.read_text(encoding="utf-8"), url_of(seed)
    page, declared = article_html(text, charset=None), article_html(text)
    # Browsers do not guess UTF-16 without a BOM, nor read NULs as text: readable or "binary"
    # are both honest for those two.
    pages = {
        "utf16le-bom.html": ("UTF-16 LE with a BOM", page.encode("utf-16"), {STORED}),
        "utf16be-bom.html": ("UTF-16 BE with a BOM", b"\xfe\xff" + page.encode("utf-16-be"), {STORED}),
        "utf32-bom.html": ("UTF-32 with a BOM", page.encode("utf-32"), {STORED}),
        "utf8-bom.html": ("UTF-8 with a BOM", b"\xef\xbb\xbf" + page.encode(), {STORED}),
        "meta-utf16.html": ("UTF-8 that declares UTF-16", article_html(text, "utf-16").encode(), {STORED}),
        "meta-cp1251.html": (
            "UTF-8 that declares windows-1251",
            article_html(text, "windows-1251").encode(),
            {STORED},
        ),
        "latin1.html": (
            "windows-1252, declared",
            article_html(text, "windows-1252").encode("cp1252", "replace"),
            {STORED},
        ),
        "undeclared-cp1252.html": ("windows-1252, undeclared", page.encode("cp1252", "replace"), {STORED}),
        "invalid-utf8.html": (
            "UTF-8 with invalid bytes",
            declared.encode().replace(b"</p>", b"\xff\xfe\xc3</p>"),
            {STORED},
        ),
        "utf16le-nobom.html": (
            "UTF-16 LE without a BOM",
            page.encode("utf-16-le"),
            {STORED, "binary", "encoding"},
        ),
        "nul-bytes.html": (
            "NUL bytes in the text",
            declared.encode().replace(b"</p>", b"\x00</p>"),
            {STORED, "binary"},
        ),
    }
    expected = []
    for name, (case, content, outcomes) in pages.items():
        (folder / name).write_bytes(content)
        expected.append(expect(case, folder / name, *outcomes, copy_of=like))
    return expected


def _odd_names(folder: Path, seed: Path) -> list[Expected]:
    """A good page under names that break careless code: each must join the seed's story."""
    content, like = article_html(seed.read_text(encoding="utf-8")).encode(), url_of(seed)
    names = {
        "a name with spaces.html": "spaces in the name",
        "new\nline.html": "a newline in the name",
        "-leading-dash.html": "a leading dash",
        "[bold]markup[red].html": "terminal markup in the name",
        "100%25 sure?#frag.html": "URL syntax in the name",
        "ünïcödé – ναι.html": "non-ASCII name",
        "l" + "o" * 245 + "ng.html": "a 253-byte name",
    }
    expected = []
    for name, case in names.items():
        (folder / name).write_bytes(content)
        expected.append(expect(case, folder / name, STORED, copy_of=like))
    raw_name = os.path.join(os.fsencode(folder), b"latin1-\xe9t\xe9-\xff.html")
    with open(raw_name, "wb") as handle:
        handle.write(content)
    expected.append(
        expect("bytes that are not UTF-8 in the name", Path(os.fsdecode(raw_name)), STORED, copy_of=like)
    )
    inner = folder / "folder-named-like-a-page.html"
    inner.mkdir()
    (inner / "index.html").write_bytes(content)
    expected.append(
        expect("a page in a folder named like a page", inner / "index.html", STORED, copy_of=like)
    )
    return expected


# --- pages that are not articles, or cost too much -----------------------------------------------


def _bad_pages(folder: Path) -> list[Expected]:
    cleaning = PAGE_REASONS | LIMIT_REASONS
    pages = {
        "empty.html": ("an empty file", b"", {"empty"}),
        "whitespace.html": ("whitespace only", b" \n\t\r\n" * 1000, {"empty", "no_article", "too_short"}),
        "binary.html": ("binary bytes named .html", noise(4096) + b"\x00" * 64, {"binary"}),
        "png.html": ("a PNG named .html", b"\x89PNG\r\n\x1a\n" + noise(2048), {"binary"}),
        "gzipped.html": ("gzip bytes named .html", zlib.compress(b"<p>hi</p>" * 100, wbits=31), {"binary"}),
        "image.png": ("an image", b"\x89PNG\r\n\x1a\n" + noise(2048), {"binary", "unsupported_type"}),
        "script-only.html": (
            "HTML that is only a script",
            b"<html><head><script>" + b"var a = 1; document.write(a);\n" * 200 + b"</script></head></html>",
            PAGE_REASONS,
        ),
        "js-redirect.html": (
            "a page that is a JavaScript redirect",
            b'<html><head><meta http-equiv="refresh" content="0; url=https://elsewhere.example/">'
            b'<script>window.location.replace("https://elsewhere.example/");</script></head>'
            b'<body><a href="https://elsewhere.example/">Click here if you are not redirected.</a>'
            b"</body></html>",
            PAGE_REASONS,
        ),
        "too-large.html": (
            "a page over max_page_bytes",
            b"<p>" + b"big " * (11 * MiB // 4) + b"</p>",
            {"too_large"},
        ),
        "one-line.html": (
            "a 9 MB page on one line",
            b"<html><body>"
            + b"".join(b'<a href="/%d">item %d</a> ' % (n, n) for n in range(250_000))
            + b"</body></html>",
            cleaning,
        ),
        "nested.html": (
            "tags nested 100,000 deep",
            b"<html><body>"
            + b"<div>" * 100_000
            + b"deep text " * 50
            + b"</div>" * 100_000
            + b"</body></html>",
            cleaning,
        ),
        "million-tags.html": (
            "a million tags",
            b"<html><body>" + b"<i>x</i>" * 1_000_000 + b"</body></html>",
            cleaning,
        ),
        "attributes.html": (
            "one tag with 300,000 attributes",
            b"<html><body><p "
            + b"".join(b'a%d="%d" ' % (n, n) for n in range(300_000))
            + b">hi</p></body></html>",
            cleaning,
        ),
        "open-comment.html": (
            "a comment that never ends",
            b"<html><body><p>Start</p><!-- " + b"hidden text " * 100_000 + b"</body></html>",
            cleaning,
        ),
        "billion-laughs.xhtml": (
            "entities that expand a billion times",
            b'<?xml version="1.0"?>\n<!DOCTYPE html [<!ENTITY l0 "ha">'
            + b"".join(b'<!ENTITY l%d "%s">' % (n, b"&l%d;" % (n - 1) * 10) for n in range(1, 10))
            + b']>\n<html xmlns="http://www.w3.org/1999/xhtml"><body><p>&l9;</p></body></html>',
            cleaning,
        ),
    }
    expected = []
    for name, (case, content, outcomes) in pages.items():
        (folder / name).write_bytes(content)
        expected.append(expect(case, folder / name, *outcomes))
    return expected


# --- files that are not files ----------------------------------------------------------------------


def _special_files(folder: Path) -> list[Expected]:
    os.mkfifo(folder / "fifo.html")  # opening it would block the run until a writer came
    (folder / "dangling.html").symlink_to(folder / "nowhere.html")
    (folder / "loop.html").symlink_to(folder / "loop.html")
    (folder / "loop-a.html").symlink_to(folder / "loop-b.html")
    (folder / "loop-b.html").symlink_to(folder / "loop-a.html")
    (folder / "device.html").symlink_to("/dev/zero")  # endless, if it were ever read
    (folder / "linked-folder.html").symlink_to(folder.parent)  # would walk the whole tree, and loop
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(folder / "socket.html"))
    expected = [
        expect("a FIFO", folder / "fifo.html", "special_file"),
        expect("a dangling symbolic link", folder / "dangling.html", "dangling_symlink"),
        expect("a link to itself", folder / "loop.html", "symlink_loop"),
        expect("two links to each other", folder / "loop-a.html", "symlink_loop"),
        expect("two links to each other", folder / "loop-b.html", "symlink_loop"),
        expect("a link to a device", folder / "device.html", "special_file"),
        expect("a link to a folder", folder / "linked-folder.html", "special_file"),
        expect("a socket", folder / "socket.html", "special_file"),
    ]
    if os.geteuid() != 0:  # root reads a file whatever its mode: the case does not exist for root
        (folder / "unreadable.html").write_bytes(b"<p>secret</p>")
        (folder / "unreadable.html").chmod(0)
        expected.append(expect("a file without read permission", folder / "unreadable.html", "unreadable"))
    return expected


# --- archives --------------------------------------------------------------------------------------


def http_response(status: int, body: bytes, content_type: str = "text/html; charset=utf-8") -> bytes:
    reason = {200: "OK", 301: "Moved Permanently", 404: "Not Found", 500: "Internal Server Error"}[status]
    headers = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    if status == 301:
        headers.append("Location: https://elsewhere.example/")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def warc_head(url: str | None, length: int, record_type: str = "response") -> bytes:
    """A WARC record's header block, for a block of `length` bytes (declared, maybe falsely)."""
    fields = [
        "WARC/1.0",
        f"WARC-Type: {record_type}",
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{url}{length}')}>",
        "WARC-Date: 2020-09-14T10:00:00Z",
        "Content-Type: application/http; msgtype=response",
        *([f"WARC-Target-URI: {url}"] if url else []),
        f"Content-Length: {length}",
    ]
    return ("\r\n".join(fields) + "\r\n\r\n").encode()


def warc_record(url: str | None, block: bytes, declared: int | None = None) -> bytes:
    return warc_head(url, len(block) if declared is None else declared) + block + b"\r\n\r\n"


def gzipped(*records: bytes) -> bytes:
    """Records gzipped one member each, as WARC writers do."""
    return b"".join(zlib.compress(record, wbits=31) for record in records)


def repeated_gzip(head: bytes, filler: bytes, repeats: int, tail: bytes) -> bytes:
    """One gzip member holding head + filler * repeats + tail, built without compressing the repeats."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(filler) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.compress(tail) + deflate.flush()
    crc = zlib.crc32(head)
    for _ in range(repeats):
        crc = zlib.crc32(filler, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + len(filler) * repeats + len(tail)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + start + block * repeats + end + struct.pack("<II", crc, size & 0xFFFFFFFF)


def _archives(folder: Path, seeds: list[Path]) -> list[Expected]:
    """Broken, hostile and odd WARC files; the good records in them must still be stored."""
    (first_like, second_like) = (url_of(seed) for seed in seeds[:2])
    first, second = (
        http_response(200, article_html(seed.read_text(encoding="utf-8")).encode()) for seed in seeds[:2]
    )
    expected: list[Expected] = []

    def archive(
        name: str, content: bytes, case: str, own: set[str], records: dict[str, set[str]] | None = None
    ) -> None:
        """An archive; `own`: the outcomes of its own row (none expected when empty); `records`: rows
        its records may cause."""
        (folder / name).write_bytes(content)
        rows = {url_of(folder / name): frozenset(own)} if own else {}
        expected.append(Expected(case, rows | {url: frozenset(v) for url, v in (records or {}).items()}))

    def good_record(case: str, url: str, like: str) -> None:
        expected.append(Expected(case, {url: frozenset({STORED})}, copy_of=like))

    zeros = 2048  # MiB: 2 GiB inside, about 2 MB on disk
    bomb_http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    archive(
        "bomb.warc.gz",
        repeated_gzip(
            warc_head("https://bomb.example/zeros.html", len(bomb_http) + zeros * MiB) + bomb_http,
            bytes(MiB),
            zeros,
            b"\r\n\r\n",
        ),
        "a gzip bomb: one record of 2 GiB of zeros",
        {"compression_ratio", "archive_too_large"},
        {"https://bomb.example/zeros.html": {"too_large"}},
    )
    archive(
        "bomb-after-record.warc.gz",
        gzipped(warc_record("https://bomb.example/before.html", first))
        + repeated_gzip(b"", bytes(MiB), zeros, b""),
        "a good record, then 2 GiB of zeros",
        {"compression_ratio", "archive_too_large", "header_too_large", "corrupt_archive"},
    )
    good_record("the record before a bomb", "https://bomb.example/before.html", first_like)
    archive(
        "long-header.warc.gz",
        repeated_gzip(b"WARC/1.0\r\nWARC-Target-URI: https://long.example/", b"a" * MiB, 1024, b"\r\n\r\n"),
        "a WARC header line of 1 GiB",
        {"header_too_large"},
    )
    http_long = b"HTTP/1.1 200 OK\r\nX-Long: "
    archive(
        "long-http-header.warc.gz",
        repeated_gzip(
            warc_head("https://long.example/http", len(http_long) + 1024 * MiB + 4) + http_long,
            b"b" * MiB,
            1024,
            b"\r\n\r\n\r\n\r\n",
        ),
        "an HTTP header line of 1 GiB",
        {"header_too_large", "corrupt_archive"},
        {"https://long.example/http": {"too_large", "header_too_large"}},
    )
    before_cut = gzipped(warc_record("https://cut.example/first", first))
    archive(
        "truncated.warc.gz",
        before_cut + gzipped(warc_record("https://cut.example/second", second))[:300],
        "an archive cut inside its second record",
        {"corrupt_archive"},
        {"https://cut.example/second": {"corrupt_archive"}},
    )
    good_record("the record before the cut", "https://cut.example/first", first_like)
    letter = b"Dear operator,\nthis is a letter, not an archive.\n" * 20
    archive("not-a-warc.warc", letter, "a .warc that is not one", {"not_warc", "corrupt_archive"})
    archive("zero.warc", b"", "a zero-length .warc", {"empty", "not_warc"})
    archive("zero.warc.gz", b"", "a zero-length .warc.gz", {"empty", "not_warc"})
    archive(
        "not-gzip.warc.gz",
        b"NOT GZIP \x85\x1c\x1d\x1e\x0b\x0c " + noise(5000),  # line ends JSON leaves raw, Python splits on
        "a .warc.gz of bytes that are not gzip",
        {"not_warc", "corrupt_archive"},
    )
    archive("text.warc.gz", gzipped(letter), "a .warc.gz holding a letter", {"not_warc", "corrupt_archive"})
    archive(
        "no-target-uri.warc.gz",
        gzipped(warc_record(None, first), warc_record("https://nouri.example/second", second)),
        "a first record without WARC-Target-URI",
        set(),
        {url_of(folder / "no-target-uri.warc.gz") + "#record-1": {"no_target_uri"}},
    )
    good_record("the record after one without a URI", "https://nouri.example/second", second_like)
    archive(
        "statuses.warc.gz",
        gzipped(
            warc_record("https://status.example/missing", http_response(404, b"<p>not here</p>")),
            warc_record("https://status.example/broken", http_response(500, b"<p>oops</p>")),
            warc_record("https://status.example/moved", http_response(301, b"")),
            warc_record("https://status.example/good", second),
        ),
        "records of status 404, 500 and 301",
        set(),
        {
            "https://status.example/missing": {"http_status"},
            "https://status.example/broken": {"http_status"},
            "https://status.example/moved": {"redirect"},
        },
    )
    good_record("a 200 among error records", "https://status.example/good", second_like)
    archive(
        "huge-length.warc.gz",
        gzipped(warc_record("https://huge.example/declared", first, declared=10**12)),
        "a record that declares a terabyte",
        {"corrupt_archive"},
        {"https://huge.example/declared": {"too_large", "corrupt_archive"}},
    )
    archive(
        "no-length.warc",
        warc_head("https://nolength.example/", 0).replace(b"Content-Length: 0\r\n", b"") + first,
        "a record without Content-Length",
        {"corrupt_archive", "not_warc"},
        {"https://nolength.example/": {"corrupt_archive", "not_http"}},
    )
    archive(
        "garbage-after-record.warc",
        warc_record("https://plain.example/page", first) + b"\x00\xff garbage after the record \xfe" * 10,
        "an uncompressed archive with garbage after its record",
        {"corrupt_archive", "not_warc"},
    )
    good_record("the record before the garbage", "https://plain.example/page", first_like)
    return expected


def write_zoo(folder: Path, seeds: list[Path]) -> list[Expected]:
    """Write the hostile inputs into `folder` (created); what each must cause.

    `seeds` are good plain-text pages (at least two) the run also ingests: the zoo re-dresses
    them (other encodings, odd names, inside archives), so a stored copy must join a seed's story.
    """
    folder.mkdir(parents=True)
    folder = folder.resolve()
    groups = {
        "encodings": lambda where: _encoding_traps(where, seeds[0]),
        "names": lambda where: _odd_names(where, seeds[-1]),
        "pages": _bad_pages,
        "special": _special_files,
        "archives": lambda where: _archives(where, seeds),
    }
    expected = []
    for name, write in groups.items():
        (folder / name).mkdir()
        expected += write(folder / name)
    return expected
