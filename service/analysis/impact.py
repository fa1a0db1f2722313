"""Impact of a policy change on today's data: every (actor, action, resource) whose decision differs.

Exhaustive without trying every user on every resource. For each resource the candidates are the
users whose facts mention it: members of an organization its facts carry (its own, its customer's
partners through active partnerships, a partnership's or invitation's two sides), users authorized
for the product, users assigned to the customer. Why no other pair can be allowed (docs/policy-changes.md):
a user outside that set has no role, billing right, authorization or assignment that any method of
the User answers about for an id the resource's facts carry, and an id-blind policy (no number,
arithmetic or ordering: patterns.policy_is_id_blind) can name no other organization; the strict
checks make the policy read the user only through those methods. So every such user gets exactly
the decision of a user without any facts, which is evaluated too (the "stranger" probe): if a policy
allows the stranger, every user of the store becomes a candidate for that resource and action.
A policy that is not id-blind gets no such argument: then every pair is compared (slow, exact).

Decisions are evaluated on canonical facts (ids renamed, patterns.py) and memoized per policy, so
the many pairs of one shape cost one Polar query; reasons are computed for the changed pairs only.
"""
from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from service.decide.engine import Engine
from service.decide.facts import User
from service.analysis.impact_facts import StoreFacts, Subject
from service.decide.facts import ORGANIZATION, PRODUCT
from service.decide.patterns import Renaming, field_kinds
from service.decide.refs import parse_ref
from service.decide.vocabulary import actions_for

STRANGER_ID = 0  # no user has id 0: the probe's facts are those of a user related to nothing


@dataclass(frozen=True, slots=True)
class Change:
    actor: str
    action: str
    resource: str
    reasons: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"actor": self.actor, "action": self.action, "resource": self.resource, "reasons": self.reasons}


@dataclass
class Impact:
    baseline: str
    candidate: str
    compared: int = 0
    gained: list[Change] = field(default_factory=list)
    lost: list[Change] = field(default_factory=list)
    seconds: float = 0.0
    exhaustive_by: str = "related users and the stranger probe"

    @property
    def changes(self) -> int:
        return len(self.gained) + len(self.lost)

    def by_action(self) -> dict[str, tuple[int, int]]:
        return _tally(self.gained, self.lost, lambda c: [c.action])

    def by_rule(self) -> dict[str, tuple[int, int]]:
        return _tally(self.gained, self.lost, lambda c: sorted({str(r.get("rule")) for r in c.reasons}))

    def as_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "candidate": self.candidate, "compared": self.compared,
                "gained": [c.as_dict() for c in self.gained], "lost": [c.as_dict() for c in self.lost],
                "by_action": {k: {"gained": g, "lost": lo} for k, (g, lo) in self.by_action().items()},
                "by_rule": {k: {"gained": g, "lost": lo} for k, (g, lo) in self.by_rule().items()},
                "seconds": round(self.seconds, 2)}


def _tally(gained: list[Change], lost: list[Change], keys: Callable[[Change], list[str]]) -> dict[str, tuple[int, int]]:
    plus, minus = Counter(k for c in gained for k in keys(c)), Counter(k for c in lost for k in keys(c))
    names = sorted(set(plus) | set(minus), key=_rule_order)
    return {name: (plus[name], minus[name]) for name in names}


def _rule_order(name: str) -> tuple[int, str]:
    return (int(name[1:]), name) if name[:1] == "R" and name[1:].isdigit() else (999, name)


