"""What each policy activation did: the decisions it gained and lost on the store as it stood then.

For an activation A (after an earlier activation P) the answer is analysis.impact.compare (what
`authz impact` runs) of P's engine against A's, both built from the texts stored with them
(audit.policies), on the facts valid at A's revision (history.as_of: an activation changes no fact,
so they are the facts the activation met). An activation's impact never changes once it is made:
computed on first demand and kept for the process (one worker computes it at most once).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
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
_cache: OrderedDict[tuple[str, int], ActivationImpact] = OrderedDict()
_lock = threading.Lock()


def impact_of(activation: StoredPolicy, previous: StoredPolicy | None) -> ActivationImpact:
    key = (revision_stamp()[0], activation.id)
    with _lock:
        if key in _cache:
            return _cache[key]
    found = _compute(activation, previous)
    with _lock:
        _cache[key] = found
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
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
