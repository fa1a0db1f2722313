"""What each policy activation did: the decisions it gained and lost on the store as it stood then.

For an activation A (after an earlier activation P) the answer is analysis.impact.compare (what
`authz impact` runs) of P's engine against A's, both built from the texts stored with them
(audit.policies), on the facts valid at A's revision (history.as_of: an activation changes no fact,
so they are the facts the activation met). An activation's impact never changes once it is made:
computed on first demand in the background (precompute.py: an HTML page waits a moment, then says it is
being computed; CSV and JSON wait for it) and kept for the process, so a page that lists every activation
costs one comparison per activation once, never per visit. Not at activation time: an activation is made
by `authz policy activate` in another process, which keeps nothing of what the served workers compute,
and the first console visit after it (the home page starts it too) is soon enough for a reviewer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from service.analysis.impact import Impact, compare
from service.analysis.impact_facts import load_store_facts
from service.audit.past import PastError
from service.audit.policies import UnknownPolicy, engine_for
from service.policy.versions import StoredPolicy, history
from service.store.fast_sql import fetch_all
from service.store.history import as_of
from service.store.moments import first_moment
from service.store.schema import revision_stamp

from .precompute import Kept, Paced, Pending

CACHE_SIZE = 256


@dataclass
class ActivationImpact:
    activation: StoredPolicy
    previous: StoredPolicy | None
    impact: Impact | None = None
    unavailable: str = ""  # why no impact was computed (the first activation, a pruned history, ...)
    customers: dict[str, int] = field(default_factory=dict)  # resource -> its customer organization's id


def activations() -> list[tuple[StoredPolicy, StoredPolicy | None]]:
    """(activation, the one before it or None), newest first."""
    found = history()
    return [(a, found[i + 1] if i + 1 < len(found) else None) for i, a in enumerate(found)]


# (store epoch, activation id) -> its impact: the epoch tells apart two stores whose activations share ids
_kept: Kept[ActivationImpact] = Kept(CACHE_SIZE)
PENDING = "being computed in the background; this page reloads itself until it is there"


def _key(activation: StoredPolicy) -> tuple[str, int]:
    return revision_stamp()[0], activation.id


def start(activation: StoredPolicy, previous: StoredPolicy | None) -> None:
    """Start computing the activation's impact unless it is kept or under way."""
    key = _key(activation)
    _kept.start(key, lambda: (key, _compute(activation, previous)))


def impact_of(activation: StoredPolicy, previous: StoredPolicy | None, wait: float | None = None) -> ActivationImpact:
    """The activation's impact, waiting at most `wait` seconds (None: until computed); precompute.Pending if
    it is not there by then."""
    key = _key(activation)
    return _kept.get(key, lambda: (key, _compute(activation, previous)), wait)


def impacts_of(listed: list[tuple[StoredPolicy, StoredPolicy | None]], wait: float | None) -> list[ActivationImpact]:
    """Every activation's impact, all waited for at most `wait` seconds in all; one not computed by then
    says so (`unavailable`: PENDING, no counts)."""
    for activation, previous in listed:
        start(activation, previous)
    deadline = None if wait is None else time.monotonic() + wait
    found = []
    for activation, previous in listed:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            found.append(impact_of(activation, previous, left))
        except Pending:
            found.append(ActivationImpact(activation, previous, unavailable=PENDING))
    return found


def _compute(activation: StoredPolicy, previous: StoredPolicy | None) -> ActivationImpact:
    if previous is None:
        return ActivationImpact(activation, None, unavailable="the first activation: no earlier version to compare")
    first = first_moment()
    if first is None or activation.revision < first.revision:
        return ActivationImpact(activation, previous, unavailable="the store's history before it was pruned")
    try:
        baseline, candidate = engine_for(previous.version), engine_for(activation.version)
    except (UnknownPolicy, PastError) as exc:
        return ActivationImpact(activation, previous, unavailable=str(exc))
    with as_of(activation.revision, activation.activated_at):
        store = load_store_facts()
        store.subjects = Paced(store.subjects)  # a page being built goes first (precompute.pace)
        impact = compare(baseline, candidate, store)
        customers = _customers_of({c.resource for c in impact.gained + impact.lost})
    return ActivationImpact(activation, previous, impact, customers=customers)


def _customers_of(resources: set[str]) -> dict[str, int]:
    """The customer organization each resource belongs to (a fact, for the links to its page)."""
    owners: dict[str, int] = {}
    for resource in resources:
        kind, _, number = resource.partition(":")
        if kind == "organization":
            owners[resource] = int(number)
        elif kind in ("product", "invoice"):
            row = fetch_all(f"SELECT organization_id FROM {kind} WHERE id = ?", (int(number),))
            if row:
                owners[resource] = int(row[0][0])
    return owners


def summary(found: ActivationImpact) -> dict[str, Any]:
    """An activation as the policy page's JSON lists it."""
    a, impact = found.activation, found.impact
    return {"activation": a.id, "version": a.version, "activated_by": a.activated_by,
            "activated_at": a.activated_at.isoformat(timespec="seconds") + "Z", "revision": a.revision,
            "previous_version": found.previous.version if found.previous else None,
            "unavailable": found.unavailable or None,
            "gained": len(impact.gained) if impact else None, "lost": len(impact.lost) if impact else None,
            "by_rule": {k: {"gained": g, "lost": lo} for k, (g, lo) in impact.by_rule().items()} if impact else {},
            "by_action": {k: {"gained": g, "lost": lo} for k, (g, lo) in impact.by_action().items()} if impact else {}}
