"""Being a good guest: per-host request spacing, a per-host concurrency cap, robots.txt.

One `Politeness` is shared by everything fetching in a process, so two sources on the
same host still share that host's budget. Hosts are identified by origin
(scheme://host:port), the unit robots.txt applies to.

The budget lives in process memory by default. `open_politeness(redis_url)` (in
pipeline/fetch/shared_state.py) keeps it in Redis instead, so that many processes and machines (mapped
Airflow tasks, Celery workers) share each host's spacing, cap and robots.txt. The fetch
code sees the same `HostThrottle` and `RobotsCache` interface either way.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


SLOT_POLL_SECONDS = 0.02  # how often a request whose host has all slots taken asks again


@dataclass(frozen=True)
class Turn:
    """A host's answer to "may I start now?": a slot token, or else how long to wait.

    No token and no wait means every slot is taken: ask again shortly.
    """

    token: str | None = None
    wait: float = 0.0


class HostThrottle(ABC):
    """Spaces the requests to each host, caps how many are in flight, and holds the host when asked.

    A host's state (when its next request may start, which a Retry-After or a backoff pushes
    later, and its requests in flight) governs every request to it: a request asks to start
    now, and if it may not, it waits and asks again, so a pause set while it waited holds it
    too. Subclasses say where the state lives; the steps are the same for all.
    """

    @contextmanager
    def slot(self, origin: str, interval: float, max_concurrency: int, max_wait: float) -> Iterator[None]:
        """Hold one of the host's request slots, started no sooner than its state allows.

        Raises HostBusy when the host's next start is more than `max_wait` away.
        """
        while (turn := self._try_start(origin, interval, max_concurrency)).token is None:
            if turn.wait > max_wait:
                raise HostBusy(f"{origin} asked to wait {turn.wait:.0f}s, more than max_wait {max_wait:.0f}s")
            time.sleep(turn.wait or SLOT_POLL_SECONDS)
        try:
            yield
        finally:
            self._release(origin, turn.token)

    @abstractmethod
    def _try_start(self, origin: str, interval: float, max_concurrency: int) -> Turn:
        """Start a request now if the host allows it (a slot token; its next start is pushed
        `interval` later); else, taking nothing, how long until its next start."""

    @abstractmethod
    def _release(self, origin: str, token: str) -> None:
        """Give back the slot a request held."""

    @abstractmethod
    def pause(self, origin: str, seconds: float) -> None:
        """No request to the host before `seconds` from now (Retry-After, or a backoff after errors)."""


class LocalThrottle(HostThrottle):
    """The host state in this process's memory, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_start: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}

    def _try_start(self, origin: str, interval: float, max_concurrency: int) -> Turn:
        with self._lock:
            now = time.monotonic()
            wait = self._next_start.get(origin, now) - now
            if wait > 0:
                return Turn(wait=wait)
            if self._in_flight.get(origin, 0) >= max_concurrency:
                return Turn()
            self._in_flight[origin] = self._in_flight.get(origin, 0) + 1
            self._next_start[origin] = now + interval
            return Turn(token=origin)

    def _release(self, origin: str, token: str) -> None:
        with self._lock:
            self._in_flight[origin] -= 1

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
