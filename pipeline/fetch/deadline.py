"""One deadline for a whole HTTP exchange: connecting, the headers and the body.

Socket timeouts bound each read, so a server that drips a byte now and then keeps a
request alive for ever. Here the connection classes the fetcher's transport uses hand
their socket to the exchange's deadline when the answer is awaited; a single watchdog
thread shuts down the socket of every exchange still running at its deadline, which
ends any read blocked on it. Connecting is bounded by the connect timeout, set to the
time left.

    with exchange_deadline(seconds) as deadline:   # around session.get and the body read
        ...
    deadline.expired                               # whether the watchdog cut it
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager


class ExchangeDeadline:
    """The moment one exchange must be over by, and the socket to cut then."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def left(self) -> float:
        return max(0.001, self.at - time.monotonic())

    def attach(self, sock: socket.socket | None) -> None:
        """Watch `sock` from now on; cut at once if the deadline already passed."""
        with self._lock:
            self._sock = sock
        if time.monotonic() >= self.at:
            self.expire()
        else:
            _watchdog.watch(self)

    def expire(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            self.expired = sock is not None or self.expired
        if sock is not None:
            with suppress(OSError):  # already closed: nothing left to cut
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # wakes a recv blocked on it

    def detach(self) -> None:
        with self._lock:
            self._sock = None


class _Watchdog:
    """A thread that expires the deadlines it watches, in order; started on first use."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, ExchangeDeadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: ExchangeDeadline) -> None:
        with self._wake:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fetch deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._wake.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, due = heapq.heappop(self._heap)
            due.expire()  # a no-op for an exchange that ended in time (detached)


_watchdog = _Watchdog()
_current = threading.local()  # the deadline of the exchange this thread runs


@contextmanager
def exchange_deadline(seconds: float) -> Iterator[ExchangeDeadline]:
    """The deadline of the exchange run in this block (on this thread)."""
    deadline = ExchangeDeadline(seconds)
    _current.deadline = deadline
    try:
        yield deadline
    finally:
        _current.deadline = None
        deadline.detach()


def _attach_current(connection: HTTPConnection) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.attach(connection.sock)


class _DeadlineHTTPConnection(HTTPConnection):
    def getresponse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _attach_current(self)
        return super().getresponse(*args, **kwargs)


class _DeadlineHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _attach_current(self)
        return super().getresponse(*args, **kwargs)


class _DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def install(pool_manager: PoolManager) -> None:
    """Make every connection of `pool_manager` obey the deadline of the exchange using it."""
    pool_manager.pool_classes_by_scheme = {"http": _DeadlineHTTPPool, "https": _DeadlineHTTPSPool}
