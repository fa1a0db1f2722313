"""Every access a customer, partner or user gained or lost between two moments, each with its cause.

The access at a moment is what the subject's console page answers with `?at=` (moment.build_at: the
policy version in force then, on the facts of its revision): the customer page's who_can() rows, the
user page's list_allowed() rows, and for a partner the lists of its members restricted to the
customers it manages then (and their products), as its page's matrix. The two sets are compared as
(user, action, resource); nothing here decides by SQL.

A cause is found by bisection over the states in between: state 0 is `from`, states 1..n the
revisions written after `from` up to `to`'s revision (each at its own time), state n+1 is `to`. A
row that differs between 0 and n+1 is looked up in the middle state: if it already has its end
value, the cause is at or before the middle, else after. The bisection ends on two neighbouring
states with the row's end value first in the later one; that state's revision is the cause (an
activation or a fact write), or, for state n+1, the time that passed after the last revision (an
invitation expired). A row that flipped several times in between is attributed to one revision at
which it took its end value. Each state is computed once per request, whatever number of rows ask it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from service.audit.past import Moment, PastError, resolve
from service.decide.engine import Engine
from service.decide.refs import Ref
from service.queries.lists import list_actions
from service.store.audit_models import RevisionMoment
from service.store.fast_sql import fetch_all
from service.store.revision_writes import writes_between

from . import pages
from .change_causes import Cause, describe_revision, time_passed
from .moment import BadMoment, build_at, rfc3339

Key = tuple[str, str, str]  # (user, action, resource)
Access = dict[Key, str]      # -> the rules of its reasons ("R13 R14")
KINDS = ("customer", "partner", "user")
PARTNER_ACTIONS = (("access_account", "organization"), ("manage_product", "product"),
                   ("view_statistics", "product"))


@dataclass
class Difference:
    key: Key
    gained: bool
    rules: str
    cause: Cause

    def as_dict(self) -> dict[str, Any]:
        user, action, resource = self.key
        return {"change": "gained" if self.gained else "lost", "user": user, "action": action,
                "resource": resource, "rules": self.rules, "cause": self.cause.as_dict()}


# -- the access at one moment ---------------------------------------------------------------------

def _customer(engine: Engine, org_id: int) -> Access:
    pages._organization(org_id)
    return {(a["user"], a["action"], a["resource"]): " ".join(pages.rules_of(a["reasons"]))
            for a in pages.access_on(engine, pages.customer_resources(org_id))}


def _user(engine: Engine, user_id: int) -> Access:
    if not fetch_all("SELECT id FROM users WHERE id = ?", (user_id,)):
        raise pages.NotFound(f"user:{user_id}")
    return {(f"user:{user_id}", m["action"], m["resource"]): " ".join(pages.rules_of(m["reasons"]))
            for m in pages.user_access(engine, user_id)}


def _partner(engine: Engine, org_id: int) -> Access:
    """The partner's members' access to the customers it manages (and their products): its page's matrix."""
    _, _, is_partner = pages._organization(org_id)
    if not is_partner:
        raise pages.NotFound(f"organization:{org_id} is not a partner")
    customers = [r[0] for r in fetch_all("SELECT customer_id FROM partnership WHERE partner_id = ? "
                                         "AND status = 'active'", (org_id,))]
    reachable = {Ref("organization", c) for c in customers}
    for customer in customers:
        reachable |= {Ref("product", r[0]) for r in fetch_all("SELECT id FROM product WHERE organization_id = ?",
                                                              (customer,))}
    access: Access = {}
    for (user_id,) in fetch_all("SELECT user_id FROM membership WHERE organization_id = ?", (org_id,)):
        lists = {kind: list_actions(engine, user_id, tuple(a for a, k in PARTNER_ACTIONS if k == kind), kind,
                                    limit=pages.EVERYTHING, reasons="first") for kind in ("organization", "product")}
        for action, resource_type in PARTNER_ACTIONS:
            found = lists[resource_type][action]
            for resource_id, reasons in zip(found.ids, found.reasons):
                if Ref(resource_type, resource_id) in reachable:
                    access[(f"user:{user_id}", action, f"{resource_type}:{resource_id}")] = \
                        " ".join(pages.rules_of(reasons))
    return access


