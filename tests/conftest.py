"""Shared fixtures: real services on 127.0.0.1, started by the tests themselves."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SHARED = REPO.parent / "shared"
# Site chrome in the seed scrapes that must never reach an article's text.
SEED_CHROME = [
    "Please enter your comment!",
    "Please enter your name here",
    "The Limited Times",
    "Now you can see non-English news",
    "www.de24.news",
    "Previous Article",
    "Next Article",
    "Page not found",
    "Skip to main content",
    "Share :",
    "Trends 24h",
    "source link",
    "You may also like",
    "WP2Social",
    "Communities 2019",
    "The information on this site is from external sources",
    "Download the France 24 app",
    "Icon:",
]


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`python -m pipeline ...` in a clean environment, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "COLUMNS": "120"},
    )


@contextmanager
def moto_server() -> Iterator[str]:
    """A real S3 API over HTTP: moto's server mode bound to 127.0.0.1 on a free port; yields its URL.
    (The chaos benchmark starts one too.)"""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_environment(endpoint: str) -> dict[str, str]:
    """Standard AWS environment variables pointing boto3 at a moto server."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> str:
    """The AWS environment of `s3_environment`, for this test and the processes it starts; the
    local cache of index segments in a folder of the test's own, not the user's."""
    for name, value in s3_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return moto_endpoint


@pytest.fixture
def s3_bucket(s3_env: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket per test; its name is returned."""
    from pipeline.store import make_s3_client

    # The readable part is cut short (63 characters at most), so a hash of the whole test id
    # keeps the parameters of one test from sharing a bucket.
    readable = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-")
    name = f"news-{readable}-{hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]}"
    make_s3_client().create_bucket(Bucket=name)
    return name


def _write_warc(
    path: Path, records: list[tuple[str, int, str, bytes]], date: str = "2020-09-14T10:00:00Z"
) -> Path:
    """Write a gzipped WARC of response records: (url, HTTP status, Content-Type, body)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, status, content_type, body in records:
            http_headers = StatusAndHeaders(
                f"{status} X", [("Content-Type", content_type)], protocol="HTTP/1.1"
            )
            record = writer.create_warc_record(
                url,
                "response",
                payload=io.BytesIO(body),
                http_headers=http_headers,
                warc_headers_dict={"WARC-Date": date},
            )
            writer.write_record(record)
    return path


@pytest.fixture
def write_warc():
    """The WARC writer above, for tests that build their own archives."""
    return _write_warc
