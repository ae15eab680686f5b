"""Tunable settings, with defaults that work out of the box.

Every threshold the pipeline uses lives here, so operators change behaviour with a
YAML file (`--config FILE`) and never by editing code. `docs/dedup.md` explains why
the deduplication defaults have the values they have.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class CleanConfig:
    min_text_chars: int = 200  # shorter cleaned texts are rejected as "too_short"
    min_text_words: int = 40
    # A short line seen on at least this many otherwise different pages of one host,
    # and on at least this share of the host's pages in the run, is that host's
    # template (chrome), not content.
    template_min_pages: int = 3
    template_min_share: float = 0.0
    learn_templates: bool = True  # learn site templates in each run (and remember them)
    # Cross-run template memory: sites with fewer pages than this in a run remember all
    # their short lines, so later runs can tell template from content; a remembered
    # line is template once seen on template_memory_min_pages pages over the last
    # template_memory_runs runs.
    template_memory_small_site: int = 10
    template_memory_min_pages: int = 3
    template_memory_runs: int = 50
    template_memory_max_lines: int = 2000  # per site and run, the most frequent first
    # Block rules for HTML (docs/cleaning.md): the precision-minded extraction bounds the
    # article unless it kept less than this share of the words.
    precise_min_share: float = 0.5
    # An article cut into sibling chunks (same tag and class) gets the other chunks' prose
    # paragraphs (at least chunk_min_words each) back when they add at least this many
    # words and this share of what extraction found.
    chunk_min_words: int = 8
    chunk_min_added_words: int = 100
    chunk_min_added_share: float = 0.5
    teaser_max_words: int = 25  # link-dense blocks up to this long, in runs, are teasers
    teaser_link_density: float = 0.7
    # Non-articles: pages whose extracted text is mostly links are "index_page"; short
    # pages that read as errors ("Page not found") are "error_page".
    index_link_density: float = 0.65
    error_page_max_words: int = 150
    workers: int = 0  # processes for cleaning; 0 means one per CPU core
    # --- issue 14: one-pass cleaning (settings to port to the typed config) -------------
    # The precise reading replaces the recall reading when it has this many times its words
    # (live blogs, articles in many blocks, text outside the densest container); >= 1.
    precise_switch_ratio: float = 1.5
    # A recall block agrees with the precise reading when this share (0..1) of its 4-word
    # shingles is in it; what lies between the first and last agreed block is the article.
    precise_agree_share: float = 0.5
    # A "Read more: ..." block whose text is at least this share (0..1) links is a teaser.
    teaser_prefix_link_density: float = 0.5
    # A line is the headline again when its words and the title's overlap this much (Jaccard, 0..1).
    headline_min_overlap: float = 0.8
    # Site template lines have at most this many words; longer shared lines are quoted content.
    template_max_words: int = 30
    # Pages sharing this share (0..1) of the smallest one's words are copies of one story:
    # the lines they share are content, not template.
    template_copy_share: float = 0.5
    # Text scrapes: a date line within the first masthead_max_lines lines marks the headline
    # above it; the last copyright line with at most footer_max_lines after it starts the footer.
    masthead_max_lines: int = 8
    footer_max_lines: int = 5
    menu_max_words: int = 3  # bulleted lines of a text scrape up to this long are menus, tags
    # Pages that declare no author get trafilatura's byline search (about 0.4 ms a page on average).
    author_byline_search: bool = True
    # After a "Related stories" marker, lines of at most this many words that end no sentence
    # are the related links.
    related_link_max_words: int = 14
    caption_max_words: int = 59  # a "... © Credit" line up to this long is a caption
    # Split articles: the chunks are siblings of the text's container or of its ancestors up
    # to this many levels above it.
    chunk_levels: int = 3
    language_sample_chars: int = 500  # language is identified on the text's first characters
    # --- end of issue 14 settings -------------------------------------------------------


@dataclass(frozen=True)
class DedupConfig:
    """Deduplication settings; docs/dedup.md explains each value."""

    shingle_words: int = 5  # words per shingle; a stored index is tied to this value
    num_perm: int = 128  # MinHash permutations
    bands: int = 64  # LSH bands x rows must equal num_perm
    rows: int = 2
    seed: int = 1  # MinHash permutation seed
    minhash_sample: int = 4  # MinHash sees one in this many shingles (the same ones in every copy)
    max_bucket: int = 64  # a page meets at most this many pages of one LSH bucket
    max_candidates: int = 5  # candidate stories verified per page, most shared bands first
    containment_threshold: float = 0.75  # share of the smaller text's own words the other must have
    min_own_words: int = 25  # the smaller text needs this many own words to be judged
    common_stories: int = 3  # a shingle that this many other stories have is common, not evidence
    unzoned_hours: float = 0.0  # a time without zone (and a bare day's ends) is UTC give or take this
    support_tolerance: float = 0.1  # members this close to the fullest one count as full


@dataclass(frozen=True)
class LimitsConfig:
    """Bounds on the work one input may cause, so a hostile file costs a rejection, not the run."""

    max_page_bytes: int = 10_000_000  # larger pages are rejected as "too_large"
    max_archive_bytes: int = 4 << 30  # decompressed bytes read from one archive file at most
    max_compression_ratio: float = 100.0  # decompressed / compressed, past the first 16 MiB
    max_header_bytes: int = 65_536  # one WARC or HTTP header line or block
    page_cpu_seconds: float = 20.0  # CPU time to clean one page
    page_memory_mb: int = 1024  # memory of a cleaning worker process


@dataclass(frozen=True)
class RunConfig:
    """The run protocol (docs/runs.md): the store's lease and how runs wait for it."""

    lease_heartbeat_seconds: float = 5.0  # the holder renews the lease this often
    lease_expiry_seconds: float = 30.0  # a lease not renewed for this long belongs to a dead holder
    lease_wait_seconds: float = 600.0  # how long a run waits for a live holder before exit 2


@dataclass(frozen=True)
class Config:
    clean: CleanConfig = field(default_factory=CleanConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    run: RunConfig = field(default_factory=RunConfig)


def _checked(value: Any, current: Any, name: str) -> Any:
    """`value` if it has the type of the default it replaces (an int may stand for a float)."""
    expected = type(current)
    if expected is float and type(value) is int:
        return float(value)
    if current is not None and type(value) is not expected:
        raise ValueError(f"setting {name!r} must be a {expected.__name__}, not {value!r}")
    return value


def _apply(obj: Any, overrides: Any, path: str = "") -> Any:
    """Return `obj` with `overrides` applied, rejecting unknown keys and wrong types by name."""
    if not isinstance(overrides, dict):
        raise ValueError(f"settings {path.rstrip('.') or '(top level)'} must be a mapping, not {overrides!r}")
    known = {f.name for f in fields(obj)}
    changes = {}
    for key, value in overrides.items():
        if key not in known:
            raise ValueError(f"unknown setting {path}{key!r}; known: {', '.join(sorted(known))}")
        current = getattr(obj, key)
        if is_dataclass(current):
            changes[key] = _apply(current, value, f"{path}{key}.")
        else:
            changes[key] = _checked(value, current, f"{path}{key}")
    return replace(obj, **changes)


def load_config(path: str | Path | None = None) -> Config:
    """The default configuration, overridden by a YAML file when one is given."""
    config = Config()
    if path is None:
        return config
    data = yaml.safe_load(Path(path).read_text()) or {}
    config = _apply(config, data)
    if config.dedup.bands * config.dedup.rows != config.dedup.num_perm:
        raise ValueError("dedup.bands * dedup.rows must equal dedup.num_perm")
    return config
