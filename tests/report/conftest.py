"""A store seeded by real pipeline runs over the dev syndication set, and a real headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright) to look at the pages made from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.corpus import iter_articles, iter_lineage
from pipeline.store import LocalStore
from tests.conftest import SHARED, _write_warc, run_cli

DATASET = SHARED / "eval" / "syndication-dev"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def split_crawl(folder: Path) -> tuple[Path, Path]:
    """The dev WARC's responses dealt alternately into two archives, so the stories of the
    second run's pages are partly in the store already (copies found across runs)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    first, second = folder / "first.warc.gz", folder / "second.warc.gz"
    with (DATASET / "corpus.warc.gz").open("rb") as source, first.open("wb") as a, second.open("wb") as b:
        writers = WARCWriter(a, gzip=True), WARCWriter(b, gzip=True)
        responses = (record for record in ArchiveIterator(source) if record.rec_type == "response")
        for number, record in enumerate(responses):
            writers[number % 2].write_record(record)
    return first, second


# Page URLs that are markup: the pages showing them must print them, never run them.
HOSTILE_URLS = [
    "https://evil.example/</script><script>window.pwned=1</script>",
    'https://evil.example/"><img%20src=x%20onerror="window.pwned=2">',
]


def hostile_pages(folder: Path) -> Path:
    """Inputs the pipeline must reject, each for its own reason."""
    folder.mkdir()
    (folder / "empty.html").write_bytes(b"")
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (folder / "stub.html").write_text("<html><body><p>Read more soon.</p></body></html>")
    records = [(HOSTILE_URLS[0], 200, "text/html", b""), (HOSTILE_URLS[1], 200, "text/html", b"<p>hi</p>")]
    _write_warc(folder / "markup-urls.warc.gz", records)
    return folder


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three committed runs: half the dev set; the other half with pages to reject; the whole
    set again (every page already ingested)."""
    work = tmp_path_factory.mktemp("seeded")
    first, second = split_crawl(work)
    store = work / "store"
    runs = [
        ("dev-1", [first]),
        ("dev-2", [second, hostile_pages(work / "hostile")]),
        ("dev-3", [DATASET / "corpus.warc.gz"]),
    ]
    for run_id, inputs in runs:
        args = [arg for path in inputs for arg in ("--input", str(path))]
        result = run_cli("ingest", *args, "--store", str(store), "--run-id", run_id, "--quiet")
        assert result.returncode == 0, result.stderr
    return store


def gold_story(url: str) -> set[str]:
    """Every URL of the labelled story of `url` (labels.json: URL -> cluster)."""
    labels = json.loads((DATASET / "labels.json").read_text())
    return {other for other, label in labels.items() if label["cluster"] == labels[url]["cluster"]}


def syndicated_url() -> str:
    """A republished copy (not the original) from the largest story of the dev set."""
    labels = json.loads((DATASET / "labels.json").read_text())
    clusters: dict[str, list[str]] = {}
    for url, label in labels.items():
        clusters.setdefault(label["cluster"], []).append(url)
    largest = max(sorted(clusters), key=lambda cluster: len(clusters[cluster]))
    return min(url for url in clusters[largest] if not labels[url]["original"])


def expected_story(store_path: Path, url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The current article and every lineage row of the URL's story, read with pipeline.corpus."""
    store = LocalStore(store_path)
    rows = list(iter_lineage(store))
    story_id = next(row["article_id"] for row in rows if row["url"] == url)
    article = next(a for a in iter_articles(store) if a["id"] == story_id)
    return article, [row for row in rows if row["article_id"] == story_id]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (own cookies) that fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == []
