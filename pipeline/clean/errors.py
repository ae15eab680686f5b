"""The one exception of cleaning: a page that cannot be an article, with its reason code."""

from __future__ import annotations

from pipeline.records import Reason


class PageRejected(Exception):
    """Raised inside cleaning; carries the reason code and a human-readable detail."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
