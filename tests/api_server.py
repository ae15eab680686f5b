"""A real `airflow api-server` for the tests that talk to one: a migrated SQLite DB in a
temporary AIRFLOW_HOME, the repo's DAG and plugins folders, the simple auth manager with the
users a test asks for. Run as subprocesses: nothing here imports Airflow."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO

AIRFLOW = [sys.executable, "-m", "airflow"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def airflow_env(home: Path, users: dict[str, tuple[str, str]]) -> dict[str, str]:
    """The environment of every Airflow command of a test: `users` maps a name to its
    (role, password) for the simple auth manager."""
    passwords = {name: password for name, (_, password) in users.items()}
    (home / "passwords.json").write_text(json.dumps(passwords))
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        # `pipeline`, and `news_common` for the plugin that reads the store the DAGs' way.
        "PYTHONPATH": f"{REPO}:{REPO / 'dags'}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager."
        "SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
            f"{name}:{role}" for name, (role, _) in users.items()
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
    }


def airflow(env: dict[str, str], *args: str) -> str:
    """One Airflow CLI command; its output, or the test fails with its error."""
    done = subprocess.run([*AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"api-server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"api-server not healthy after {seconds}s:\n{log.read_text()[-3000:]}")


@contextmanager
def api_server(home: Path, env: dict[str, str], setup: Sequence[Sequence[str]] = ()) -> Iterator[str]:
    """Migrates the DB, runs the `setup` Airflow commands, then serves the API on a free
    loopback port: yields its base URL, and stops it (and every worker it started) after."""
    airflow(env, "db", "migrate")
    for command in setup:
        airflow(env, *command)
    port = free_port()
    log = home / "api-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with every worker it starts
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(f"{base}/api/v2/monitor/health", server, log)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def access_token(base: str, user: str, password: str) -> str:
    """A bearer token for the REST API, from the api-server's own login endpoint."""
    request = urllib.request.Request(
        base + "/auth/token",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]
