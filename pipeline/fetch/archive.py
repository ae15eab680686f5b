"""Every raw response, and every failure with its reason, written to the store as WARC.

Pages go to `raw/dt=YYYY-MM-DD/<run_id>-<source>-<n>.warc.gz` (what `ingest` reads);
robots.txt, feeds and sitemaps go to `discovery/dt=.../` in the same shape, so re-ingesting
a day of `raw/` yields pages only. Records: `response` with the HTTP status line and
headers (redirect hops, 4xx and a final 5xx included), `revisit` (server-not-modified)
for a 304, and `metadata` with `outcome`/`detail` fields for a URL that got no usable
response (timeout, refused address, robots.txt, too large...).

URL states are saved only once the WARC part holding their responses is in the store,
so a crash can cause a refetch but never a page marked fetched without its archive.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline import layout
from pipeline.fetch.client import Exchange, FetchResult
from pipeline.fetch.state import save_state
from pipeline.records import utc_iso
from pipeline.store import Store

PART_BYTES = 64 * 1024 * 1024  # a part is held in memory until stored
STATE_WRITERS = 8
RUN_DATE = re.compile(r"(?<!\d)(\d{8})T\d{4}")
NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
# The archived body is decoded, so these headers would describe bytes no longer there.
RENAMED_HEADERS = {"content-encoding", "transfer-encoding"}


def run_day(run_id: str) -> date:
    """The day a run's archives are filed under: the date in its id, else today.

    Run ids carry their time (`20261122T061500Z`, `news_ingest-20261122T0500Z`), so every
    attempt of a run files under the same day, even one retried after midnight.
    """
    stamp = RUN_DATE.search(run_id)
    try:
        return datetime.strptime(stamp.group(1), "%Y%m%d").date() if stamp else datetime.now(UTC).date()
    except ValueError:  # eight digits that are no date
        return datetime.now(UTC).date()


def _http_headers(exchange: Exchange) -> StatusAndHeaders:
    headers = [
        (f"X-Archive-Orig-{name}" if name.lower() in RENAMED_HEADERS else name, value)
        for name, value in exchange.headers
        if name.lower() != "content-length"
    ]
    headers.append(("Content-Length", str(len(exchange.body))))
    return StatusAndHeaders(f"{exchange.status} {exchange.reason}".strip(), headers, protocol="HTTP/1.1")


def _warc_fields(fields: dict[str, str]) -> bytes:
    return "".join(f"{name}: {' '.join(value.split())}\r\n" for name, value in fields.items()).encode()


class WarcArchive:
    """The WARC parts one source writes in one run, in one area (`raw` or `discovery`).

    Thread-safe. Use as a context manager: leaving it stores the last part, then the
    states of the URLs it holds, even when the block failed half-way.
    """

    def __init__(
        self,
        store: Store,
        area: str,
        run_id: str,
        source_name: str,
        on_stored: Callable[[str], None] | None = None,
    ) -> None:
        self.store, self.run_id, self.source_name = store, run_id, source_name
        self.on_stored = on_stored  # told each part's key once it is stored, before its URL states
        self.prefix = layout.archive_prefix(area, run_day(run_id), run_id, source_name)
        own_part = re.compile(re.escape(self.prefix) + r"\d{4,}\.warc\.gz$")  # not source "<name>-2"'s
        self.keys = [key for key in store.list(self.prefix) if own_part.match(key)]  # from earlier attempts
        self._lock = threading.Lock()
        self._buffer: io.BytesIO | None = None
        self._writer: WARCWriter | None = None
        self._states: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> WarcArchive:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        with self._lock:
            self._flush()

    def add(self, result: FetchResult, states: dict[str, dict[str, Any]] | None = None) -> None:
        """Archive one URL's responses (or failure); `states` are saved once they are stored."""
        with self._lock:
            writer = self._open_part()
            for exchange in result.exchanges:
                writer.write_record(self._record(writer, exchange))
            if result.failure:
                fields = {
                    "outcome": result.failure,
                    "detail": result.detail,
                    "attempts": str(result.attempts),
                }
                payload = _warc_fields(fields)
                writer.write_record(
                    writer.create_warc_record(
                        result.url,
                        "metadata",
                        payload=io.BytesIO(payload),
                        length=len(payload),
                        warc_content_type="application/warc-fields",
                    )
                )
            self._states.update(states or {})
            if self._buffer is not None and self._buffer.tell() >= PART_BYTES:
                self._flush()

    @staticmethod
    def _record(writer: WARCWriter, exchange: Exchange):
        warc_headers = {"WARC-Date": utc_iso(exchange.fetched_at)}
        if exchange.status == 304:
            warc_headers |= {"WARC-Profile": NOT_MODIFIED_PROFILE, "WARC-Refers-To-Target-URI": exchange.url}
            return writer.create_warc_record(
                exchange.url, "revisit", http_headers=_http_headers(exchange), warc_headers_dict=warc_headers
            )
        return writer.create_warc_record(
            exchange.url,
            "response",
            payload=io.BytesIO(exchange.body),
            length=len(exchange.body),
            http_headers=_http_headers(exchange),
            warc_headers_dict=warc_headers,
        )

    def _open_part(self) -> WARCWriter:
        if self._writer is None:
            self._buffer = io.BytesIO()
            self._writer = WARCWriter(self._buffer, gzip=True, warc_version="WARC/1.1")
            info = {"software": "news-pipeline fetch", "run-id": self.run_id, "source": self.source_name}
            name = f"{self.prefix}{len(self.keys):04d}.warc.gz".rsplit("/", 1)[-1]
            self._writer.write_record(self._writer.create_warcinfo_record(name, info))
        return self._writer

    def _flush(self) -> None:
        if self._buffer is None:
            return
        data = self._buffer.getvalue()
        number = len(self.keys)
        while not self.store.put_if_absent(key := f"{self.prefix}{number:04d}.warc.gz", data):
            number += 1  # another attempt of this run stored that part meanwhile
        self.keys.append(key)
        if self.on_stored is not None:
            self.on_stored(key)
        self._buffer, self._writer = None, None
        states, self._states = self._states, {}
        with ThreadPoolExecutor(max_workers=STATE_WRITERS) as pool:
            list(pool.map(lambda item: save_state(self.store, *item), states.items()))
