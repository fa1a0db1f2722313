"""The stranger probe: the resources a user with no facts at all may act on.

Every user unrelated to a resource gets the stranger's decision on it (related.py says why), so a
resource the stranger may act on is a candidate of every user's list and names every user of the
store a candidate of its subjects. The policy of this repository allows the stranger nothing; a
candidate policy may (an action "open to anyone"), and then these answers still follow it.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from service.decide.engine import Engine
from service.decide.facts import STRANGER_ID, Invitation, Partnership, load_every, load_questions
from service.decide.patterns import Renaming, fact_key, rows_key, rows_keys
from service.decide.refs import Ref
from service.decide.vocabulary import actions_for
from service.store.history import decision_moment, unchanged_between
from service.store.models import Invitation as InvitationRow
from service.store.schema import revision_stamp

def stranger_may(engine: Engine, action: str, ref: Ref) -> bool:
    """Whether the stranger may take `action` on the resource (read in the caller's snapshot)."""
    read = load_questions([(STRANGER_ID, ref)])
    read.users.add(STRANGER_ID)  # the stranger is in no store: a user with no facts
    question = read.question(STRANGER_ID, ref)
    return question.has_resource and engine.allows(question, action)


def open_ids(engine: Engine, kind: str, action: str, stamp: tuple[str, int] | None = None,
             compute: bool = True) -> list[int] | None:
    """Ids (ascending) of the resources of `kind` the stranger may `action`, read in the caller's
    snapshot (`stamp`: the store's stamp, if the caller read it in that snapshot); kept per engine
    for the store state they were read at (any write moves the stamp) and, for invitations, until
    the next pending one expires (time alone changes an invitation's facts). `compute` False: None
    instead of reading them when they are not kept for this state."""
    stamp = stamp or revision_stamp()
    now = decision_moment()
    kept = engine.derived.get(("open", kind))
    timely = kind == "invitation" and kept is not None and (kept[1] is not None and now >= kept[1] or now < kept[2])
    if kept is not None and kept[0] != stamp and not timely and _still_valid(kind, kept[0], stamp):
        kept = engine.derived[("open", kind)] = (stamp, *kept[1:])
    if kept is None or kept[0] != stamp or timely:
        if not compute:
            return None
        read = load_every(kind, now)
        kept = (stamp, _next_expiry(read, now) if kind == "invitation" else None, now,
                _open_by_action(engine, kind, read))
        engine.derived[("open", kind)] = kept
    return kept[3].get(action, [])


# The tables load_every(kind) reads (decide/facts._RESOURCES: the resource, its organization, the active
# partnerships and, for a product, their rights on it): the stranger has no facts of its own, so a write
# to no other table (a membership, an assignment, a user) leaves every answer of the probe as it was.
READS = {"organization": ("organization", "partnership"),
         "product": ("product", "organization", "partnership", "partnership_product"),
         "invoice": ("invoice", "organization", "partnership"),
         "invitation": ("invitation",), "partnership": ("partnership",)}


def _still_valid(kind: str, kept: tuple[str, int], stamp: tuple[str, int]) -> bool:
    """Whether the probe kept at stamp `kept` is the answer at `stamp` too: the same store, and none of
    the rows it was computed from changed in between (after a write to another table, the probe of a
    10,000-customer store is not read and asked again: ~0.8 s of the next list)."""
    return kept[0] == stamp[0] and unchanged_between(READS[kind], kept[1], stamp[1])


def _next_expiry(read: Any, now: dt.datetime) -> dt.datetime | None:
    """The first moment after `now` at which one of these invitations expires (None: none will)."""
    later = [expires for rows in read.resource_rows.values()
             if (expires := InvitationRow.expires_at.python_value(rows[0][11])) > now]
    return min(later) if later else None


def _memo_keys(question: Any) -> tuple | None:
    """The memo key of the question's facts: written from its rows (an organization, product or invoice),
    else from its built facts (an invitation, a partnership: the key PatternMemo.evaluate files under)."""
    keys = rows_key(question, Renaming())
    if keys is None and question.has_resource:
        names = Renaming()
        keys = (fact_key(question.user, names), fact_key(question.resource, names))
    return keys


def _open_by_action(engine: Engine, kind: str, read: Any) -> dict[str, list[int]]:
    """action -> ids the stranger may act on, for every action of `kind`, from every resource's facts
    (`read`, one statement). An organization's, product's or invoice's memo key is written by rows_keys,
    which gives resources of one shape (the stranger has no facts: most of a store's resources) one key
    object, so each shape's verdicts are looked up once (a key a resource was 0.5 s of a 40,000-resource
    probe); an invitation's or partnership's key is made from its built facts."""
    actions = actions_for(kind)
    found: dict[str, list[int]] = {action: [] for action in actions}
    memo = engine.patterns
    ids = sorted(resource_id for _kind, resource_id in read.resource_rows)
    keyed = rows_keys(read, STRANGER_ID, kind, ids) if memo is not None else ((rid, None) for rid in ids)
    # verdicts by memo key, for this probe: the memo's contract (an id-blind policy's answer is a function
    # of the key) without its bound or its restoring; a shape's first resource asks the engine, the
    # thousands of the same shape after it cost one lookup. By the key object's identity first (the entry
    # holds the key, so its id is not reused while this runs), then by its value.
    by_object: dict[int, tuple[tuple, dict[str, bool]]] = {}
    by_value: dict[tuple, dict[str, bool]] = {}
    term_keys: dict[tuple, tuple | None] = {}
    for resource_id, keys in keyed:
        question = None
        if keys is None and memo is not None:
            shape = _term_shape(read, kind, resource_id)
            keys = term_keys.get(shape) if shape is not None else None
            if keys is None:
                question = read.question(STRANGER_ID, Ref(kind, resource_id))
                keys = _memo_keys(question)
                if shape is not None:
                    term_keys[shape] = keys
        shared = by_object.get(id(keys)) if keys is not None else None
        if shared is not None and shared[0] is keys:
            verdicts = shared[1]
        else:
            verdicts = by_value.get(keys) if keys is not None else None
            if verdicts is None:
                if question is None:
                    question = read.question(STRANGER_ID, Ref(kind, resource_id))
                verdicts = {action: _verdict(engine, question, action, keys) for action in actions}
                if keys is not None:
                    by_value[keys] = verdicts
            if keys is not None:
                by_object[id(keys)] = (keys, verdicts)
        for action in actions:
            if verdicts[action]:
                found[action].append(resource_id)
    return found


def _term_shape(read: Any, kind: str, resource_id: int) -> tuple | None:
    """What an invitation's or partnership's memo key for the stranger holds besides ids (None: another
    kind). Their facts are Invitation(id, partner_id, customer_id, inviting_side, status, expired) and
    Partnership(id, partner_id, customer_id, status, access, payment_mode) (facts.py) and the stranger has
    none, so the key renames the resource's id to 1 and its two organizations to 1 and 2, or both to 1
    when they are one: equal shapes, equal keys."""
    if kind not in ("invitation", "partnership"):
        return None
    fact = read.resource(Ref(kind, resource_id))
    if isinstance(fact, Invitation):
        return kind, fact.partner_id == fact.customer_id, fact.inviting_side, fact.status, fact.expired
    if isinstance(fact, Partnership):
        return kind, fact.partner_id == fact.customer_id, fact.status, fact.access, fact.payment_mode
    return None


def _verdict(engine: Engine, question: Any, action: str, keys: tuple | None) -> bool:
    """The stranger's verdict on one resource: the memo's (by `keys`), else the engine's on the facts."""
    held = engine.patterns.verdict((action, False, *keys)) if keys is not None and engine.patterns else None
    return held if held is not None else bool(engine.reasons_for(question, action))
