"""Facts handed to the policy: plain objects loaded with a few indexed queries.

Polar reads attributes and calls methods on these objects; each hop is an FFI
round trip, so everything a decision needs is loaded up front (no lazy ORM
attributes) and actor-side lists are narrowed to the one resource at hand.
Nothing here decides anything: it only reports what the store holds.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

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


def _rows(sql: str, params: tuple[Any, ...]) -> list[tuple]:
    return fast_sql.fetch_all(sql, params)


def _as_datetime(value: Any) -> dt.datetime:
    return InvitationRow.expires_at.python_value(value)


# One query: the organization with its active partnerships and the rights they grant on one product.
_ORGANIZATION_WITH_PARTNERSHIPS = (
    "SELECT o.id, o.is_partner, ps.id, ps.partner_id, ps.customer_id, ps.status, ps.access, ps.payment_mode, "
    "pp.technical, pp.statistical FROM {source} "
    "LEFT JOIN partnership ps ON ps.customer_id = o.id AND ps.status = 'active' "
    "LEFT JOIN partnership_product pp ON pp.partnership_id = ps.id AND pp.product_id = ? "
    "WHERE {key} = ? ORDER BY ps.id"
)


def _organization_from(rows: list[tuple]) -> Organization | None:
    """The customer with its active partnerships as Polar dictionaries (with the rights granted on
    the product the query joined, if any)."""
    if not rows:
        return None
    partnerships = [
        Partnership(*row[2:8]).as_term(bool(row[8]), bool(row[9]))
        for row in rows
        if row[2] is not None  # None: no active partnership, the LEFT JOIN's empty row
    ]
    return Organization(rows[0][0], bool(rows[0][1]), partnerships)


def load_organization(org_id: int) -> Organization | None:
    sql = _ORGANIZATION_WITH_PARTNERSHIPS.format(source="organization o", key="o.id")
    return _organization_from(_rows(sql, (0, org_id)))


def load_product(product_id: int) -> Product | None:
    sql = _ORGANIZATION_WITH_PARTNERSHIPS.format(
        source="product x JOIN organization o ON o.id = x.organization_id", key="x.id")
    org = _organization_from(_rows(sql, (product_id, product_id)))
    return Product(product_id, org) if org else None


def load_invoice(invoice_id: int) -> Invoice | None:
    # The paying organization with its active partnerships: the policy says billing never flows through
    # a partnership (R16), but a candidate policy may (docs/policy-changes.md), so the facts hold them.
    sql = _ORGANIZATION_WITH_PARTNERSHIPS.format(
        source="invoice x JOIN organization o ON o.id = x.organization_id", key="x.id")
    org = _organization_from(_rows(sql, (0, invoice_id)))
    return Invoice(invoice_id, org) if org else None


def load_invitation(invitation_id: int, now: dt.datetime | None = None) -> Invitation | None:
    rows = _rows("SELECT id, partner_id, customer_id, inviting_side, status, expires_at "
                 "FROM invitation WHERE id = ?", (invitation_id,))
    if not rows:
        return None
    r = rows[0]
    expired = _as_datetime(r[5]) <= (now or decision_moment())  # a past question's moment
    return Invitation(r[0], r[1], r[2], r[3], r[4], expired)


def load_partnership(partnership_id: int) -> Partnership | None:
    rows = _rows("SELECT id, partner_id, customer_id, status, access, payment_mode FROM partnership "
                 "WHERE id = ?", (partnership_id,))
    return Partnership(*rows[0]) if rows else None


RESOURCE_LOADERS = {
    "organization": load_organization,
    "product": load_product,
    "invoice": load_invoice,
    "invitation": load_invitation,
    "partnership": load_partnership,
}


def load_resource(ref: Ref) -> Any | None:
    loader = RESOURCE_LOADERS.get(ref.type)
    return loader(ref.id) if loader else None


def customer_and_product_of(resource: Any) -> tuple[int | None, int | None]:
    """Which customer (and product) a decision on this resource may reach through a partnership."""
    if isinstance(resource, Organization):
        return resource.id, None
    if isinstance(resource, Product):
        return resource.organization.id, resource.id
    if isinstance(resource, Invoice):
        return resource.organization.id, None
    return None, None


def load_user(user_id: int, *, customer_id: int | None = None, product_id: int | None = None) -> User | None:
    """The user with their memberships, narrowed to the resource at hand: their assignments to
    `customer_id` and their authorization for `product_id` (one query)."""
    rows = _rows(
        "SELECT 'u', u.id, NULL, NULL FROM users u WHERE u.id = ? "
        "UNION ALL SELECT 'm', m.organization_id, m.role, m.billing FROM membership m WHERE m.user_id = ? "
        "UNION ALL SELECT 'a', a.partner_id, NULL, NULL FROM assignment a WHERE a.user_id = ? AND a.customer_id = ? "
        "UNION ALL SELECT 'p', pa.product_id, NULL, NULL FROM product_authorization pa "
        "WHERE pa.user_id = ? AND pa.product_id = ?",
        (user_id, user_id, user_id, customer_id or 0, user_id, product_id or 0))
    if not any(kind == "u" for kind, *_ in rows):
        return None
    roles = {org: role for kind, org, role, _ in rows if kind == "m"}
    billing = frozenset(org for kind, org, _, has in rows if kind == "m" and has)
    assignments = frozenset((partner, customer_id) for kind, partner, _, _ in rows if kind == "a")
    authorized = frozenset(product for kind, product, _, _ in rows if kind == "p")
    return User(user_id, roles, billing, authorized, assignments)
