"""Fixtures for the fetch tests: the fixture news site on 127.0.0.1, an empty store, and a real
`redis-server` (Debian package) for politeness shared across processes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite

REDIS_START_SECONDS = 20


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    with FixtureSite() as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def free_port() -> int:
    """A port nothing listens on now (redis-server cannot pick one itself: it has no --port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1, no persistence; yields its base URL (no database)."""
    executable = shutil.which("redis-server")
    assert executable, "redis-server is missing: run scripts/install-system-deps.sh"
    folder, port = tmp_path_factory.mktemp("redis"), free_port()
    command = [executable, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(
        [*command, "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    url = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + REDIS_START_SECONDS
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"redis-server on port {port} did not start (exit code {server.poll()})")
            time.sleep(0.05)
    client.close()
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """Database 1 of the test Redis, emptied before each test (database 0 stays unused, as Celery's)."""
    url = f"{redis_server}/1"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
