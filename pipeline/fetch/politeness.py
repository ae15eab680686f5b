"""Being a good guest: per-host request spacing, a per-host concurrency cap, robots.txt.

One `Politeness` is shared by everything fetching in a process, so two sources on the
same host still share that host's budget. Hosts are identified by origin
(scheme://host:port), the unit robots.txt applies to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser


class HostBusy(Exception):
    """The host asked us to wait (Retry-After, Crawl-delay) longer than the source allows."""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class HostThrottle:
    """Spaces the requests to each host and caps how many are in flight, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_start: dict[str, float] = {}
        self._in_flight: dict[str, threading.BoundedSemaphore] = {}

    def _semaphore(self, origin: str, max_concurrency: int) -> threading.BoundedSemaphore:
        with self._lock:  # the first caller's cap holds for the host
            return self._in_flight.setdefault(origin, threading.BoundedSemaphore(max_concurrency))

    @contextmanager
    def slot(self, origin: str, interval: float, max_concurrency: int, max_wait: float) -> Iterator[None]:
        """Hold one of the host's request slots, starting no sooner than its spacing allows."""
        with self._semaphore(origin, max_concurrency):
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start.get(origin, now))
                if start - now > max_wait:
                    raise HostBusy(
                        f"{origin} asked to wait {start - now:.0f}s, more than max_wait {max_wait:.0f}s"
                    )
                self._next_start[origin] = start + interval
            time.sleep(start - now)
            yield

    def pause(self, origin: str, seconds: float) -> None:
        """No request to the host before `seconds` from now (the host said Retry-After)."""
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
    """robots.txt rules per origin, fetched once per process even when many threads ask."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, RobotFileParser] = {}
        self._loading: dict[str, threading.Lock] = {}

    def rules(self, origin: str, load: Callable[[str], RobotFileParser]) -> RobotFileParser:
        with self._lock:
            loading = self._loading.setdefault(origin, threading.Lock())
        with loading:
            if origin not in self._rules:
                self._rules[origin] = load(origin)
            return self._rules[origin]


@dataclass
class Politeness:
    """The shared state that keeps a process polite to every host it visits."""

    throttle: HostThrottle = field(default_factory=HostThrottle)
    robots: RobotsCache = field(default_factory=RobotsCache)
