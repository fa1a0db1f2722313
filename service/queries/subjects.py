"""Who can act: every user who may take an action on a resource, with the policy's reasons.

The candidates are the users related to the resource (related.py), or every user of the store when
the stranger may act on it (or the policy is not id-blind); their facts are read in one statement
and each is confirmed by the engine of the version in force, explained as decide(explain=True)
explains an allow. The answer is the policy's own verdict, never a second copy of the rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.policy.active import ActiveEngine
from service.decide.engine import Engine
from service.decide.facts import QUESTIONS_PER_STATEMENT, load_questions
from service.decide.refs import Ref
from service.decide.vocabulary import is_known
from service.store.schema import revision_stamp

from .in_force import answer_in_force, check_version, snapshot
from .related import RESOURCE_TABLES, users_of
from .stranger import stranger_may


@dataclass(frozen=True, slots=True)
class Subject:
    user: str
    reasons: list[dict[str, Any]]


@dataclass(frozen=True)
class Subjects:
    subjects: list[Subject]
    policy_version: str
    revision: int


def who_can(engine: Engine | ActiveEngine, action: str, ref: Ref | None,
            stamp: tuple[str, int] | None = None) -> Subjects:
    """The users allowed, each with every reason (None: a malformed reference, nobody); raises
    in_force.PolicyUnavailable with no version in force, and on an error while deciding (no partial answer)."""
    def answer(concrete: Engine, expected: str | None) -> Subjects:
        with snapshot():
            return _who_can(concrete, expected, action, ref)
    return answer_in_force(engine, answer, stamp)


def _who_can(engine: Engine, expected: str | None, action: str, ref: Ref | None) -> Subjects:
    revision = revision_stamp()[1]
    if ref is None or ref.type not in RESOURCE_TABLES or not is_known(ref.type, action):
        return Subjects([], engine.policy_version, revision)
    everyone = not engine.id_blind or stranger_may(engine, action, ref)
    users = users_of(ref, everyone=everyone)
    found: list[Subject] = []
    for start in range(0, len(users), QUESTIONS_PER_STATEMENT):  # every user, when the stranger may act
        batch = users[start:start + QUESTIONS_PER_STATEMENT]
        read = load_questions([(user_id, ref) for user_id in batch])
        check_version(expected, read.active_version)
        for user_id in batch:
            reasons = engine.reasons_for(read.question(user_id, ref), action, explain=True)
            if reasons:
                found.append(Subject(f"user:{user_id}", reasons))
    return Subjects(found, engine.policy_version, revision)
