"""A test oracle for policies/: the ids of one resource type a user may act on, in hand-written SQL.

Until issue 18 this module answered /v1/list. It is not part of the service any more: lists come
from the engine of the active version (service/queries/lists.py). It stays as an independent
second reading of the repository's rules, clause by clause with their R-numbers, written without
the engine: tests/test_listing_oracle.py holds /v1/list under policies/ equal to it on the demo and
fixture worlds, so a change to policies/ that these queries do not mirror is a change a reviewer
must look at (update the oracle with it, or the policy is wrong).
"""
from __future__ import annotations

import re
from typing import Any

from service.store import fast_sql, is_postgres
from service.store.history import decision_moment
from service.store.models import Invitation

from service.decide.vocabulary import is_known

LR_ADMIN = "('legal_representative', 'administrator')"
LR_ONLY = "('legal_representative')"

# role of :user in organization `org_col`
def _role(org_col: str, roles: str) -> str:
    return (f"EXISTS (SELECT 1 FROM membership m WHERE m.user_id = :user AND m.organization_id = {org_col} "
            f"AND m.role IN {roles})")


# R12/R13 `reaches(user, p, _)`: p active and the user is LR/admin of the partner, or an assigned collaborator.
_REACHES = (
    "p.status = 'active' AND EXISTS (SELECT 1 FROM membership pm WHERE pm.user_id = :user "
    "AND pm.organization_id = p.partner_id AND (pm.role IN " + LR_ADMIN + " OR (pm.role = 'collaborator' "
    "AND EXISTS (SELECT 1 FROM assignment a WHERE a.user_id = :user AND a.partner_id = p.partner_id "
    "AND a.customer_id = p.customer_id))))"
)

_ORG_R1 = _role("o.id", LR_ADMIN)                                        # R1
_ORG_LR = _role("o.id", LR_ONLY)
# R1 + R2: view_billing of organization `org_col`
def _view_billing(org_col: str) -> str:
    return (f"({_role(org_col, LR_ADMIN)} OR EXISTS (SELECT 1 FROM membership mb WHERE mb.user_id = :user "
            f"AND mb.organization_id = {org_col} AND mb.role = 'collaborator' AND mb.billing))")


ORGANIZATION: dict[str, str] = {
    "manage_users": _ORG_R1,                                              # R1
    "manage_products": _ORG_R1,                                           # R1
    "view_billing": _view_billing("o.id"),                                # R1, R2
    "appoint_legal_representative": _ORG_LR,                             # R3
    "add_customer": f"o.is_partner AND {_ORG_LR}",                       # R4
    "invite_partner": _ORG_LR,                                            # R5
    "assign_collaborators": f"o.is_partner AND {_ORG_R1}",               # R13
    "export_customers": f"o.is_partner AND {_ORG_R1}",                   # R17
    # R1 (own account) or R12/R13 (reached through an active partnership)
    "access_account": f"({_ORG_R1} OR EXISTS (SELECT 1 FROM partnership p WHERE p.customer_id = o.id "
                      f"AND {_REACHES}))",
}

_PRODUCT_OWN = (
    f"({_role('x.organization_id', LR_ADMIN)} "                                                   # R1
    "OR EXISTS (SELECT 1 FROM membership m2 WHERE m2.user_id = :user AND m2.organization_id = x.organization_id "
    "AND m2.role IN ('collaborator', 'external') AND EXISTS (SELECT 1 FROM product_authorization pa "
    "WHERE pa.user_id = :user AND pa.product_id = x.id))"                                          # R2
    f" OR EXISTS (SELECT 1 FROM partnership p WHERE p.customer_id = x.organization_id AND p.access = 'full' "
    f"AND {_REACHES})"                                                                            # R14
)


def _product_limited(right: str) -> str:
    # R15: a limited partnership granting this product with the right, reached by the user
    return (f" OR EXISTS (SELECT 1 FROM partnership p JOIN partnership_product pp ON pp.partnership_id = p.id "
            f"WHERE p.customer_id = x.organization_id AND p.access = 'limited' AND pp.product_id = x.id "
            f"AND pp.{right} AND {_REACHES}))")


PRODUCT: dict[str, str] = {
    "manage_product": _PRODUCT_OWN + _product_limited("technical"),
    "view_statistics": _PRODUCT_OWN + _product_limited("statistical"),
}

INVOICE: dict[str, str] = {
    "view_invoice": _view_billing("x.organization_id"),                  # R16 (via R1, R2)
}

_INVITED_ORG = "(CASE WHEN x.inviting_side = 'partner' THEN x.customer_id ELSE x.partner_id END)"
_INVITING_ORG = "(CASE WHEN x.inviting_side = 'partner' THEN x.partner_id ELSE x.customer_id END)"
_OPEN = "x.status = 'pending' AND x.expires_at > :now"
INVITATION: dict[str, str] = {
    "accept": f"{_OPEN} AND {_role(_INVITED_ORG, LR_ONLY)}",     # R7
    "refuse": f"{_OPEN} AND {_role(_INVITED_ORG, LR_ONLY)}",     # R7
    "resend": f"{_OPEN} AND {_role(_INVITING_ORG, LR_ONLY)}",    # R9
    "cancel": f"{_OPEN} AND {_role(_INVITING_ORG, LR_ONLY)}",    # R9
}

