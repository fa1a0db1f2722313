"""Lists: the resources of one type a user may act on, as the policy in force decides them.

The candidates are the resources related to the user (related.py) and those the stranger may act
on (stranger.py), walked in ascending id order chunk by chunk; each chunk's facts are read in one
statement and every candidate is confirmed by the engine (the pattern memo answers the common
shapes from the rows' key without building a fact object). Everything is read in one snapshot, so
a list names one store state and one policy version, and a cursor (the last id listed) is stable.
"""
from __future__ import annotations

import contextlib
import gc
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Iterator

from service.policy.active import ActiveEngine
from service.decide.engine import Engine
from service.decide.facts import QUESTIONS_PER_STATEMENT, QuestionFacts, load_candidates, load_questions
from service.decide.patterns import rows_keys
from service.decide.refs import Ref
from service.decide.vocabulary import is_known
from service.store.schema import revision_stamp

from .in_force import answer_in_force, check_version, in_snapshot, snapshot
from .related import RESOURCE_TABLES, resources_query
from .stranger import open_ids

# candidates confirmed per statement: the first chunk (most lists end in it), then doubling
CHUNK_FIRST, CHUNK_MOST = 1024, 32768


@dataclass
class Listed:
    """A list's answer: the ids allowed, with their reasons when asked, and what decided them."""

    ids: list[int]
    policy_version: str
    revision: int
    reasons: list[list[dict[str, Any]]] = field(default_factory=list)  # per id, with `reasons=`


def list_allowed(engine: Engine | ActiveEngine, user_id: int, action: str, resource_type: str, *,
                 after: int = 0, limit: int = 100, reasons: str | None = None,
                 stamp: tuple[str, int] | None = None) -> Listed:
    """Ids (ascending, above `after`, at most `limit`) of `resource_type` the user may `action`.

    `reasons`: None for ids only, "first" or "all" for each id's reasons as decide() gives them
    (plain, or explained). An unknown type or action lists nothing (R20); no policy version in
    force raises in_force.PolicyUnavailable; an error while confirming raises (no partial list).
    `stamp`: the store's stamp if the caller has just read it (it finds the version in force)."""
    return list_actions(engine, user_id, (action,), resource_type, after=after, limit=limit, reasons=reasons,
                        stamp=stamp)[action]


def list_actions(engine: Engine | ActiveEngine, user_id: int, actions: tuple[str, ...], resource_type: str, *,
                 after: int = 0, limit: int = 100, reasons: str | None = None,
                 stamp: tuple[str, int] | None = None) -> dict[str, Listed]:
    """list_allowed for each of `actions` on one resource type, on one read of the candidates' facts (a
    console page lists every action of a type: one statement for the nine of an organization, not nine);
    each list is exactly the one list_allowed answers alone."""
    def answer(concrete: Engine, expected: str | None) -> dict[str, Listed]:
        with without_collection():
            if not in_snapshot():  # most lists are answered by their first statement, which sees one state
                alone = _list(concrete, expected, user_id, actions, resource_type, after, limit, reasons, alone=True)
                if alone is not None:
                    return alone
            with snapshot():  # more statements: all of them in one snapshot, from the start
                return _list(concrete, expected, user_id, actions, resource_type, after, limit, reasons)  # type: ignore[return-value]
    return answer_in_force(engine, answer, stamp)


