"""Where everything lives in a store: the one module that knows the keys.

    commits/<sequence:012d>.json           the run manifests, one per committed run: the commit log
    runs/<run_id>/manifest.json            a copy of the run's manifest, to find a run by its id
    articles/run=<run_id>/part-*.jsonl.gz  canonical articles written by the run
    lineage/run=<run_id>/part-*.jsonl.gz   one lineage row per page the run read
    index/segments/<run_id>.seg            the run's additions to the dedup index
    index/merged/<run_id>.seg              segments the run's compaction merged (docs/dedup.md)
    index/HEAD.json                        the committed segments in commit order (a cache of commits/)
    templates/run=<run_id>.json.gz         site template evidence the run learned
    staging/<run_id>/                      extraction results of a scheduled run, before its commit
    locks/<name>/<generation:012d>.json    the lease, one object per holder (docs/runs.md)
    landing/dt=YYYY-MM-DD/hour=HH/         raw pages dropped for the scheduled ingest
    raw/dt=YYYY-MM-DD/<run_id>-<source>-<n>.warc.gz        pages a fetch archived (docs/sources.md)
    discovery/dt=YYYY-MM-DD/<run_id>-<source>-<n>.warc.gz  robots.txt, feeds and sitemaps it read
    pending-ingest/<raw archive key>       a fetched archive no committed ingest has read yet
    fetch-state/<host>/<url hash>.json     what a fetch knows of a URL (validators, last outcome)

A run's objects are invisible until its manifest is in `commits/`: readers list that prefix
only (docs/corpus.md). Run ids go into keys, so they are checked here too.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

COMMITS_PREFIX = "commits/"
RUNS_PREFIX = "runs/"
ARTICLES_PREFIX = "articles/"
LINEAGE_PREFIX = "lineage/"
SEGMENT_PREFIX = "index/segments/"
MERGED_PREFIX = "index/merged/"
HEAD_KEY = "index/HEAD.json"
TEMPLATES_PREFIX = "templates/"
STAGING_PREFIX = "staging/"
LOCKS_PREFIX = "locks/"
LANDING_PREFIX = "landing/"
PAGES_AREA = "raw"
DISCOVERY_AREA = "discovery"
PENDING_PREFIX = "pending-ingest/"
FETCH_STATE_PREFIX = "fetch-state/"

INDEX_LEASE = "index"  # the one lease a store has: the right to change the index and commit

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TEMPLATES_KEY = re.compile(r"^templates/run=(?P<run_id>[^/]+)\.json\.gz$")
_COMMIT_KEY = re.compile(r"^commits/(?P<sequence>\d{12})\.json$")


class BadRunId(ValueError):
    """A run id that cannot name objects safely."""


def check_run_id(run_id: str) -> str:
    """`run_id` if it matches RUN_ID_PATTERN (letters, digits, `_.-`, at most 128, starting with a
    letter or digit, no `..`): nothing path-like can reach a key."""
    if not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        raise BadRunId(
            f"run id {run_id!r} is not allowed: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, without '..'"
        )
    return run_id


# --- the commit log and the run manifests ----------------------------------------------------


def commit_key(sequence: int) -> str:
    return f"{COMMITS_PREFIX}{sequence:012d}.json"


def commit_sequence(key: str) -> int | None:
    """The sequence number a commit key names, or None for any other key."""
    match = _COMMIT_KEY.match(key)
    return int(match["sequence"]) if match else None


def manifest_key(run_id: str) -> str:
    return f"{RUNS_PREFIX}{run_id}/manifest.json"


# --- a run's objects -------------------------------------------------------------------------


def articles_prefix(run_id: str) -> str:
    return f"{ARTICLES_PREFIX}run={run_id}"


def lineage_prefix(run_id: str) -> str:
    return f"{LINEAGE_PREFIX}run={run_id}"


def part_key(prefix: str, number: int) -> str:
    return f"{prefix}/part-{number:05d}.jsonl.gz"


def segment_key(run_id: str, batch: int = 0) -> str:
    """The index segment of a run's batch: the first batch's beside the others' folder."""
    return (
        f"{SEGMENT_PREFIX}{run_id}.seg" if batch == 0 else f"{batch_segments_prefix(run_id)}{batch:05d}.seg"
    )


def batch_segments_prefix(run_id: str) -> str:
    return f"{SEGMENT_PREFIX}{run_id}/"


def merged_segment_key(run_id: str) -> str:
    return f"{MERGED_PREFIX}{run_id}.seg"


def templates_key(run_id: str) -> str:
    return f"{TEMPLATES_PREFIX}run={run_id}.json.gz"


def templates_run(key: str) -> str | None:
    """The run id a templates key names, or None for any other key."""
    match = _TEMPLATES_KEY.match(key)
    return match["run_id"] if match else None


def staging_prefix(run_id: str) -> str:
    return f"{STAGING_PREFIX}{run_id}/"


def staging_key(run_id: str, name: str) -> str:
    """A scheduled run's working object `name` (extraction output, prepared batches, probes)."""
    return f"{staging_prefix(run_id)}{name}"


def run_outputs(run_id: str) -> tuple[list[str], list[str]]:
    """(prefixes, keys) of what a run writes before its commit, for tidying an abandoned run.
    Staging is not among them: a retried scheduled run still needs it."""
    return (
        [articles_prefix(run_id) + "/", lineage_prefix(run_id) + "/", batch_segments_prefix(run_id)],
        [segment_key(run_id), merged_segment_key(run_id), templates_key(run_id)],
    )


# --- the lease -------------------------------------------------------------------------------


def lease_prefix(name: str) -> str:
    return f"{LOCKS_PREFIX}{name}/"


def lease_key(name: str, generation: int) -> str:
    return f"{lease_prefix(name)}{generation:012d}.json"


def lease_generation(key: str) -> int | None:
    name = key.rsplit("/", 1)[-1]
    stem = name.removesuffix(".json")
    return int(stem) if name.endswith(".json") and stem.isdigit() else None


# --- the landing area ------------------------------------------------------------------------


def landing_prefix(hour: datetime) -> str:
    """Key prefix of the landing partition holding raw pages that arrived in `hour` (UTC)."""
    if hour.tzinfo is None:
        hour = hour.replace(tzinfo=UTC)
    hour = hour.astimezone(UTC)
    return f"{LANDING_PREFIX}dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def landing_prefixes(start: datetime, end: datetime) -> list[str]:
    """Landing partitions of every hour that overlaps the window [start, end)."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    while hour < end:
        prefixes.append(landing_prefix(hour))
        hour += timedelta(hours=1)
    return prefixes


# --- what a fetch keeps --------------------------------------------------------------------


def archive_prefix(area: str, day: date, run_id: str, source_name: str) -> str:
    """Key prefix of the WARC parts one source wrote in one run, in `raw` or `discovery`."""
    return f"{area}/dt={day.isoformat()}/{run_id}-{source_name}-"


def pending_key(archive_key: str) -> str:
    return PENDING_PREFIX + archive_key


def fetch_state_key(url: str) -> str:
    """One object per URL, filed under its host so a listing of one host stays small."""
    parts = urlsplit(url)
    host = re.sub(r"[^A-Za-z0-9.-]", "_", parts.netloc.rpartition("@")[2]) or "_"
    return f"{FETCH_STATE_PREFIX}{host}/{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"
