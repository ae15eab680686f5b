"""A local cache of index segments from remote stores: downloaded once, then probed as a file.

Segments never change once committed, so a copy made once stays right. On S3 a probe costs
one ranged GET per bucket read; with the segment cached a run pays one GET per segment it has
not seen before (per host) and then probes it like a local folder's segment: memory-mapped
(`segments.FileSource`). Copies are named by the object's location, size and ETag, written to
a temp file and renamed into place (so concurrent runs on one host never see half a copy),
and the least recently used ones (by mtime) are removed when the cache grows past its cap.
docs/dedup.md ("The index") has the cost model.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.dedup.segments import FileSource, Source, StoreSource
from pipeline.store import LocalStore, S3Store, Store

log = logging.getLogger(__name__)
SUFFIX = ".seg"
TEMP_PREFIX = ".tmp-"
# A download not written to for this long belongs to a process that died (a live download
# writes all the time): its temp file is removed with the evictions.
ABANDONED_DOWNLOAD_SECONDS = 3600


def default_cache_dir() -> Path:
    """The user's cache folder (XDG_CACHE_HOME, else ~/.cache) for this project."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "news-pipeline" / "segments"


@dataclass(frozen=True)
class SegmentCache:
    folder: Path
    cap_bytes: int  # 0: no cache

    def source(self, store: Store, key: str) -> Source:
        """The segment `key` of `store`: the file itself in a local folder, a local copy for a
        remote store when it fits the cap, else ranged reads from the store itself."""
        if isinstance(store, LocalStore):
            try:
                return FileSource(os.open(store.location(key), os.O_RDONLY))
            except FileNotFoundError:
                raise KeyError(key) from None
        if self.cap_bytes == 0 or not isinstance(store, S3Store):
            return StoreSource(store, key)
        size, etag = store.head(key)
        if size > self.cap_bytes:
            return StoreSource(store, key)
        name = hashlib.sha256(f"{store.location(key)}\0{size}\0{etag}".encode()).hexdigest() + SUFFIX
        path = self.folder / name
        try:
            return FileSource(self._open(store, key, path, size, etag))
        except OSError as err:  # an unwritable or full cache folder costs speed, not the run
            log.warning("segment cache %s unusable (%s): reading %s by ranges", self.folder, err, key)
            return StoreSource(store, key)

    def _open(self, store: S3Store, key: str, path: Path, size: int, etag: str) -> int:
        """A descriptor of a complete copy at `path`, downloading it when missing or damaged."""
        try:
            handle = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            handle = None
        if handle is not None:
            if os.fstat(handle).st_size == size:
                os.utime(path)  # recently used
                return handle
            os.close(handle)
            log.warning("segment cache: %s has the wrong size, downloading %s again", path, key)
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix=TEMP_PREFIX, delete=False) as temp:
            try:
                store.download(key, temp, etag)
                temp.flush()
                os.fsync(temp.fileno())
                if os.fstat(temp.fileno()).st_size != size:
                    raise OSError(f"{key}: downloaded {os.fstat(temp.fileno()).st_size} bytes, not {size}")
                os.replace(temp.name, path)
            except BaseException:
                os.unlink(temp.name)
                raise
        handle = os.open(path, os.O_RDONLY)
        self._evict(keep=path)
        return handle

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used copies until the cache fits its cap, and the temp files
        of abandoned downloads (a run killed while it downloaded)."""
        abandoned = time.time() - ABANDONED_DOWNLOAD_SECONDS
        for temp in self.folder.glob(TEMP_PREFIX + "*"):
            with contextlib.suppress(FileNotFoundError):  # finished or removed meanwhile
                if temp.stat().st_mtime < abandoned:
                    temp.unlink()
        copies = []
        for path in self.folder.glob("*" + SUFFIX):
            try:
                stat = path.stat()
            except FileNotFoundError:  # evicted by another process
                continue
            copies.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in copies)
        for _, size, path in sorted(copies):
            if total <= self.cap_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size
