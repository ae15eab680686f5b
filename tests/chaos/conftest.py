"""Fixtures of the chaos tests: the crawl every run reads, its settings, and an uninterrupted run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipeline.store import open_store
from tests.chaos.runs import PAGES, SETTINGS, Run, placed, write_crawl


@pytest.fixture(scope="session")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_crawl(tmp_path_factory.mktemp("crawl") / "crawl.warc.gz")


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("settings") / "settings.yaml"
    path.write_text(SETTINGS)
    return path


@pytest.fixture(scope="session")
def reference(
    tmp_path_factory: pytest.TempPathFactory, crawl: Path, settings: Path
) -> tuple[Run, Counter, int]:
    """An uninterrupted run: its time, and the lineage rows and stories every crashed store must end with."""
    uri = str(tmp_path_factory.mktemp("reference") / "corpus")
    run = Run(uri, crawl, settings, {})
    assert run.returncode == 0, run.stderr
    rows, stories = placed(open_store(uri))
    assert sum(rows.values()) == PAGES and set(rows.values()) == {1}
    return run, rows, stories
