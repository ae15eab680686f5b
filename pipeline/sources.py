"""Where raw pages come from: folders, single files, WARC archives, and S3 prefixes.

`list_inputs` turns locations into input files (so a scheduler can shard them) and
`read_input` turns one input file into raw pages. Anything that cannot become a page
is returned as a Rejection with its reason, never dropped.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from urllib.parse import urlparse

from pipeline.records import RawPage, Rejection, utc_iso

WARC_SUFFIXES = (".warc", ".warc.gz")
PAGE_TYPES = {".html": "text/html", ".htm": "text/html", ".txt": "text/plain"}


class InputError(ValueError):
    """An input location does not exist or cannot be listed."""


@dataclass(frozen=True)
class InputFile:
    """One file to read: a local path or an `s3://bucket/key` URI."""

    uri: str
    size: int
    modified: datetime

    @property
    def is_warc(self) -> bool:
        return self.uri.lower().endswith(WARC_SUFFIXES)


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _local_file(path: Path) -> InputFile:
    stat = path.stat()
    return InputFile(str(path.resolve()), stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))


def _list_s3(uri: str, s3_client) -> list[InputFile]:
    from pipeline.store import _s3_errors

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    files: list[InputFile] = []
    with _s3_errors(uri):
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if not name.startswith(".") and not item["Key"].endswith("/"):
                    files.append(
                        InputFile(f"s3://{bucket}/{item['Key']}", item["Size"], item["LastModified"])
                    )
    exact = [file for file in files if file.uri == uri]
    return exact or files  # a URI naming one object means that object, not every key it prefixes


def list_inputs(locations: Iterable[str], s3_client=None) -> list[InputFile]:
    """Expand folders and S3 prefixes into input files, in a stable order."""
    files: list[InputFile] = []
    for location in locations:
        if location.startswith("s3://"):
            if s3_client is None:
                from pipeline.store import make_s3_client

                s3_client = make_s3_client()
            files.extend(_list_s3(location, s3_client))
            continue
        path = Path(location.removeprefix("file://"))
        if path.is_dir():
            files.extend(
                _local_file(p) for p in sorted(path.rglob("*")) if p.is_file() and not _is_hidden(p, path)
            )
        elif path.is_file():
            files.append(_local_file(path))
        else:
            raise InputError(f"input {location!r} does not exist")
    unique = {f.uri: f for f in files}
    return sorted(unique.values(), key=lambda f: f.uri)


def _open_binary(uri: str, s3_client):
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        return s3_client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
    return open(uri, "rb")


def _file_url(uri: str) -> str:
    return uri if uri.startswith("s3://") else Path(uri).as_uri()


def read_input(file: InputFile, max_page_bytes: int, s3_client=None) -> Iterator[RawPage | Rejection]:
    """Yield the raw pages of one input file (many for a WARC, one otherwise)."""
    if file.uri.startswith("s3://") and s3_client is None:
        from pipeline.store import make_s3_client

        s3_client = make_s3_client()
    if file.is_warc:
        with _open_binary(file.uri, s3_client) as stream:
            yield from read_warc(stream, max_page_bytes, archive=_file_url(file.uri))
        return
    url = _file_url(file.uri)
    if file.size > max_page_bytes:
        yield Rejection(
            url, "too_large", f"{file.size} bytes, limit {max_page_bytes}", utc_iso(file.modified)
        )
        return
    suffix = Path(urlparse(url).path).suffix.lower()
    content_type = PAGE_TYPES.get(suffix) or mimetypes.guess_type(url)[0] or "application/octet-stream"
    with _open_binary(file.uri, s3_client) as stream:
        content = stream.read()
    yield RawPage(url, content, content_type, file.modified)


def parse_content_type(header: str | None) -> tuple[str, str | None]:
    """Split a Content-Type header into its media type and charset (email's header parser)."""
    message = Message()
    message["content-type"] = header or "application/octet-stream"
    return message.get_content_type(), message.get_content_charset()


def _warc_fields(payload: bytes) -> dict[str, str]:
    """Parse an `application/warc-fields` payload (one "name: value" per line)."""
    fields = {}
    for line in payload.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def _response_body(record, max_page_bytes: int) -> tuple[tuple[str, str] | None, bytes]:
    """A response record's body, or the (reason, detail) why it is not a page."""
    if record.http_headers is None:
        return ("not_http", "response record without HTTP headers"), b""
    status = record.http_headers.get_statuscode()
    if status.startswith("3"):
        target = record.http_headers.get_header("Location") or "?"
        return ("redirect", f"HTTP status {status} to {target}"), b""
    if not status.startswith("2") or status == "206":  # a partial answer is not the page
        return ("http_status", f"HTTP status {status}"), b""
    content = record.content_stream().read(max_page_bytes + 1)
    if len(content) > max_page_bytes:
        return ("too_large", f"more than {max_page_bytes} bytes"), b""
    missing = record.raw_stream.limit  # bytes the record declared but the archive did not hold
    if missing:
        return ("corrupt_archive", f"record cut short: {missing} of its bytes are missing"), b""
    return None, content


def _record_time(record) -> datetime:
    """The record's WARC-Date; a missing or malformed one reads as now (the time it is archived)."""
    try:
        return datetime.fromisoformat(record.rec_headers.get_header("WARC-Date").replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return datetime.now(UTC)


def _archive_iterator(stream):
    """warcio's iterator, made to notice a gzipped archive that ends inside a record.

    warcio stops quietly when the last gzip member is cut off; its decompressor then has
    not reached the member's end, which `cut_short` records.
    """
    from warcio.archiveiterator import ArchiveIterator

    class CheckedIterator(ArchiveIterator):
        cut_short = False

        def close(self) -> None:
            decompressor = self.reader.decompressor if self.reader else None
            self.cut_short = decompressor is not None and not decompressor.eof
            super().close()

    return CheckedIterator(stream)


def read_warc(stream, max_page_bytes: int, archive: str = "") -> Iterator[RawPage | Rejection]:
    """Yield a WARC stream's pages (warcio parses the format).

    Response records become pages, or rejections when they are not a 2xx (a redirect
    hop, an error). Metadata records that carry a fetch `outcome` (written by
    `pipeline.fetch` for a URL that got no usable answer) become rejections too, so a
    failed fetch is in the lineage when the archive is ingested. A URL gets one
    rejection per archive: the fetch outcome, being the final verdict, wins over the
    status of a response it saw on the way; rejections come after the pages. An
    archive that is corrupt or cut short yields what it held up to there and one
    `corrupt_archive` rejection (named after `archive`) for the rest.
    """
    rejections: dict[str, Rejection] = {}
    records = 0
    iterator = _archive_iterator(stream)
    try:
        for record in iterator:
            if record.format != "warc":
                raise ValueError(f"not a WARC record ({record.format} format)")
            records += 1
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            moment = _record_time(record)
            fetched = utc_iso(moment)
            if record.rec_type == "metadata":
                fields = _warc_fields(record.content_stream().read(65536))
                if "outcome" in fields:
                    rejections[url] = Rejection(url, fields["outcome"], fields.get("detail", ""), fetched)
                continue
            if record.rec_type != "response":
                continue  # requests, revisits (not modified since an earlier run), warcinfo: not pages
            problem, content = _response_body(record, max_page_bytes)
            if problem:
                rejections.setdefault(url, Rejection(url, *problem, fetched))
                continue
            media_type, charset = parse_content_type(record.http_headers.get_header("Content-Type"))
            yield RawPage(url, content, media_type, moment, charset=charset)
        if iterator.cut_short:
            raise EOFError("the archive ends inside a record")
    except Exception as err:  # warcio, gzip and zlib each raise their own kinds
        detail = f"unreadable after {records} records: {type(err).__name__}: {err}"
        rejections[archive] = Rejection(archive, "corrupt_archive", detail)  # no time: a rerun matches it
    yield from rejections.values()
