"""One ingest run over the zoo of hostile inputs and good pages, as an operator starts it.

The run must finish (exit 0), store every good page, and give every hostile input one lineage
row with its reason; nothing else may turn up in the lineage. Peak memory and wall time of
this run are measured by the chaos benchmark, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.corpus import iter_lineage
from pipeline.store import LocalStore
from tests.chaos.zoo import hostile, problems, write_zoo
from tests.conftest import SEEDS, run_cli


def test_one_run_over_the_zoo_keeps_the_good_pages_and_names_every_hostile_input(tmp_path: Path) -> None:
    seeds = sorted(SEEDS.iterdir())
    zoo = write_zoo(tmp_path / "zoo", seeds)
    assert len(hostile(zoo)) >= 30
    store = tmp_path / "store"
    result = run_cli("ingest", "--input", str(tmp_path / "zoo"), "--input", str(SEEDS), "--store", str(store))
    assert result.returncode == 0, result.stderr[-3000:]

    found = problems(zoo, seeds, iter_lineage(LocalStore(store)))
    assert not found, "\n".join(found)
