"""Facts handed to the policy: plain objects, loaded for a question in one statement.

Polar reads attributes and calls methods on these objects; each hop is an FFI
round trip, so everything a decision needs is loaded up front (no lazy ORM
attributes) and actor-side lists are narrowed to the one resource at hand.
Nothing here decides anything: it only reports what the store holds.

One statement (load_question) reads the store's revision stamp, the resource's facts and the
actor's: a single statement sees one state of the store on SQLite and on PostgreSQL, so the
facts can never be torn by a concurrent write and the stamp names exactly the state they come
from, without a transaction around them (BEGIN and COMMIT cost as much as the reads).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

from service.store import fast_sql
from service.store.history import decision_moment
from service.store.models import Invitation as InvitationRow

from .refs import Ref

# What every id in these facts identifies. The pattern memo renames ids kind by kind
# (service/authz/patterns.py), so each int field declares its kind: `ids(kind)` on a
# field whose ints are all of one kind, and PARTNERSHIP_TERM_IDS for the dictionaries
# below. An int whose kind is not declared makes a decision fail (closed).
USER, ORGANIZATION, PRODUCT, INVOICE, INVITATION, PARTNERSHIP = (
    "user", "organization", "product", "invoice", "invitation", "partnership")
PARTNERSHIP_TERM_IDS = {"id": PARTNERSHIP, "partner_id": ORGANIZATION, "customer_id": ORGANIZATION}


def ids(kind: str | dict[str, str], **options: Any) -> Any:
    """A dataclass field whose ints are ids of `kind` (or, for dictionaries, of kind[key])."""
    return field(metadata={"ids": kind}, **options)


@dataclass(slots=True)
class Partnership:
    id: int = ids(PARTNERSHIP)
    partner_id: int = ids(ORGANIZATION)
    customer_id: int = ids(ORGANIZATION)
    status: str
    access: str
    payment_mode: str | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def as_term(self, technical: bool = False, statistical: bool = False) -> dict[str, Any]:
        """This partnership as a plain Polar dictionary: its fields are read without FFI round trips.

        `granted` holds the rights the customer granted on the product a decision is about
        (limited access only); an invitation's requested rights never reach here (R8).
        """
        return {"id": self.id, "partner_id": self.partner_id, "customer_id": self.customer_id,
                "active": self.active, "access": self.access,
                "granted": {"technical": technical, "statistical": statistical}}


@dataclass(slots=True)
class Organization:
    id: int = ids(ORGANIZATION)
    is_partner: bool
    # the active partnerships in which this organization is the customer, as Polar dictionaries
    partnerships: list[dict[str, Any]] = ids(PARTNERSHIP_TERM_IDS, default_factory=list)


@dataclass(slots=True)
class Product:
    id: int = ids(PRODUCT)
    organization: Organization

    @property
    def organization_id(self) -> int:
        return self.organization.id

    @property
    def partnerships(self) -> list[dict[str, Any]]:
        """The active partnerships of the owning customer, with the rights granted on this product."""
        return self.organization.partnerships


@dataclass(slots=True)
class Invoice:
    id: int = ids(INVOICE)
    organization: Organization


@dataclass(slots=True)
class Invitation:
    id: int = ids(INVITATION)
    partner_id: int = ids(ORGANIZATION)
    customer_id: int = ids(ORGANIZATION)
    inviting_side: str
    status: str
    expired: bool

    @property
    def is_open(self) -> bool:
        return self.status == "pending" and not self.expired

    @property
    def invited_side(self) -> str:
        return "customer" if self.inviting_side == "partner" else "partner"

    @property
    def inviting_org_id(self) -> int:
        return self.partner_id if self.inviting_side == "partner" else self.customer_id

    @property
    def invited_org_id(self) -> int:
        return self.customer_id if self.inviting_side == "partner" else self.partner_id


@dataclass(slots=True)
class User:
    id: int = ids(USER)
    roles: dict[int, str] = ids(ORGANIZATION, default_factory=dict)  # organization id -> role
    billing: frozenset[int] = ids(ORGANIZATION, default=frozenset())  # organizations with the billing right
    authorized_products: frozenset[int] = ids(PRODUCT, default=frozenset())  # narrowed to the resource's product
    assignments: frozenset[tuple[int, int]] = ids(ORGANIZATION, default=frozenset())  # (partner, customer), narrowed

    def role_in(self, org: "int | Organization") -> str | None:
        """The user's role in an organization, given as an id or as the Organization itself
        (passing the object saves Polar a round trip to read its id)."""
        return self.roles.get(org.id if isinstance(org, Organization) else org)

    def has_billing_right(self, org: "int | Organization") -> bool:
        return (org.id if isinstance(org, Organization) else org) in self.billing

    def is_authorized_for(self, product_id: int) -> bool:
        return product_id in self.authorized_products

    def is_assigned(self, partner_id: int, customer_id: int) -> bool:
        return (partner_id, customer_id) in self.assignments


POLICY_CLASSES = (User, Organization, Product, Invoice, Invitation, Partnership)


def _as_datetime(value: Any) -> dt.datetime:
    return InvitationRow.expires_at.python_value(value)


# -- the question's statement ------------------------------------------------------------------
#
# A UNION ALL of one SELECT per kind of fact, each row tagged by its kind, in one column layout:
#   tag, i1, i2, i3, i4 (ids), t1, t2, t3 (text), b1, b2, b3 (flags), ts (a time)
# The first branch types every column: PostgreSQL resolves a UNION's column types pair by pair,
# and two untyped NULLs would make a column text before a later branch fills it with flags.

_STAMP = ("SELECT 'r', value, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), epoch, "
          "CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS BOOLEAN), CAST(NULL AS BOOLEAN), "
          "CAST(NULL AS BOOLEAN), CAST(NULL AS TIMESTAMP) FROM store_revision WHERE id = 1")
# the organization with its active partnerships and the rights they grant on one product (? = product id)
_ORGANIZATION = (
    "SELECT 'o', o.id, ps.id, ps.partner_id, ps.customer_id, ps.status, ps.access, ps.payment_mode, "
    "o.is_partner, pp.technical, pp.statistical, NULL FROM {source} "
    "LEFT JOIN partnership ps ON ps.customer_id = o.id AND ps.status = 'active' "
    "LEFT JOIN partnership_product pp ON pp.partnership_id = ps.id AND pp.product_id = ? WHERE {key} = ?")
_INVITATION = ("SELECT 'v', id, partner_id, customer_id, NULL, inviting_side, status, NULL, NULL, NULL, NULL, "
               "expires_at FROM invitation WHERE id = ?")
_PARTNERSHIP = ("SELECT 'n', id, partner_id, customer_id, NULL, status, access, payment_mode, NULL, NULL, NULL, "
                "NULL FROM partnership WHERE id = ?")
_USER = "SELECT 'u', id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM users WHERE id = ?"
_MEMBERSHIPS = ("SELECT 'm', organization_id, NULL, NULL, NULL, role, NULL, NULL, billing, NULL, NULL, NULL "
                "FROM membership WHERE user_id = ?")
# the actor's assignments to the customer at hand ({customer}: an expression with one ?)
_ASSIGNMENTS = ("SELECT 'a', partner_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
                "FROM assignment WHERE user_id = ? AND customer_id = {customer}")
# the actor's authorization for the product at hand
_AUTHORIZATION = ("SELECT 'p', product_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
                  "FROM product_authorization WHERE user_id = ? AND product_id = ?")


def _question_statement(resource_type: str) -> tuple[str, Callable[[int, int], tuple[int, ...]]]:
    """The statement answering a question on a resource of this type, and its parameters from
    (actor id, resource id). The actor's side is narrowed to the customer (and product) the
    resource belongs to: nothing else of theirs can matter to a decision on it."""
    user = [_USER, _MEMBERSHIPS]
    if resource_type == "organization":
        parts = [_ORGANIZATION.format(source="organization o", key="o.id"), *user,
                 _ASSIGNMENTS.format(customer="?")]
        return " UNION ALL ".join([_STAMP, *parts]), lambda u, r: (0, r, u, u, u, r)
    if resource_type == "product":
        parts = [_ORGANIZATION.format(source="product x JOIN organization o ON o.id = x.organization_id",
                                      key="x.id"), *user,
                 _ASSIGNMENTS.format(customer="(SELECT organization_id FROM product WHERE id = ?)"), _AUTHORIZATION]
        return " UNION ALL ".join([_STAMP, *parts]), lambda u, r: (r, r, u, u, u, r, u, r)
    if resource_type == "invoice":
        # the paying organization with its active partnerships: the policy says billing never flows through
        # a partnership (R16), but a candidate policy may (docs/policy-changes.md), so the facts hold them
        parts = [_ORGANIZATION.format(source="invoice x JOIN organization o ON o.id = x.organization_id",
                                      key="x.id"), *user,
                 _ASSIGNMENTS.format(customer="(SELECT organization_id FROM invoice WHERE id = ?)")]
        return " UNION ALL ".join([_STAMP, *parts]), lambda u, r: (0, r, u, u, u, r)
    if resource_type == "invitation":
        return " UNION ALL ".join([_STAMP, _INVITATION, *user]), lambda u, r: (r, u, u)
    if resource_type == "partnership":
        return " UNION ALL ".join([_STAMP, _PARTNERSHIP, *user]), lambda u, r: (r, u, u)
    raise KeyError(resource_type)


QUESTION_TYPES = ("organization", "product", "invoice", "invitation", "partnership")
_STATEMENTS = {kind: _question_statement(kind) for kind in QUESTION_TYPES}


@dataclass(slots=True)
class Question:
    """What one statement read for a question: the store's stamp and the facts (None: not in the store)."""

    stamp: tuple[str, int]
    user: User | None
    resource: Any | None


