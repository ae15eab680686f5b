"""Airflow glue shared by the news DAGs: the corpus store behind the `news_s3` connection, and
the run stages every ingesting DAG ends with.

The DAG files only decide which inputs a run reads and under which pipeline run id; the tasks
here turn that into `pipeline.runner` calls. Every stage is idempotent for a run id, so an
Airflow retry or a rerun of the same run never writes anything twice.

`pipeline` is imported inside the tasks: DAG files are parsed often, and the cleaning and
dedup libraries are slow to import.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias, Param, Variable, task
from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk.definitions.xcom_arg import XComArg

    from pipeline.config import Config
    from pipeline.fetch import Politeness
    from pipeline.runner import RunSummary
    from pipeline.store import Store

NEWS_S3_CONN_ID = "news_s3"
STORE_URI_VARIABLE = "news_store_uri"
DEFAULT_STORE_URI = "s3://news-corpus/"
CONFIG_PATH_VARIABLE = "news_config_path"  # optional YAML file of pipeline settings, readable by workers
REDIS_URL_VARIABLE = "news_redis_url"  # optional Redis database where fetch tasks share per-host politeness
# extract_shard tasks run in this pool (made by airflow-init, 2 slots), each with at most this many
# cleaning processes: 2 x 2 processes keep a 4-core worker busy without oversubscribing it.
EXTRACT_POOL = "news_extract"
EXTRACT_PROCESSES_VARIABLE = "news_extract_processes"
DEFAULT_EXTRACT_PROCESSES = 2

# Both ingesting DAGs' Params for their stages.
STAGE_PARAMS = {
    "shards": Param(4, type="integer", minimum=1, maximum=64, description="Parallel cleaning tasks"),
    "dedup_partitions": Param(
        4,
        type="integer",
        minimum=1,
        maximum=64,
        description="Parallel tasks probing the dedup index, each for a share of the candidate keys",
    ),
}

news_corpus = Asset("news_corpus")
# commit_run sends its `news_corpus` event through this alias, so it can send none: a task's
# plain outlets get an event at every success, a rerun of a committed run included.
news_corpus_commits = AssetAlias("news_corpus_commits")

log = logging.getLogger(__name__)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "news",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=1),
}


def s3_client():
    """A boto3 S3 client from the `news_s3` connection: credentials, region and endpoint_url,
    with the pipeline's client settings (checksums only when required, bounded retries)
    whatever the connection's extra says."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from pipeline.store import s3_client_config

    hook = AwsBaseHook(aws_conn_id=NEWS_S3_CONN_ID, client_type="s3")
    return hook.get_client_type(config=hook.config.merge(s3_client_config()))


def connect(locations: list[str] | None = None) -> tuple[Store, Any]:
    """The corpus store named by the `news_store_uri` Variable, and the S3 client (or None)
    that also reads `locations`; one client serves both."""
    from pipeline.store import open_store

    uri = Variable.get(STORE_URI_VARIABLE, default=DEFAULT_STORE_URI)
    needs_s3 = any(location.startswith("s3://") for location in [uri, *(locations or [])])
    client = s3_client() if needs_s3 else None
    return open_store(uri, s3_client=client), client


def pipeline_config() -> Config:
    """Pipeline settings: the YAML file named by the `news_config_path` Variable, else defaults."""
    from pipeline.config import load_config

    path = Variable.get(CONFIG_PATH_VARIABLE, default=None)
    try:
        return load_config(path)
    except (OSError, ValueError) as err:
        raise AirflowFailException(
            f"pipeline settings {path!r} (Variable {CONFIG_PATH_VARIABLE}): {err}"
        ) from err


