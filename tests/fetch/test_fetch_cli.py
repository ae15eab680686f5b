"""`python -m pipeline fetch` and `ingest --sources`, as an operator runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pipeline.corpus import iter_articles, iter_lineage
from pipeline.pending import pending_archives
from pipeline.records import RawPage
from pipeline.store import LocalStore
from tests.conftest import REPO, run_cli
from tests.fetch.site import QUICK_OPTIONS, FixtureSite, sources_yaml
from tests.fetch.test_fetch_site import read_back


def sitemap_sources(site: FixtureSite, tmp_path: Path) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        sources_yaml(site.url, **QUICK_OPTIONS).replace(
            f"- name: fixture-feed\n  feed: {site.url}/feed.xml\n", ""
        )
    )
    return path


def test_fetch_command_archives_pages_and_prints_a_summary(site: FixtureSite, tmp_path: Path) -> None:
    store = tmp_path / "corpus"
    args = (
        "fetch",
        "--sources",
        str(sitemap_sources(site, tmp_path)),
        "--store",
        str(store),
        "--run-id",
        "r1",
    )
    refused = run_cli(*args)
    assert refused.returncode == 0 and "blocked_address" in refused.stdout, refused  # 127.0.0.1 is private
    assert sum(site.hits.values()) == 0

    result = run_cli(*args, "--allow-private")
    assert result.returncode == 0, result.stderr
    assert "fetched" in result.stdout and " 5 " in result.stdout, result
    assert LocalStore(store).list("raw/")


def test_ingest_with_sources_fetches_cleans_and_stores(site: FixtureSite, tmp_path: Path) -> None:
    store = tmp_path / "corpus"
    sources = sitemap_sources(site, tmp_path)
    result = run_cli("ingest", "--sources", str(sources), "--store", str(store), "--allow-private", "--quiet")
    assert result.returncode == 0, result.stderr
    articles = list(iter_articles(LocalStore(store)))
    assert len(articles) == 5  # five distinct pages (article 1, copied by /syndicated/1, is in the feed)


def test_a_broken_sources_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources: [{name: a, feed: 'https://example.org/rss', rate: fast}]")
    result = run_cli("fetch", "--sources", str(bad), "--store", str(tmp_path / "c"))
    assert result.returncode == 2
    assert "option 'rate' must be a number >= 0" in " ".join(result.stderr.split())  # rich wraps lines
    assert "Traceback" not in result.stderr


def test_fetch_then_ingest_stores_every_fetched_page_once(site: FixtureSite, tmp_path: Path) -> None:
    """The two-step flow: what `fetch` archived is ingested by the next `ingest`, and by no later one."""
    store, sources = tmp_path / "corpus", str(sitemap_sources(site, tmp_path))
    common = ("--store", str(store), "--allow-private", "--quiet")
    fetched = run_cli("fetch", "--sources", sources, *common)
    assert fetched.returncode == 0, fetched.stderr
    archives = pending_archives(LocalStore(store))
    assert archives and all(key.startswith("raw/") for key in archives)
    fetched_urls = {
        item.url
        for key in archives
        for item in read_back(LocalStore(store), [key])
        if isinstance(item, RawPage)
    }

    first = run_cli("ingest", "--sources", sources, *common)  # fetches nothing new, ingests the archives
    assert first.returncode == 0, first.stderr
    lineage = list(iter_lineage(LocalStore(store)))
    assert fetched_urls <= {row["url"] for row in lineage}  # every fetched page went into the corpus
    assert len(list(iter_articles(LocalStore(store)))) == 5
    assert pending_archives(LocalStore(store)) == []

    for again in (("ingest", "--sources", sources, *common), ("ingest", "--store", str(store), "--quiet")):
        result = run_cli(*again)
        assert "nothing to ingest" in " ".join(result.stdout.split() + result.stderr.split()), result
    assert len(list(iter_lineage(LocalStore(store)))) == len(lineage)  # nothing added, nothing twice


def test_fetch_prints_a_table_per_host_on_request(site: FixtureSite, tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(sources_yaml(site.url, **QUICK_OPTIONS))  # feed and sitemap: every kind of outcome
    args = ("fetch", "--sources", str(path), "--store", str(tmp_path / "corpus"), "--allow-private")
    result = run_cli(*args, "--per-host")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "host" in line and "fetched" in line)
    row = next(line for line in result.stdout.splitlines() if site.url in line)
    assert [cell.strip() for cell in header.split("┃")[2:6]] == [
        "fetched",
        "not modified",
        "skipped",
        "failed",
    ]
    assert [cell.strip() for cell in row.split("│")[2:6]] == ["11", "0", "1", "6"]  # as in test_fetch_site


def test_a_fetch_killed_mid_run_loses_no_page_to_the_next_ingest(site: FixtureSite, tmp_path: Path) -> None:
    """kill -9 while pages are fetched but their archive part is not stored yet: none of them counts as
    fetched, so the next fetch asks again, and the next ingest stores them all."""
    articles = [f"{site.url}/articles/{n}" for n in range(1, 7)]
    hanging = tmp_path / "hanging.yaml"  # /drip keeps the run going for 10 s
    hanging.write_text(
        yaml.safe_dump(
            {"defaults": {"rate": 0}, "sources": [{"name": "list", "urls": [*articles, f"{site.url}/drip"]}]}
        )
    )
    again = tmp_path / "again.yaml"
    again.write_text(
        yaml.safe_dump({"defaults": {"rate": 0}, "sources": [{"name": "list", "urls": articles}]})
    )
    store = tmp_path / "corpus"
    common = ("--store", str(store), "--allow-private", "--quiet")

    fetching = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "fetch", "--sources", str(hanging), *common],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    site.wait_for_hit("/drip")
    for url in articles:
        site.wait_for_hit(url.removeprefix(site.url))
    time.sleep(0.5)  # their answers are read and held in the part being written
    fetching.kill()
    assert fetching.wait(timeout=30) == -signal.SIGKILL
    waiting = set(pending_archives(LocalStore(store)))
    states = [
        json.loads(Path(LocalStore(store).location(key)).read_text())
        for key in LocalStore(store).list("fetch-state/")
    ]
    assert waiting == set() and states == []  # nothing remembered as fetched without its archive

    assert run_cli("fetch", "--sources", str(again), *common).returncode == 0
    assert run_cli("ingest", *common).returncode == 0
    ingested = {row["url"] for row in iter_lineage(LocalStore(store))}
    assert set(articles) <= ingested
    assert {a["url"] for a in iter_articles(LocalStore(store))} == set(articles)
