"""Every rule's granted (user, action, resource) of a store at once: one walk, kept per state.

A rule page lists the (user, action, resource) the engine allows with that rule among the reasons. Asking
every user's lists for each rule cost 1-10 s per rule page on the 10,000-customer world; here one walk of
the store (the export's and the impact analysis's: analysis.allowed, every resource with the users its
facts relate to, plus everyone for what the stranger may do) asks the engine, explained, once per
candidate and files each allowed triple under every rule its reasons name. The walk runs in the
background (precompute.py) and is kept per (store stamp, policy version, moment): all twenty rule pages of
a state share it, and a fact write or an activation makes the next page ask for a new one.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable

from service.analysis.allowed import candidates
from service.analysis.impact_facts import load_store_facts
from service.audit.past import Moment, engine_at, facts_at
from service.decide.engine import Engine
from service.decide.refs import parse_ref
from service.queries.in_force import build_in_force
from service.store.schema import revision_stamp

from .precompute import Kept, pace
from .time_moved import expired_pending

Triple = tuple[str, str, int, int]  # (resource type, action, user id, resource id): the page's order
RulePairs = dict[str, list[Triple]]

KEPT_STATES = 8
_kept: Kept[RulePairs] = Kept(KEPT_STATES)


def state_key(engine: Engine, moment: Moment | None) -> Hashable:
    """The state a rule page is a pure function of, read in the caller's snapshot (or past view); in the
    present that includes the invitations expired since (time_moved.py)."""
    return (revision_stamp(), engine.policy_version,
            (moment.revision, moment.at) if moment else ("now", expired_pending()))


def walk(engine: Engine) -> RulePairs:
    """rule -> its triples, sorted, on the facts of the caller's snapshot, decided by `engine`."""
    store = load_store_facts()
    found: defaultdict[str, list[Triple]] = defaultdict(list)
    for subject in store.subjects:
        pace()  # a page being built goes first; a store being closed stops the walk (its answer is dropped)
        ref = parse_ref(subject.ref)
        for action, users in candidates(engine, store, subject):
            for user_id, user in users:
                for rule in {r.get("rule") for r in engine.reasons(user, action, subject.facts, explain=True)}:
                    if rule:
                        found[rule].append((ref.type, action, user_id, ref.id))
    return {rule: sorted(triples) for rule, triples in found.items()}


def _compute(served: Any, moment: Moment | None):
    def keyed(engine: Engine) -> tuple[Hashable, RulePairs]:
        return state_key(engine, moment), walk(engine)
    if moment is None:
        return lambda: build_in_force(served, keyed)

    def past() -> tuple[Hashable, RulePairs]:
        with facts_at(moment):
            return build_in_force(engine_at(moment), keyed)
    return past


def rule_pairs(served: Any, engine: Engine, moment: Moment | None, wait: float | None) -> RulePairs:
    """Every rule's triples for the state `engine` answers in (called inside the page's snapshot);
    `served`: the engine the background recomputes it with; precompute.Pending while it is computed."""
    return _kept.get(state_key(engine, moment), _compute(served, moment), wait)


def warm(served: Any) -> None:
    """Start computing the present state's pairs (the console's home page asks: the next rule page is ready)."""
    def keyed(engine: Engine) -> tuple[Hashable, RulePairs]:
        return state_key(engine, None), walk(engine)
    key = build_in_force(served, lambda engine: state_key(engine, None))
    _kept.start(key, lambda: build_in_force(served, keyed))


def granted(pairs: RulePairs, rule: str, actions: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """The rule's triples among the (resource type, action) its grant clauses name, as the page lists them."""
    return [{"user": f"user:{user_id}", "action": action, "resource": f"{kind}:{rid}"}
            for kind, action, user_id, rid in pairs.get(rule, []) if (kind, action) in actions]
