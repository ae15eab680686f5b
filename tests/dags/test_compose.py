"""docker-compose.yml is a valid Compose file (checked by Debian's docker-compose 1.29, which
needs no Docker engine for `config`) and wires the stack the way docs/airflow.md describes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "AIRFLOW_FERNET_KEY": "fernet-key",
    "AIRFLOW_JWT_SECRET": "jwt-secret",
    "AIRFLOW_SECRET_KEY": "api-secret",
    "AIRFLOW_ADMIN_PASSWORD": "admin-secret",
    "MINIO_ROOT_PASSWORD": "minio-secret",
    "NEWS_S3_ACCESS_KEY": "news-pipeline",
    "NEWS_S3_SECRET_KEY": "news-secret",
}
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


def compose_config(secrets: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`docker-compose config` with only the given secrets in the environment (and no .env file)."""
    executable = shutil.which("docker-compose")
    assert executable, "docker-compose is missing: run scripts/install-system-deps.sh"
    env = {
        key: value for key, value in os.environ.items() if key not in SECRETS and not key.startswith("NEWS_")
    }
    return subprocess.run(
        [executable, "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"), "config"],
        env={**env, **secrets},
        cwd=tmp_path,  # no .env file here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = compose_config(SECRETS, tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_stack_has_every_airflow_component_and_its_backing_services(config: dict) -> None:
    assert set(config["services"]) == AIRFLOW_SERVICES | {"postgres", "redis", "minio", "minio-init"}
    commands = {name: config["services"][name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands == {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }


def test_airflow_containers_share_one_image_and_one_configuration(config: dict) -> None:
    services = [config["services"][name] for name in AIRFLOW_SERVICES]
    assert {service["image"] for service in services} == {"news-pipeline-airflow:3.3.2"}
    assert {service["build"]["context"] for service in services} == {str(REPO)}
    shared = {
        "AIRFLOW__API_AUTH__JWT_SECRET": SECRETS["AIRFLOW_JWT_SECRET"],
        "AIRFLOW__API__SECRET_KEY": SECRETS["AIRFLOW_SECRET_KEY"],
        "AIRFLOW__CORE__FERNET_KEY": SECRETS["AIRFLOW_FERNET_KEY"],
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW_VAR_NEWS_STORE_URI": "s3://news-corpus/",
        "NEWS_INGEST_CRON": "0 * * * *",
    }
    for service in services:
        assert {key: service["environment"].get(key) for key in shared} == shared


def test_news_s3_connection_points_at_minio_with_the_pipeline_credentials(config: dict) -> None:
    connection = json.loads(config["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_NEWS_S3"])
    assert connection["conn_type"] == "aws"
    assert (connection["login"], connection["password"]) == (
        SECRETS["NEWS_S3_ACCESS_KEY"],
        SECRETS["NEWS_S3_SECRET_KEY"],
    )
    assert connection["extra"]["endpoint_url"] == "http://minio:9000"
    assert connection["extra"]["config_kwargs"]["request_checksum_calculation"] == "when_required"


def test_images_are_pinned_releases(config: dict) -> None:
    images = {name: service.get("image", "") for name, service in config["services"].items()}
    assert re.fullmatch(r"quay\.io/minio/minio:RELEASE\.[0-9TZ-]+", images["minio"])
    assert re.fullmatch(r"quay\.io/minio/mc:RELEASE\.[0-9TZ-]+", images["minio-init"])
    assert not [image for image in images.values() if image.endswith(":latest") or ":" not in image]
    base_images = re.findall(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert len(base_images) == 1 and re.fullmatch(r"apache/airflow:3\.3\.2(-python3\.\d+)?", base_images[0])


def test_one_shot_jobs_gate_the_long_running_services(config: dict) -> None:
    services = config["services"]
    assert services["minio-init"]["depends_on"] == {"minio": {"condition": "service_healthy"}}
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["minio-init"] == {"condition": "service_completed_successfully"}


def test_missing_secret_is_named(tmp_path: Path) -> None:
    result = compose_config({k: v for k, v in SECRETS.items() if k != "AIRFLOW_JWT_SECRET"}, tmp_path)
    assert result.returncode != 0
    assert "set AIRFLOW_JWT_SECRET in .env" in result.stderr
