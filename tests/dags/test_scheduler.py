"""news_ingest under a real Airflow stack: api-server, dag-processor and scheduler (LocalExecutor)
over a SQLite DB, with a local folder as the corpus store. One stack, two lives:

1. Its clock set 5 hours back (libfaketime). The scheduled run of the hour that just ended fails
   (a missing sources file): the scheduler survives it. A manual trigger for a past logical
   date ingests that hour's landing partition; clearing it (a rerun of a committed interval)
   writes nothing and triggers no consumer. A minute after the failure, the same scheduler
   process is still there.
2. Stopped, then started again at the real time: 5 hours later. Its runs read every landed hour
   no committed run took, the failed run's hour included: each landed file is ingested once.

Then, with news_ingest paused, a news_reprocess run whose dedup probes are spread over four mapped
tasks (run side by side by the LocalExecutor) stores exactly what one CLI process stores.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api_server import free_port
from tests.dags.checks import SEEDS
from tests.dags.conftest import DAGS, PLUGINS, REPO

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
OUTAGE = timedelta(hours=5)
NOW = datetime.now(UTC)
HOUR = NOW.replace(minute=0, second=0, microsecond=0)  # the real current hour (still landing)
FAKE_HOUR = HOUR - OUTAGE  # the current hour of the stack's first life
PAST_HOUR = HOUR - timedelta(hours=9)  # triggered by hand, with this logical date
# One file lands in every hour from PAST_HOUR to the current one.
LANDED_HOURS = [PAST_HOUR + timedelta(hours=n) for n in range(10)]


def partition(hour: datetime) -> str:
    return f"landing/dt={hour:%Y-%m-%d}/hour={hour:%H}/"


class Stack:
    """The three Airflow processes, started and stopped together, all on one clock."""

    def __init__(self, home: Path, store: Path) -> None:
        self.home = home
        port = free_port()
        self.api = f"http://127.0.0.1:{port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))},
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "3",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW_VAR_NEWS_STORE_URI": str(store),
            "AIRFLOW_VAR_NEWS_EXTRACT_PROCESSES": "1",
            "PYTHONPATH": str(REPO),  # `pipeline`; Airflow puts the DAG folder on sys.path itself
        }
        self.clock: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen] = {}

    def airflow(self, *args: str) -> str:
        """One Airflow CLI command, on the stack's clock."""
        done = subprocess.run(
            [AIRFLOW, *args], env={**self.env, **self.clock}, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, clock_offset: timedelta = timedelta(0)) -> None:
        """Start the three processes, each in a process group of its own (`stop` ends the group:
        the executor's workers and the task processes too), on a clock `clock_offset` away."""
        self.clock = fake_clock(clock_offset)
        for name in ("api-server", "dag-processor", "scheduler"):
            if name == "scheduler":  # its tasks report to the api-server: it must be up first
                self.wait("the api-server", self.api_is_up, timeout=120)
            log = open(self.home / f"{name}.log", "a")  # noqa: SIM115 (kept open by the process)
            self.processes[name] = subprocess.Popen(
                [AIRFLOW, name],
                env={**self.env, **self.clock},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):  # the group is gone already
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = {}

    def api_is_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api}/api/v2/monitor/health", timeout=5) as answer:
                return answer.status == 200
        except OSError:
            return False

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def query(self, sql: str, *args: Any) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True)) as db:
            db.execute("PRAGMA busy_timeout = 5000")
            return db.execute(sql, args).fetchall()

    def ingest_runs(self) -> dict[datetime, tuple[str, int]]:
        """news_ingest runs by logical date: (state, clear_number)."""
        rows = self.query(
            "SELECT logical_date, state, clear_number FROM dag_run WHERE dag_id = 'news_ingest'"
        )
        return {utc(logical): (state, cleared) for logical, state, cleared in rows if logical}

    def count(self, sql: str) -> int:
        return self.query(sql)[0][0]

    def wait(self, what: str, condition: Callable[[], Any], timeout: float = 180) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                assert process.poll() is None, (
                    f"{name} exited ({process.returncode}):\n{self.log(name)[-3000:]}"
                )
            if result := condition():
                return result
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log('scheduler')[-3000:]}")


