"""The operator's view (plugins/news_views.py) in a real `airflow api-server`: a migrated SQLite
DB in a temporary AIRFLOW_HOME, the simple auth manager with one viewer, and the seeded store
copied to an S3 bucket (moto's server) read as the DAGs read it: the `news_store_uri` Variable and
the `news_s3` connection. Looked at in headless Chromium, as an operator would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.store import LocalStore
from tests.api_server import access_token, airflow_env, api_server
from tests.report.conftest import expected_story, syndicated_url
from tests.report.test_report import cell_values, check_page_shows_the_store

USER, PASSWORD = "operator", "operator-password-12"  # a viewer: the view is read-only
BUCKET = "news-views"


def copy_to_bucket(store: Path, endpoint: str) -> None:
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    for path in store.rglob("*"):
        if path.is_file():
            s3.put_object(Bucket=BUCKET, Key=path.relative_to(store).as_posix(), Body=path.read_bytes())


@pytest.fixture(scope="module")
def airflow_url(
    seeded_store: Path, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a real api-server with the plugins folder of the repo, reading a copy of
    `seeded_store` in S3."""
    copy_to_bucket(seeded_store, moto_endpoint)
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
    }
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **airflow_env(home, {USER: ("viewer", PASSWORD)}),
        "AIRFLOW_VAR_NEWS_STORE_URI": f"s3://{BUCKET}/",
        "AIRFLOW_CONN_NEWS_S3": json.dumps(connection),
    }
    with api_server(home, env) as base:
        yield base


def http_status(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def login(page: Any, base: str) -> None:
    """Sign in through Airflow's own login form, as a person does."""
    page.goto(base + "/")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")


def view_frame(page: Any) -> Any:
    """The view inside the UI's iframe, once its data is shown."""
    frame = page.locator("iframe").element_handle().content_frame()
    frame.wait_for_selector("body[data-ready=true]")
    return frame


def test_view_and_api_need_an_airflow_login(airflow_url: str) -> None:
    routes = ["/", "/api/report", "/api/story?url=x", "/static/report.js"]
    assert [http_status(airflow_url + "/news-runs" + route) for route in routes] == [401] * len(routes)
    assert http_status(airflow_url + "/news-runs/api/report", token="not-a-token") == 403

    token = access_token(airflow_url, USER, PASSWORD)
    assert http_status(airflow_url + "/news-runs/api/report", token=token) == 200


def test_view_is_in_the_nav_and_shows_every_run(
    airflow_url: str, seeded_store: Path, page: Any, tmp_path: Path
) -> None:
    login(page, airflow_url)
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="News runs").click()
    page.wait_for_url(airflow_url + "/plugin/news-runs")
    frame = view_frame(page)
    assert f"3 committed runs in s3://{BUCKET}/" in frame.text_content("#summary")
    check_page_shows_the_store(frame, LocalStore(seeded_store))
    page.screenshot(path=tmp_path / "view.png", full_page=True)


def test_inspector_finds_the_canonical_and_every_copy_of_a_syndicated_url(
    airflow_url: str, seeded_store: Path, page: Any, tmp_path: Path
) -> None:
    url = syndicated_url()
    article, rows = expected_story(seeded_store, url)
    login(page, airflow_url)
    page.goto(airflow_url + "/plugin/news-runs")
    frame = view_frame(page)

    frame.fill("#inspector-url", url)
    frame.click("#inspector button[type=submit]")
    frame.wait_for_selector("#story:not([hidden])")
    assert frame.text_content("#story-canonical") == article["url"]
    assert article["title"] in frame.text_content("#story-article")
    shown = cell_values(frame, "#story-pages")
    seen = {(row["url"], row["status"], float(row["similarity"] or 0), row["run_id"]) for row in shown}
    assert seen == {(row["url"], row["status"], row["similarity"] or 0.0, row["run_id"]) for row in rows}
    assert len(shown) == len(rows)
    assert shown[0]["status"] == "canonical"
    taken = next(row for row in rows if row["url"] == url)  # the run that took the pasted URL, and as what
    assert f"{taken['status']} in run {taken['run_id']}" in frame.text_content("#story-summary")
    frame.locator("#story").screenshot(path=tmp_path / "inspector.png")
    page.screenshot(path=tmp_path / "inspector-page.png", full_page=True)


def test_inspector_says_when_no_run_has_the_url(airflow_url: str, page: Any) -> None:
    login(page, airflow_url)
    page.goto(airflow_url + "/plugin/news-runs")
    frame = view_frame(page)
    missing = "https://nowhere.example/never-fetched"
    frame.fill("#inspector-url", missing)
    frame.click("#inspector button[type=submit]")
    frame.wait_for_selector("#error:not([hidden])")
    assert frame.text_content("#error") == f"no committed run has the page {missing!r}"
    assert frame.locator("#story").is_hidden()
