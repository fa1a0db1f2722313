"""Operational endpoints: liveness, readiness, Prometheus metrics and the loaded policy."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app

from service.policy.versions import history
from service.store import database, schema_is_current
from service.store.db import store_file_replaced
from service.store.outage import outage_kind

from .auth import CHECK, PUBLIC
from .errors import outages
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
    policy: str  # the active version this worker decides with, or why it cannot
    recorder_writing: bool  # this worker's decision records are being written (false: decisions may be refused)
    recorder: str  # the recorder's mode and counts, or why its writes fail


class PolicyVersionInfo(Answer):
    version: str
    activated_at: str
    activated_by: str
    revision: int
    files: dict[str, str]  # file name -> SHA-256 of its text


class PolicyInfo(Answer):
    version: str | None  # None: no policy was ever activated on this store (every decision denies)
    files: list[str]
    active: PolicyVersionInfo | None
    history: list[PolicyVersionInfo]  # every activation, newest first (the active one included)


@route(bp, "/healthz", "GET", scope=PUBLIC, summary="Liveness: the process answers (never touches the store)",
       response=Health)
def healthz():
    return Health(status="ok")


@route(bp, "/readyz", "GET", scope=PUBLIC, summary="Readiness: policy loaded, store reachable, schema current, decision records written",
       response=Readiness, responses={503: Readiness})
def readyz():
    checks = {"policy_loaded": False, "store_reachable": False, "schema_current": False}
    policy = "store unreachable"
    try:
        database.execute_sql("SELECT 1")
        # a SQLite file deleted or replaced under the open connection is not the store any more
        checks["store_reachable"] = not store_file_replaced()
        checks["schema_current"] = checks["store_reachable"] and schema_is_current()
        checks["policy_loaded"], policy = current_app.extensions["authz_engine"].readiness()
    except Exception as exc:
        kind = outage_kind(exc)
        if kind is not None:  # polled every few seconds by a load balancer: at the outage log's rate
            outages.failed(kind, exc, "not ready")
        else:
            log.warning("readiness: the store is not reachable", exc_info=True)
    recorder = current_app.extensions["decision_recorder"].status()
    recorder_text = (f"{recorder['mode']}: {recorder['waiting']} waiting, {recorder['lost']} lost, "
                     f"{recorder['refused']} refused" + (f"; failing: {recorder['error']}" if not recorder["writing"] else ""))
    ready = all(checks.values()) and recorder["writing"]
    return (Readiness(ready=ready, policy=policy, recorder_writing=recorder["writing"], recorder=recorder_text,
                      **checks), (200 if ready else 503))


@route(bp, "/metrics", "GET", scope=PUBLIC, summary="Prometheus metrics of this worker process",
       content_type="text/plain")
def metrics():
    payload, content_type = exposition()
    return Response(payload, content_type=content_type)


@route(bp, "/v1/policy", "GET", scope=CHECK, summary="The active policy version and the history of activations",
       response=PolicyInfo)
def policy():
    versions = [PolicyVersionInfo(**stored.summary()) for stored in history()]
    active = versions[0] if versions else None
    return PolicyInfo(version=active.version if active else None, files=sorted(active.files) if active else [],
                      active=active, history=versions)
