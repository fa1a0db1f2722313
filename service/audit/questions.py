"""The questions an endpoint asks, shared by the endpoint and by replay (one copy of each): every
answer comes from service/queries, confirmed by the engine of the version in force."""
from __future__ import annotations

from typing import Any, Callable

from service.decide.refs import Ref, RefError, parse_ref
from service.queries.actions import Actions, allowed_actions
from service.queries.lists import Listed, list_allowed
from service.queries.subjects import Subject, Subjects, who_can


def actions_with_reasons(engine: Any, actor: str, resource: str,
                         past_deadline: Callable[[], bool] = lambda: False,
                         stamp: tuple[str, int] | None = None) -> Actions:
    """Each action of the resource's type decided by the policy, with its first reason."""
    return allowed_actions(engine, actor, resource, past_deadline, stamp)


def subjects_as_reasons(found: list[Subject]) -> list[dict[str, Any]]:
    return [{"user": s.user, "reasons": s.reasons} for s in found]


def subjects_of(engine: Any, action: str, resource: str, stamp: tuple[str, int] | None = None) -> Subjects:
    try:
        ref: Ref | None = parse_ref(resource)
    except RefError:
        ref = None  # a malformed reference names nothing anyone may act on (R20)
    return who_can(engine, action, ref, stamp)


def listed(engine: Any, actor: str, action: str, resource_type: str, cursor: str | None, limit: int,
           stamp: tuple[str, int] | None = None) -> Listed:
    """Up to `limit` ids of `resource_type` the actor may `action`, after the cursor (an id)."""
    after = int(cursor) if cursor else 0
    return list_allowed(engine, parse_ref(actor, expected="user").id, action, resource_type, after=after,
                        limit=limit, stamp=stamp)
