"""Plain records passed between the pipeline's stages.

Every stage takes and returns these dataclasses, so a stage can run in another
process (or another Airflow task) as long as the records are serialised with
`to_dict` / `from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal, Self, get_args


class Serialisable:
    """JSON-ready dict conversion for the dataclass records that cross process boundaries."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build the record from a dict, ignoring keys it does not know (written by newer code)."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RawPage:
    """One fetched or archived page, exactly as it arrived."""

    url: str
    content: bytes
    content_type: str  # media type only, e.g. "text/html"
    fetched_at: datetime  # timezone-aware UTC
    charset: str | None = None  # charset declared by the transport, if any


# Why an input is not an article: the closed set of lineage reasons (docs/corpus.md explains each).
Reason = Literal[
    # the input file itself (sources)
    "unreadable",  # the file cannot be opened or read (permission denied, I/O error, vanished)
    "special_file",  # a FIFO, socket, device or link to a folder: never opened
    "dangling_symlink",
    "symlink_loop",
    # archives and their records (sources)
    "corrupt_archive",  # cut short or broken from some record on; the records before it are kept
    "not_warc",  # a .warc file that does not hold WARC records
    "archive_too_large",  # more decompressed bytes than limits.max_archive_bytes
    "compression_ratio",  # decompresses to more than limits.max_compression_ratio times its size
    "header_too_large",  # a WARC or HTTP header line or block over limits.max_header_bytes
    "no_target_uri",  # a response record that does not say which URL it holds
    "not_http",
    "http_status",
    "redirect",
    "too_large",
    # cleaning one page (clean, extract)
    "empty",
    "binary",
    "encoding",
    "unsupported_type",
    "no_article",
    "error_page",
    "index_page",
    "too_short",
    "extraction_error",
    "time_limit",  # cleaning took more than limits.page_cpu_seconds
    "memory_limit",  # cleaning needed more than limits.page_memory_mb
    "worker_died",  # the cleaning process died (killed by the system, crashed)
    # fetch outcomes (pipeline.fetch) read back from its archives
    "timeout",
    "connection_error",
    "dns_error",
    "tls_error",
    "rate_limited",
    "robots_disallowed",
    "blocked_address",
    "redirect_loop",
    "too_many_redirects",
    "bad_redirect",
    "bad_url",
    "fetch_failed",  # an outcome this version does not know (written by another version)
]
REASONS: frozenset[str] = frozenset(get_args(Reason))


@dataclass
class Rejection(Serialisable):
    """A page that will not become an article, and why."""

    url: str
    reason: Reason
    detail: str = ""  # human-readable explanation
    fetched_at: str | None = None
    content_sha: str | None = None  # hash of the raw bytes, when they were read

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"{self.reason!r} is not a rejection reason (pipeline.records.Reason)")


@dataclass
class Document(Serialisable):
    """A cleaned page: article text plus metadata, before deduplication."""

    url: str
    text: str  # one paragraph per line; title not included
    fetched_at: str  # ISO 8601
    content_sha: str  # hash of the raw bytes, for "already ingested" checks
    title: str | None = None
    author: str | None = None
    published_at: str | None = None  # ISO 8601, with timezone when known
    sitename: str | None = None
    language: str | None = None  # ISO 639-1
    canonical_url: str | None = None  # <link rel=canonical> as declared by the page
    source: str = ""  # host of the URL
    content_type: str = "text/html"
    removed: dict[str, int] = field(default_factory=dict)  # boilerplate lines removed, by rule
    # Per line of `text`, the digest of its word key: cleaning's workers compute it once so
    # the run-level site templates only compare digests (not written to the corpus).
    line_digests: list[str] = field(default_factory=list)


@dataclass
class Decision:
    """What deduplication decided for one document."""

    status: str  # "canonical" or "duplicate"
    story_id: str
    canonical_url: str
    similarity: float | None = None  # to the story's canonical; None for the canonical itself
    method: str | None = None  # "exact" or "containment" (see docs/dedup.md)


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC ("2020-09-14T10:34:49Z"), the one time format of the corpus.

    A naive datetime is taken to be UTC already.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
