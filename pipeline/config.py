"""Tunable settings, with defaults that work out of the box.

Every threshold the pipeline uses lives here, so operators change behaviour with a
YAML file (`--config FILE`) and never by editing code. `docs/dedup.md` explains why
the deduplication defaults have the values they have.

The settings are typed models: a file with an unknown key, a value of the wrong type
("10" or `true` where a number belongs) or a value out of range is refused before any
work starts, with one line naming the key. An int may stand for a float.
"""

from __future__ import annotations

import difflib
import reprlib
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Settings(BaseModel):
    """Immutable (safe to share with worker processes), strict, and closed to unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def share(default: float, description: str) -> Any:
    """A field holding a share of something: a number from 0 to 1."""
    return Field(default, ge=0.0, le=1.0, description=description)


class CleanConfig(Settings):
    """Cleaning settings; docs/cleaning.md explains the rules they tune."""

    min_text_chars: int = Field(200, ge=0, description='shorter cleaned texts are rejected as "too_short"')
    min_text_words: int = Field(40, ge=0)
    # A short line seen on at least this many otherwise different pages of one host,
    # and on at least this share of the host's pages in the run, is that host's
    # template (chrome), not content. One page alone cannot show a template.
    template_min_pages: int = Field(3, ge=2)
    template_min_share: float = share(0.0, "share of a host's pages in the run a template line is on")
    learn_templates: bool = Field(True, description="learn site templates in each run (and remember them)")
    # Cross-run template memory: sites with fewer pages than this in a run remember all
    # their short lines, so later runs can tell template from content; a remembered
    # line is template once seen on template_memory_min_pages pages over the last
    # template_memory_runs runs.
    template_memory_small_site: int = Field(10, ge=0)
    template_memory_min_pages: int = Field(3, ge=1)
    template_memory_runs: int = Field(50, ge=1)
    template_memory_max_lines: int = Field(
        2000, ge=0, description="per site and run, the most frequent first"
    )
    # Block rules for HTML (docs/cleaning.md): the precision-minded extraction bounds the
    # article unless it kept less than this share of the words.
    precise_min_share: float = share(0.5, "share of the words the precise extraction must keep")
    # An article cut into sibling chunks (same tag and class) gets the other chunks' prose
    # paragraphs (at least chunk_min_words each) back when they add at least this many
    # words and this share of what extraction found (more than 1: more than it found).
    chunk_min_words: int = Field(8, ge=1)
    chunk_min_added_words: int = Field(100, ge=0)
    chunk_min_added_share: float = Field(0.5, ge=0.0)
    teaser_max_words: int = Field(
        25, ge=0, description="link-dense blocks up to this long, in runs, are teasers"
    )
    teaser_link_density: float = share(0.7, "share of a teaser's words that are link text")
    # Non-articles: pages whose extracted text is mostly links are "index_page"; short
    # pages that read as errors ("Page not found") are "error_page".
    index_link_density: float = share(0.65, "share of link words that makes a page an index page")
    error_page_max_words: int = Field(150, ge=0)
    workers: int = Field(0, ge=0, description="processes for cleaning; 0 means one per CPU core")
    # One parse read twice (docs/cleaning.md): the precise reading replaces the recall
    # reading when it has this many times its words (live blogs, articles in many blocks,
    # text outside the densest container).
    precise_switch_ratio: float = Field(
        1.5, ge=1.0, description="words of the precise reading over the recall one that switch to it"
    )
    # A recall block agrees with the precise reading when this share of its 4-word
    # shingles is in it; what lies between the first and last agreed block is the article.
    precise_agree_share: float = share(0.5, "share of a block's shingles the precise reading must have")
    teaser_prefix_link_density: float = share(
        0.5, 'share of link text that makes a "Read more: ..." block a teaser'
    )
    headline_min_overlap: float = share(
        0.8, "word overlap (Jaccard) with the title that makes a line the headline again"
    )
    template_max_words: int = Field(
        30, ge=1, description="site template lines have at most this many words (longer: quoted content)"
    )
    # Pages sharing this share of the smallest one's words are copies of one story: the
    # lines they share are content, not template.
    template_copy_share: float = share(0.5, "share of words shared that makes pages copies of one story")
    # Text scrapes: a date line within the first masthead_max_lines lines marks the headline
    # above it; the last copyright line with at most footer_max_lines after it starts the footer.
    masthead_max_lines: int = Field(8, ge=0)
    footer_max_lines: int = Field(5, ge=0)
    menu_max_words: int = Field(
        3, ge=0, description="bulleted lines of a text scrape up to this long are menus and tags"
    )
    author_byline_search: bool = Field(
        True, description="pages that declare no author get trafilatura's byline search"
    )
    related_link_max_words: int = Field(
        14, ge=0, description='after a "Related stories" marker, lines this long that end no sentence go'
    )
    caption_max_words: int = Field(59, ge=0, description='a "... © Credit" line up to this long is a caption')
    chunk_levels: int = Field(
        3, ge=0, description="split articles: chunks are siblings of the container or of this many ancestors"
    )
    language_sample_chars: int = Field(
        500, ge=1, description="language is identified on this many first characters of the text"
    )


class DedupConfig(Settings):
    """Deduplication settings; docs/dedup.md explains each value."""

    shingle_words: int = Field(5, ge=1, description="words per shingle; a stored index is tied to this value")
    num_perm: int = Field(128, ge=1, description="MinHash permutations")
    bands: int = Field(64, ge=1, description="LSH bands x rows must equal num_perm")
    rows: int = Field(2, ge=1)
    seed: int = Field(1, ge=0, lt=1 << 32, description="MinHash permutation seed (numpy takes 32 bits)")
    minhash_sample: int = Field(
        4, ge=1, description="MinHash sees one in this many shingles (the same ones in every copy)"
    )
    containment_sample: int = Field(
        8,
        ge=0,
        description="one shingle in this many is also a candidate key, for truncated and extended copies "
        "(0: bands only)",
    )
    containment_keys: int = Field(
        64, ge=1, description="of those, a text keeps at most this many (the lowest hashes), spread over it"
    )
    max_bucket: int = Field(64, ge=1, description="a page meets at most this many pages of one LSH bucket")
    # How the batch work is cut up: these change speed and memory, never a decision.
    text_batch_characters: int = Field(
        1 << 20, ge=1, description="texts are split into words in groups of about this many characters"
    )
    signature_block: int = Field(
        8192, ge=1, description="hash values per block of the batch MinHash (permutations x block in cache)"
    )
    frequency_counters: int = Field(
        4, ge=1, le=1024, description="story-frequency counters per distinct shingle (fewer: more collisions)"
    )
    max_candidates: int = Field(
        5, ge=1, description="candidate stories verified per page, most shared bands first"
    )
    containment_threshold: float = Field(
        0.75, gt=0.0, le=1.0, description="share of the smaller text's own words the other must have"
    )
    min_own_words: int = Field(
        25, ge=1, description="the smaller text needs this many own words to be judged"
    )
    common_stories: int = Field(
        3,
        ge=1,
        le=254,  # StoryFrequency.CEILING - 1: story counts stop at 255
        description="a shingle that this many other stories have is common, not evidence",
    )
    unzoned_hours: float = Field(
        0.0,
        ge=0.0,
        le=24.0,
        description="a time without zone (and a bare day's ends) is UTC give or take this",
    )
    support_tolerance: float = share(0.1, "members this close to the fullest one count as full")
    # The stored index (docs/dedup.md, "The index"): hashed tables probed bucket by bucket.
    index_bucket_entries: int = Field(
        32, ge=1, le=4096, description="mean entries per bucket of an index table; a probe reads one bucket"
    )
    index_filter_bits: int = Field(
        16,
        ge=0,
        le=1024,
        description="filter bits per entry beside each bucket: a probe reads the bucket only when its "
        "key's bits are set (0: no filter)",
    )
    index_filter_hashes: int = Field(
        3, ge=1, le=4, description="bits a key sets in its word of its bucket's filter"
    )
    index_read_gap: int = Field(
        4, ge=0, description="a probe reads up to this many unneeded buckets rather than split a range"
    )
    index_probe_batch: int = Field(
        1024,
        ge=1,
        le=1 << 20,
        description="keys probed at a time, which bounds a probe's buffers and the file pages it maps (MB)",
    )
    index_cache_dir: str | None = Field(
        None, description="folder of local copies of S3 index segments (default: the user's cache folder)"
    )
    index_cache_mb: int = Field(
        4096,
        ge=0,
        le=1 << 24,
        description="MB of S3 index segments kept locally (least recently used go first); 0: ranged GETs",
    )
    compaction_fanout: int = Field(
        4, ge=2, le=64, description="this many segments of one level at the index's tail are merged"
    )
    index_sweep_after_commits: int = Field(
        10,
        ge=1,
        description="segments a compaction replaced are deleted this many commits later, when no run "
        "reads them any more",
    )
    # A compaction streams its merge (docs/dedup.md, "The index"): these bound its memory, never its result.
    compaction_chunk_entries: int = Field(
        1 << 16,
        ge=1,
        le=1 << 24,
        description="table entries a compaction merges at a time (about 250 bytes of memory an entry)",
    )
    compaction_chunk_bytes: int = Field(
        4 << 20,
        ge=1,
        le=1 << 32,
        description="bytes of story records a compaction copies at a time (about 4 times this in memory)",
    )

    @model_validator(mode="after")
    def _bands_cover_the_signature(self) -> Self:
        if self.bands * self.rows != self.num_perm:
            raise ValueError(
                f"bands * rows must equal num_perm, but {self.bands} * {self.rows} != {self.num_perm}"
            )
        return self

    @model_validator(mode="after")
    def _filter_bits_stay_apart(self) -> Self:
        # A key's filter word comes from its bits 6-15 and its other bits from 16 on
        # (`segments._filter_masks`): more than 1,024 words a bucket would mix them.
        if self.index_filter_bits * self.index_bucket_entries > 1024 * 64:
            raise ValueError(
                "index_filter_bits * index_bucket_entries must be at most 65,536 "
                "(1,024 filter words a bucket)"
            )
        return self


class LimitsConfig(Settings):
    """Bounds on the work one input may cause, so a hostile file costs a rejection, not the run."""

    max_page_bytes: int = Field(10_000_000, gt=0, description='larger pages are rejected as "too_large"')
    max_archive_bytes: int = Field(
        4 << 30, gt=0, description="decompressed bytes read from one archive file at most"
    )
    max_compression_ratio: float = Field(
        100.0, ge=1.0, description="decompressed / compressed, past the first 16 MiB"
    )
    # A WARC record's own header block alone is several hundred bytes.
    max_header_bytes: int = Field(65_536, ge=1024, description="one WARC or HTTP header line or block")
    page_cpu_seconds: float = Field(20.0, gt=0.0, description="CPU time to clean one page")
    # A cleaning worker holds about 110 MB of libraries before it reads a page; real pages of
    # the dev sets clean the same at 300. Two workers at 512 keep a run under 1.5 GB.
    page_memory_mb: int = Field(512, ge=256, description="memory of a cleaning worker process")

    @model_validator(mode="after")
    def _a_page_fits_in_an_archive(self) -> Self:
        if self.max_page_bytes > self.max_archive_bytes:
            raise ValueError(
                "max_page_bytes must not exceed max_archive_bytes: no page in an archive could be that large"
            )
        return self


class RunConfig(Settings):
    """The run protocol (docs/runs.md): the store's lease, how runs wait for it, what they write."""

    lease_heartbeat_seconds: float = Field(5.0, gt=0.0, description="the holder renews the lease this often")
    lease_expiry_seconds: float = Field(
        30.0, gt=0.0, description="a lease not renewed for this long belongs to a dead holder"
    )
    lease_wait_seconds: float = Field(
        600.0, ge=0.0, description="how long a run waits for a live holder before exit 2"
    )
    part_records: int = Field(5000, ge=1, description="records per article or lineage object a run writes")
    batch_pages: int = Field(
        2000,
        ge=1,
        description="pages deduplicated and written at a time: the run's memory is bounded by a batch, "
        "not by the run's size",
    )

    @model_validator(mode="after")
    def _expiry_spans_several_heartbeats(self) -> Self:
        # A live holder must be able to miss a couple of renewals (a slow store, a busy
        # machine) before anyone may declare it dead and take its lease.
        if self.lease_expiry_seconds < 3 * self.lease_heartbeat_seconds:
            raise ValueError(
                "lease_expiry_seconds must be at least 3 * lease_heartbeat_seconds, but "
                f"{self.lease_expiry_seconds:g} < 3 * {self.lease_heartbeat_seconds:g}"
            )
        return self


