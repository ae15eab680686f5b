"""plugins/strict_params.py in a real `airflow api-server`: a news_reprocess trigger with a conf
key that is not one of its Params is refused when the run would be created, as the UI's form
and the REST API send it, and no run exists; a valid conf makes the run."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api_server import access_token, airflow_env, api_server

USERS = {"trigger": ("user", "trigger-password-12"), "reader": ("viewer", "reader-password-12")}
PARAMS = ["dedup_partitions", "inputs", "landing_days", "landing_from", "reprocess", "shards"]


@pytest.fixture(scope="module")
def airflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An api-server over a DB holding the serialized DAGs of the repo (no scheduler: runs stay queued)."""
    home = tmp_path_factory.mktemp("airflow-home")
    with api_server(home, airflow_env(home, USERS), setup=[["dags", "reserialize"]]) as base:
        yield base


def bearer(token: str) -> dict[str, str]:
    """How a REST client (airflowctl, a script) authenticates."""
    return {"Authorization": f"Bearer {token}"}


def ui_session(token: str) -> dict[str, str]:
    """How the UI's trigger form calls the API: the login cookie, sent from a UI page."""
    return {"Cookie": f"_token={token}", "Referer": "http://127.0.0.1/dags/news_reprocess"}


def call(url: str, auth: dict[str, str], body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """Status and JSON answer of a GET (no body) or POST to the REST API."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **auth},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def trigger(base: str, auth: dict[str, str], dag_id: str, conf: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return call(f"{base}/api/v2/dags/{dag_id}/dagRuns", auth, {"logical_date": None, "conf": conf})


def run_confs(base: str, token: str, dag_id: str) -> list[dict[str, Any]]:
    status, answer = call(f"{base}/api/v2/dags/{dag_id}/dagRuns", bearer(token))
    assert status == 200, answer
    return [run["conf"] for run in answer["dag_runs"]]


@pytest.mark.parametrize("auth", [bearer, ui_session])
def test_a_misspelt_param_is_refused_and_makes_no_run(airflow_url: str, auth) -> None:
    token = access_token(airflow_url, "trigger", USERS["trigger"][1])
    misspelt = {"landing_from": "2026-11-22", "landing_to": "2026-11-23"}

    status, answer = trigger(airflow_url, auth(token), "news_reprocess", misspelt)

    assert status == 400
    assert answer["detail"] == f"unknown Params ['landing_to']; the Params are {PARAMS}"
    assert misspelt not in run_confs(airflow_url, token, "news_reprocess")


def test_a_valid_conf_makes_the_run(airflow_url: str) -> None:
    token = access_token(airflow_url, "trigger", USERS["trigger"][1])
    valid = {"landing_from": "2026-11-22", "landing_days": 2}

    status, answer = trigger(airflow_url, ui_session(token), "news_reprocess", valid)

    assert status == 200, answer
    assert answer["conf"] == valid
    assert valid in run_confs(airflow_url, token, "news_reprocess")


def test_airflow_still_checks_values_and_who_may_trigger(airflow_url: str) -> None:
    """Params' values are Airflow's to check; and a caller who may not trigger the DAG learns
    nothing of its Params: Airflow answers as it would without the plugin."""
    reader = access_token(airflow_url, "reader", USERS["reader"][1])
    trigger_token = access_token(airflow_url, "trigger", USERS["trigger"][1])
    misspelt = {"landing_to": "2026-11-23"}

    assert trigger(airflow_url, {}, "news_reprocess", misspelt)[0] == 401
    assert trigger(airflow_url, bearer(reader), "news_reprocess", misspelt)[0] == 403
    status, answer = trigger(airflow_url, bearer(trigger_token), "news_reprocess", {"shards": 0})
    assert status == 400
    assert answer["detail"].startswith("Invalid input for param shards: 0 is less than the minimum of 1")


def test_dags_without_the_tag_keep_airflows_free_conf(airflow_url: str) -> None:
    token = access_token(airflow_url, "trigger", USERS["trigger"][1])

    status, answer = trigger(airflow_url, bearer(token), "news_corpus_report", {"note": "by hand"})

    assert status == 200, answer
