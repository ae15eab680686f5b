"""What every stage of a fetch needs, in one object: the store, the run, the hosts' shared state.

    context = FetchContext(store, run_id, allow_private=True)
    discover(source, context); fetch_urls(source, urls, context); fetch_sources(sources, context)

A scheduler task builds its own context from the same settings (a context holds live
objects: the store, the Redis connection, the progress display, so it does not travel).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.fetch.politeness import Politeness
from pipeline.fetch.progress import FetchProgress
from pipeline.store import Store


@dataclass(frozen=True)
class HostLimits:
    """The strictest spacing and cap that the sources fetching a host ask for in this run."""

    interval: float = 0.0
    max_concurrency: int = 1_000_000

    def tighten(self, interval: float, max_concurrency: int) -> HostLimits:
        return HostLimits(max(self.interval, interval), min(self.max_concurrency, max_concurrency))


@dataclass
class FetchContext:
    """One fetch run's settings and shared state, handed to every stage."""

    store: Store
    run_id: str
    politeness: Politeness = field(default_factory=Politeness)  # host state: in-process, or Redis
    allow_private: bool = False  # may reach private, loopback and link-local addresses (tests, intranets)
    reprocess: bool = False  # fetch again what earlier runs fetched; ask feeds unconditionally
    mark_pending: bool = False  # record each raw archive for the next `ingest` (pipeline/pending.py)
    progress: FetchProgress = field(default_factory=FetchProgress)
    host_limits: dict[str, HostLimits] = field(default_factory=dict)  # origin -> limits, set by the plan

    def limits(self, origin: str) -> HostLimits:
        return self.host_limits.get(origin, HostLimits())
