"""Decision endpoints: POST /v1/check."""
from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from service.authz import Engine

from .errors import ApiError

bp = Blueprint("decisions", __name__, url_prefix="/v1")


def _engine() -> Engine:
    return current_app.extensions["authz_engine"]


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object", extra={"allowed": False})
    return body


def _string_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_field", f"{name} is required and must be a string", field=name,
                       extra={"allowed": False})
    return value


@bp.post("/check")
def check():
    body = _json_object()
    actor, action, resource = (_string_field(body, f) for f in ("actor", "action", "resource"))
    decision = _engine().decide(actor, action, resource)
    answer = {"decision_id": str(uuid.uuid4()), **decision.as_dict()}
    if decision.error:
        return jsonify(answer), 500
    return jsonify(answer)