_BUILDERS: dict[str, Callable[[Engine, int], Access]] = {"customer": _customer, "partner": _partner, "user": _user}


def access_at(engine: Any, kind: str, subject_id: int, moment: Moment) -> Access | None:
    """The subject's access at `moment`; None when the subject did not exist then."""
    try:
        return build_at(engine, moment, lambda concrete: _BUILDERS[kind](concrete, subject_id))
    except pages.NotFound:
        return None


# -- the states in between, and the cause of each difference -----------------------------------

def _revisions_between(start: Moment, end: Moment) -> list[int]:
    rows = RevisionMoment.select(RevisionMoment.revision).where(
        (RevisionMoment.revision > start.revision) & (RevisionMoment.revision <= end.revision))
    return sorted(int(r.revision) for r in rows)


class _States:
    """The access at state i (0: from, 1..n: each revision between, n+1: to), each computed once."""

    def __init__(self, engine: Any, kind: str, subject_id: int, start: Moment, end: Moment) -> None:
        self.engine, self.kind, self.subject_id = engine, kind, subject_id
        self.revisions = _revisions_between(start, end)
        self.moments: list[Moment | None] = [start, *([None] * len(self.revisions)), end]
        self.known: dict[int, Access] = {}
        self.evaluated = 0

    def access(self, index: int) -> Access:
        if index not in self.known:
            moment = self.moments[index]
            if moment is None:
                try:
                    moment = self.moments[index] = resolve(self.revisions[index - 1], None)
                except PastError as exc:  # pruned, or written before the history began
                    raise BadMoment(f"revision {self.revisions[index - 1]} can no longer be answered: {exc}",
                                    "from") from None
            self.known[index] = access_at(self.engine, self.kind, self.subject_id, moment) or {}
            self.evaluated += 1
        return self.known[index]

    def flip(self, key: Key) -> int:
        """The state in which `key` takes its value at `to` (bisection; see the module's docstring)."""
        low, high = 0, len(self.moments) - 1
        wanted = key in self.access(high)
        while high - low > 1:
            middle = (low + high) // 2
            if (key in self.access(middle)) == wanted:
                high = middle
            else:
                low = middle
        return high


def changes_between(engine: Any, kind: str, subject_id: int, start: Moment, end: Moment) -> tuple[
        list[Difference], dict[str, Any]]:
    """The differences, each with its cause, and what was compared (revisions between, states computed)."""
    states = _States(engine, kind, subject_id, start, end)
    before, after = access_at(engine, kind, subject_id, start), access_at(engine, kind, subject_id, end)
    if before is None and after is None:
        raise pages.NotFound(f"{'user' if kind == 'user' else 'organization'}:{subject_id}")
    states.known[0], states.known[len(states.moments) - 1] = before or {}, after or {}
    writes = writes_between(start.revision, end.revision) if states.revisions else {}
    causes: dict[int, Cause] = {}
    found = []
    for key in sorted(set(states.known[0]) ^ set(after or {}), key=_order):
        index = states.flip(key)
        if index not in causes:
            causes[index] = (time_passed(rfc3339(end.at)) if index == len(states.moments) - 1
                             else describe_revision(states.revisions[index - 1], writes))
        gained = key in (after or {})
        found.append(Difference(key, gained, (after if gained else before or {}).get(key, ""), causes[index]))
    return found, {"revisions_between": len(states.revisions), "states_computed": states.evaluated + 2,
                   "from_revision": start.revision, "to_revision": end.revision,
                   "from_policy_version": start.policy_version, "to_policy_version": end.policy_version}


def _order(key: Key) -> tuple:
    user, action, resource = key
    kind, _, number = resource.partition(":")
    return (kind, int(number), action, int(user.split(":")[1]))
