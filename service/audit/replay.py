"""Re-making a recorded decision as of its revision and moment, with the policy version that made it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .lookup import find_decision
from .past import Moment, deciding_at, parse_time
from .questions import actions_with_reasons, listed, subjects_as_reasons, subjects_of

# endpoints whose records are one engine decision (explain as recorded)
SINGLE = ("check", "batch", "workflow", "fact_write", "cli")


@dataclass(frozen=True)
class Replay:
    decision_id: str
    recorded: dict[str, Any]
    replayed: dict[str, Any]

    @property
    def reproduces(self) -> bool:
        return all(self.recorded[k] == self.replayed[k] for k in ("allowed", "reasons", "policy_version", "answer"))

    def differences(self) -> list[str]:
        return [k for k in ("allowed", "reasons", "policy_version", "answer") if self.recorded[k] != self.replayed[k]]


class NotRecorded(LookupError):
    pass


def replay(decision_id: str) -> Replay:
    """Decide again what `decision_id` decided; raises NotRecorded, or PastError when its moment or
    policy is no longer kept."""
    found = find_decision(decision_id)
    if found is None:
        raise NotRecorded(f"no decision {decision_id} is recorded")
    detail = found["detail"]
    revision = detail.get("as_of_revision", found["revision"])
    moment = Moment(revision, parse_time(found["moment"], "moment"), found["policy_version"])
    with deciding_at(moment) as engine:
        replayed = _decide_again(engine, found)
    recorded = {"allowed": found["allowed"], "reasons": found["reasons"],
                "policy_version": found["policy_version"], "answer": _answer_of(found)}
    return Replay(decision_id, recorded, {**replayed, "policy_version": engine.policy_version})


def _decide_again(engine: Any, found: dict[str, Any]) -> dict[str, Any]:
    endpoint, detail = found["endpoint"], found["detail"]
    actor, action, resource = found["actor"], found["action"], found["resource"]
    if endpoint in SINGLE:
        decision = engine.decide(actor, action, resource, explain=bool(detail.get("explain")),
                                 why_not=bool(detail.get("why_not")))  # an explained deny lists what is missing
        return {"allowed": decision.allowed, "reasons": decision.reasons, "answer": None}
    if endpoint == "actions":
        actions = actions_with_reasons(engine, actor, resource)
        return {"allowed": bool(actions.allowed), "reasons": actions.reasons, "answer": actions.allowed}
    if endpoint == "subjects":
        found_subjects = subjects_of(engine, action, resource).subjects
        return {"allowed": bool(found_subjects), "reasons": subjects_as_reasons(found_subjects), "answer": None}
    if endpoint == "list":
        page_size = int(detail.get("page_size", 100))  # the endpoint asked one more, to tell the last page
        ids = listed(engine, actor, action, resource, detail.get("cursor"), page_size).ids
        refs = [f"{resource}:{i}" for i in ids]
        return {"allowed": bool(refs), "reasons": [], "answer": refs}
    raise NotRecorded(f"decision {found['decision_id']} came from {endpoint!r}, which replay does not know")


def _answer_of(found: dict[str, Any]) -> Any:
    """What the endpoint answered besides allowed and reasons (listed ids, allowed actions)."""
    return {"actions": found["detail"].get("actions"), "list": found["detail"].get("listed")}.get(
        found["endpoint"], None)
