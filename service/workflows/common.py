"""What every workflow step shares: parsing references, loading rows, asking the policy.

Nothing here decides who may do what: `authorize()` asks the engine and turns a
deny into Forbidden carrying the decision's reasons.
"""
from __future__ import annotations

import os
import time
from typing import Any, TypeVar

from service.audit.recorder import record_decision
from service.decide.engine import Decision, Engine
from service.decide.refs import RefError, parse_ref
from service.policy.active import get_engine
from service.store import models as m

from .errors import Forbidden, Malformed, NotFound

DEFAULT_INVITATION_TTL_DAYS = 14
M = TypeVar("M", bound=m.BaseModel)


def invitation_ttl_days() -> float:
    """The lifetime of an invitation (env AUTHZ_INVITATION_TTL_DAYS, default 14 days)."""
    raw = os.environ.get("AUTHZ_INVITATION_TTL_DAYS", "")
    if not raw.strip():
        return DEFAULT_INVITATION_TTL_DAYS
    value = float(raw)
    if value <= 0:
        raise ValueError("AUTHZ_INVITATION_TTL_DAYS must be positive")
    return value


def ref_id(text: Any, kind: str, field: str) -> int:
    """The numeric id of a `kind:id` reference, or Malformed naming the field."""
    try:
        return parse_ref(text, expected=kind).id
    except RefError as exc:
        raise Malformed(f"{field} {exc}", field) from None


def load(model: type[M], row_id: int, kind: str, field: str, *, for_update: bool = False) -> M:
    """The row with this id, or NotFound naming the field."""
    query = model.select().where(model.id == row_id)
    if for_update and _supports_for_update():
        query = query.for_update()
    row = query.first()
    if row is None:
        raise NotFound(f"{field}: {kind}:{row_id} does not exist", field)
    return row


def _supports_for_update() -> bool:
    from service.store import is_postgres
    return is_postgres()  # SQLite serialises writers with BEGIN IMMEDIATE instead


def authorize(actor: str, action: str, resource: str, engine: Engine | None = None) -> Decision:
    """Ask the policy; a deny raises Forbidden with the decision's reasons and decision_id."""
    decision, decision_id = decide_recorded(actor, action, resource, engine)
    if not decision.allowed:
        raise Forbidden(f"{actor} may not {action} {resource}", decision.reasons, decision_id=decision_id)
    return decision


def decide_recorded(actor: str, action: str, resource: str, engine: Engine | None) -> tuple[Decision, str]:
    """The policy's decision for a workflow step, recorded in the audit like every decision served."""
    started = time.perf_counter()
    decision = (engine or get_engine()).decide(actor, action, resource)
    return decision, record_decision("workflow", actor, action, resource, decision, started)
