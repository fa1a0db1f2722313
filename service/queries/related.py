"""What a user's facts connect to, and whose facts connect to a resource: the candidates of every
answer derived from the policy (lists, subjects, the console's pages).

This module proposes; it never decides. Every candidate is confirmed by the engine of the policy
version in force (lists.py, subjects.py), so a query here may only make an answer slower when it
proposes too much, never wrong when the policy changes what it allows.

Why the candidates are complete (docs/policy-changes.md, "Why the impact is exhaustive without trying every pair"): a
decision hands the policy a User and a resource built by service/decide/facts.py. The resource's
facts carry a handful of ids: its own organization (or an invitation's or partnership's two
sides), the partners of that organization's active partnerships, and its product. The user's
facts are its memberships (organization -> role, billing), its authorization for the resource's
product and its assignments to the resource's customer (both narrowed to the resource). A user
*related* to a resource is one whose facts name one of the resource's ids:

- a member of one of the resource's organizations;
- a user authorized for the resource's product;
- a user assigned (by any partner) to the resource's customer.

Any other user's facts name no id of the resource's facts. The strict checks make the policy read
a user only through its methods, asked about ids taken from the resource, and an id-blind policy
(decide/patterns.py, policy_is_id_blind) cannot tell two ids apart but by equality: so every
unrelated user gets exactly the decision of a user with no facts at all, the *stranger*. The
stranger is asked too (lists.py, subjects.py): a resource the stranger may act on is a candidate
for everyone. A policy that is not id-blind gets no such argument: every resource (or user) of
the store is a candidate.

`authz impact` walks the whole store in memory (analysis/impact_facts.py, related_users) with
this same definition; tests/test_related.py holds the two forms equal on every fixture world.
"""
from __future__ import annotations

from service.decide.refs import Ref
from service.store import fast_sql

# The resource types with facts (decide/facts.py); any other type has no resource to relate to.
RESOURCE_TABLES = {"organization": "organization", "product": "product", "invoice": "invoice",
                   "invitation": "invitation", "partnership": "partnership"}

# The organizations a user's facts can name for a resource of an organization (its own, a product's
# or an invoice's): its memberships, the customers of active partnerships of the organizations it is
# a member of (their partner is in the customer's facts), and the customers it is assigned to.
_MEMBER_OF = "SELECT m.organization_id FROM membership m WHERE m.user_id = ?"
_REACHED = (f"{_MEMBER_OF} "
            "UNION SELECT p.customer_id FROM membership m JOIN partnership p ON p.partner_id = m.organization_id "
            "AND p.status = 'active' WHERE m.user_id = ? "
            "UNION SELECT a.customer_id FROM assignment a WHERE a.user_id = ?")
# the same organizations, each branch above the cursor (a page of a large partner's customers sorts only
# what is left, not the whole union again)
_REACHED_AFTER = ("SELECT m.organization_id AS id FROM membership m WHERE m.user_id = ? AND m.organization_id > ? "
                  "UNION SELECT p.customer_id FROM membership m JOIN partnership p ON p.partner_id = m.organization_id "
                  "AND p.status = 'active' WHERE m.user_id = ? AND p.customer_id > ? "
                  "UNION SELECT a.customer_id FROM assignment a WHERE a.user_id = ? AND a.customer_id > ?")
_PAGE = " ORDER BY id LIMIT ?"

