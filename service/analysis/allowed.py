"""Every allowed (user, action, resource) of a store, with the policy's first reason: the auditor's export.

The walk is the impact analysis's (impact.py): for each resource of the store (impact_facts.StoreFacts,
read in one snapshot by the caller) the candidates are the users its facts relate to, plus every user
for the actions the stranger may take on it (or every user when the policy is not id-blind); each
candidate is confirmed by the engine on the very facts decide() builds. So the rows are the engine's
answers, never a second copy of the rules; tests/test_export.py compares them with /v1/check on every
(user, action, resource) of a world.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from service.decide.engine import Engine
from service.decide.refs import parse_ref
from service.decide.vocabulary import actions_for

from .impact import STRANGER_ID
from .impact_facts import StoreFacts, Subject


@dataclass(frozen=True, slots=True)
class Allowed:
    user: int
    action: str
    resource: str
    reason: dict[str, Any]  # the first reason the policy gives (as /v1/check answers it)

    @property
    def rule(self) -> str:
        return str(self.reason.get("rule", ""))


Progress = Callable[[int, int], None]  # (resources done, resources in all)


def allowed_rows(engine: Engine, store: StoreFacts, progress: Progress | None = None) -> Iterator[Allowed]:
    """The allowed triples, resource by resource (in the store's order), action by action, users ascending."""
    total = len(store.subjects)
    for done, subject in enumerate(store.subjects, start=1):
        yield from _allowed_on(engine, store, subject)
        if progress is not None:
            progress(done, total)


def candidates(engine: Engine, store: StoreFacts, subject: Subject) -> Iterator[tuple[str, list[tuple[int, Any]]]]:
    """(action, [(user id, the user's facts)]) for each action of the resource: the users its facts relate to,
    everyone for an action the stranger may take (or every user when the policy is not id-blind); an
    unrelated user gets the stranger's decision, a deny otherwise (impact.py says why)."""
    actions = actions_for(parse_ref(subject.ref).type)
    stranger = store.user(STRANGER_ID, subject)
    open_to_all = {a for a in actions if engine.reasons(stranger, a, subject.facts)}
    related = store.related_users(subject) if engine.id_blind else set(store.users)
    everyone = set(store.users) if open_to_all else related
    users = {user_id: store.user(user_id, subject) for user_id in sorted(everyone)}
    for action in actions:
        yield action, [(user_id, user) for user_id, user in users.items()
                       if user_id in related or action in open_to_all]


def _allowed_on(engine: Engine, store: StoreFacts, subject: Subject) -> Iterator[Allowed]:
    for action, users in candidates(engine, store, subject):
        for user_id, user in users:
            reasons = engine.reasons(user, action, subject.facts)
            if reasons:
                yield Allowed(user_id, action, subject.ref, reasons[0])
