"""Decision endpoints: check, batch check, actions, list, subjects (scope `check`).

Every answer names the policy version and store revision it was decided on and
a decision_id that also appears in the decision log. Every error answer,
whatever its cause, carries `allowed: false` (errors.py); an engine failure is a
500 with `allowed: false`, never a 200.
"""
from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from flask import Blueprint, current_app
from pydantic import Field, StringConstraints

from service.authz import Decision, Engine, RefError, parse_ref
from service.authz.engine import deadline_reasons
from service.authz.listing import list_ids
from service.authz.subjects import who_can
from service.authz.vocabulary import actions_for
from service.decision_log import DecisionLog
from service.store.schema import current_revision

from .auth import CHECK, current_key_id
from .deadline import past_deadline
from .errors import ApiError
from .metrics import count_decision, observe_latency
from .registry import route
from .schemas import CANONICAL_ID, Action, Answer, Reason, Ref, Request, ResourceType, UserRef

bp = Blueprint("decisions", __name__, url_prefix="/v1")

MAX_BATCH = 100
MAX_PAGE_SIZE = 1000

Revision = Annotated[int, Field(ge=0, le=2**62)]


class CheckRequest(Request):
    actor: UserRef
    action: Action
    resource: Ref
    min_revision: Revision | None = Field(default=None, description="answer 409 if the store is older")
    explain: bool = Field(default=False, description="an allow: all reasons instead of the first; a deny: "
                          "what each rule that could have allowed it lacks ({rule, missing, <facts>, text})")


class CheckItem(Request):
    actor: UserRef
    action: Action
    resource: Ref


class BatchRequest(Request):
    checks: list[CheckItem] = Field(min_length=1, max_length=MAX_BATCH)
    min_revision: Revision | None = None


class ActionsRequest(Request):
    actor: UserRef
    resource: Ref
    min_revision: Revision | None = None


class ListRequest(Request):
    actor: UserRef
    action: Action
    resource_type: ResourceType
    page_size: int = Field(default=100, ge=1, le=MAX_PAGE_SIZE)
    cursor: Annotated[str, StringConstraints(pattern=f"^{CANONICAL_ID}$")] | None = None
    min_revision: Revision | None = None


class SubjectsRequest(Request):
    action: Action
    resource: Ref
    min_revision: Revision | None = None


class DecisionAnswer(Answer):
    allowed: bool
    decision_id: str
    reasons: list[Reason]
    policy_version: str
    revision: int


class BatchAnswer(Answer):
    results: list[DecisionAnswer]
    policy_version: str
    revision: int


class ActionsAnswer(DecisionAnswer):
    actions: list[str]


class ListAnswer(Answer):
    ids: list[str]
    next_cursor: str | None
    decision_id: str
    policy_version: str
    revision: int


class SubjectAnswer(Answer):
    user: str
    reasons: list[Reason]


class SubjectsAnswer(Answer):
    subjects: list[SubjectAnswer]
    decision_id: str
    policy_version: str
    revision: int


def _engine() -> Engine:
    return current_app.extensions["authz_engine"]


def _log() -> DecisionLog:
    return current_app.extensions["decision_log"]


def _require_revision(min_revision: int | None) -> int:
    """The current revision; 409 if the caller needs a newer one than the store holds."""
    revision = current_revision()
    if min_revision is not None and revision < min_revision:
        raise ApiError(409, "stale_store", f"the store is at revision {revision}, older than min_revision "
                       f"{min_revision}; retry shortly", field="min_revision", extra={"revision": revision})
    return revision


def _record(endpoint: str, decision_id: str, actor: Any, action: str, resource: Any, allowed: bool,
            reasons: Any, engine: Engine, revision: int, started: float, error: bool = False, **extra: Any) -> None:
    elapsed = time.perf_counter() - started
    observe_latency(endpoint, elapsed)
    count_decision(action, allowed, error)
    _log().write(decision_id=decision_id, key_id=current_key_id(), actor=actor, action=action, resource=resource,
                 allowed=allowed, reasons=reasons, policy_version=engine.policy_version, revision=revision,
                 latency_ms=elapsed * 1000, endpoint=endpoint, **({"error": True} if error else {}), **extra)


def _decide(endpoint: str, actor: str, action: str, resource: str, explain: bool = False) -> tuple[Decision, str]:
    engine, started, decision_id = _engine(), time.perf_counter(), str(uuid.uuid4())
    decision = engine.decide(actor, action, resource, explain=explain, why_not=explain)  # a deny says what is missing
    _record(endpoint, decision_id, actor, action, resource, decision.allowed, decision.reasons, engine,
            decision.revision, started, decision.error)
    return decision, decision_id


def _failed(decision_id: str) -> ApiError:
    return ApiError(500, "decision_failed", "the decision could not be made; denied",
                    extra={"allowed": False, "decision_id": decision_id})


def _answer(decision: Decision, decision_id: str) -> DecisionAnswer:
    return DecisionAnswer(decision_id=decision_id, **decision.as_dict())


@route(bp, "/check", "POST", scope=CHECK, summary="May actor take action on resource?", body=CheckRequest,
       response=DecisionAnswer, decision=True, errors=(409,))
def check(body: CheckRequest):
    if body.min_revision is not None:  # the decision names its revision anyway; read it apart only when asked
        _require_revision(body.min_revision)
    decision, decision_id = _decide("check", body.actor, body.action, body.resource, body.explain)
    if decision.error:
        raise _failed(decision_id)
    return _answer(decision, decision_id)


