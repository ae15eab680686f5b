"""Real Airflow for the DAG tests: a throwaway AIRFLOW_HOME with a SQLite metadata DB.

Airflow reads its configuration once, when it is first imported, so the environment is set
as this conftest is imported: pytest imports it before it collects any test module of this
folder, whatever the order of the other folders. `pipeline` never imports Airflow, so tests
elsewhere cannot have imported it earlier; if something did, we stop with a clear error
rather than test against the wrong configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PLUGINS = REPO / "plugins"

if "airflow" in sys.modules:
    raise RuntimeError(
        "airflow was imported before tests/dags/conftest.py could configure it; "
        "no test outside tests/dags may import airflow"
    )

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="news-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    }
)
# The dag-processor and the workers put the DAG folder on sys.path (DAG files import
# news_common); a plain DagBag and dag.test() do not.
sys.path.insert(0, str(DAGS))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A freshly created metadata DB (tables from the ORM, stamped at the migration head)."""
    from airflow.utils import db

    db.initdb()
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture
def fresh_dag(airflow_db: Path):
    """Parses a DAG file anew, for each dag.test().

    dag.test() runs tasks in this process on the DAG's own task objects, and the task runner
    writes the run's conf into `task.params`: a DAG object reused for a second dag.test()
    would see the first run's conf. (Workers parse the DAG file for every task.)
    """
    from airflow.dag_processing.dagbag import DagBag

    def parse(dag_id: str):
        bag = DagBag(dag_folder=str(DAGS / f"{dag_id}.py"))
        assert bag.import_errors == {}
        dag = bag.get_dag(dag_id)
        for task in dag.tasks:  # retries stay, their minutes of backoff go: a failing test fails fast
            task.retry_delay = task.max_retry_delay = timedelta(0)
        return dag

    return parse


@pytest.fixture
def news_s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The `news_s3` Airflow connection (JSON form, as in docker-compose.yml) to the moto server.

    The standard AWS variables are removed, so the DAGs can only reach S3 through the connection.
    """
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_NEWS_S3", json.dumps(connection))
    return moto_endpoint


@pytest.fixture
def s3(news_s3: str):
    """The tests' own client to the moto server, to set up and inspect buckets."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=news_s3,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture
def corpus_bucket(s3, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket per test, made the corpus store through the Variable `news_store_uri`."""
    name = "corpus-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    s3.create_bucket(Bucket=name)
    monkeypatch.setenv("AIRFLOW_VAR_NEWS_STORE_URI", f"s3://{name}/")
    return name