def load_question(user_id: int, resource: Ref, now: dt.datetime | None = None) -> Question:
    """The actor's and the resource's facts and the store's stamp, read together in one statement
    (resource types outside QUESTION_TYPES have no facts: their resource is None)."""
    statement = _STATEMENTS.get(resource.type)
    if statement is None:
        return Question(_stamp_only(), None, None)
    sql, params = statement
    return _question_from(fast_sql.fetch_all(sql, params(user_id, resource.id)), resource, now)


def _stamp_only() -> tuple[str, int]:
    row = fast_sql.fetch_one("SELECT epoch, value FROM store_revision WHERE id = 1")
    return (row[0], int(row[1])) if row else ("", 0)


def _question_from(rows: list[tuple], ref: Ref, now: dt.datetime | None) -> Question:
    stamp, user_id, kept, roles, billing, partners, products = ("", 0), None, [], {}, set(), [], []
    for row in rows:
        tag = row[0]
        if tag == "m":
            roles[row[1]] = row[5]
            if row[8]:
                billing.add(row[1])
        elif tag == "o" or tag == "v" or tag == "n":
            kept.append(row)
        elif tag == "u":
            user_id = row[1]
        elif tag == "a":
            partners.append(row[1])
        elif tag == "p":
            products.append(row[1])
        elif tag == "r":
            stamp = (row[5], int(row[1]))
    resource = _resource_from(kept, ref, now) if kept else None
    if user_id is None:
        return Question(stamp, None, resource)
    customer_id, _product_id = customer_and_product_of(resource)
    user = User(user_id, roles, frozenset(billing), frozenset(products),
                frozenset((partner, customer_id) for partner in partners))
    return Question(stamp, user, resource)


