"""Limits per exchange, each with its own reason: one deadline for connecting, the headers and the body
(`timeout`), the body size while it streams (`too_large`), the number of redirects (`too_many_redirects`)."""

from __future__ import annotations

import time

import pytest

from pipeline.fetch import FetchContext, fetch_urls
from pipeline.store import LocalStore
from tests.fetch.site import FixtureSite, quick_source

RUN = "20240501T060000Z"
DEADLINE = 2.0


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_a_dripping_server_is_cut_at_the_deadline(site: FixtureSite, store: LocalStore, path: str) -> None:
    """The site sends a byte (or a header line) every 0.1 s for 10 s: each read is quick, the whole is not."""
    url = f"{site.url}{path}"
    source = quick_source("drip", "urls", url, timeout=DEADLINE, retries=0)
    started = time.monotonic()
    summary = fetch_urls(source, [url], FetchContext(store, RUN, allow_private=True))
    elapsed = time.monotonic() - started
    assert summary.failed == {"timeout": 1}
    assert elapsed <= DEADLINE + 1.0, f"took {elapsed:.1f}s"


def test_a_body_growing_past_the_limit_is_refused_while_streaming(
    site: FixtureSite, store: LocalStore
) -> None:
    url = f"{site.url}/huge-stream"  # no Content-Length: only the bytes read so far can tell
    summary = fetch_urls(
        quick_source("big", "urls", url, max_bytes=50_000),
        [url],
        FetchContext(store, RUN, allow_private=True),
    )
    assert summary.failed == {"too_large": 1}


@pytest.mark.parametrize(("max_redirects", "outcome"), [(0, "too_many_redirects"), (1, "fetched")])
def test_redirects_beyond_the_maximum_are_refused(
    site: FixtureSite, store: LocalStore, max_redirects: int, outcome: str
) -> None:
    url = f"{site.url}/moved"  # one redirect, to an article
    source = quick_source("moved", "urls", url, max_redirects=max_redirects)
    summary = fetch_urls(source, [url], FetchContext(store, RUN, allow_private=True))
    assert (summary.fetched == 1) if outcome == "fetched" else (summary.failed == {outcome: 1})
