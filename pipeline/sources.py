"""Where raw pages come from: folders, single files, WARC archives, and S3 prefixes.

`list_inputs` turns locations into input files (so a scheduler can shard them) and
`read_input` turns one input file into raw pages. Anything that cannot become a page
is returned as a Rejection with its reason, never dropped: a folder entry that is not a
readable regular file (a FIFO, a dangling link, a link loop) is listed with the reason,
and never opened, so listing and reading never block or crash on it.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import cast
from urllib.parse import urlparse

from warcio.exceptions import ArchiveLoadFailed

from pipeline.config import LimitsConfig
from pipeline.records import REASONS, RawPage, Reason, Rejection, utc_iso
from pipeline.warc import InputLimit, bounded_records

WARC_SUFFIXES = (".warc", ".warc.gz")
PAGE_TYPES = {".html": "text/html", ".htm": "text/html", ".txt": "text/plain"}
FETCH_HTTP_OUTCOME = re.compile(r"http_\d{3}")  # pipeline.fetch's outcome for an HTTP error status


class InputError(ValueError):
    """An input location does not exist or cannot be listed."""


@dataclass(frozen=True)
class InputFile:
    """One file to read: a local path or an `s3://bucket/key` URI.

    `refused` says why a listed local entry cannot be read at all (reason, detail);
    `read_input` turns it into that file's one rejection.
    """

    uri: str
    size: int
    modified: datetime
    refused: tuple[Reason, str] | None = None

    @property
    def is_warc(self) -> bool:
        return self.uri.lower().endswith(WARC_SUFFIXES)


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _special_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a link to a folder (links are not followed inside folders)"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def _stat_problem(path: Path, err: OSError) -> tuple[Reason, str]:
    if err.errno == errno.ELOOP:
        return "symlink_loop", "a symbolic link that leads back to itself"
    if err.errno == errno.ENOENT and path.is_symlink():
        return "dangling_symlink", f"a symbolic link to {os.readlink(path)!r}, which does not exist"
    return "unreadable", f"{type(err).__name__}: {err.strerror or err}"


def _refused(path: Path, reason: Reason, detail: str) -> InputFile:
    try:
        modified = datetime.fromtimestamp(path.lstat().st_mtime, UTC)
    except OSError:
        modified = datetime.now(UTC)
    return InputFile(os.path.abspath(path), 0, modified, (reason, detail))


def _local_file(path: Path) -> InputFile:
    """The input at `path` (links followed), or why it cannot be one; nothing is opened."""
    try:
        info = path.stat()
    except OSError as err:
        return _refused(path, *_stat_problem(path, err))
    if not stat.S_ISREG(info.st_mode):
        return _refused(path, "special_file", _special_kind(info.st_mode))
    return InputFile(str(path.resolve()), info.st_size, datetime.fromtimestamp(info.st_mtime, UTC))


def _list_folder(root: Path) -> list[InputFile]:
    """Every non-hidden entry under `root`; links to folders are listed, not followed (no loops)."""
    files: list[InputFile] = []

    def unlistable(err: OSError) -> None:
        files.append(_refused(Path(err.filename), "unreadable", f"folder cannot be listed: {err.strerror}"))

    for folder, subfolders, names in os.walk(root, onerror=unlistable):
        subfolders[:] = [name for name in subfolders if not _is_hidden(name)]
        linked = [name for name in subfolders if os.path.islink(os.path.join(folder, name))]
        subfolders[:] = [name for name in subfolders if name not in linked]
        files.extend(_local_file(Path(folder, name)) for name in [*names, *linked] if not _is_hidden(name))
    return files


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
            files.extend(_list_folder(path))
        elif os.path.lexists(path):
            files.append(_local_file(path))
        else:
            raise InputError(f"input {location!r} does not exist")
    unique = {f.uri: f for f in files}
    return sorted(unique.values(), key=lambda f: f.uri)


def _open_local(path: str):
    """Open a regular file for reading; never blocks (a FIFO put in its place is refused)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"no longer a regular file: {_special_kind(mode)}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _open_binary(uri: str, s3_client):
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        return s3_client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
    return _open_local(uri)


def _file_url(uri: str) -> str:
    return uri if uri.startswith("s3://") else Path(uri).as_uri()


def read_input(file: InputFile, limits: LimitsConfig, s3_client=None) -> Iterator[RawPage | Rejection]:
    """Yield the raw pages of one input file (many for a WARC, one otherwise).

    A file that cannot be read at all is one rejection (without a time, so a rerun
    matches it).
    """
    url = _file_url(file.uri)
    if file.refused:
        yield Rejection(url, *file.refused)
        return
    if file.uri.startswith("s3://") and s3_client is None:
        from pipeline.store import make_s3_client

        s3_client = make_s3_client()
    if not file.is_warc and file.size > limits.max_page_bytes:
        yield Rejection(
            url, "too_large", f"{file.size} bytes, limit {limits.max_page_bytes}", utc_iso(file.modified)
        )
        return
    try:
        stream = _open_binary(file.uri, s3_client)
    except OSError as err:
        yield _unreadable(url, err)
        return
    with stream:
        if file.is_warc:
            yield from read_warc(stream, limits, archive=url)
        else:
            yield _read_page(stream, url, file, limits)