def fake_clock(offset: timedelta) -> dict[str, str]:
    """The environment that moves a process's clocks by `offset` (libfaketime)."""
    if not offset:
        return {}
    libraries = glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
    assert libraries, "libfaketime is missing: run scripts/install-system-deps.sh"
    return {
        "LD_PRELOAD": libraries[0],
        "FAKETIME": f"{offset.total_seconds():+.0f}",
    }


def utc(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def ingested_hours(store_dir: Path) -> Counter[datetime]:
    """How many times each landing hour's file appears in the lineage of all committed runs."""
    from pipeline.corpus import iter_lineage
    from pipeline.store import open_store

    seen: Counter[datetime] = Counter()
    for row in iter_lineage(open_store(str(store_dir))):
        for hour in LANDED_HOURS:
            if partition(hour) in urllib.parse.unquote(row["url"]):
                seen[hour] += 1
    return seen


def committed_runs(store_dir: Path) -> list[str]:
    from pipeline.corpus import read_manifests
    from pipeline.store import open_store

    return [manifest["run_id"] for manifest in read_manifests(open_store(str(store_dir)))]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    root = tmp_path_factory.mktemp("scheduler")
    store = root / "store"
    for number, hour in enumerate(LANDED_HOURS):
        seed = SEEDS[number % len(SEEDS)]
        (store / partition(hour)).mkdir(parents=True)
        (store / partition(hour) / f"page-{hour:%H}.txt").write_bytes(seed.read_bytes())
    (root / "home").mkdir()
    stack = Stack(root / "home", store)
    stack.airflow("db", "migrate")
    pools = {
        "news_extract": {"slots": 2, "description": "cleaning tasks"},
        "news_external": {"slots": 4, "description": "tasks that fetch from outside hosts"},
    }
    (root / "pools.json").write_text(json.dumps(pools))
    stack.airflow("pools", "import", str(root / "pools.json"))
    # The scheduled run of the first life fails at once: its sources file does not exist.
    stack.airflow("variables", "set", "news_sources_file", str(root / "missing-sources.yaml"))
    try:
        yield stack, store
    finally:
        stack.stop()


def test_a_failed_run_leaves_the_scheduler_running_and_a_rerun_adds_nothing(stack) -> None:
    stack, store = stack
    stack.start(clock_offset=-OUTAGE)
    scheduler = stack.processes["scheduler"].pid
    # The scheduler runs the last complete hour (on its clock) as soon as it sees the DAG.
    stack.wait(
        "the scheduled run to fail",
        lambda: any(state == "failed" for state, _ in stack.ingest_runs().values()),
    )
    failed_at = time.monotonic()
    stack.airflow("variables", "delete", "news_sources_file")

    # The next run: triggered by hand for a past hour, it reads that hour, not the current one.
    stack.airflow("dags", "trigger", "news_ingest", "--logical-date", PAST_HOUR.isoformat())
    stack.wait("the triggered run", lambda: stack.ingest_runs().get(PAST_HOUR, ("",))[0] == "success")
    assert committed_runs(store) == [f"news_ingest-{PAST_HOUR:%Y%m%dT%H%MZ}"]
    assert ingested_hours(store) == {PAST_HOUR: 1}
    report_runs = "SELECT count(*) FROM dag_run WHERE dag_id = 'news_corpus_report'"
    events = (
        "SELECT count(*) FROM asset_event JOIN asset ON asset.id = asset_id WHERE asset.name = 'news_corpus'"
    )
    stack.wait("the consumer to run once", lambda: stack.count(report_runs) == 1)
    assert stack.count(events) == 1

    # Clearing the committed interval reruns it: no new row, no new event, no consumer run.
    files_before = sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
    stack.airflow(
        "tasks", "clear", "news_ingest", "-s", PAST_HOUR.isoformat(), "-e", PAST_HOUR.isoformat(), "-y"
    )
    stack.wait("the rerun", lambda: stack.ingest_runs()[PAST_HOUR] == ("success", 1))
    time.sleep(5)  # time enough for the scheduler to queue a consumer run, had an event been sent
    assert stack.count(events) == 1 and stack.count(report_runs) == 1
    assert sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file()) == files_before

    time.sleep(max(0.0, failed_at + 60 - time.monotonic()))
    assert stack.processes["scheduler"].poll() is None and stack.processes["scheduler"].pid == scheduler
    assert "news_run_failed" in stack.log("scheduler")  # the listener's alert line
    assert "UNEXPECTED COMMIT" not in stack.log("scheduler")


