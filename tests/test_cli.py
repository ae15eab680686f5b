"""The command line as an operator uses it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO, run_cli


def test_help_explains_every_option() -> None:
    result = run_cli("ingest", "--help")
    assert result.returncode == 0
    for option in ("--input", "--store", "--run-id", "--config", "--reprocess", "--quiet"):
        assert option in result.stdout
    assert "s3://bucket/prefix" in result.stdout and "./data/corpus" in result.stdout


def test_ingest_seeds_prints_a_summary(tmp_path: Path) -> None:
    result = run_cli(
        "ingest", "--input", str(REPO / "seeds"), "--store", str(tmp_path / "corpus"), "--run-id", "r1"
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"canonical articles\s*│\s*5\s*│", result.stdout)
    assert re.search(r"duplicates folded\s*│\s*0\s*│", result.stdout)
    assert (tmp_path / "corpus" / "runs" / "r1" / "manifest.json").exists()


def test_default_store_is_data_corpus_in_the_working_folder(tmp_path: Path) -> None:
    result = run_cli("ingest", "--input", str(REPO / "seeds"), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "data" / "corpus" / "runs").iterdir())


def test_problems_are_one_line_errors_not_tracebacks(tmp_path: Path) -> None:
    missing = run_cli("ingest", "--input", str(tmp_path / "nope"), "--store", str(tmp_path / "c"))
    assert (
        missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    )
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("dedup:\n  bandz: 3\n")
    config = run_cli(
        "ingest", "--input", "seeds", "--store", str(tmp_path / "c"), "--config", str(bad_config)
    )
    assert config.returncode == 2 and "unknown setting" in config.stderr
