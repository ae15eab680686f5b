"""Politeness shared through Redis: one host budget for every process and machine fetching.

Mapped fetch tasks run in separate processes, often on several workers; each keeping its own
spacing would let them together exceed a host's rate and cap. Here the state lives in Redis,
under keys namespaced per origin, each with a TTL so nothing outlives its use:

    news:host:<origin>:next         when the host's next request may start (ms, Redis clock)
    news:host:<origin>:slots        requests in flight: sorted set of tokens scored by lease expiry
    news:host:<origin>:robots       the robots.txt answer (status, body), for ROBOTS_TTL
    news:host:<origin>:robots-lock  held by the one process fetching robots.txt

Every decision is one Lua script, so it is atomic across processes, and reads the Redis
server's clock, so workers' clocks need not agree. A slot is a lease renewed while its
request runs: a worker that crashes holding one loses it after `lease` seconds.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import redis
from redis.exceptions import LockNotOwnedError, RedisError

from pipeline.fetch.politeness import (
    HostThrottle,
    Politeness,
    RobotsAnswer,
    RobotsCache,
    SharedStateError,
    Turn,
)

log = logging.getLogger(__name__)

KEY_PREFIX = "news:host:"
SLOT_LEASE_SECONDS = 30.0  # how long a crashed worker's slot stays taken; renewed every third of it
NEXT_START_GRACE_MS = 60_000  # the spacing key outlives the reservation it holds by this much
ROBOTS_TTL_SECONDS = 3600  # an answered robots.txt (2xx, 4xx) is reused for an hour (RFC 9309: at most 24 h)
ROBOTS_RETRY_SECONDS = 300  # an unreachable one (5xx, no answer) is asked again after 5 minutes
ROBOTS_LOCK_SECONDS = 120  # longest one process may take to fetch robots.txt for the others

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
# KEYS next-start key, slots key; ARGV token, cap, lease ms, interval ms, grace ms. Returns the ms to
# wait for the host's next start (> 0), -1 when every slot is taken, or 0 when the slot is taken now.
_TRY_START = (
    _NOW_MS
    + """
local start = tonumber(redis.call('GET', KEYS[1]) or 0)
if start > now then
  return start - now
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then
  return -1
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
redis.call('SET', KEYS[1], now + tonumber(ARGV[4]), 'PX', tonumber(ARGV[4]) + tonumber(ARGV[5]))
return 0
"""
)
# KEYS[1] next-start key; ARGV pause ms. Pushes the next start to now + pause, never earlier.
_PAUSE = (
    _NOW_MS
    + """
local resume = now + tonumber(ARGV[1])
if resume > tonumber(redis.call('GET', KEYS[1]) or 0) then
  redis.call('SET', KEYS[1], resume, 'PX', tonumber(ARGV[1]) + tonumber(ARGV[2]))
end
"""
)
# KEYS[1] slots key; ARGV token, lease ms. Extends a lease still held; returns 0 if it was lost.
_RENEW_SLOT = (
    _NOW_MS
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
)


def host_key(origin: str, what: str) -> str:
    return f"{KEY_PREFIX}{origin}:{what}"


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


class RedisState:
    """A Redis client whose every failure surfaces as one `SharedStateError` line."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        settings = client.connection_pool.connection_kwargs
        where = settings.get("path") or f"{settings.get('host')}:{settings.get('port')}"
        self.where = f"{where}/{settings.get('db', 0)}"  # never the URL: it may hold a password

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except RedisError as err:
            raise SharedStateError(f"Redis at {self.where} (shared fetch politeness): {err}") from None


