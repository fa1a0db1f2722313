"""Operational endpoints: liveness and readiness."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from service.store import database, schema_is_current

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks = {"policy_loaded": current_app.extensions.get("authz_engine") is not None}
    try:
        database.execute_sql("SELECT 1")
        checks["store_reachable"] = True
        checks["schema_current"] = schema_is_current()
    except Exception:
        checks["store_reachable"] = False
        checks["schema_current"] = False
    ready = all(checks.values())
    return jsonify({"ready": ready, **checks}), 200 if ready else 503