@route(bp, "/check/batch", "POST", scope=CHECK, summary=f"Up to {MAX_BATCH} checks, answered in order",
       body=BatchRequest, response=BatchAnswer, decision=True, errors=(409,))
def check_batch(body: BatchRequest):
    revision = _require_revision(body.min_revision) if body.min_revision is not None else 0
    engine, started = _engine(), time.perf_counter()
    # one snapshot for the whole batch: every answer reflects the same store state
    decisions = engine.decide_many([(item.actor, item.action, item.resource) for item in body.checks],
                                   past_deadline)  # checks left at the request's deadline are denied
    elapsed = time.perf_counter() - started
    observe_latency("batch", elapsed)  # one observation: the batch's
    results = []
    for item, decision in zip(body.checks, decisions):
        decision_id = str(uuid.uuid4())
        count_decision(item.action, decision.allowed, decision.error)
        # each line carries the whole batch's latency: its decisions were made together
        _log().write(decision_id=decision_id, key_id=current_key_id(), actor=item.actor, action=item.action,
                     resource=item.resource, allowed=decision.allowed, reasons=decision.reasons,
                     policy_version=engine.policy_version, revision=decision.revision,
                     latency_ms=elapsed * 1000, endpoint="batch", batch_size=len(body.checks),
                     **({"error": True} if decision.error else {}))
        if decision.error:
            raise _failed(decision_id)
        results.append(_answer(decision, decision_id))
        revision = max(revision, decision.revision)
    return BatchAnswer(results=results, policy_version=engine.policy_version, revision=revision)


@route(bp, "/actions", "POST", scope=CHECK, summary="The actions actor may take on resource",
       body=ActionsRequest, response=ActionsAnswer, decision=True, errors=(409,))
def actions(body: ActionsRequest):
    revision = _require_revision(body.min_revision)
    engine, started, decision_id = _engine(), time.perf_counter(), str(uuid.uuid4())
    allowed: list[str] = []
    reasons: list[dict[str, Any]] = []
    resource_type = body.resource.split(":", 1)[0]
    for action in actions_for(resource_type):  # each action decided by the policy, with its first reason
        if past_deadline():  # the actions not decided by the deadline are not listed (denied)
            reasons.append({"action": action, **deadline_reasons[0]})
            continue
        decision = engine.decide(body.actor, action, body.resource)
        if decision.error:
            _record("actions", decision_id, body.actor, "actions", body.resource, False, [], engine,
                    decision.revision, started, True)
            raise _failed(decision_id)
        revision = max(revision, decision.revision)
        if decision.allowed:
            allowed.append(action)
            reasons.extend({"action": action, **reason} for reason in decision.reasons)
    _record("actions", decision_id, body.actor, "actions", body.resource, bool(allowed), reasons, engine,
            revision, started, actions=allowed)
    return ActionsAnswer(allowed=bool(allowed), actions=allowed, decision_id=decision_id, reasons=reasons,
                         policy_version=engine.policy_version, revision=revision)


@route(bp, "/list", "POST", scope=CHECK, summary="Ids of resource_type the actor may act on (paged)",
       body=ListRequest, response=ListAnswer, decision=True, errors=(409,),
       description="Computed in SQL; pass next_cursor back as cursor for the next page (null: last page).")
def list_resources(body: ListRequest):
    revision = _require_revision(body.min_revision)
    engine, started, decision_id = _engine(), time.perf_counter(), str(uuid.uuid4())
    actor = parse_ref(body.actor, expected="user")
    after = int(body.cursor) if body.cursor else 0
    ids = list_ids(actor.id, body.action, body.resource_type, after=after, limit=body.page_size + 1)
    page, more = ids[:body.page_size], len(ids) > body.page_size
    refs = [f"{body.resource_type}:{i}" for i in page]
    _record("list", decision_id, body.actor, body.action, body.resource_type, bool(refs), [], engine, revision,
            started, listed=len(refs), cursor=body.cursor)
    return ListAnswer(ids=refs, next_cursor=str(page[-1]) if more else None, decision_id=decision_id,
                      policy_version=engine.policy_version, revision=revision)


@route(bp, "/subjects", "POST", scope=CHECK, summary="Every user who may take action on resource, and why",
       body=SubjectsRequest, response=SubjectsAnswer, decision=True, errors=(409,))
def subjects(body: SubjectsRequest):
    revision = _require_revision(body.min_revision)
    engine, started, decision_id = _engine(), time.perf_counter(), str(uuid.uuid4())
    try:
        ref = parse_ref(body.resource)
    except RefError:  # a well-formed reference of an unknown type: nobody may act on it (R20)
        found, decisions = [], []
    else:
        found, decisions = who_can(engine, body.action, ref)
    if any(d.error for d in decisions):
        _record("subjects", decision_id, None, body.action, body.resource, False, [], engine, revision, started, True)
        raise _failed(decision_id)
    revision = max([revision, *(d.revision for d in decisions)])
    _record("subjects", decision_id, None, body.action, body.resource, bool(found),
            [{"user": s.user, "reasons": s.reasons} for s in found], engine, revision, started)
    return SubjectsAnswer(subjects=[SubjectAnswer(user=s.user, reasons=s.reasons) for s in found],
                          decision_id=decision_id, policy_version=engine.policy_version, revision=revision)