class _Judge:
    """One policy's allow/deny, memoized on the facts' canonical key when the policy is id-blind
    (two pairs with one key have the same facts up to renaming ids, hence the same decision)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.memo: dict[tuple, bool] = {}

    def allowed(self, action: str, user: User, subject: Any, key: tuple | None) -> bool:
        if key is None:
            return bool(self.engine.reasons(user, action, subject))
        found = self.memo.get((action, key))
        if found is None:
            found = self.memo[(action, key)] = bool(self.engine.reasons(user, action, subject))
        return found


# -- canonical keys (fast, exact; patterns.canonical is generic and ~20x slower) ---------------

_USER_FIELDS = ("id", "roles", "billing", "authorized_products", "assignments")


def _flatten(value: Any, kind: Any, names: Renaming, out: list) -> None:
    """The value as a flat list: structure, strings, booleans, and ids renamed by kind (as patterns.canonical)."""
    vtype = type(value)
    if vtype is int:
        if not isinstance(kind, str):
            raise TypeError(f"an id ({value}) of undeclared kind: declare it with facts.ids()")
        out.append(names.rename(kind, value))
    elif vtype is bool or vtype is str or value is None:
        out.append(value)
    elif vtype is dict:
        out.append(len(value))
        for key, item in value.items():
            out.append(key)
            _flatten(item, kind.get(key) if isinstance(kind, dict) else kind, names, out)
    elif vtype is list or vtype is tuple or vtype is frozenset:
        out.append(len(value))
        for item in (sorted(value) if vtype is frozenset else value):
            _flatten(item, kind, names, out)
    elif dataclasses.is_dataclass(value):
        out.append(vtype.__name__)
        for field_name, field_kind in field_kinds(vtype):
            _flatten(getattr(value, field_name), field_kind, names, out)
    else:
        raise TypeError(f"no canonical form for {vtype.__name__}")


def subject_key(subject: Any) -> tuple[tuple, Renaming]:
    """The resource's facts with ids renamed, and the renaming (the user's key continues it)."""
    names, out = Renaming(), []
    _flatten(subject, None, names, out)
    return tuple(out), names


def user_key(user: User, names: Renaming) -> tuple:
    """The user's facts under the resource's renaming; ids the resource does not carry get fresh numbers.

    The user's own id is left out: no resource fact holds a user id, so it always renames to the
    same fresh number. The fields are named one by one; check_user_fields() guards against a new one.
    """
    fresh: dict[tuple[str, int], int] = {}
    base = len(names.backward)

    def rename(kind: str, value: int) -> int:
        found = names.forward.get((kind, value))
        return found if found is not None else fresh.setdefault((kind, value), base + len(fresh))

    return (tuple((rename(ORGANIZATION, org), role) for org, role in user.roles.items()),
            tuple(sorted(rename(ORGANIZATION, org) for org in user.billing)),
            tuple(sorted(rename(PRODUCT, product) for product in user.authorized_products)),
            tuple(sorted((rename(ORGANIZATION, p), rename(ORGANIZATION, c)) for p, c in user.assignments)))


def check_user_fields() -> None:
    names = tuple(f.name for f in dataclasses.fields(User))
    if names != _USER_FIELDS:
        raise RuntimeError(f"facts.User has fields {names}: teach impact.user_key the new ones")


def compare(baseline: Engine, candidate: Engine, store: StoreFacts) -> Impact:
    """Every pair either policy allows on `store`, and the ones whose decision differs."""
    check_user_fields()
    started = time.perf_counter()
    impact = Impact(baseline.policy_version, candidate.policy_version)
    judges = (_Judge(baseline), _Judge(candidate))
    memoized = baseline.id_blind and candidate.id_blind
    if not memoized:
        impact.exhaustive_by = "every pair (a policy is not id-blind)"
    for subject in store.subjects:
        kind = parse_ref(subject.ref).type
        _compare_subject(subject, actions_for(kind), store, judges, memoized, impact)
    impact.gained.sort(key=_order)
    impact.lost.sort(key=_order)
    impact.seconds = time.perf_counter() - started
    return impact


def _compare_subject(subject: Subject, actions: tuple[str, ...], store: StoreFacts,
                     judges: tuple[_Judge, _Judge], memoized: bool, impact: Impact) -> None:
    skey, names = subject_key(subject.facts) if memoized else ((), Renaming())

    def key(user: User) -> tuple | None:
        return (skey, user_key(user, names)) if memoized else None

    stranger = store.user(STRANGER_ID, subject)
    probe = key(stranger)
    open_to_all = {a for a in actions if any(j.allowed(a, stranger, subject.facts, probe) for j in judges)}
    related = store.related_users(subject) if memoized else set(store.users)
    everyone = set(store.users) if open_to_all else related
    baseline, candidate = judges
    for user_id in sorted(everyone):
        user = store.user(user_id, subject)
        facts_key = key(user)
        for action in (actions if user_id in related else open_to_all):
            impact.compared += 1
            before = baseline.allowed(action, user, subject.facts, facts_key)
            after = candidate.allowed(action, user, subject.facts, facts_key)
            if before != after:
                engine = (candidate if after else baseline).engine
                change = Change(f"user:{user_id}", action, subject.ref,
                                engine.reasons(user, action, subject.facts, explain=True))
                (impact.gained if after else impact.lost).append(change)


def _order(change: Change) -> tuple:
    kind, _, number = change.resource.partition(":")
    return (kind, int(number), change.action, int(change.actor.split(":")[1]))


# -- readable text -------------------------------------------------------------------


def text_lines(impact: Impact) -> list[str]:
    lines = [f"baseline {impact.baseline} (active) -> candidate {impact.candidate}",
             f"compared {impact.compared:,} decisions ({impact.exhaustive_by}) in {impact.seconds:.1f} s",
             f"gained {len(impact.gained)}, lost {len(impact.lost)}"]
    if not impact.changes:
        return lines
    for title, tally in (("by action", impact.by_action()), ("by rule", impact.by_rule())):
        lines.append(f"{title}:")
        lines.extend(f"  {name:<30} +{plus:<6} -{minus}" for name, (plus, minus) in tally.items())
    for sign, changes in (("+", impact.gained), ("-", impact.lost)):
        for change in changes:
            lines.append(f"{sign} {change.actor} {change.action} {change.resource}  "
                         f"[{', '.join(_reason_text(r) for r in change.reasons)}]")
    return lines


def _reason_text(reason: dict[str, Any]) -> str:
    details = ", ".join(f"{k} {v}" for k, v in reason.items() if k != "rule" and not isinstance(v, dict))
    return f"{reason.get('rule')}: {details}" if details else str(reason.get("rule"))
