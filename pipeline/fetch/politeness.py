"""Being a good guest: per-host request spacing, a per-host concurrency cap, robots.txt.

One `Politeness` is shared by everything fetching in a process, so two sources on the
same host still share that host's budget. Hosts are identified by origin
(scheme://host:port), the unit robots.txt applies to.

The budget lives in process memory by default. `open_politeness(redis_url)` keeps it in
Redis instead (pipeline/fetch/shared_state.py), so that many processes and machines (mapped
Airflow tasks, Celery workers) share each host's spacing, cap and robots.txt. The fetch
code sees the same `HostThrottle` and `RobotsCache` interface either way.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

# What fetching robots.txt gave: the HTTP status (None when there was no answer) and the body.
RobotsAnswer = tuple[int | None, bytes]


class HostBusy(Exception):
    """The host asked us to wait (Retry-After, Crawl-delay) longer than the source allows."""


class SharedStateError(ConnectionError):
    """Redis, configured for shared politeness, cannot be used (unreachable, bad URL, refused)."""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class HostThrottle(ABC):
    """Spaces the requests to each host and caps how many are in flight.

    Subclasses say where the state lives; the order of the steps is the same for all.
    """

    @contextmanager
    def slot(self, origin: str, interval: float, max_concurrency: int, max_wait: float) -> Iterator[None]:
        """Hold one of the host's request slots, starting no sooner than its spacing allows."""
        with self._in_flight(origin, max_concurrency):
            wait = self._reserve_start(origin, interval, max_wait)
            if wait > max_wait:
                raise HostBusy(f"{origin} asked to wait {wait:.0f}s, more than max_wait {max_wait:.0f}s")
            time.sleep(wait)
            yield

    @abstractmethod
    def _in_flight(self, origin: str, max_concurrency: int) -> AbstractContextManager[None]:
        """Held while one request to the host is in flight; blocks while `max_concurrency` are."""

    @abstractmethod
    def _reserve_start(self, origin: str, interval: float, max_wait: float) -> float:
        """Seconds until this request may start; the next one is pushed `interval` after it.

        A wait over `max_wait` is returned without reserving anything.
        """

    @abstractmethod
    def pause(self, origin: str, seconds: float) -> None:
        """No request to the host before `seconds` from now (the host said Retry-After)."""


class LocalThrottle(HostThrottle):
    """The host budget in this process's memory, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_start: dict[str, float] = {}
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    def _in_flight(self, origin: str, max_concurrency: int) -> threading.BoundedSemaphore:
        with self._lock:  # the first caller's cap holds for the host
            return self._semaphores.setdefault(origin, threading.BoundedSemaphore(max_concurrency))

    def _reserve_start(self, origin: str, interval: float, max_wait: float) -> float:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(origin, now))
            if start - now <= max_wait:
                self._next_start[origin] = start + interval
            return start - now

    def pause(self, origin: str, seconds: float) -> None:
        with self._lock:
            resume = time.monotonic() + seconds
            self._next_start[origin] = max(self._next_start.get(origin, resume), resume)


def robots_rules(status: int | None, body: bytes) -> RobotFileParser:
    """Rules from a robots.txt answer, as RFC 9309 says to read it.

    `status` is None when the file could not be fetched at all. A 4xx means there are
    no rules (everything allowed); a 5xx or no answer means the site is unreachable,
    so everything is disallowed until a later run can read the file.
    """
    rules = RobotFileParser()
    if status is not None and 200 <= status < 300:
        rules.parse(body.decode("utf-8", errors="replace").splitlines())
    elif status is not None and 400 <= status < 500:
        rules.allow_all = True
    else:
        rules.disallow_all = True
    return rules


class RobotsCache:
    """robots.txt rules per origin, fetched once per process even when many threads ask.

    Subclasses may look further (a shared cache) before fetching, by overriding `_answer`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, RobotFileParser] = {}
        self._loading: dict[str, threading.Lock] = {}

    def rules(self, origin: str, fetch: Callable[[str], RobotsAnswer]) -> RobotFileParser:
        with self._lock:
            loading = self._loading.setdefault(origin, threading.Lock())
        with loading:
            if origin not in self._rules:
                self._rules[origin] = robots_rules(*self._answer(origin, fetch))
            return self._rules[origin]

    def _answer(self, origin: str, fetch: Callable[[str], RobotsAnswer]) -> RobotsAnswer:
        return fetch(origin)


@dataclass
class Politeness:
    """The shared state that keeps a process (or, on Redis, a fleet) polite to every host it visits."""

    throttle: HostThrottle = field(default_factory=LocalThrottle)
    robots: RobotsCache = field(default_factory=RobotsCache)


def open_politeness(redis_url: str | None = None) -> Politeness:
    """In-process politeness, or with `redis_url` one shared through that Redis database.

    Raises `SharedStateError` (a ConnectionError) when Redis cannot be reached, before any fetching.
    """
    if not redis_url:
        return Politeness()
    from pipeline.fetch.shared_state import redis_politeness

    return redis_politeness(redis_url)
