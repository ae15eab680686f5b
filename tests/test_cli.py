"""The command line as an operator uses it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder on a read-only bind mount (root ignores file permissions, not a read-only mount)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        yield folder
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_store_is_refused_before_any_cleaning(read_only_folder: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "ingest", "--input", "seeds", "--store", str(read_only_folder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "PIPELINE_FAILPOINTS": "extract.page=raise"},
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "cannot write to the store folder" in result.stderr
    assert "failpoint" not in result.stderr  # refused before the first page was cleaned


def test_run_id_misuse_is_refused_with_one_line(tmp_path: Path) -> None:
    store = str(tmp_path / "corpus")
    assert run_cli("ingest", "--input", "seeds", "--store", store, "--run-id", "once").returncode == 0
    again = run_cli("ingest", "--input", "seeds", "--store", store, "--run-id", "once")
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "run id 'once' is already committed" in again.stderr
    evil = run_cli("ingest", "--input", "seeds", "--store", store, "--run-id", "../evil")
    assert evil.returncode == 2 and evil.stderr.count("\n") == 1 and "is not allowed" in evil.stderr
    assert not (tmp_path / "evil").exists()
