"""Refuse unknown conf keys when a run is created, for the DAGs tagged `strict-params`.

Airflow validates each Param's value when a run is created, but takes any other conf key: a
misspelt Param (`landing_to`) would be ignored while its Param keeps its default. This ASGI
middleware, loaded into the api-server by `StrictParamsPlugin`, reads the conf of every
`POST /api/v2/dags/{dag_id}/dagRuns` (the REST API, `airflowctl` and the UI's trigger form)
and answers 400 with the unknown and the valid keys, before a run exists. The valid keys are
the Params of the DAG's latest serialized version, so the DAG file stays their only source.

Only callers allowed to trigger the DAG get that answer (checked with Airflow's own
dependencies); every other request goes through untouched, for Airflow to answer. Runs made
without the api-server (`airflow dags trigger` writes to the DB itself) are refused by the
DAG's first task instead (see dags/news_reprocess.py).
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import bearer_scheme, get_user, requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from airflow.utils.session import create_session
from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_PARAMS_TAG = "strict-params"
TRIGGER_PATH = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")


def unknown_keys_message(conf: dict[str, Any], params: list[str]) -> str | None:
    """The refusal of a conf with keys that are not Params, or None when every key is one."""
    unknown = sorted(set(conf) - set(params))
    return f"unknown Params {unknown}; the Params are {sorted(params)}" if unknown else None


def requested_conf(body: bytes) -> dict[str, Any] | None:
    """The `conf` object of a trigger request; None when there is none to check (Airflow
    itself answers a body that is not valid)."""
    try:
        conf = json.loads(body).get("conf")
    except (ValueError, AttributeError):
        return None
    return conf if isinstance(conf, dict) else None


def strict_params(dag_bag: Any, dag_id: str) -> list[str] | None:
    """The Param names of the DAG's latest version if it is tagged `strict-params`, else None."""
    with create_session() as session:
        dag = dag_bag.get_latest_version_of_dag(dag_id, session=session)
    return list(dag.params) if dag is not None and STRICT_PARAMS_TAG in dag.tags else None


async def may_trigger(request: Request, dag_id: str) -> bool:
    """Whether the caller is logged in and allowed to create runs of the DAG (Airflow's checks)."""
    try:
        user = await get_user(request, None, await bearer_scheme(request))
        check = requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=dag_id)
        await run_in_threadpool(check, request, user)
    except HTTPException:
        return False
    return True


class StrictParamsMiddleware:
    """Answers 400 to a trigger request whose conf has keys the DAG's strict Params lack."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = TRIGGER_PATH.search(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        refusal = await self.refusal(request, match["dag_id"], body)
        if refusal is not None:
            await JSONResponse({"detail": refusal}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)

    async def refusal(self, request: Request, dag_id: str, body: bytes) -> str | None:
        conf = requested_conf(body)
        if not conf:
            return None
        params = await run_in_threadpool(strict_params, request.app.state.dag_bag, dag_id)
        message = unknown_keys_message(conf, params) if params is not None else None
        return message if message and await may_trigger(request, dag_id) else None


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the already read body to the app, then waits as the original does."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive_again


class StrictParamsPlugin(AirflowPlugin):
    name = "news_strict_params"
    fastapi_root_middlewares: ClassVar[list[dict[str, Any]]] = [
        {"middleware": StrictParamsMiddleware, "name": "Unknown conf keys refused at trigger"}
    ]