def with_extract_processes(config: Config) -> Config:
    """`config` with its cleaning processes capped for one extract_shard task: the Variable
    `news_extract_processes` (default 2), and never more than the settings' `clean.workers`
    or the worker's cores. Several shards share a worker: one process per core each would
    oversubscribe it."""
    raw = Variable.get(EXTRACT_PROCESSES_VARIABLE, default=str(DEFAULT_EXTRACT_PROCESSES))
    if not raw.strip().isdigit() or int(raw) < 1:
        raise AirflowFailException(
            f"Variable {EXTRACT_PROCESSES_VARIABLE} must be a whole number >= 1, got {raw!r}"
        )
    cores = len(os.sched_getaffinity(0))
    processes = min(int(raw), config.clean.workers or cores, cores)
    return config.model_copy(update={"clean": config.clean.model_copy(update={"workers": processes})})


def spare_workers_the_airflow_cli() -> None:
    """Let the cleaning workers start without importing Airflow.

    They start from a forkserver, and multiprocessing runs the parent's main script again in
    each of them (as `__mp_main__`) unless the main module was started by name (`python -m`).
    In a task process that script is the `airflow` CLI: importing Airflow there fails (task
    processes get no metadata DB) and every worker dies ("All workers expired"). The workers
    only run `pipeline` functions, so they need nothing from it: without the script's path
    multiprocessing skips it.
    """
    import sys

    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is None and hasattr(main, "__file__"):
        del main.__file__


def fetch_politeness() -> Politeness:
    """Per-host spacing, concurrency caps and robots.txt for a fetch task: shared by every task and
    worker through the Redis database named by the `news_redis_url` Variable, else kept in the task.

    An unreachable Redis fails the task with one line before any request (and retries: it may be
    restarting); fetching on without it would let the tasks together exceed each host's budget.
    """
    from pipeline.fetch import open_politeness

    return open_politeness(Variable.get(REDIS_URL_VARIABLE, default=None))


def plan(
    ti: Any, pipeline_run: str, locations: list[str], shards: int, reprocess: bool, client: Any
) -> list[dict[str, Any]]:
    """What a planning task returns: its input files grouped into shards, one mapped
    `extract_shard` each. The pipeline run id and the reprocess flag go to XCom beside them.

    (Airflow reserves the name `run_id` for its own DAG run id, hence `pipeline_run`.)
    """
    from pipeline import runner
    from pipeline.sources import InputError

    try:
        groups = runner.plan_shards(locations, shards, s3_client=client) if locations else []
    except InputError as err:
        raise AirflowFailException(str(err)) from err
    ti.xcom_push(key="pipeline_run", value=pipeline_run)
    ti.xcom_push(key="reprocess", value=reprocess)
    return [{"shard": number, "inputs": files} for number, files in enumerate(groups)]


@task(pool=EXTRACT_POOL, execution_timeout=timedelta(hours=2))
def extract_shard(pipeline_run: str, shard: int, inputs: list[str]) -> list[str]:
    """Clean one shard's files into the run's staging area; returns the staging keys."""
    from pipeline import runner

    store, client = connect(inputs)
    config = with_extract_processes(pipeline_config())
    spare_workers_the_airflow_cli()
    return runner.extract_shard(inputs, store, pipeline_run, shard, config, s3_client=client)


RUN_ID_FORMAT = "news_ingest-%Y%m%dT%H%MZ"  # news_ingest names its pipeline runs after their interval


def window_run_id(start: datetime) -> str:
    """The pipeline run id of the data interval starting at `start`."""
    return f"{start.astimezone(UTC):{RUN_ID_FORMAT}}"


