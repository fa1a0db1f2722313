"""The stranger probe: the resources a user with no facts at all may act on.

Every user unrelated to a resource gets the stranger's decision on it (related.py says why), so a
resource the stranger may act on is a candidate of every user's list and names every user of the
store a candidate of its subjects. The policy of this repository allows the stranger nothing; a
candidate policy may (an action "open to anyone"), and then these answers still follow it.
"""
from __future__ import annotations

from service.decide.engine import Engine
from service.decide.facts import STRANGER_ID, load_every, load_questions
from service.decide.patterns import Renaming, rows_key
from service.decide.refs import Ref
from service.decide.vocabulary import actions_for
from service.store.schema import revision_stamp

# resources whose facts change with time alone (an invitation expires): never kept from one answer to the next
_TIMELY = ("invitation",)


def stranger_may(engine: Engine, action: str, ref: Ref) -> bool:
    """Whether the stranger may take `action` on the resource (read in the caller's snapshot)."""
    read = load_questions([(STRANGER_ID, ref)])
    read.users.add(STRANGER_ID)  # the stranger is in no store: a user with no facts
    question = read.question(STRANGER_ID, ref)
    return question.has_resource and engine.allows(question, action)


def open_ids(engine: Engine, kind: str, action: str, stamp: tuple[str, int] | None = None) -> list[int]:
    """Ids (ascending) of the resources of `kind` the stranger may `action`, read in the caller's
    snapshot (`stamp`: the store's stamp, if the caller read it in that snapshot); kept per engine
    for the store state they were read at (any write moves the stamp)."""
    stamp = stamp or revision_stamp()
    kept = engine.derived.get(("open", kind))
    if kept is None or kept[0] != stamp or kind in _TIMELY:
        kept = (stamp, _open_by_action(engine, kind))
        engine.derived[("open", kind)] = kept
    return kept[1].get(action, [])


def _open_by_action(engine: Engine, kind: str) -> dict[str, list[int]]:
    """action -> ids the stranger may act on, for every action of `kind`: one statement reads every
    resource's facts, and each resource's memo key (written from its rows) is made once."""
    read = load_every(kind)
    actions = actions_for(kind)
    found: dict[str, list[int]] = {action: [] for action in actions}
    memo = engine.patterns
    for _kind, resource_id in sorted(read.resource_rows):
        question = read.question(STRANGER_ID, Ref(kind, resource_id))
        keys = rows_key(question, Renaming()) if memo is not None else None
        for action in actions:
            held = memo.verdict((action, False, *keys)) if keys is not None else None  # type: ignore[union-attr]
            if held if held is not None else bool(engine.reasons_for(question, action)):
                found[action].append(resource_id)
    return found