# resource type -> (statement proposing the ids related to one user, its parameters in order: the user
# `u`, the cursor `a`, the limit `l`)
_RESOURCES_OF_USER: dict[str, tuple[str, str]] = {
    "organization": (f"SELECT id FROM ({_REACHED_AFTER}) r" + _PAGE, "uauaual"),
    "product": (f"SELECT id FROM (SELECT x.id FROM product x WHERE x.organization_id IN ({_REACHED}) AND x.id > ? "
                "UNION SELECT pa.product_id FROM product_authorization pa WHERE pa.user_id = ? AND pa.product_id > ?) r"
                + _PAGE, "uuuaual"),
    "invoice": (f"SELECT x.id FROM invoice x WHERE x.organization_id IN ({_REACHED}) AND x.id > ? ORDER BY x.id LIMIT ?",
                "uuual"),
    "invitation": (f"SELECT x.id FROM invitation x WHERE (x.partner_id IN ({_MEMBER_OF}) OR x.customer_id IN "
                   f"({_MEMBER_OF})) AND x.id > ? ORDER BY x.id LIMIT ?", "uual"),
    "partnership": (f"SELECT x.id FROM partnership x WHERE (x.partner_id IN ({_MEMBER_OF}) OR x.customer_id IN "
                    f"({_MEMBER_OF})) AND x.id > ? ORDER BY x.id LIMIT ?", "uual"),
}
_EVERY_RESOURCE = {kind: f"SELECT id FROM {table} WHERE id > ? ORDER BY id LIMIT ?"
                   for kind, table in RESOURCE_TABLES.items()}


def resources_query(user_id: int, resource_type: str, *, after: int, limit: int,
                    everything: bool = False) -> tuple[str, tuple[int, ...]]:
    """The query (text, parameters) of the ids (ascending, above `after`, at most `limit`) of the
    resources of `resource_type` (one of RESOURCE_TABLES) related to the user; `everything`: every
    resource of the type (for a policy that is not id-blind)."""
    if everything:
        return _EVERY_RESOURCE[resource_type], (after, limit)
    sql, order = _RESOURCES_OF_USER[resource_type]
    values = {"u": user_id, "a": after, "l": limit}
    return sql, tuple(values[name] for name in order)


def resources_of(user_id: int, resource_type: str, *, after: int, limit: int, everything: bool = False) -> list[int]:
    """The ids resources_query selects."""
    if resource_type not in RESOURCE_TABLES:
        return []
    sql, params = resources_query(user_id, resource_type, after=after, limit=limit, everything=everything)
    return [row[0] for row in fast_sql.fetch_all(sql, params)]


# The users whose facts can name an id of a resource of an organization (the customer `o`), with
# its product if any: members of the customer and of its active partners, users assigned to it.
_USERS_OF_CUSTOMER = (
    "SELECT m.user_id FROM membership m WHERE m.organization_id = {customer} "
    "UNION SELECT m.user_id FROM partnership p JOIN membership m ON m.organization_id = p.partner_id "
    "WHERE p.customer_id = {customer} AND p.status = 'active' "
    "UNION SELECT a.user_id FROM assignment a WHERE a.customer_id = {customer}")
_OF_PRODUCT = "(SELECT x.organization_id FROM product x WHERE x.id = ?)"
_OF_INVOICE = "(SELECT x.organization_id FROM invoice x WHERE x.id = ?)"
_SIDES = ("SELECT m.user_id FROM membership m WHERE m.organization_id IN "
          "(SELECT partner_id FROM {table} WHERE id = ? UNION SELECT customer_id FROM {table} WHERE id = ?)")

# resource type -> (statement proposing the users related to one resource, how many times it names it)
_USERS_OF_RESOURCE: dict[str, tuple[str, int]] = {
    "organization": (_USERS_OF_CUSTOMER.format(customer="?"), 3),
    "product": (_USERS_OF_CUSTOMER.format(customer=_OF_PRODUCT)
                + " UNION SELECT pa.user_id FROM product_authorization pa WHERE pa.product_id = ?", 4),
    "invoice": (_USERS_OF_CUSTOMER.format(customer=_OF_INVOICE), 3),
    "invitation": (_SIDES.format(table="invitation"), 2),
    "partnership": (_SIDES.format(table="partnership"), 2),
}
_EVERY_USER = "SELECT id FROM users ORDER BY id"


def users_of(ref: Ref, *, everyone: bool = False) -> list[int]:
    """Ids (ascending) of the users related to the resource; `everyone`: every user of the store
    (the stranger may act on it, or the policy is not id-blind)."""
    if everyone:
        return [row[0] for row in fast_sql.fetch_all(_EVERY_USER)]
    if ref.type not in _USERS_OF_RESOURCE:
        return []
    sql, times = _USERS_OF_RESOURCE[ref.type]
    return sorted({row[0] for row in fast_sql.fetch_all(sql, (ref.id,) * times)})
