"""Reading WARC archives with bounded work: whatever an archive holds, it costs a bounded amount.

`bounded_records` streams an archive's records (warcio parses them) over our own gunzip,
which counts the bytes it puts out against the bytes it takes in, so a gzip bomb stops
at `limits.max_archive_bytes` or `limits.max_compression_ratio` instead of filling memory,
and which notices an archive cut inside a gzip member. Header lines and blocks are capped
at `limits.max_header_bytes` while they are read (warcio's own readline is unbounded).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader
from warcio.recordloader import ArcWarcRecord, ArcWarcRecordLoader

from pipeline.config import LimitsConfig
from pipeline.records import Reason

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 64 * 1024
RATIO_GRACE_BYTES = 16 << 20  # small archives may compress well; the ratio counts past this


class InputLimit(Exception):
    """An input went over one of the configured limits; `reason` says which."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


class TruncatedArchive(ValueError):
    """The archive ends inside a gzip member: its last record is cut short (not an EOFError,
    which warcio would take for the end of the archive)."""


class GunzipStream:
    """A read-only stream of the decompressed bytes of a multi-member gzip (or plain) file.

    Never holds more than one chunk of input and one read's worth of output, and raises
    `InputLimit` as soon as the output passes the archive or ratio limit.
    """

    def __init__(self, raw: BinaryIO, limits: LimitsConfig) -> None:
        self.raw = raw
        self.limits = limits
        self.pending = b""  # compressed bytes not yet decompressed
        self.decompressor = None  # set while inside a gzip member
        self.plain: bool | None = None  # not gzipped at all; decided by the first bytes
        self.bytes_in = 0
        self.bytes_out = 0

    def tell(self) -> int:
        return self.bytes_out

    def close(self) -> None:
        self.raw.close()

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_BYTES), b""))
        if size == 0:
            return b""  # zlib would read max_length 0 as "no limit"
        while True:
            data, finished = self._step(size)
            if data or finished:
                self._count(len(data))
                return data

    def _fill(self, at_least: int = 1) -> bool:
        """Read more compressed input into `pending`; False at the end of the file."""
        while len(self.pending) < at_least:
            chunk = self.raw.read(CHUNK_BYTES)
            if not chunk:
                return False
            self.pending += chunk
        return True

    def _step(self, size: int) -> tuple[bytes, bool]:
        """Up to `size` bytes of output (maybe none yet), and whether the stream has ended."""
        if self.plain is None:
            self._fill(len(GZIP_MAGIC))
            self.plain = not self.pending.startswith(GZIP_MAGIC)
        if self.plain:
            data = self.pending[:size] or self.raw.read(size)
            self.pending = self.pending[len(data) :] if self.pending else b""
            return data, not data
        if self.decompressor is None:
            if not self._fill():
                return b"", True  # the end, between members
            if not self._fill(len(GZIP_MAGIC)) or not self.pending.startswith(GZIP_MAGIC):
                raise ValueError(f"{len(self.pending)} bytes after the last gzip member are not gzip")
            self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if not self.pending and not self._fill():
            raise TruncatedArchive("the archive ends inside a gzip member")
        decompressor = self.decompressor
        before = len(self.pending)
        data = decompressor.decompress(self.pending, size)
        if decompressor.eof:
            self.pending, self.decompressor = decompressor.unused_data, None
        else:
            self.pending = decompressor.unconsumed_tail
        self.bytes_in += before - len(self.pending)
        return data, False

    def _count(self, produced: int) -> None:
        self.bytes_out += produced
        limits = self.limits
        if self.bytes_out > limits.max_archive_bytes:
            raise InputLimit(
                "archive_too_large", f"more than {limits.max_archive_bytes} bytes once decompressed"
            )
        ratio_applies = not self.plain and self.bytes_out > RATIO_GRACE_BYTES
        if ratio_applies and self.bytes_out > limits.max_compression_ratio * max(1, self.bytes_in):
            raise InputLimit(
                "compression_ratio",
                f"{self.bytes_in} compressed bytes decompress to more than {self.bytes_out} "
                f"(ratio limit {limits.max_compression_ratio:g})",
            )


class _HeaderCappedReader(BufferedReader):
    """warcio's buffered reader with header lines and header sections capped.

    warcio reads headers (WARC, HTTP, chunk sizes) and the blank lines between records
    with `readline`, and payloads with `read`. A line may be `max_header_bytes` long; the
    lines read since the last payload read or record (the blank lines before a record,
    its WARC and its HTTP header block) twice that.
    """

    def __init__(self, stream: GunzipStream, max_header_bytes: int) -> None:
        super().__init__(stream)
        self.max_line = max_header_bytes
        self.max_section = 2 * max_header_bytes
        self.header_bytes = 0  # read by readline since the last payload read or record

    def read(self, length: int | None = None) -> bytes:
        self.header_bytes = 0
        return super().read(length)

    def readline(self, length: int | None = None) -> bytes:
        budget = min(self.max_line, self.max_section - self.header_bytes) + 1
        line = super().readline(budget if length is None else min(length, budget))
        self.header_bytes += len(line)
        if len(line) > self.max_line or self.header_bytes > self.max_section:
            raise InputLimit(
                "header_too_large",
                f"a header line over {self.max_line} bytes, or header lines over {self.max_section}",
            )
        return line


class _RecordLoader(ArcWarcRecordLoader):
    """warcio's loader, made to accept a record without WARC-Target-URI (it fails on None)."""

    def load_http_headers(self, rec_type, uri, stream, length):
        return super().load_http_headers(rec_type, uri or "", stream, length)


class _BoundedIterator(ArchiveIterator):
    """warcio's iterator over our capped reader, parsing WARC only (no ARC guessing)."""

    def __init__(self, stream: GunzipStream, max_header_bytes: int) -> None:
        super().__init__(stream)
        self.known_format = "warc"
        self.loader = _RecordLoader(verify_http=False, arc2warc=False)
        self.reader = _HeaderCappedReader(stream, max_header_bytes)

    def _next_record(self, next_line):
        record = super()._next_record(next_line)
        self.reader.header_bytes = 0  # the next record's header lines start counting now
        return record


def bounded_records(stream: BinaryIO, limits: LimitsConfig) -> Iterator[ArcWarcRecord]:
    """The records of a WARC stream (gzipped per record, as a whole, or plain).

    Raises `InputLimit` when a limit is passed, `TruncatedArchive` when the archive is
    cut inside a gzip member, and warcio's or zlib's errors when it is corrupt; the
    records before are yielded first.
    """
    yield from _BoundedIterator(GunzipStream(stream, limits), limits.max_header_bytes)
