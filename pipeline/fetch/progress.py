"""How far a fetch is: pages planned once discovery is done, then each page's outcome as it comes.

`FetchProgress` is the silent default; `RichFetchProgress` draws it on the terminal (the
`fetch` command), one bar for the run and, on request, one per host. Outcomes are
grouped the same way everywhere: fetched, not modified, skipped (robots.txt, seen by an
earlier run, over max_pages) and failed (every other reason).
"""

from __future__ import annotations

import threading
from collections import Counter
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

GROUPS = ("fetched", "not_modified", "skipped", "failed")
SKIPPED = frozenset({"skipped_robots", "skipped_seen", "over_limit"})


def group_of(outcome: str) -> str:
    """Which of GROUPS a page outcome counts under."""
    if outcome in ("fetched", "not_modified"):
        return outcome
    return "skipped" if outcome in SKIPPED else "failed"


class FetchProgress:
    """Told what a fetch plans and does; shows nothing. Subclasses display it."""

    def __enter__(self) -> FetchProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def planned(self, pages_per_host: dict[str, int]) -> None:
        """Discovery is done: these many pages (seen, over limit and to fetch) per host origin."""

    def page_done(self, origin: str, outcome: str) -> None:
        """One planned page has its outcome."""


def _describe(counts: Counter[str]) -> str:
    return " · ".join(f"{group.replace('_', ' ')} {counts[group]}" for group in GROUPS)


class RichFetchProgress(FetchProgress):
    """Bars on `console`: `N/?` while discovering, then `N/total` with the count of every group."""

    def __init__(self, console: Console, per_host: bool = False, quiet: bool = False) -> None:
        self.per_host = per_host
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._tasks: dict[str, TaskID] = {}
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[groups]}"),
            TimeElapsedColumn(),
        )
        self._bars = Progress(*columns, console=console, disable=quiet, transient=True)
        self._run = self._bars.add_task("discovering", total=None, groups="")

    def __enter__(self) -> RichFetchProgress:
        self._bars.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bars.__exit__(kind, error, tb)

    def planned(self, pages_per_host: dict[str, int]) -> None:
        with self._lock:
            self._bars.update(self._run, description="fetching pages", total=sum(pages_per_host.values()))
            if self.per_host:
                for origin, pages in sorted(pages_per_host.items()):
                    self._tasks[origin] = self._bars.add_task(f"  {origin}", total=pages, groups="")

    def page_done(self, origin: str, outcome: str) -> None:
        with self._lock:
            for key, task in (("", self._run), (origin, self._tasks.get(origin))):
                if task is None:
                    continue
                counts = self._counts.setdefault(key, Counter())
                counts[group_of(outcome)] += 1
                self._bars.update(task, advance=1, groups=_describe(counts))