def _resource_from(rows: list[tuple], ref: Ref, now: dt.datetime | None) -> Any:
    first = rows[0]
    if first[0] == "v":
        expired = _as_datetime(first[11]) <= (now or decision_moment())  # a past question's moment
        return Invitation(first[1], first[2], first[3], first[5], first[6], expired)
    if first[0] == "n":
        return Partnership(first[1], first[2], first[3], first[5], first[6], first[7])
    organization = _organization_from(rows)
    if ref.type == "product":
        return Product(ref.id, organization)
    if ref.type == "invoice":
        return Invoice(ref.id, organization)
    return organization


def _organization_from(rows: list[tuple]) -> Organization:
    """The customer with its active partnerships as Polar dictionaries, by partnership id (with the
    rights granted on the product the statement joined, if any)."""
    partnerships = [
        Partnership(row[2], row[3], row[4], row[5], row[6], row[7]).as_term(bool(row[9]), bool(row[10]))
        for row in sorted(rows, key=lambda row: row[2] or 0)
        if row[2] is not None  # None: no active partnership, the LEFT JOIN's empty row
    ]
    return Organization(rows[0][1], bool(rows[0][8]), partnerships)


def customer_and_product_of(resource: Any) -> tuple[int | None, int | None]:
    """Which customer (and product) a decision on this resource may reach through a partnership."""
    if isinstance(resource, Organization):
        return resource.id, None
    if isinstance(resource, Product):
        return resource.organization.id, resource.id
    if isinstance(resource, Invoice):
        return resource.organization.id, None
    return None, None
