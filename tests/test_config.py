"""Settings files: overrides apply, mistakes are refused by name before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config, load_config


def settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def test_no_file_means_the_defaults() -> None:
    assert load_config() == Config()


def test_overrides_apply_and_ints_stand_for_floats(tmp_path: Path) -> None:
    config = load_config(
        settings(tmp_path, "clean:\n  min_text_words: 10\ndedup:\n  containment_threshold: 1\n")
    )
    assert config.clean.min_text_words == 10
    assert config.dedup.containment_threshold == 1.0 and isinstance(config.dedup.containment_threshold, float)
    assert config.dedup.num_perm == Config().dedup.num_perm


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dedup:\n  bandz: 3\n", "unknown setting dedup.'bandz'"),
        ("clean:\n  min_text_words: many\n", "setting 'clean.min_text_words' must be a int"),
        ("clean:\n  min_text_words: true\n", "must be a int"),
        ("clean:\n", "settings clean must be a mapping"),
        ("- a list\n", "settings (top level) must be a mapping"),
        ("dedup:\n  bands: 10\n", "bands * dedup.rows must equal dedup.num_perm"),
    ],
)
def test_mistakes_are_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        load_config(settings(tmp_path, text))
    assert message in str(error.value)
