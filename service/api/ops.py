"""Operational endpoints: liveness, readiness, Prometheus metrics and the loaded policy."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app

from service.store import database, schema_is_current
from service.store.db import store_file_replaced

from .auth import CHECK, PUBLIC
from .metrics import exposition
from .registry import route
from .schemas import Answer

bp = Blueprint("ops", __name__)
log = logging.getLogger("authz.api")


class Health(Answer):
    status: str


class Readiness(Answer):
    ready: bool
    policy_loaded: bool
    store_reachable: bool
    schema_current: bool


class PolicyInfo(Answer):
    version: str
    files: list[str]


@route(bp, "/healthz", "GET", scope=PUBLIC, summary="Liveness: the process answers (never touches the store)",
       response=Health)
def healthz():
    return Health(status="ok")


@route(bp, "/readyz", "GET", scope=PUBLIC, summary="Readiness: policy loaded, store reachable, schema current",
       response=Readiness, responses={503: Readiness})
def readyz():
    checks = {"policy_loaded": current_app.extensions.get("authz_engine") is not None,
              "store_reachable": False, "schema_current": False}
    try:
        database.execute_sql("SELECT 1")
        # a SQLite file deleted or replaced under the open connection is not the store any more
        checks["store_reachable"] = not store_file_replaced()
        checks["schema_current"] = checks["store_reachable"] and schema_is_current()
    except Exception:
        log.warning("readiness: the store is not reachable", exc_info=True)
    ready = all(checks.values())
    return Readiness(ready=ready, **checks), (200 if ready else 503)


@route(bp, "/metrics", "GET", scope=PUBLIC, summary="Prometheus metrics of this worker process",
       content_type="text/plain")
def metrics():
    payload, content_type = exposition()
    return Response(payload, content_type=content_type)


@route(bp, "/v1/policy", "GET", scope=CHECK, summary="The loaded policy: version and files", response=PolicyInfo)
def policy():
    engine = current_app.extensions["authz_engine"]
    return PolicyInfo(version=engine.policy_version, files=[path.name for path in engine.files])
