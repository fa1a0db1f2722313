"""/review/policy: every policy activation (version, who, when) with the decisions it gained and lost,
by rule and by action; /review/policy/<activation id or version>: its gained and lost rows, paged,
with links to the customer and user pages (policy_impact.py computes them)."""
from __future__ import annotations

from typing import Any

from flask import request

from service.analysis.impact import Change

from .pages import NotFound, Page, Table, describe, names, rules_of
from .long_tables import filter_choices, paged
from .paging import narrow, natural_key
from .policy_impact import PENDING, ActivationImpact, activations, impact_of, impacts_of, summary
from .precompute import REFRESH_SECONDS, page_wait
from .render import respond
from .views import bp, scoped

COLUMNS = ["change", "user", "name", "action", "resource", "customer", "customer_name", "rules", "why"]


def policy_index() -> Page:
    listed = impacts_of(activations(), page_wait())
    rows = [summary(found) for found in listed]
    flat = [{**{k: v for k, v in row.items() if k not in ("by_rule", "by_action")},
             "by_rule": " ".join(f"{k}+{v['gained']}-{v['lost']}" for k, v in row["by_rule"].items()),
             "by_action": " ".join(f"{k}+{v['gained']}-{v['lost']}" for k, v in row["by_action"].items())}
            for row in rows]
    return Page("Policy versions", "policy.html", {"activations": rows},
                {"activations": Table(["activation", "version", "activated_by", "activated_at", "revision",
                                       "previous_version", "gained", "lost", "by_rule", "by_action",
                                       "unavailable"], flat)},
                {"activations": rows, "pending": any(found.unavailable == PENDING for found in listed)})


def _find(ident: str) -> ActivationImpact:
    """An activation by its id (a number) or its version (the newest activation of it)."""
    for activation, previous in activations():
        if (ident.isdigit() and len(ident) < 10 and activation.id == int(ident)) or activation.version == ident:
            return impact_of(activation, previous, page_wait())
    raise NotFound(f"policy activation {ident}")


def _rows(found: ActivationImpact) -> list[dict[str, Any]]:
    impact = found.impact
    if impact is None:
        return []
    changes: list[tuple[str, Change]] = [("gained", c) for c in impact.gained] + [("lost", c) for c in impact.lost]
    users = names("user", [int(c.actor.split(":")[1]) for _, c in changes])
    customers = names("organization", list(found.customers.values()))
    return [{"change": sign, "user": c.actor, "name": users.get(int(c.actor.split(":")[1]), ""),
             "action": c.action, "resource": c.resource,
             "customer": f"organization:{found.customers[c.resource]}" if c.resource in found.customers else "",
             "customer_name": customers.get(found.customers.get(c.resource, 0), ""),
             "rules": " ".join(rules_of(c.reasons)), "why": describe(c.reasons)} for sign, c in changes]


def _by_customer(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The customers whose access changed: how many decisions on each (and its products, invoices) were gained
    and lost."""
    tally: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = tally.setdefault(row["customer"], {"customer": row["customer"], "name": row["customer_name"],
                                                   "gained": 0, "lost": 0})
        entry[row["change"]] += 1
    return sorted(tally.values(), key=lambda e: natural_key(e["name"]))


def activation_page(ident: str) -> Page:
    found = _find(ident)
    every = _rows(found)
    kept, shown = narrow(every, None, request.args)  # action=, rule=, page=, page_size= (400 naming a bad one)
    rows = [every[i] for i in kept]
    head = summary(found)
    return Page(f"Policy activation {found.activation.id}: version {found.activation.version}", "policy_activation.html",
                {**head, "customers": _by_customer(every), "changes": rows},
                {"changes": Table(COLUMNS, rows), "customers": Table(["customer", "name", "gained", "lost"],
                                                                     _by_customer(every))},
                {"head": head, "shown": shown, "ident": ident, **filter_choices(every, shown.filters)})


@bp.route("/policy")
@scoped("review")
def policy():
    page = policy_index()
    response = respond(page, shown=paged(page.context["activations"], request.args, "the policy versions"))
    if page.context["pending"]:
        # an activation's figures are still computed: the page asks again until every row has them
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@bp.route("/policy/<ident>")
@scoped("review")
def policy_activation(ident: str):
    return respond(activation_page(ident))
