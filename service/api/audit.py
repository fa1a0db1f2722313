"""Looking up a recorded decision: GET /v1/decisions/{decision_id} (scope `check`)."""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app

from service.audit.lookup import find_decision

from .auth import CHECK
from .errors import ApiError
from .registry import route
from .schemas import Answer

bp = Blueprint("audit", __name__, url_prefix="/v1")

DECISION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class RecordedDecision(Answer):
    decision_id: str
    time: str
    moment: str
    endpoint: str
    key_id: int | None
    actor: Any
    action: Any
    resource: Any
    allowed: bool
    reasons: list[Any]
    policy_version: str
    revision: int
    detail: dict[str, Any]


@route(bp, "/decisions/<decision_id>", "GET", scope=CHECK, summary="A decision served, as it was recorded",
       response=RecordedDecision, errors=(404, 503),
       description="Durable mode (the default): recorded before the decision was answered; async mode: within "
                   "0.2 s. Answers from what is stored (503 audit_unavailable if the store cannot be read).")
def show_decision(decision_id: str):
    if not DECISION_ID.match(decision_id):
        raise ApiError(422, "invalid_field", "decision_id must be a decision_id as answered (a UUID)",
                       field="decision_id")
    found = find_decision(decision_id, current_app.extensions["decision_recorder"])
    if found is None:
        raise ApiError(404, "not_found", f"no decision {decision_id} is recorded", field="decision_id")
    return RecordedDecision(**found)
