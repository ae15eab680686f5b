"""Politeness shared through a real Redis: separate processes fetching one host keep its spacing,
its concurrency cap and one robots.txt fetch between them, a crashed worker's slot comes back, and
an unreachable Redis stops the fetch with one clear line. Timestamps are taken by the fixture site.

Each fetching process is started with multiprocessing's "spawn" (a fresh interpreter, as a
separate Airflow task or worker would be) and waits on a shared event, so they all start together.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from itertools import pairwise
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
import redis

from pipeline.fetch import FetchContext, SharedStateError, Source, fetch_urls, open_politeness
from pipeline.fetch.politeness import origin_of
from pipeline.fetch.shared_state import (
    KEY_PREFIX,
    ROBOTS_TTL_SECONDS,
    RedisState,
    RedisThrottle,
    host_key,
)
from pipeline.store import LocalStore
from tests.conftest import run_cli
from tests.fetch.conftest import free_port
from tests.fetch.site import FixtureSite, quick_source
from tests.fetch.test_fetch_cli import sitemap_sources

RUN = "20240501T060000Z"
RATE = 2.0  # requests per second to the host: 0.5 s apart
INTERVAL = 1 / RATE
TOLERANCE = INTERVAL / 4  # sleeps wake late on a loaded machine; spaced vs not differ by far more
PROCESSES = 2
SPAWN = multiprocessing.get_context("spawn")


def fetch_in_own_process(
    source: dict, store_root: str, redis_url: str | None, go: Event, results: multiprocessing.Queue
) -> None:
    """One worker: its own politeness (in-process, or through Redis), fetching one source."""
    politeness = open_politeness(redis_url)
    go.wait()
    chosen = Source.from_dict(source)
    summary = fetch_urls(
        chosen,
        list(chosen.urls),
        FetchContext(LocalStore(store_root), RUN, allow_private=True, politeness=politeness),
    )
    results.put(summary.to_dict())


def fetch_side_by_side(sources: list[Source], store_root: Path, redis_url: str | None) -> list[dict]:
    """Fetch each source in its own process, all starting at once; their fetch summaries."""
    go, results = SPAWN.Event(), SPAWN.Queue()
    workers = [
        SPAWN.Process(
            target=fetch_in_own_process, args=(source.to_dict(), str(store_root), redis_url, go, results)
        )
        for source in sources
    ]
    for worker in workers:
        worker.start()
    go.set()
    summaries = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return summaries


def paced_sources(site: FixtureSite) -> list[Source]:
    """One source per process, different pages of the same host, at RATE."""
    return [
        quick_source(
            f"worker-{n}", "urls", *(f"{site.url}/articles/{n}-{page}" for page in (1, 2)), rate=RATE
        )
        for n in range(PROCESSES)
    ]


def request_gaps(site: FixtureSite) -> list[float]:
    """Seconds between consecutive requests the site received, whatever their path."""
    times = sorted(moment for moments in site.hit_times.values() for moment in moments)
    return [later - earlier for earlier, later in pairwise(times)]


def test_processes_sharing_redis_keep_the_host_spacing_and_read_robots_once(
    site: FixtureSite, tmp_path: Path, redis_url: str
) -> None:
    summaries = fetch_side_by_side(paced_sources(site), tmp_path / "store", redis_url)

    assert sum(summary["fetched"] for summary in summaries) == 2 * PROCESSES
    assert site.hits["/robots.txt"] == 1  # fetched by one process, read from Redis by the other
    assert min(request_gaps(site)) >= INTERVAL - TOLERANCE
    client = redis.Redis.from_url(redis_url)
    keys = client.keys(f"{KEY_PREFIX}*")
    assert host_key(origin_of(site.url), "robots").encode() in keys
    assert all(client.ttl(key) > 0 for key in keys)  # nothing is left behind for ever
    assert client.ttl(host_key(origin_of(site.url), "robots")) <= ROBOTS_TTL_SECONDS


def test_processes_with_their_own_politeness_overlap(site: FixtureSite, tmp_path: Path) -> None:
    """The same fetch without Redis: each process spaces only its own requests."""
    summaries = fetch_side_by_side(paced_sources(site), tmp_path / "store", None)

    assert sum(summary["fetched"] for summary in summaries) == 2 * PROCESSES
    assert site.hits["/robots.txt"] == PROCESSES
    assert min(request_gaps(site)) < INTERVAL - TOLERANCE


def test_the_concurrency_cap_holds_across_processes(tmp_path: Path, redis_url: str) -> None:
    with FixtureSite(slow_seconds=0.3) as site:
        sources = [
            quick_source(f"worker-{n}", "urls", *(f"{site.url}/slow?n={n}-{i}" for i in range(3)), timeout=5)
            for n in range(PROCESSES)
        ]
        summaries = fetch_side_by_side(sources, tmp_path / "store", redis_url)
    assert sum(summary["fetched"] for summary in summaries) == 3 * PROCESSES
    assert site.max_in_flight == sources[0].options.max_concurrency  # 2 lanes each, 2 slots in all


def hold_slot_until_killed(redis_url: str, origin: str, lease: float, holding: Event) -> None:
    throttle = RedisThrottle(RedisState(redis.Redis.from_url(redis_url)), lease)
    with throttle.slot(origin, interval=0, max_concurrency=1, max_wait=0):
        holding.set()
        time.sleep(600)


def live_slots(client: redis.Redis, origin: str) -> int:
    seconds, micros = client.time()
    return client.zcount(host_key(origin, "slots"), seconds * 1000 + micros // 1000, "+inf")


def test_a_crashed_workers_slot_is_reclaimed_after_its_lease(redis_url: str) -> None:
    origin, lease = "http://crashing.example:80", 1.0
    holding = SPAWN.Event()
    worker = SPAWN.Process(target=hold_slot_until_killed, args=(redis_url, origin, lease, holding))
    worker.start()
    assert holding.wait(timeout=60)
    client = redis.Redis.from_url(redis_url)
    time.sleep(2.5 * lease)
    assert live_slots(client, origin) == 1  # renewed while the worker lives, past its first lease

    worker.kill()  # SIGKILL: no cleanup runs
    worker.join(timeout=30)
    assert worker.exitcode == -signal.SIGKILL
    used = threading.Event()

    def use_the_only_slot() -> None:
        with RedisThrottle(RedisState(client), lease).slot(origin, interval=0, max_concurrency=1, max_wait=0):
            pass
        used.set()

    threading.Thread(target=use_the_only_slot, daemon=True).start()
    assert used.wait(timeout=30)
    assert live_slots(client, origin) == 0  # and released again after use


def test_unreachable_redis_is_one_clear_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(
        SharedStateError, match=rf"^Redis at 127\.0\.0\.1:{port}/1 \(shared fetch politeness\)"
    ):
        open_politeness(f"redis://127.0.0.1:{port}/1")
    with pytest.raises(SharedStateError, match="not a Redis URL"):
        open_politeness("http://127.0.0.1:6379/1")


def test_fetch_command_uses_redis_and_fails_cleanly_without_it(
    site: FixtureSite, tmp_path: Path, redis_url: str
) -> None:
    sources = str(sitemap_sources(site, tmp_path))
    base = ("fetch", "--sources", sources, "--store", str(tmp_path / "corpus"), "--allow-private", "--quiet")
    port = free_port()
    refused = run_cli(*base, "--redis-url", f"redis://127.0.0.1:{port}/1")
    assert refused.returncode == 2
    assert f"error: Redis at 127.0.0.1:{port}/1" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert sum(site.hits.values()) == 0

    shared = run_cli(*base, "--redis-url", redis_url)
    assert shared.returncode == 0, shared.stderr
    assert redis.Redis.from_url(redis_url).exists(host_key(origin_of(site.url), "robots"))
