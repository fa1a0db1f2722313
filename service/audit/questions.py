"""The questions an endpoint asks the engine, shared by the endpoint and by replay (one copy of each)."""
from __future__ import annotations

from typing import Any, Callable

from service.authz.engine import Decision, Engine, deadline_reasons
from service.authz.listing import list_ids
from service.authz.refs import RefError, parse_ref
from service.authz.subjects import Subject, who_can
from service.authz.vocabulary import actions_for


def actions_with_reasons(engine: Engine, actor: str, resource: str,
                         past_deadline: Callable[[], bool] = lambda: False
                         ) -> tuple[list[str], list[dict[str, Any]], list[Decision]]:
    """Each action of the resource's type decided by the policy, with its first reason; stops at an error.
    Once past_deadline() is true, the remaining actions are not decided: denied with the deadline reason."""
    allowed: list[str] = []
    reasons: list[dict[str, Any]] = []
    decisions: list[Decision] = []
    for action in actions_for(resource.split(":", 1)[0]):
        if past_deadline():
            reasons.append({"action": action, **deadline_reasons[0]})
            continue
        decision = engine.decide(actor, action, resource)
        decisions.append(decision)
        if decision.error:
            break
        if decision.allowed:
            allowed.append(action)
            reasons.extend({"action": action, **reason} for reason in decision.reasons)
    return allowed, reasons, decisions


def subjects_as_reasons(found: list[Subject]) -> list[dict[str, Any]]:
    return [{"user": s.user, "reasons": s.reasons} for s in found]


def subjects_of(engine: Engine, action: str, resource: str) -> tuple[list[Subject], list[Decision]]:
    try:
        ref = parse_ref(resource)
    except RefError:
        return [], []
    return who_can(engine, action, ref)


def listed(actor: str, action: str, resource_type: str, cursor: str | None, limit: int) -> list[str]:
    """Up to `limit` refs of `resource_type` the actor may `action`, after the cursor (an id)."""
    after = int(cursor) if cursor else 0
    ids = list_ids(parse_ref(actor, expected="user").id, action, resource_type, after=after, limit=limit)
    return [f"{resource_type}:{i}" for i in ids]
