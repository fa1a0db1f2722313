"""Decision endpoints: check, batch check, actions, list, subjects (scope `check`).

Every answer names the policy version and store revision it was decided on and
a decision_id that also appears in the decision log. Every error answer,
whatever its cause, carries `allowed: false` (errors.py); an engine failure is a
500 with `allowed: false`, never a 200.
"""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Annotated, Any, Iterator

from flask import Blueprint, current_app
from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from service.audit.past import Moment, PastError, engine_at, facts_at, resolve
from service.audit.questions import actions_with_reasons, listed, subjects_as_reasons, subjects_of
from service.audit.recorder import new_decision_id, record
from service.decide.engine import Decision, Engine
from service.queries.in_force import PolicyUnavailable
from service.store.outage import reraise_outage
from service.store.schema import current_revision

from .auth import CHECK
from .deadline import past_deadline
from .errors import ApiError
from .metrics import count_decision, observe_latency
from .registry import route
from .request_stamp import request_stamp
from .schemas import CANONICAL_ID, Action, Answer, Reason, Ref, Request, ResourceType, UserRef

bp = Blueprint("decisions", __name__, url_prefix="/v1")
log = logging.getLogger("authz.api")

MAX_BATCH = 100
MAX_PAGE_SIZE = 1000

Revision = Annotated[int, Field(ge=0, le=2**62)]
PastTime = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PastRequest(Request):
    """A question about the present, or with `at_revision` / `at` about a past moment (422 outside history)."""

    at_revision: Revision | None = Field(default=None, description="answer as at this store revision")
    at: PastTime | None = Field(default=None, description="answer as at this RFC 3339 time")

    @field_validator("min_revision", check_fields=False)
    @classmethod
    def _not_past_and_fresh(cls, min_revision: int | None, info: ValidationInfo) -> int | None:
        """A past moment and a freshness floor contradict: one asks about then, the other about now."""
        asked = [name for name in ("at_revision", "at") if info.data.get(name) is not None]
        if min_revision is not None and asked:
            raise ValueError(f"{' and '.join(asked)} (a past moment) and min_revision (a fresh store) "
                             "contradict each other; give one")
        return min_revision


class CheckRequest(PastRequest):
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


class BatchRequest(PastRequest):
    checks: list[CheckItem] = Field(min_length=1, max_length=MAX_BATCH)
    min_revision: Revision | None = None


class ActionsRequest(Request):
    actor: UserRef
    resource: Ref
    min_revision: Revision | None = None


class ListRequest(PastRequest):
    actor: UserRef
    action: Action
    resource_type: ResourceType
    page_size: int = Field(default=100, ge=1, le=MAX_PAGE_SIZE)
    cursor: Annotated[str, StringConstraints(pattern=f"^{CANONICAL_ID}$")] | None = None
    min_revision: Revision | None = None


class SubjectsRequest(PastRequest):
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


@contextlib.contextmanager
def _deciding(body: PastRequest) -> Iterator[tuple[Engine, Moment | None]]:
    """The engine answering `body`: the present one, or one deciding as at its past moment (422 outside history)."""
    try:
        moment = resolve(body.at_revision, body.at)
    except PastError as exc:
        raise ApiError(422, "outside_history", str(exc), field=exc.field) from None
    if moment is None:
        yield _engine(), None
        return
    try:
        engine = engine_at(moment)
    except PastError as exc:  # no policy version was in force then, or its texts are not stored
        raise ApiError(422, "outside_history", str(exc), field=exc.field) from None
    with facts_at(moment):
        yield engine, moment


def _past(moment: Moment | None) -> dict[str, Any]:
    """What a record of a past question adds: the moment asked about."""
    return {} if moment is None else {"moment": moment.at, "as_of_revision": moment.revision}


def _require_revision(min_revision: int | None) -> int:
    """The current revision; 409 if the caller needs a newer one than the store holds."""
    revision = current_revision()
    if min_revision is not None and revision < min_revision:
        raise ApiError(409, "stale_store", f"the store is at revision {revision}, older than min_revision "
                       f"{min_revision}; retry shortly", field="min_revision", extra={"revision": revision})
    return revision