@contextlib.contextmanager
def without_collection() -> Iterator[None]:
    """No cyclic garbage collection while a list confirms its candidates: the keys and rows it makes
    are many small tuples, which set off collections that each walk every object of the process (in
    a 20,000-customer list they cost more than the keys). Nothing a list makes is cyclic; the collector
    runs again as soon as the list is answered (unless it was off already, e.g. in another list)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def list_ids(engine: Engine | ActiveEngine, user_id: int, action: str, resource_type: str, *,
             after: int = 0, limit: int = 100) -> list[int]:
    return list_allowed(engine, user_id, action, resource_type, after=after, limit=limit).ids


def _list(engine: Engine, expected: str | None, user_id: int, actions: tuple[str, ...], kind: str, after: int,
          limit: int, reasons: str | None, alone: bool = False) -> dict[str, Listed] | None:
    """The lists, by action; `alone`: only if their first statement answers them whole (None otherwise:
    the caller asks again in a snapshot, since a second statement could see another state)."""
    found = {action: Listed([], engine.policy_version, -1) for action in actions}
    known = [action for action in dict.fromkeys(actions) if is_known(kind, action)]
    if kind not in RESOURCE_TABLES or not known or limit <= 0:
        revision = revision_stamp()[1]
        for listed in found.values():
            listed.revision = revision
        return found
    everything = not engine.id_blind  # no completeness argument: every resource is a candidate
    cursor, chunk = after, max(CHUNK_FIRST, min(limit, CHUNK_MOST))
    while True:
        # one statement: the next chunk of related candidates, their facts and the user's, the stamp
        sql, params = resources_query(user_id, kind, after=cursor, limit=chunk, everything=everything)
        read = load_candidates(user_id, kind, sql, params)
        check_version(expected, read.active_version)
        for listed in found.values():
            listed.revision = read.stamp[1]
        related = sorted(rid for _kind, rid in read.resource_rows)
        last = len(related) < chunk
        ceiling = None if last else related[-1]
        for action in known:
            if len(found[action].ids) >= limit:
                continue
            opened = [] if everything else open_ids(engine, kind, action, read.stamp, compute=not alone)
            if opened is None:
                return None  # the stranger probe is not known for this state yet: it takes a statement
            if user_id not in read.users:
                return found  # the actor is not in the store: it may do nothing
            extra = opened[bisect_right(opened, cursor):len(opened) if last else bisect_right(opened, ceiling)]
            if not extra:
                _confirm(engine, read, user_id, action, kind, related, limit, reasons, found[action])
            elif alone:
                return None
            else:
                _confirm_with(engine, user_id, action, kind, sorted({*related, *extra}), limit, reasons, found[action])
        if last or all(len(found[action].ids) >= limit for action in known):
            return found
        if alone:
            return None
        cursor, chunk = ceiling, min(chunk * 2, CHUNK_MOST)  # type: ignore[assignment]


def _confirm_with(engine: Engine, user_id: int, action: str, kind: str, candidates: list[int], limit: int,
                  reasons: str | None, listed: Listed) -> None:
    """With resources the stranger may act on, unrelated to the user: every candidate's facts read again."""
    for start in range(0, len(candidates), QUESTIONS_PER_STATEMENT):
        batch = candidates[start:start + QUESTIONS_PER_STATEMENT]
        read = load_questions([(user_id, Ref(kind, rid)) for rid in batch])
        _confirm(engine, read, user_id, action, kind, batch, limit, reasons, listed)
        if len(listed.ids) >= limit:
            break


def _confirm(engine: Engine, read: QuestionFacts, user_id: int, action: str, kind: str, candidates: list[int],
             limit: int, reasons: str | None, listed: Listed) -> None:
    """Add to `listed` the candidates the engine allows on the facts `read`, up to `limit`."""
    memo = engine.patterns if reasons is None else None
    keyed = rows_keys(read, user_id, kind, candidates) if memo is not None else ((rid, None) for rid in candidates)
    # candidates of one shape share one key object (rows_keys): its verdict is looked up once; the
    # entry holds the key itself, so that its id cannot be reused by another key while this runs
    verdicts: dict[int, tuple[tuple, bool]] = {}
    for rid, keys in keyed:
        held = None
        if keys is not None:
            seen = verdicts.get(id(keys))
            if seen is not None and seen[0] is keys:
                held = seen[1]
            else:
                held = memo.verdict((action, False, *keys))  # type: ignore[union-attr]
                if held is not None:
                    verdicts[id(keys)] = (keys, held)
        if held is None:  # not memoized yet, not a memoized kind, or explained: the engine on the facts
            question = read.question(user_id, Ref(kind, rid))
            if not question.has_resource:
                continue
            if reasons is None:
                held = engine.allows(question, action)
            else:
                why = engine.reasons_for(question, action, explain=reasons == "all")
                held = bool(why)
                if held:
                    listed.reasons.append(why)
        if not held:
            continue
        listed.ids.append(rid)
        if len(listed.ids) >= limit:
            break