def interval_start(pipeline_run: str) -> datetime | None:
    """The start of the interval a pipeline run id names; None for another DAG's run."""
    try:
        return datetime.strptime(pipeline_run, RUN_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def is_news(summary: RunSummary, run_started: datetime) -> bool:
    """Whether subscribers should hear of this commit: yes when this DAG run made it (in this
    attempt, or in an earlier attempt that died before reporting success); no when it was there
    before the run started (a cleared task, a rerun or a second run of a committed interval)."""
    committed = datetime.fromisoformat(summary.committed_at)  # to the second
    return not summary.replay or committed >= run_started.replace(microsecond=0)


def _staged(staging_keys: list[list[str]]) -> list[str]:
    """Every staging key of the run's shards, in shard order."""
    return sorted(key for shard in staging_keys for key in shard)


@task(execution_timeout=timedelta(hours=1))
def prepare_run(
    pipeline_run: str, staging_keys: list[list[str]], reprocess: bool, *, params: Any = None, ti: Any = None
) -> list[int]:
    """Remove site templates from the staged pages, batch by batch, and list each batch's
    candidate keys; returns the partitions to probe, one mapped `probe_partition` each. The
    prepared run goes to XCom beside them: empty for a committed run, whose rerun changes nothing
    (Airflow stores no XCom of None)."""
    from pipeline import runner

    store, _ = connect()
    if runner.committed_summary(store, pipeline_run) is not None:
        log.info("%s is already committed: nothing to prepare", pipeline_run)
        ti.xcom_push(key="prepared", value={})
        return []
    prepared = runner.prepare_run(store, pipeline_run, _staged(staging_keys), pipeline_config(), reprocess)
    ti.xcom_push(key="prepared", value=prepared.to_dict())
    return list(range(params["dedup_partitions"]))


@task(execution_timeout=timedelta(hours=1))
def probe_partition(
    pipeline_run: str, prepared: dict[str, Any], partitions: list[int], partition: int
) -> str:
    """Probe the committed dedup index with one partition of the run's candidate keys; returns
    the staging key of what it found."""
    from pipeline import runner

    store, _ = connect()
    run = runner.PreparedRun.from_dict(prepared)
    return runner.probe_partition(store, pipeline_run, run, partition, len(partitions), pipeline_config())


@task(outlets=[news_corpus_commits], execution_timeout=timedelta(hours=1))
def commit_run(
    pipeline_run: str,
    staging_keys: list[list[str]],
    reprocess: bool,
    prepared: dict[str, Any],
    probe_keys: list[str],
    *,
    dag_run: Any = None,
    outlet_events: Any = None,
) -> dict[str, Any]:
    """Decide stories and canonicals for the staged pages with the partitions' probes (they are
    probed again here if another run committed since) and commit the run under the store's
    lease; tell `news_corpus` subscribers which run to read. A retry or a rerun of a committed
    run writes nothing and says so (`replay`); a rerun sends no event."""
    from pipeline import layout, runner

    store, _ = connect()
    summary = runner.commit_run(
        store,
        pipeline_run,
        _staged(staging_keys),
        pipeline_config(),
        reprocess,
        prepared=runner.PreparedRun.from_dict(prepared) if prepared else None,
        probe_keys=sorted(probe_keys),
    )
    if is_news(summary, dag_run.start_date):
        extra = {
            "store": store.uri,
            "run_id": pipeline_run,
            "manifest": layout.commit_key(summary.sequence),
            "canonical": summary.canonical,
            "duplicates": summary.duplicates,
            "replay": summary.replay,
        }
        outlet_events[news_corpus_commits].add(news_corpus, extra=extra)
    else:
        log.info(
            "%s was committed at %s, before this run: no news_corpus event",
            pipeline_run,
            summary.committed_at,
        )
    return summary.to_dict()


def run_stages(planned: XComArg) -> None:
    """Wire the stages after a planning task that returned `plan(...)`:

        extract_shard (per shard) -> prepare_run -> probe_partition (per partition) -> commit_run

    A plan with no shards maps `extract_shard` to zero tasks: the rest is skipped and no asset
    event is sent.
    """
    pipeline_run, reprocess = planned["pipeline_run"], planned["reprocess"]
    staged = extract_shard.partial(pipeline_run=pipeline_run).expand_kwargs(planned)
    partitions = prepare_run(pipeline_run=pipeline_run, staging_keys=staged, reprocess=reprocess)
    prepared = partitions["prepared"]
    probed = probe_partition.partial(
        pipeline_run=pipeline_run, prepared=prepared, partitions=partitions
    ).expand(partition=partitions)
    commit_run(
        pipeline_run=pipeline_run,
        staging_keys=staged,
        reprocess=reprocess,
        prepared=prepared,
        probe_keys=probed,
    )
