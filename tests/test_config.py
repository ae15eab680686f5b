"""Settings files: overrides apply, mistakes are refused by name before any work starts."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.config import CleanConfig, Config, DedupConfig, LimitsConfig, RunConfig, load_config
from tests.conftest import run_cli


def settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ValueError) as error:
        load_config(path)
    return str(error.value)


def test_no_file_means_the_defaults() -> None:
    assert load_config() == Config()


def test_the_defaults_keep_their_own_rules() -> None:
    assert Config.model_validate(Config().model_dump()) == Config()


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    assert load_config(settings(tmp_path, "# nothing changed\n")) == Config()


def test_overrides_apply_and_ints_stand_for_floats(tmp_path: Path) -> None:
    config = load_config(
        settings(tmp_path, "clean:\n  min_text_words: 10\ndedup:\n  containment_threshold: 1\n")
    )
    assert config.clean.min_text_words == 10
    assert config.dedup.containment_threshold == 1.0 and isinstance(config.dedup.containment_threshold, float)
    assert config.dedup.num_perm == Config().dedup.num_perm


def test_a_consistent_change_of_several_keys_is_taken(tmp_path: Path) -> None:
    text = (
        "dedup:\n  num_perm: 64\n  bands: 32\nrun:\n  lease_heartbeat_seconds: 1\n  lease_expiry_seconds: 3\n"
    )
    config = load_config(settings(tmp_path, text))
    assert (config.dedup.num_perm, config.dedup.bands, config.dedup.rows) == (64, 32, 2)
    assert config.run.lease_expiry_seconds == 3.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dedup:\n  bandz: 3\n", "unknown setting dedup.bandz (did you mean bands?)"),
        ("cleen:\n  workers: 1\n", "unknown setting cleen (did you mean clean?)"),
        ("run:\n  zzz: 1\n", "unknown setting run.zzz (known: batch_pages, lease_expiry_seconds,"),
        (
            "clean:\n  min_text_words: many\n",
            "clean.min_text_words: Input should be a valid integer, not 'many'",
        ),
        (
            "clean:\n  min_text_words: '10'\n",
            "clean.min_text_words: Input should be a valid integer, not '10'",
        ),
        (
            "clean:\n  min_text_words: true\n",
            "clean.min_text_words: Input should be a valid integer, not True",
        ),
        ("clean:\n  min_text_words: 10.5\n", "clean.min_text_words: Input should be a valid integer"),
        ("clean:\n  learn_templates: 1\n", "clean.learn_templates: Input should be a valid boolean, not 1"),
        (
            "dedup:\n  containment_threshold: yes\n",
            "dedup.containment_threshold: Input should be a valid number",
        ),
        ("clean:\n", "clean: should be a mapping of settings, not None"),
        ("- a list\n", "top level: should be a mapping of settings, not ['a list']"),
        ("limits:\n  max_page_bytes: -1\n", "limits.max_page_bytes: Input should be greater than 0, not -1"),
        ("limits:\n  max_page_bytes: 0\n", "limits.max_page_bytes: Input should be greater than 0"),
        ("limits:\n  max_compression_ratio: 0.5\n", "limits.max_compression_ratio: Input should be greater"),
        ("limits:\n  page_cpu_seconds: .inf\n", "limits.page_cpu_seconds: Input should be a finite number"),
        (
            "limits:\n  page_memory_mb: 64\n",
            "limits.page_memory_mb: Input should be greater than or equal to 256",
        ),
        ("clean:\n  workers: -2\n", "clean.workers: Input should be greater than or equal to 0, not -2"),
        (
            "clean:\n  precise_switch_ratio: 0.5\n",
            "clean.precise_switch_ratio: Input should be greater than or equal to 1",
        ),
        (
            "clean:\n  precise_agree_share: 1.2\n",
            "clean.precise_agree_share: Input should be less than or equal to 1",
        ),
        (
            "clean:\n  language_sample_chars: 0\n",
            "clean.language_sample_chars: Input should be greater than or equal to 1",
        ),
        (
            "clean:\n  template_min_share: 1.5\n",
            "clean.template_min_share: Input should be less than or equal to 1",
        ),
        (
            "clean:\n  template_min_pages: 1\n",
            "clean.template_min_pages: Input should be greater than or equal to 2",
        ),
        (
            "dedup:\n  containment_threshold: 0\n",
            "dedup.containment_threshold: Input should be greater than 0",
        ),
        ("dedup:\n  seed: -1\n", "dedup.seed: Input should be greater than or equal to 0"),
        ("dedup:\n  bands: 0\n", "dedup.bands: Input should be greater than or equal to 1"),
        (
            "run:\n  lease_wait_seconds: -1\n",
            "run.lease_wait_seconds: Input should be greater than or equal to 0",
        ),
        ("dedup:\n  bands: 10\n", "dedup: bands * rows must equal num_perm, but 10 * 2 != 128"),
        (
            "run:\n  lease_expiry_seconds: 10\n",
            "run: lease_expiry_seconds must be at least 3 * lease_heartbeat",
        ),
        ("limits:\n  max_archive_bytes: 1000\n", "limits: max_page_bytes must not exceed max_archive_bytes"),
    ],
)
def test_mistakes_are_refused_by_name_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    problem = refusal(settings(tmp_path, text))
    assert message in problem
    assert problem.startswith(f"config file {tmp_path / 'settings.yaml'}: ")
    assert "\n" not in problem


def test_every_mistake_of_a_file_is_named_at_once(tmp_path: Path) -> None:
    problem = refusal(
        settings(tmp_path, "clean:\n  workers: -1\n  teaser_link_density: 2\ndedup:\n  rows: x\n")
    )
    assert all(key in problem for key in ("clean.workers", "clean.teaser_link_density", "dedup.rows"))
    assert "\n" not in problem


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    assert refusal(tmp_path / "absent.yaml") == f"config file {tmp_path / 'absent.yaml'} does not exist"


def test_a_folder_is_not_a_config_file(tmp_path: Path) -> None:
    assert refusal(tmp_path) == f"config file {tmp_path} cannot be read: Is a directory"


def test_broken_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    problem = refusal(settings(tmp_path, "clean:\n  workers: 1\ndedup: {bands: [1, 2\n"))
    assert "is not valid YAML at line 4" in problem and "\n" not in problem
    assert "at line 3, column 17" in refusal(settings(tmp_path, "clean:\n workers: 1\n  min_text_words: 3\n"))


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_bytes(b"clean:\n  workers: \xff\xfe\n")
    assert refusal(path) == f"config file {path} is not UTF-8 text"


def test_settings_in_code_are_checked_and_frozen() -> None:
    assert Config(clean=CleanConfig(workers=1)).clean.workers == 1
    for wrong in (
        lambda: CleanConfig(workers=-1),
        lambda: CleanConfig(workers="1"),
        lambda: CleanConfig(wokers=1),
        lambda: DedupConfig(bands=10),
        lambda: LimitsConfig(max_page_bytes=-1),
        lambda: RunConfig(lease_heartbeat_seconds=20),
    ):
        with pytest.raises(ValidationError):
            wrong()
    with pytest.raises(ValidationError):
        Config().clean.workers = 3  # type: ignore[misc]
    assert Config().dedup.model_copy(update={"bands": 32, "rows": 4}).rows == 4


def _clean_workers(config: Config) -> int:
    return config.clean.workers


def test_settings_cross_process_boundaries() -> None:
    config = Config(clean=CleanConfig(workers=3), limits=LimitsConfig(max_page_bytes=1234))
    assert pickle.loads(pickle.dumps(config)) == config
    assert hash(config) == hash(
        Config(clean=CleanConfig(workers=3), limits=LimitsConfig(max_page_bytes=1234))
    )
    with ProcessPoolExecutor(1) as pool:
        assert pool.submit(_clean_workers, config).result() == 3


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        (None, "does not exist"),
        ("dedup:\n  bands: [1\n", "is not valid YAML at line"),
        (
            "clean:\n  wokers: 2\n  min_text_words: -5\nlimits:\n  max_page_bytes: many\n"
            "  max_header_bytes: 0\n  page_memory_mb: 0\n",
            "unknown setting clean.wokers",
        ),
    ],
)
def test_the_cli_refuses_a_bad_config_in_one_line_and_writes_nothing(
    tmp_path: Path, config_text: str | None, message: str
) -> None:
    config = tmp_path / "settings.yaml"
    if config_text is not None:
        config.write_text(config_text)
    store = tmp_path / "store"
    result = run_cli("ingest", "--input", "seeds", "--config", str(config), "--store", str(store))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: config file ")
    assert not store.exists()