class Config(Settings):
    """All settings, by section: the top-level keys of a settings file."""

    clean: CleanConfig = Field(default_factory=CleanConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    run: RunConfig = Field(default_factory=RunConfig)


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The setting names allowed where `loc` points (its last part is the key itself)."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        model = model.model_fields[str(part)].annotation  # type: ignore[assignment]
    return sorted(model.model_fields)


def _problem(error: Any) -> str:
    """One validation error as 'where: what', the key path dotted the way the file nests it."""
    loc, kind = error["loc"], error["type"]
    where = ".".join(str(part) for part in loc) or "top level"
    given = reprlib.repr(error["input"])
    if kind == "extra_forbidden":
        known = _known_keys(loc)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
        return f"unknown setting {where} ({hint})"
    if kind == "model_type":
        return f"{where}: should be a mapping of settings, not {given}"
    if kind == "value_error":  # a cross-field rule, named after its section
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    return f"{where}: {error['msg']}, not {given}"


def load_config(path: str | Path | None = None) -> Config:
    """The default configuration, overridden by a YAML file when one is given.

    Every mistake is a ValueError of one line that names the file or key at fault.
    """
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file {path} is not UTF-8 text") from None
    except OSError as err:
        raise ValueError(f"config file {path} cannot be read: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "unreadable YAML"
        raise ValueError(f"config file {path} is not valid YAML{where}: {problem}") from None
    try:
        return Config.model_validate({} if data is None else data)
    except ValidationError as err:
        problems = "; ".join(_problem(error) for error in err.errors())
        raise ValueError(f"config file {path}: {problems}") from None
