"""One ingest run over the zoo of hostile inputs and good pages, as an operator starts it.

The run must finish (exit 0), store every good page, and give every hostile input one lineage
row with its reason; nothing else may turn up in the lineage. Peak memory and wall time of
this run are measured by the chaos benchmark, not asserted here.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pipeline.corpus import iter_lineage
from pipeline.store import LocalStore
from tests.chaos.zoo import STORED, Expected, url_of, write_zoo
from tests.conftest import SEEDS, run_cli


def outcome(row: dict) -> str:
    return (
        STORED
        if row["status"] in ("canonical", "duplicate")
        else row["reason"] or f"{row['status']}, no reason"
    )


def problems_of(expected: Expected, rows: dict[str, list[dict]], story_of_seed: dict[str, str]) -> list[str]:
    """What is wrong with the rows an input caused, if anything."""
    found = {url: rows.get(url, []) for url in expected.rows}
    if not any(found.values()):
        return [f"{expected.case}: no lineage row (expected one of {sorted(expected.rows)})"]
    problems = []
    for url, url_rows in found.items():
        if len(url_rows) > 1:
            problems.append(f"{expected.case}: {len(url_rows)} rows for {url}")
        for row in url_rows:
            if outcome(row) not in expected.rows[url]:
                problems.append(
                    f"{expected.case}: {outcome(row)!r} ({row.get('detail')}), expected one of "
                    f"{sorted(expected.rows[url])}"
                )
            elif (
                outcome(row) == STORED
                and expected.copy_of
                and row["article_id"] != story_of_seed[expected.copy_of]
            ):
                problems.append(f"{expected.case}: stored, but not in the story of {expected.copy_of}")
    return problems


def test_one_run_over_the_zoo_keeps_the_good_pages_and_names_every_hostile_input(tmp_path: Path) -> None:
    seeds = sorted(SEEDS.iterdir())
    zoo = write_zoo(tmp_path / "zoo", seeds)
    assert sum(any(outcomes != {STORED} for outcomes in case.rows.values()) for case in zoo) >= 30
    store = tmp_path / "store"
    result = run_cli("ingest", "--input", str(tmp_path / "zoo"), "--input", str(SEEDS), "--store", str(store))
    assert result.returncode == 0, result.stderr[-3000:]

    rows: dict[str, list[dict]] = defaultdict(list)
    for row in iter_lineage(LocalStore(store)):
        rows[row["url"]].append(row)
    seed_rows = {url_of(seed): rows.get(url_of(seed), []) for seed in seeds}
    assert {url: [outcome(row) for row in found] for url, found in seed_rows.items()} == {
        url: [STORED] for url in seed_rows
    }
    story_of_seed = {url: found[0]["article_id"] for url, found in seed_rows.items()}
    problems = [problem for expected in zoo for problem in problems_of(expected, rows, story_of_seed)]
    known = set(seed_rows) | {url for expected in zoo for url in expected.rows}
    problems += [
        f"a row nobody expected: {url} {[outcome(row) for row in rows[url]]}" for url in set(rows) - known
    ]
    assert not problems, "\n".join(problems)
