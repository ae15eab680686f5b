"""The operator's view of the news pipeline inside Airflow's UI: "News runs" under Browse.

A FastAPI app mounted in the api-server at /news-runs/ serves the runs page
(pipeline/report_html.py) and its read-only JSON API over the corpus store the DAGs write to
(the `news_store_uri` Variable and the `news_s3` connection, through `news_common.connect`):

- `GET /news-runs/`: the page (charts, runs, rejections, story inspector);
- `GET /news-runs/api/report`: every committed run's figures (pipeline/report.py);
- `GET /news-runs/api/story?url=...`: where a URL went, its story and every copy.

Every route needs an Airflow login allowed to read the runs of `news_ingest` (the UI's own
session cookie, or a bearer token from /auth/token), checked by the auth manager in use.
The api-server must be able to import `news_common` (the DAG folder on PYTHONPATH).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from pipeline import report, report_html
from pipeline.store import Store, StoreError

URL_PREFIX = "/news-runs"

app = FastAPI(
    title="News pipeline runs",
    dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id="news_ingest"))],
)


@app.exception_handler(StoreError)
def store_unavailable(request: Request, err: StoreError) -> JSONResponse:
    """The page shows the store's own one-line error (unreachable, access denied...)."""
    return JSONResponse(status_code=503, content={"detail": str(err)})


def _store() -> Store:
    try:
        from news_common import connect  # the DAGs' own way to the store: the same Variable and connection
    except ImportError as err:
        raise HTTPException(
            status_code=500, detail=f"the api-server cannot import news_common ({err}): put the DAG folder "
            "on its PYTHONPATH (docs/airflow.md)"
        ) from err
    store, _ = connect()
    return store


@app.get("/", response_class=HTMLResponse)
def page() -> str:
    return report_html.live_page()


@app.get("/static/{name}")
def static(name: str) -> FileResponse:
    try:
        return FileResponse(report_html.static_file(name))
    except KeyError:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}") from None


@app.get("/api/report")
def run_report() -> dict[str, Any]:
    return report.run_report(_store())


@app.get("/api/story")
def story(url: str) -> dict[str, Any]:
    found = report.find_story(_store(), url)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no committed run has the page {url.strip()!r}")
    return found


class NewsViewsPlugin(AirflowPlugin):
    name = "news_views"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": app, "url_prefix": URL_PREFIX, "name": "News pipeline runs"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "News runs",
            "href": URL_PREFIX.lstrip("/") + "/",  # relative to the UI's base URL, so it works behind a proxy
            "url_route": "news-runs",  # shown inside the UI, at /plugin/news-runs
            "destination": "nav",
            "category": "browse",
        }
    ]
