"""The rows a signed-off review freezes: a subject's access exactly as its console page shows it.

A customer review takes the customer page's `access` table (who_can() for every action of the
organization, its products and its invoices); a partner review takes the partner page's matrix
(list_ids() of every member), one row per (user, action, resource) it marks as reachable. Both pages
are built by the engine of the version in force (pages.py): nothing here decides who may.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.store.review_signoff_models import SUBJECT_KINDS

from .pages import Page, customer_page, names, partner_page

# the columns of a review row besides its key (user, action, resource): what the page showed beside it
SHOWN_COLUMNS = ["name", "resource_name", "side", "rules", "why"]


@dataclass
class Frozen:
    """What a review is opened on: the page's subject, its state, and its rows in the page's order."""

    subject: str
    subject_name: str
    revision: int
    policy_version: str
    rows: list[dict[str, Any]]  # user, action, resource, and SHOWN_COLUMNS


def frozen_rows(engine: Any, kind: str, org_id: int) -> Frozen:
    """The page of `kind` (customer or partner) for organization `org_id`, as of now, as review rows."""
    assert kind in SUBJECT_KINDS
    if kind == "customer":
        page = customer_page(engine, org_id)
        return _frozen(page, page.context["org"]["name"], _customer_rows(page))
    page = partner_page(engine, org_id)
    return _frozen(page, page.context["org"]["name"], _partner_rows(page))


def _frozen(page: Page, name: str, rows: list[dict[str, Any]]) -> Frozen:
    subject = page.data.get("customer") or page.data["partner"]
    return Frozen(subject, name, int(page.data["revision"]), str(page.data["policy_version"]), rows)


def _customer_rows(page: Page) -> list[dict[str, Any]]:
    keys = ["user", "action", "resource", *SHOWN_COLUMNS]
    return [{key: row.get(key, "") for key in keys} for row in page.tables["access"].rows]


def _partner_rows(page: Page) -> list[dict[str, Any]]:
    """The matrix flattened: a reached customer account, and each product listed under an action."""
    users = {u["user"]: u["name"] for u in page.data["users"]}
    customers = {c["customer"]: c["name"] for c in page.data["customers"]}
    product_ids = [int(p.split(":")[1]) for cell in page.data["matrix"]
                   for p in cell["manage_product"] + cell["view_statistics"]]
    products = names("product", product_ids)
    rows = []
    for cell in page.data["matrix"]:
        reached = [("access_account", cell["customer"])] if cell["access_account"] else []
        reached += [(action, product) for action in ("manage_product", "view_statistics") for product in cell[action]]
        for action, resource in reached:
            label = customers.get(resource) or products.get(int(resource.split(":")[1]), "")
            rows.append({"user": cell["user"], "action": action, "resource": resource, "name": users.get(cell["user"], ""),
                         "resource_name": label, "side": "partner", "rules": "",
                         "why": f"customer {customers.get(cell['customer'], cell['customer'])}"})
    return rows
