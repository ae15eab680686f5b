"""The whole ingest path on the labelled syndication set: accuracy floors as regression guards.

The benchmark (`bench/dedup.py`) prints the full figures; this test only fails when they
fall below the targets of the product's issues.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.dedup import score
from pipeline.corpus import iter_lineage
from pipeline.runner import ingest
from pipeline.store import LocalStore
from tests.conftest import SHARED

DATASET = SHARED / "eval" / "syndication-dev"

pytestmark = pytest.mark.skipif(not DATASET.is_dir(), reason=f"{DATASET} is not beside the checkout")


def test_syndicated_copies_are_found_and_stories_kept_apart(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "corpus")
    summary = ingest([str(DATASET / "corpus.warc.gz")], store, "syndication")
    labels = json.loads((DATASET / "labels.json").read_text())
    assert summary.pages_in == len(labels) and summary.rejected == {}
    result = score(labels, list(iter_lineage(store)))
    assert result["pair_f1"] >= 0.98
    assert result["pair_precision"] >= 0.99
    assert result["canonical_is_original"] >= 0.95
