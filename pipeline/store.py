"""Object storage: a local folder (the embedded default) or S3-compatible storage.

Both backends offer the same operations over string keys, so every other module is
written once; `pipeline.layout` says which keys. Writes are atomic (a reader sees the
whole object or none) and `put_if_absent` is the one conditional write the run protocol
needs (the lease and the commit log, docs/runs.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

DEFAULT_STORE = "./data/corpus"
RANGE_READERS = 8  # concurrent ranged GETs of one batch on S3
DOWNLOAD_CHUNK = 1 << 20  # bytes a whole-object download holds at a time
# A file upload to S3 goes in parts of this many bytes, UPLOAD_READERS at a time, so it holds about
# 64 MB whatever the file's size (and S3's 10,000 parts allow files up to 160 GB).
UPLOAD_PART = 16 << 20
UPLOAD_READERS = 4


class StoreError(RuntimeError):
    """The store cannot be reached or refused an operation; the message says why."""


class Store(Protocol):
    uri: str

    def put(self, key: str, data: bytes) -> None: ...
    def put_if_absent(self, key: str, data: bytes) -> bool: ...
    # a local file's bytes as the object `key`, streamed: for objects too large to hold in memory
    def put_file(self, key: str, path: Path) -> None: ...
    def get(self, key: str) -> bytes: ...  # raises KeyError when missing
    # bytes [start, end) of each range, in one batch: an index probe reads a few small pieces of large objects
    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]: ...
    def list(self, prefix: str) -> list[str]: ...  # keys under prefix, sorted
    def delete(self, key: str) -> None: ...
    def location(self, key: str) -> str: ...  # where `sources` can read the object back


class LocalStore:
    """Objects are files under a root folder; keys use "/" on every platform."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.uri = self.root.as_uri()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create store folder {self.root}: {err.strerror}") from err

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"key escapes the store: {key!r}")
        return path

    def _write_temp(self, path: Path, data: bytes | BinaryIO) -> str:
        """Write `data` (bytes, or a file read in chunks) to a temporary file beside `path`, synced
        to disk before it is renamed into place, so a manifest never names an object a power cut
        left empty."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                if isinstance(data, bytes):
                    handle.write(data)
                else:
                    shutil.copyfileobj(data, handle, DOWNLOAD_CHUNK)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            raise StoreError(f"cannot write to the store folder {self.root}: {err.strerror}") from err
        return tmp

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        os.replace(self._write_temp(path, data), path)

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        with Path(path).open("rb") as source:
            os.replace(self._write_temp(target, source), target)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        tmp = self._write_temp(path, data)
        try:
            os.link(tmp, path)  # fails if the key exists: an atomic create
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        try:
            with self._path(key).open("rb") as handle:
                return [os.pread(handle.fileno(), end - start, start) for start, end in ranges]
        except FileNotFoundError:
            raise KeyError(key) from None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        start = base if base.is_dir() else base.parent
        keys = (
            path.relative_to(self.root).as_posix()
            for path in start.rglob("*")
            if path.is_file() and not path.name.startswith(".tmp-")
        )
        return sorted(key for key in keys if key.startswith(prefix))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def location(self, key: str) -> str:
        return str(self._path(key))


class S3Store:
    """Objects in an S3 bucket under a key prefix, through a boto3 client."""

    def __init__(self, client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.uri = f"s3://{bucket}/{self.prefix}"
        with _s3_errors(self.uri):
            client.head_bucket(Bucket=bucket)

    def put(self, key: str, data: bytes) -> None:
        with _s3_errors(self.uri):
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def put_file(self, key: str, path: Path) -> None:
        """One PUT for a small file, a multipart upload for a large one (S3 shows either whole or not)."""
        from boto3.s3.transfer import TransferConfig

        parts = TransferConfig(
            multipart_threshold=UPLOAD_PART, multipart_chunksize=UPLOAD_PART, max_concurrency=UPLOAD_READERS
        )
        with _s3_errors(self.uri):
            self.client.upload_file(str(path), self.bucket, self.prefix + key, Config=parts)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        try:
            with _s3_errors(self.uri, passthrough=ClientError):
                self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, IfNoneMatch="*")
            return True
        except ClientError as err:
            if err.response["Error"]["Code"] in {"PreconditionFailed", "ConditionalRequestConflict", "412"}:
                return False
            raise StoreError(f"{self.uri}: {err}") from err

    @contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        """Reads of `key`: a missing object is a KeyError, any other failure a StoreError."""
        from botocore.exceptions import ClientError

        try:
            with _s3_errors(self.uri, passthrough=ClientError):
                yield
        except ClientError as err:
            if err.response["Error"]["Code"] in {"NoSuchKey", "404"}:
                raise KeyError(key) from None
            raise StoreError(f"{self.uri}: {err}") from err

    def get(self, key: str) -> bytes:
        with self._reading(key):
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def get_ranges(self, key: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """One ranged GET per range, RANGE_READERS at a time (a probe's ranges are independent)."""

        def read(piece: tuple[int, int]) -> bytes:
            if piece[1] <= piece[0]:
                return b""  # S3 answers an empty range with the whole object
            answer = self.client.get_object(
                Bucket=self.bucket, Key=self.prefix + key, Range=f"bytes={piece[0]}-{piece[1] - 1}"
            )
            return answer["Body"].read()

        with self._reading(key):
            if len(ranges) <= 1:
                return [read(piece) for piece in ranges]
            with ThreadPoolExecutor(RANGE_READERS) as pool:
                return list(pool.map(read, ranges))

    def head(self, key: str) -> tuple[int, str]:
        """The object's size and ETag (what a local copy of it is checked against)."""
        with self._reading(key):
            answer = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        return answer["ContentLength"], answer["ETag"]

    def download(self, key: str, handle: BinaryIO, etag: str) -> None:
        """The object written to `handle` in chunks (so memory stays small), if it still has `etag`."""
        with _s3_errors(self.uri):
            answer = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key, IfMatch=etag)
            for chunk in answer["Body"].iter_chunks(DOWNLOAD_CHUNK):
                handle.write(chunk)

    def list(self, prefix: str) -> list[str]:
        keys = []
        with _s3_errors(self.uri):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        with _s3_errors(self.uri):
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"