def _record(endpoint: str, decision_id: str, actor: Any, action: str, resource: Any, allowed: bool,
            reasons: Any, policy_version: str, revision: int, started: float, error: bool = False,
            **extra: Any) -> None:
    elapsed = time.perf_counter() - started
    observe_latency(endpoint, elapsed)
    count_decision(action, allowed, error)
    record(endpoint, decision_id, actor=actor, action=action, resource=resource, allowed=allowed, reasons=reasons,
           policy_version=policy_version, revision=revision, latency_ms=elapsed * 1000,
           **({"error": True} if error else {}), **extra)


def _failed(decision_id: str) -> ApiError:
    return ApiError(500, "decision_failed", "the decision could not be made; denied",
                    extra={"allowed": False, "decision_id": decision_id})


def _answer(decision: Decision, decision_id: str) -> DecisionAnswer:
    # built from the engine's Decision, whose fields have these very types: nothing to validate
    return DecisionAnswer.model_construct(decision_id=decision_id, **decision.as_dict())


@route(bp, "/check", "POST", scope=CHECK, summary="May actor take action on resource?", body=CheckRequest,
       response=DecisionAnswer, decision=True, errors=(409,))
def check(body: CheckRequest):
    if body.min_revision is not None:  # the decision names its revision anyway; read it apart only when asked
        _require_revision(body.min_revision)
    started, decision_id = time.perf_counter(), new_decision_id()
    with _deciding(body) as (engine, moment):
        # with explain, a deny says what each rule that could have allowed it lacks (why_not);
        # a present question is decided on the stamp the key check read (one statement when cached)
        decision = engine.decide(body.actor, body.action, body.resource, explain=body.explain, why_not=body.explain,
                                 stamp=None if moment else request_stamp())
    _record("check", decision_id, body.actor, body.action, body.resource, decision.allowed, decision.reasons,
            decision.policy_version, decision.revision, started, decision.error, explain=body.explain,
            why_not=body.explain, **_past(moment))
    if decision.error:
        raise _failed(decision_id)
    return _answer(decision, decision_id)


@route(bp, "/check/batch", "POST", scope=CHECK, summary=f"Up to {MAX_BATCH} checks, answered in order",
       body=BatchRequest, response=BatchAnswer, decision=True, errors=(409,))
def check_batch(body: BatchRequest):
    revision = _require_revision(body.min_revision) if body.min_revision is not None else 0
    started = time.perf_counter()
    with _deciding(body) as (engine, moment):
        # one snapshot for the whole batch: every answer reflects the same store state
        decisions = engine.decide_many([(item.actor, item.action, item.resource) for item in body.checks],
                                       past_deadline)  # checks left at the request's deadline are denied
    elapsed = time.perf_counter() - started
    observe_latency("batch", elapsed)  # one observation: the batch's
    results = []
    for item, decision in zip(body.checks, decisions):
        decision_id = new_decision_id()
        count_decision(item.action, decision.allowed, decision.error)
        # each record carries the whole batch's latency: its decisions were made together
        record("batch", decision_id, actor=item.actor, action=item.action, resource=item.resource,
               allowed=decision.allowed, reasons=decision.reasons, policy_version=decision.policy_version,
               revision=decision.revision, latency_ms=elapsed * 1000, batch_size=len(body.checks),
               **({"error": True} if decision.error else {}), **_past(moment))
        if decision.error:
            raise _failed(decision_id)
        results.append(_answer(decision, decision_id))
        revision = max(revision, decision.revision)
    return BatchAnswer(results=results, policy_version=engine.policy_version, revision=revision)


def _unavailable(exc: PolicyUnavailable, decision_id: str) -> ApiError:
    """No policy version in force: the answer is refused, never computed without the policy."""
    return ApiError(503, "policy_unavailable", f"{exc}; nothing was decided",
                    extra={"allowed": False, "decision_id": decision_id, "reason": exc.reason})


