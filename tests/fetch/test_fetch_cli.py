"""`python -m pipeline fetch` and `ingest --sources`, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from pipeline.corpus import iter_articles
from pipeline.store import LocalStore
from tests.conftest import run_cli
from tests.fetch.site import QUICK_OPTIONS, FixtureSite, sources_yaml


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
