"""The counts a fetch reports, mergeable across sources and scheduler tasks."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.fetch.progress import group_of

# Outcomes with their own counter; any other outcome is a failure reason.
COUNTED = ("fetched", "not_modified", "skipped_robots", "skipped_seen", "over_limit")


@dataclass
class FetchSummary:
    """What a fetch did. Plain data, so it travels through XCom as `to_dict()`."""

    discovered: int = 0  # page URLs found by discovery (normalised, without repeats)
    documents: int = 0  # feeds and sitemaps downloaded and read
    fetched: int = 0  # pages archived with a 2xx answer
    not_modified: int = 0  # 304 answers to conditional requests
    skipped_robots: int = 0  # refused by the host's robots.txt
    skipped_seen: int = 0  # fetched by an earlier run, not asked again
    over_limit: int = 0  # left for the next run: the source's max_pages was reached
    failed: dict[str, int] = field(default_factory=dict)  # reason -> count (pages and documents)
    warc_keys: list[str] = field(default_factory=list)  # page archives in the store, for ingest
    discovery_warc_keys: list[str] = field(default_factory=list)  # robots.txt, feed and sitemap archives
    seconds: float = 0.0
    hosts: dict[str, dict[str, int]] = field(default_factory=dict)  # origin -> outcome group -> pages

    def count(self, outcome: str, document: bool = False, origin: str | None = None) -> None:
        """Count one outcome; a page's `origin` also counts it under its host, by group."""
        if document and outcome == "fetched":
            self.documents += 1
        elif outcome in COUNTED:
            setattr(self, outcome, getattr(self, outcome) + 1)
        else:
            self.failed[outcome] = self.failed.get(outcome, 0) + 1
        if origin is not None:
            groups = self.hosts.setdefault(origin, {})
            groups[group_of(outcome)] = groups.get(group_of(outcome), 0) + 1

    def merge(self, other: FetchSummary) -> FetchSummary:
        """Both summaries added up; seconds is the longer one, as the parts ran side by side."""
        numbers = {
            name: getattr(self, name) + getattr(other, name) for name in ("discovered", "documents", *COUNTED)
        }
        return FetchSummary(
            **numbers,
            failed=dict(Counter(self.failed) + Counter(other.failed)),
            warc_keys=sorted(set(self.warc_keys) | set(other.warc_keys)),
            discovery_warc_keys=sorted(set(self.discovery_warc_keys) | set(other.discovery_warc_keys)),
            seconds=max(self.seconds, other.seconds),
            hosts={
                origin: dict(Counter(self.hosts.get(origin, {})) + Counter(other.hosts.get(origin, {})))
                for origin in sorted(self.hosts.keys() | other.hosts.keys())
            },
        )

    @property
    def pages_per_second(self) -> float:
        return self.fetched / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FetchSummary:
        return cls(**data)