@contextlib.contextmanager
def _answering(endpoint: str, decision_id: str, actor: Any, action: str, resource: Any,
               started: float, moment: Moment | None = None) -> Iterator[None]:
    """Map a refused or failed derived answer to its error (recorded as an error, denied)."""
    try:
        yield
    except PolicyUnavailable as exc:
        _record(endpoint, decision_id, actor, action, resource, False, [], "none", -1, started, True,
                **_past(moment))
        raise _unavailable(exc, decision_id) from None
    except (ApiError, PastError):
        raise
    except Exception as exc:
        reraise_outage(exc)  # 503 store_unavailable (errors.py): nothing decided, nothing to record
        log.exception("%s failed (denied): actor=%r action=%r resource=%r", endpoint, actor, action, resource)
        _record(endpoint, decision_id, actor, action, resource, False, [], "none", -1, started, True,
                **_past(moment))
        raise _failed(decision_id) from None


@route(bp, "/actions", "POST", scope=CHECK, summary="The actions actor may take on resource",
       body=ActionsRequest, response=ActionsAnswer, decision=True, errors=(409, 503))
def actions(body: ActionsRequest):
    if body.min_revision is not None:  # the answer names its revision anyway; read it apart only when asked
        _require_revision(body.min_revision)
    started, decision_id = time.perf_counter(), new_decision_id()
    with _answering("actions", decision_id, body.actor, "actions", body.resource, started):
        # the actions not decided by the request's deadline are not listed (denied, with the reason)
        found = actions_with_reasons(_engine(), body.actor, body.resource, past_deadline, request_stamp())
    revision = found.revision
    _record("actions", decision_id, body.actor, "actions", body.resource, bool(found.allowed), found.reasons,
            found.policy_version, revision, started, actions=found.allowed)
    return ActionsAnswer(allowed=bool(found.allowed), actions=found.allowed, decision_id=decision_id,
                         reasons=found.reasons, policy_version=found.policy_version, revision=revision)


@route(bp, "/list", "POST", scope=CHECK, summary="Ids of resource_type the actor may act on (paged)",
       body=ListRequest, response=ListAnswer, decision=True, errors=(409, 503),
       description="Every id is confirmed by the policy version in force; pass next_cursor back as cursor "
                   "for the next page (null: last page).")
def list_resources(body: ListRequest):
    if body.min_revision is not None:
        _require_revision(body.min_revision)
    started, decision_id = time.perf_counter(), new_decision_id()
    with _deciding(body) as (engine, moment):
        with _answering("list", decision_id, body.actor, body.action, body.resource_type, started, moment):
            found = listed(engine, body.actor, body.action, body.resource_type, body.cursor, body.page_size + 1,
                           None if moment else request_stamp())
    refs = [f"{body.resource_type}:{i}" for i in found.ids[:body.page_size]]
    more = len(found.ids) > body.page_size
    revision = moment.revision if moment is not None else found.revision
    _record("list", decision_id, body.actor, body.action, body.resource_type, bool(refs), [],
            found.policy_version, revision, started, listed=refs, cursor=body.cursor, page_size=body.page_size,
            **_past(moment))
    # built from values of exactly these types: nothing to validate
    return ListAnswer.model_construct(ids=refs, next_cursor=refs[-1].split(":", 1)[1] if more else None,
                                      decision_id=decision_id, policy_version=found.policy_version, revision=revision)


@route(bp, "/subjects", "POST", scope=CHECK, summary="Every user who may take action on resource, and why",
       body=SubjectsRequest, response=SubjectsAnswer, decision=True, errors=(409, 503))
def subjects(body: SubjectsRequest):
    if body.min_revision is not None:
        _require_revision(body.min_revision)
    started, decision_id = time.perf_counter(), new_decision_id()
    with _deciding(body) as (engine, moment):
        # a well-formed reference of an unknown type: nobody may act on it (R20)
        with _answering("subjects", decision_id, None, body.action, body.resource, started, moment):
            found = subjects_of(engine, body.action, body.resource, None if moment else request_stamp())
    revision = moment.revision if moment is not None else found.revision
    _record("subjects", decision_id, None, body.action, body.resource, bool(found.subjects),
            subjects_as_reasons(found.subjects), found.policy_version, revision, started, **_past(moment))
    return SubjectsAnswer(subjects=[SubjectAnswer(user=s.user, reasons=s.reasons) for s in found.subjects],
                          decision_id=decision_id, policy_version=found.policy_version, revision=revision)
