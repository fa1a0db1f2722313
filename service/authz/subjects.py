"""Who can act: every user who may take an action on a resource, with the policy's reasons.

SQL only proposes candidates: the members of every organization the policy can
look at for this resource (its own organization, the partners of its active
partnerships, the two sides of an invitation or partnership). Each candidate is
then confirmed by decide(..., explain=True), so the answer is the policy's own
verdict and reasons, never a second copy of the rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.store.db import database

from .engine import Decision, Engine
from .refs import Ref


@dataclass(frozen=True, slots=True)
class Subject:
    user: str
    reasons: list[dict[str, Any]]


def _rows(sql: str, *params: Any) -> list[tuple]:
    return database.execute_sql(sql.replace("?", database.obj.param), params).fetchall()


def _organizations_of(ref: Ref) -> list[int]:
    """The organizations whose members the policy may consult for a decision on `ref`."""
    if ref.type == "organization":
        owner = [ref.id] if _rows("SELECT id FROM organization WHERE id = ?", ref.id) else []
    elif ref.type in ("product", "invoice"):
        owner = [r[0] for r in _rows(f"SELECT organization_id FROM {ref.type} WHERE id = ?", ref.id)]
    elif ref.type in ("invitation", "partnership"):
        return [org for row in _rows(f"SELECT partner_id, customer_id FROM {ref.type} WHERE id = ?", ref.id)
                for org in row]
    else:
        return []
    if ref.type == "invoice" or not owner:
        return owner
    # an organization or product is also reached from the partners of its active partnerships (R12-R15)
    partners = [r[0] for r in _rows("SELECT partner_id FROM partnership WHERE customer_id = ? AND status = 'active'",
                                    owner[0])]
    return owner + partners


def candidates(ref: Ref) -> list[int]:
    orgs = sorted(set(_organizations_of(ref)))
    if not orgs:
        return []
    marks = ", ".join("?" for _ in orgs)
    return [r[0] for r in _rows(f"SELECT DISTINCT user_id FROM membership WHERE organization_id IN ({marks}) "
                                "ORDER BY user_id", *orgs)]


def who_can(engine: Engine, action: str, ref: Ref) -> tuple[list[Subject], list[Decision]]:
    """The users allowed, each with the reasons; also every decision taken (for logging and errors)."""
    subjects: list[Subject] = []
    decisions: list[Decision] = []
    for user_id in candidates(ref):
        decision = engine.decide(f"user:{user_id}", action, str(ref), explain=True)
        decisions.append(decision)
        if decision.allowed:
            subjects.append(Subject(f"user:{user_id}", decision.reasons))
    return subjects, decisions