PARTNERSHIP: dict[str, str] = {
    # R10 (partner side, while active) or R1 (customer side, always)
    "review": f"((x.status = 'active' AND {_role('x.partner_id', LR_ADMIN)}) OR {_role('x.customer_id', LR_ADMIN)})",
    "change_access": f"x.status = 'active' AND {_role('x.customer_id', LR_ONLY)}",        # R18
    "change_payment_mode": f"x.status = 'active' AND {_role('x.customer_id', LR_ONLY)}",  # R18
    "end": (f"x.status = 'active' AND ({_role('x.partner_id', LR_ONLY)} "                # R19
            f"OR {_role('x.customer_id', LR_ONLY)})"),
}

# Candidates: every grant clause of the policy needs the user to be a member of the resource's
# organization or of a partner with an active partnership with it, so each list starts from the
# user's memberships (indexed) and its cost follows the size of the result, not of the store.
# The agreement test (tests/test_api_list.py) catches a policy change that would reach further.
_MEMBER_ORGS = "SELECT cm.organization_id FROM membership cm WHERE cm.user_id = :user"
_CANDIDATE_ORGS = (f"({_MEMBER_ORGS} UNION SELECT cp.customer_id FROM partnership cp "
                   f"WHERE cp.status = 'active' AND cp.partner_id IN ({_MEMBER_ORGS}))")
CANDIDATES: dict[str, str] = {
    "organization": f"o.id IN {_CANDIDATE_ORGS}",
    "product": f"x.organization_id IN {_CANDIDATE_ORGS}",
    "invoice": f"x.organization_id IN ({_MEMBER_ORGS})",
    "invitation": f"(x.partner_id IN ({_MEMBER_ORGS}) OR x.customer_id IN ({_MEMBER_ORGS}))",
    "partnership": f"(x.partner_id IN ({_MEMBER_ORGS}) OR x.customer_id IN ({_MEMBER_ORGS}))",
}

# resource type -> (table, alias, conditions by action)
TABLES: dict[str, tuple[str, str, dict[str, str]]] = {
    "organization": ("organization", "o", ORGANIZATION),
    "product": ("product", "x", PRODUCT),
    "invoice": ("invoice", "x", INVOICE),
    "invitation": ("invitation", "x", INVITATION),
    "partnership": ("partnership", "x", PARTNERSHIP),
}

# Lists whose answer is a union of joins driven by the user's memberships, written out as such:
# the generic form above re-checks every candidate with correlated EXISTS probes (~4 index probes
# per candidate), these read each reaching row once. Same clauses, same R-numbers; the agreement
# test (tests/test_api_list.py) holds them to decide() like every other list.
def _reached_customers(partnerships: str) -> str:
    """access_account: R1 (the user's own organizations) or R12/R13 (customers of the user's partners,
    through `partnerships`: the active partnerships of partner `pm.organization_id`)."""
    return (
        "SELECT id FROM ("
        f"SELECT m.organization_id AS id FROM membership m WHERE m.user_id = :user AND m.role IN {LR_ADMIN} "  # R1
        f"UNION SELECT p.customer_id FROM membership pm {partnerships} "
        f"WHERE pm.user_id = :user AND (pm.role IN {LR_ADMIN} "                                              # R12
        "OR (pm.role = 'collaborator' AND EXISTS (SELECT 1 FROM assignment a WHERE a.user_id = :user "      # R13
        "AND a.partner_id = p.partner_id AND a.customer_id = p.customer_id)))"
        ") reached WHERE id > :after ORDER BY id LIMIT :limit"
    )


_PARTNERSHIPS = "JOIN partnership p ON p.partner_id = pm.organization_id AND p.status = 'active'"
# PostgreSQL: a LATERAL subquery that is not flattened (OFFSET 0) reads each partner's partnerships
# by index; flattened, the planner hashed the whole partnership table for a one-partner join.
_PARTNERSHIPS_PG = ("CROSS JOIN LATERAL (SELECT q.partner_id, q.customer_id FROM partnership q "
                    "WHERE q.partner_id = pm.organization_id AND q.status = 'active' OFFSET 0) p")

# (resource type, action) -> (SQLite text, PostgreSQL text)
DIRECT: dict[tuple[str, str], tuple[str, str]] = {
    ("organization", "access_account"): (_reached_customers(_PARTNERSHIPS), _reached_customers(_PARTNERSHIPS_PG)),
}

_NAMED = re.compile(r":(user|now|after|limit)\b")


def _execute(sql: str, values: dict[str, Any]) -> list[tuple]:
    """Run `sql` with :name parameters, in the driver's positional style."""
    params: list[Any] = []

    def bind(match: re.Match) -> str:
        params.append(values[match.group(1)])
        return "?"

    # on the decision path's helpers: prepared once per connection on PostgreSQL (fast_sql.py)
    return fast_sql.fetch_all(_NAMED.sub(bind, sql), tuple(params))


def list_ids(user_id: int, action: str, resource_type: str, *, after: int = 0, limit: int = 100) -> list[int]:
    """Ids (ascending, greater than `after`, at most `limit`) of `resource_type` rows `user_id` may `action`.

    An unknown type or action lists nothing (R20), like decide() denies it.
    """
    if resource_type not in TABLES or not is_known(resource_type, action):
        return []
    table, alias, conditions = TABLES[resource_type]
    condition = conditions.get(action)
    if condition is None:  # an action the vocabulary knows but no listing mirrors: fail closed
        return []
    direct = DIRECT.get((resource_type, action))
    sql = direct[is_postgres()] if direct else (
        f"SELECT {alias}.id FROM {table} {alias} WHERE {CANDIDATES[resource_type]} "
        f"AND {alias}.id > :after AND ({condition}) ORDER BY {alias}.id LIMIT :limit")
    now = Invitation.expires_at.db_value(decision_moment())  # a past question's moment
    rows = _execute(sql, {"user": user_id, "now": now, "after": after, "limit": limit})
    return [int(row[0]) for row in rows]
