"""Progress: the totals are known once discovery is done, and every page's outcome is reported once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pipeline.fetch import FetchContext, FetchProgress, fetch_sources
from pipeline.fetch.progress import group_of
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite
from tests.fetch.test_fetch_site import RUN, site_sources


class RecordedProgress(FetchProgress):
    """What a display would be told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def planned(self, pages_per_host: dict[str, int]) -> None:
        self.events.append(("planned", dict(pages_per_host)))

    def page_done(self, origin: str, outcome: str) -> None:
        self.events.append(("page", (origin, outcome)))


def test_totals_come_before_the_pages_and_every_page_is_counted_once(
    site: FixtureSite, store: LocalStore, tmp_path: Path
) -> None:
    progress = RecordedProgress()
    sources = site_sources(site, tmp_path)
    summary = fetch_sources(sources, FetchContext(store, RUN, allow_private=True, progress=progress))

    kind, totals = progress.events[0]
    assert kind == "planned" and totals == {site.url: summary.discovered}
    pages = [event for kind, event in progress.events[1:] if kind == "page"]
    assert len(pages) == summary.discovered == len(progress.events) - 1
    by_group = Counter(group_of(outcome) for _, outcome in pages)
    assert by_group == Counter({"fetched": 11, "skipped": 1, "failed": 6})
    assert summary.hosts == {site.url: dict(by_group)}

    again = RecordedProgress()
    fetch_sources(sources, FetchContext(store, "20240502T060000Z", allow_private=True, progress=again))
    seen = Counter(outcome for kind, (_, outcome) in again.events[1:] if kind == "page")
    assert seen["skipped_seen"] == 11 + 3  # fetched, or refused for good (too large, unsupported type)
