"""The "why not?" page: one question (user x action x resource) decided with explain, as /v1/check
with `explain: true` answers it: an allow with every reason, a deny with what each rule that could
have allowed it lacks (the policy's why_not clauses, decide/whynot.py). At `?at=` it is decided by
the version in force then, on the facts of that moment."""
from __future__ import annotations

from typing import Any

from service.audit.past import Moment, PastError, engine_at, facts_at
from service.decide.vocabulary import ACTIONS

from .moment import BadMoment, moment_data
from .pages import Page, Table


def why_not_page(engine: Any, actor: str, action: str, resource: str, moment: Moment | None) -> Page:
    asked = {"actor": actor.strip()[:100], "action": action.strip()[:100], "resource": resource.strip()[:100]}
    actions = sorted({a for names in ACTIONS.values() for a in names})
    if not all(asked.values()):  # the form alone
        return Page("Why not?", "whynot.html", {**asked, "decided": False},
                    {"reasons": Table(["rule", "missing", "text"], [])}, {"asked": asked, "actions": actions})

    def decide(concrete: Any) -> Page:
        # as /v1/check decides it: the served engine now (it opens its own snapshot), or the past one
        decision = concrete.decide(asked["actor"], asked["action"], asked["resource"], explain=True, why_not=True)
        reasons = decision.reasons if not decision.error else [{"rule": "R20", "missing": "decision",
                                                                "text": "the decision failed; denied"}]
        rows = [{"rule": r.get("rule", ""), "missing": r.get("missing", ""), "text": r.get("text", "")}
                for r in reasons]
        return Page("Why not?", "whynot.html",
                    {**asked, "decided": True, "allowed": decision.allowed and not decision.error,
                     "reasons": reasons, **moment_data(moment), "policy_version": decision.policy_version,
                     "revision": decision.revision},
                    {"reasons": Table(["rule", "missing", "text"], rows)}, {"asked": asked, "actions": actions})
    if moment is None:
        return decide(engine)
    try:
        past_engine = engine_at(moment)
    except PastError as exc:
        raise BadMoment(str(exc), "at") from None
    with facts_at(moment):
        return decide(past_engine)