class RedisThrottle(HostThrottle):
    """Host spacing and concurrency caps kept in Redis, shared by every process using it."""

    def __init__(self, state: RedisState, lease: float = SLOT_LEASE_SECONDS) -> None:
        self.state, self.lease = state, lease
        client = state.client
        self._start = client.register_script(_TRY_START)
        self._pause = client.register_script(_PAUSE)
        self._renew = client.register_script(_RENEW_SLOT)
        self._renewers: dict[str, tuple[threading.Event, threading.Thread]] = {}  # token -> lease keeper

    def _try_start(self, origin: str, interval: float, max_concurrency: int) -> Turn:
        slots, token = host_key(origin, "slots"), uuid.uuid4().hex
        with self.state.errors():
            answer = int(
                self._start(
                    keys=[host_key(origin, "next"), slots],
                    args=[token, max_concurrency, _ms(self.lease), _ms(interval), NEXT_START_GRACE_MS],
                )
            )
        if answer != 0:
            return Turn(wait=max(0, answer) / 1000)
        released = threading.Event()
        renewer = threading.Thread(
            target=self._renew_until, args=(slots, token, released), name=f"lease {origin}", daemon=True
        )
        renewer.start()
        self._renewers[token] = (released, renewer)
        return Turn(token=token)

    def _release(self, origin: str, token: str) -> None:
        released, renewer = self._renewers.pop(token)
        released.set()
        renewer.join()
        with self.state.errors():
            self.state.client.zrem(host_key(origin, "slots"), token)

    def _renew_until(self, key: str, token: str, released: threading.Event) -> None:
        """Keeps a slot's lease alive while its request runs (a crash stops this, and the lease lapses)."""
        while not released.wait(self.lease / 3):
            try:
                held = self._renew(keys=[key], args=[token, _ms(self.lease)])
            except RedisError as err:  # the request goes on; at worst the host sees one more at once
                log.warning("could not renew a request slot in %s: %s", key, err)
                continue
            if not held:
                log.warning("request slot in %s lapsed before its request ended", key)
                return

    def pause(self, origin: str, seconds: float) -> None:
        with self.state.errors():
            self._pause(keys=[host_key(origin, "next")], args=[_ms(seconds), NEXT_START_GRACE_MS])


class RedisRobotsCache(RobotsCache):
    """robots.txt answers kept in Redis for a while, so one process fetches each host's file."""

    def __init__(self, state: RedisState) -> None:
        super().__init__()
        self.state = state

    def _answer(self, origin: str, fetch: Callable[[str], RobotsAnswer]) -> RobotsAnswer:
        key = host_key(origin, "robots")
        stored = self._stored(key)
        if stored is None:
            with self._sole_fetcher(origin):
                stored = self._stored(key) or self._fetch_and_store(key, origin, fetch)  # or another did
        return stored

    def _stored(self, key: str) -> RobotsAnswer | None:
        with self.state.errors():
            stored = self.state.client.hgetall(key)
        if not stored:
            return None
        status = stored.get(b"status", b"")
        return (int(status) if status else None), stored.get(b"body", b"")

    def _fetch_and_store(self, key: str, origin: str, fetch: Callable[[str], RobotsAnswer]) -> RobotsAnswer:
        status, body = fetch(origin)
        answered = status is not None and status < 500
        with self.state.errors(), self.state.client.pipeline() as transaction:
            transaction.hset(key, mapping={"status": "" if status is None else str(status), "body": body})
            transaction.expire(key, ROBOTS_TTL_SECONDS if answered else ROBOTS_RETRY_SECONDS)
            transaction.execute()
        return status, body

    @contextmanager
    def _sole_fetcher(self, origin: str) -> Iterator[None]:
        """Held while fetching the host's robots.txt; after ROBOTS_LOCK_SECONDS a waiter fetches it too."""
        lock = self.state.client.lock(
            host_key(origin, "robots-lock"),
            timeout=ROBOTS_LOCK_SECONDS,
            blocking_timeout=ROBOTS_LOCK_SECONDS,
        )
        with self.state.errors():
            acquired = lock.acquire()
        try:
            yield
        finally:
            if acquired:
                with self.state.errors(), suppress(LockNotOwnedError):  # expired meanwhile: nothing to free
                    lock.release()


def redis_politeness(redis_url: str, lease: float = SLOT_LEASE_SECONDS) -> Politeness:
    """Politeness shared through the Redis database at `redis_url`, checked reachable now."""
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=30)
    except ValueError as err:
        raise SharedStateError(f"not a Redis URL for shared fetch politeness: {err}") from None
    state = RedisState(client)
    with state.errors():
        client.ping()
    return Politeness(RedisThrottle(state, lease), RedisRobotsCache(state))


def open_politeness(redis_url: str | None = None) -> Politeness:
    """In-process politeness, or with `redis_url` one shared through that Redis database.

    Raises `SharedStateError` (a ConnectionError) when Redis cannot be reached, before any fetching.
    """
    if not redis_url:
        return Politeness()
    return redis_politeness(redis_url)