def _unreadable(url: str, err: OSError) -> Rejection:
    return Rejection(url, "unreadable", f"{type(err).__name__}: {err.strerror or err}")


def _read_page(stream, url: str, file: InputFile, limits: LimitsConfig) -> RawPage | Rejection:
    try:
        content = stream.read(limits.max_page_bytes + 1)
    except OSError as err:
        return _unreadable(url, err)
    if len(content) > limits.max_page_bytes:  # it grew since it was listed
        return Rejection(url, "too_large", f"more than {limits.max_page_bytes} bytes", utc_iso(file.modified))
    suffix = Path(urlparse(url).path).suffix.lower()
    content_type = PAGE_TYPES.get(suffix) or mimetypes.guess_type(url)[0] or "application/octet-stream"
    return RawPage(url, content, content_type, file.modified)


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


def _fetch_outcome(outcome: str, detail: str) -> tuple[Reason, str]:
    """The rejection reason for a fetch outcome read from an archive's metadata record."""
    if outcome in REASONS:
        return cast(Reason, outcome), detail
    if FETCH_HTTP_OUTCOME.fullmatch(outcome):
        return "http_status", detail or f"HTTP status {outcome.removeprefix('http_')}"
    return "fetch_failed", f"{outcome}: {detail}"


Problem = tuple[Reason, str]


def _response_body(record, max_page_bytes: int) -> tuple[Problem | None, bytes]:
    """A response record's body, or the (reason, detail) why it is not a page.

    A record that declares a body over the limit is refused before any of it is read.
    """
    if record.http_headers is None:
        return ("not_http", "response record without HTTP headers"), b""
    status = record.http_headers.get_statuscode()
    if status.startswith("3"):
        target = record.http_headers.get_header("Location") or "?"
        return ("redirect", f"HTTP status {status} to {target}"), b""
    if not status.startswith("2") or status == "206":  # a partial answer is not the page
        return ("http_status", f"HTTP status {status}"), b""
    if record.payload_length > max_page_bytes:
        return ("too_large", f"declares {record.payload_length} bytes, limit {max_page_bytes}"), b""
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


def _archive_problem(err: Exception, records: int) -> Problem:
    """Why an archive cannot be read on from its `records`-th record."""
    if isinstance(err, InputLimit):
        return err.reason, f"stopped after {records} records: {err.detail}"
    if records == 0 and isinstance(err, ArchiveLoadFailed):
        return "not_warc", f"not a WARC archive: {_printable(str(err).strip())}"
    detail = f"{type(err).__name__}: {_printable(str(err))}"
    return "corrupt_archive", f"unreadable after {records} records: {detail}"


def _printable(text: str, limit: int = 200) -> str:
    """An error text quoting a damaged archive's bytes, cut short and with control characters escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[:limit])


def read_warc(stream, limits: LimitsConfig, archive: str = "") -> Iterator[RawPage | Rejection]:
    """Yield a WARC stream's pages (warcio parses the format, `pipeline.warc` bounds the work).

    Response records become pages, or rejections when they are not a 2xx (a redirect
    hop, an error). Metadata records that carry a fetch `outcome` (written by
    `pipeline.fetch` for a URL that got no usable answer) become rejections too, so a
    failed fetch is in the lineage when the archive is ingested. A URL gets one
    rejection per archive: the fetch outcome, being the final verdict, wins over the
    status of a response it saw on the way; rejections come after the pages. A record
    without a target URI is named `<archive>#record-<n>`. An archive that is corrupt,
    cut short or over a limit yields what it held up to there and one rejection (named
    after `archive`, without a time so a rerun matches it) for the rest; an archive
    without records is one `empty` rejection.
    """
    rejections: dict[str, Rejection] = {}
    records = 0
    try:
        for record in bounded_records(stream, limits):
            records += 1
            if record.length is None:
                raise ValueError(f"record {records} has no Content-Length, so its end cannot be found")
            url = record.rec_headers.get_header("WARC-Target-URI") or f"{archive}#record-{records}"
            moment = _record_time(record)
            fetched = utc_iso(moment)
            if record.rec_type == "metadata":
                fields = _warc_fields(record.content_stream().read(65536))
                if "outcome" in fields:
                    reason, detail = _fetch_outcome(fields["outcome"], fields.get("detail", ""))
                    rejections[url] = Rejection(url, reason, detail, fetched)
                continue
            if record.rec_type != "response":
                continue  # requests, revisits (not modified since an earlier run), warcinfo: not pages
            if not record.rec_headers.get_header("WARC-Target-URI"):
                problem: Problem | None = ("no_target_uri", "a response record without WARC-Target-URI")
                content = b""
            else:
                problem, content = _response_body(record, limits.max_page_bytes)
            if problem:
                rejections.setdefault(url, Rejection(url, *problem, fetched))
                continue
            media_type, charset = parse_content_type(record.http_headers.get_header("Content-Type"))
            yield RawPage(url, content, media_type, moment, charset=charset)
        if records == 0:
            rejections[archive] = Rejection(archive, "empty", "the archive holds no records")
    except Exception as err:  # warcio, zlib and our limits each raise their own kinds
        rejections[archive] = Rejection(archive, *_archive_problem(err, records))
    yield from rejections.values()