def test_after_a_five_hour_outage_every_landed_hour_is_ingested_once(stack) -> None:
    stack, store = stack
    stack.stop()
    assert not ingested_hours(store).keys() - {PAST_HOUR}

    stack.start()  # 5 hours later
    last_complete = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)

    def caught_up() -> datetime | None:  # the newest hour run, once it succeeded
        newest = max(
            (hour for hour, (state, _) in stack.ingest_runs().items() if state == "success"), default=None
        )
        return newest if newest and newest >= last_complete else None

    newest = stack.wait("the catch-up", caught_up, timeout=300)

    ingested = ingested_hours(store)
    assert {hour: ingested[hour] for hour in LANDED_HOURS if hour <= newest} == {
        hour: 1 for hour in LANDED_HOURS if hour <= newest
    }
    assert not [hour for hour in ingested if hour > newest]  # the hour still landing waits


def decisions_of(store_dir: Path, run_prefix: str) -> set[tuple]:
    """Each page's decision in the runs whose id starts with `run_prefix`."""
    from pipeline.corpus import iter_lineage
    from pipeline.store import open_store

    return {
        (row["url"], row["status"], row["article_id"], row["canonical_url"], row["similarity"], row["method"])
        for row in iter_lineage(open_store(str(store_dir)))
        if row["run_id"].startswith(run_prefix)
    }


def test_dedup_in_four_partitions_decides_as_one_process(stack, tmp_path: Path) -> None:
    """news_reprocess with dedup spread over 4 mapped probe tasks (LocalExecutor), against an index
    holding the first half of the dev syndication set, stores exactly what the CLI stores."""
    from tests.chaos.runs import write_crawl
    from tests.conftest import run_cli

    stack, store = stack
    stack.airflow("dags", "pause", "news_ingest")  # no hourly run from now on ...
    in_flight = ("queued", "running")
    stack.wait(
        "no ingest run in flight", lambda: all(s not in in_flight for s, _ in stack.ingest_runs().values())
    )
    first, second = (
        write_crawl(tmp_path / "first.warc.gz", 240),
        write_crawl(tmp_path / "second.warc.gz", 244, 240),
    )
    assert (
        run_cli("ingest", "--input", str(first), "--store", str(store), "--run-id", "history").returncode == 0
    )
    alone = tmp_path / "alone"
    shutil.copytree(store, alone)
    assert run_cli("ingest", "--input", str(second), "--store", str(alone), "--run-id", "cli").returncode == 0

    conf = json.dumps({"inputs": [str(second)], "dedup_partitions": 4})
    stack.airflow("dags", "trigger", "news_reprocess", "--conf", conf)
    runs = "SELECT state FROM dag_run WHERE dag_id = 'news_reprocess'"
    stack.wait(
        "the reprocess run", lambda: [state for (state,) in stack.query(runs)] == ["success"], timeout=300
    )

    probes = stack.query(
        "SELECT map_index, state FROM task_instance"
        " WHERE dag_id = 'news_reprocess' AND task_id = 'probe_partition'"
    )
    assert sorted(probes) == [(n, "success") for n in range(4)]
    spread = decisions_of(store, "news_reprocess-")
    assert spread == decisions_of(alone, "cli")
    stored = {article_id for _, _, article_id, *_ in decisions_of(store, "history")}
    assert any(
        status == "duplicate" and story in stored for _, status, story, *_ in spread
    )  # probes found them

    # A second run of the same input adds nothing.
    records = "articles", "lineage"
    before = sorted(str(p.relative_to(store)) for kind in records for p in (store / kind).rglob("*.gz"))
    stack.airflow("dags", "trigger", "news_reprocess", "--conf", conf)
    stack.wait(
        "the second run", lambda: [state for (state,) in stack.query(runs)] == ["success"] * 2, timeout=300
    )
    assert decisions_of(store, "news_reprocess-") == spread
    assert (
        sorted(str(p.relative_to(store)) for kind in records for p in (store / kind).rglob("*.gz")) == before
    )