@contextmanager
def _s3_errors(uri: str, passthrough: type[Exception] | None = None) -> Iterator[None]:
    """Turn botocore's connection and credential failures (and boto3's failed uploads, which wrap
    them) into one clear StoreError."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except Exception as err:
        if passthrough is not None and isinstance(err, passthrough):
            raise
        if isinstance(err, ClientError | BotoCoreError | S3UploadFailedError):
            raise StoreError(f"object store {uri} is not usable: {err}") from err
        raise


def s3_client_config():  # a botocore Config
    """Client settings for every S3 client the pipeline makes, however it gets credentials.

    Checksums are only sent when the API requires them: boto3 >= 1.36 sends them by
    default and some S3-compatible servers reject them. Retries and timeouts are bounded
    so an unreachable store fails a run in seconds, not minutes; AWS_MAX_ATTEMPTS raises the
    number of attempts for a flaky endpoint.
    """
    from botocore.config import Config

    return Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", "5")), "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )


def make_s3_client():
    """A boto3 S3 client configured the standard AWS way (env vars, profiles, AWS_ENDPOINT_URL)."""
    import boto3

    return boto3.client("s3", config=s3_client_config())


def open_store(uri: str | None = None, s3_client=None) -> Store:
    """Open a store from a URI: a folder path, `file://...`, or `s3://bucket/prefix`."""
    uri = uri or DEFAULT_STORE
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StoreError(f"store URI {uri!r} names no bucket")
        return S3Store(s3_client or make_s3_client(), parsed.netloc, parsed.path)
    if parsed.scheme == "file":
        return LocalStore(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:  # "C:" is a drive, not a scheme
        raise StoreError(f"unsupported store URI {uri!r}: use a folder, file:// or s3://")
    return LocalStore(uri)
