"""The actions a user may take on one resource, each with its first reason, as the policy in force decides."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from service.policy.active import ActiveEngine
from service.decide.engine import Engine, deadline_reasons
from service.decide.facts import load_question
from service.decide.refs import RefError, parse_ref
from service.decide.vocabulary import actions_for

from service.store.schema import revision_stamp

from .in_force import answer_in_force, check_version
from .related import RESOURCE_TABLES


@dataclass(frozen=True)
class Actions:
    allowed: list[str]
    reasons: list[dict[str, Any]]  # each allowed action's first reason, {"action": ..., **reason}
    policy_version: str
    revision: int


def allowed_actions(engine: Engine | ActiveEngine, actor: str, resource: str,
                    past_deadline: Callable[[], bool] = lambda: False,
                    stamp: tuple[str, int] | None = None) -> Actions:
    """Each action of the resource's type decided on one read of the facts; once past_deadline() is
    true the rest are not decided (denied, with the deadline's reason). An unknown actor or resource
    may do nothing; no version in force raises in_force.PolicyUnavailable."""
    def answer(concrete: Engine, expected: str | None) -> Actions:
        return _actions(concrete, expected, actor, resource, past_deadline)
    return answer_in_force(engine, answer, stamp)


def _actions(engine: Engine, expected: str | None, actor: str, resource: str,
             past_deadline: Callable[[], bool]) -> Actions:
    try:
        actor_ref, ref = parse_ref(actor, expected="user"), parse_ref(resource)
    except RefError:
        return Actions([], [], engine.policy_version, revision_stamp()[1])
    if ref.type not in RESOURCE_TABLES:  # a type with no facts (a user): nothing is decided on it (R20)
        return Actions([], [], engine.policy_version, revision_stamp()[1])
    question = load_question(actor_ref.id, ref)  # one statement: the facts, the stamp, the active version
    check_version(expected, question.active_version)
    allowed: list[str] = []
    reasons: list[dict[str, Any]] = []
    if question.has_resource and question.has_user:
        for action in actions_for(ref.type):
            if past_deadline():
                reasons.append({"action": action, **deadline_reasons[0]})
                continue
            found = engine.reasons_for(question, action)
            if found:
                allowed.append(action)
                reasons.extend({"action": action, **reason} for reason in found[:1])
    return Actions(allowed, reasons, engine.policy_version, question.stamp[1])
