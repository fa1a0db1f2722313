"""peewee models for every entity of the domain (docs/rules.md).

Constraints live in the schema, not only in code: foreign keys, CHECKed enums,
and a partial unique index that allows at most one active partnership per
(partner, customer) pair (R11).
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from .db import database
from .id_field import NeverReusedAutoField

ROLES = ("legal_representative", "administrator", "collaborator", "external")
ACCESS_LEVELS = ("full", "limited")
PAYMENT_MODES = ("customer", "partner")
PARTNERSHIP_STATUSES = ("active", "ended")
INVITING_SIDES = ("partner", "customer")
INVITATION_STATUSES = ("pending", "accepted", "refused", "cancelled", "expired")
API_KEY_SCOPES = ("check", "write", "review")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _one_of(column: str, values: tuple[str, ...]) -> pw.SQL:
    quoted = ", ".join(f"'{v}'" for v in values)
    return pw.Check(f"{column} IN ({quoted})")


class BaseModel(pw.Model):
    id = NeverReusedAutoField()  # ids are never handed out twice (ids.py, id_field.py)

    class Meta:
        database = database
        legacy_table_names = False


class StoreRevision(BaseModel):
    """A single row counting committed writes; bumped in every write transaction.

    `epoch` is random per store, so (epoch, value) never repeats even when a store
    is recreated and its counter starts again at zero.
    """

    id = pw.IntegerField(primary_key=True)
    value = pw.BigIntegerField(default=0)
    epoch = pw.CharField(max_length=32)


class SchemaVersion(BaseModel):
    id = pw.IntegerField(primary_key=True)
    version = pw.IntegerField()


class Organization(BaseModel):
    name = pw.CharField(max_length=200)
    is_partner = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)


class User(BaseModel):
    email = pw.CharField(max_length=254, unique=True)
    name = pw.CharField(max_length=200)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "users"  # "user" is reserved in PostgreSQL


class Membership(BaseModel):
    user = pw.ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    organization = pw.ForeignKeyField(Organization, backref="memberships", on_delete="CASCADE")
    role = pw.CharField(max_length=32, constraints=[_one_of("role", ROLES)])
    billing = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("user", "organization"), True), (("organization", "role"), False))


class Product(BaseModel):
    organization = pw.ForeignKeyField(Organization, backref="products", on_delete="CASCADE")
    category = pw.CharField(max_length=64)
    name = pw.CharField(max_length=200)


class ProductAuthorization(BaseModel):
    """A collaborator or external user authorized for one product of their organization (R2)."""

    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    product = pw.ForeignKeyField(Product, on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "product"), True), (("product",), False))


class Assignment(BaseModel):
    """A partner's collaborator assigned to one of the partner's customers (R13)."""

    partner = pw.ForeignKeyField(Organization, on_delete="CASCADE")
    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    customer = pw.ForeignKeyField(Organization, on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "customer", "partner"), True), (("customer",), False), (("partner",), False))


class Partnership(BaseModel):
    """One partner managing one customer, with the access the customer granted."""

    partner = pw.ForeignKeyField(Organization, backref="managed", on_delete="RESTRICT")
    customer = pw.ForeignKeyField(Organization, backref="partnerships", on_delete="RESTRICT")
    status = pw.CharField(max_length=16, default="active",
                          constraints=[_one_of("status", PARTNERSHIP_STATUSES)])
    access = pw.CharField(max_length=16, constraints=[_one_of("access", ACCESS_LEVELS)])
    payment_mode = pw.CharField(max_length=16, null=True,
                                constraints=[_one_of("payment_mode", PAYMENT_MODES)])
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)
    ended_at = pw.DateTimeField(null=True)
    ended_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")

    class Meta:
        constraints = [
            # full access always names who pays; limited access is always paid by the customer
            pw.Check("(access = 'full' AND payment_mode IS NOT NULL) OR "
                     "(access = 'limited' AND payment_mode = 'customer')"),
            pw.Check("partner_id <> customer_id"),
        ]
        indexes = ((("customer", "status"), False), (("partner", "status"), False))


class PartnershipProduct(BaseModel):
    """A product granted under limited access, with its rights (R15)."""

    partnership = pw.ForeignKeyField(Partnership, backref="products", on_delete="CASCADE")
    product = pw.ForeignKeyField(Product, on_delete="CASCADE")
    technical = pw.BooleanField(default=False)
    statistical = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("partnership", "product"), True), (("product",), False))


class Invitation(BaseModel):
    """A proposed partnership: what the inviting side requested and its answer."""

    partner = pw.ForeignKeyField(Organization, on_delete="CASCADE")
    customer = pw.ForeignKeyField(Organization, on_delete="CASCADE")
    inviting_side = pw.CharField(max_length=16, constraints=[_one_of("inviting_side", INVITING_SIDES)])
    invited_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    requested_access = pw.CharField(max_length=16,
                                    constraints=[_one_of("requested_access", ACCESS_LEVELS)])
    requested_payment_mode = pw.CharField(max_length=16, null=True,
                                          constraints=[_one_of("requested_payment_mode", PAYMENT_MODES)])
    status = pw.CharField(max_length=16, default="pending",
                          constraints=[_one_of("status", INVITATION_STATUSES)])
    created_at = pw.DateTimeField(default=utcnow)
    sent_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
    answered_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    answered_at = pw.DateTimeField(null=True)
    partnership = pw.ForeignKeyField(Partnership, null=True, backref="invitations", on_delete="SET NULL")

    class Meta:
        constraints = [pw.Check("partner_id <> customer_id")]
        indexes = ((("partner", "status"), False), (("customer", "status"), False))


class InvitationProduct(BaseModel):
    """A product requested under limited access, with the requested rights (never a source of access: R8)."""

    invitation = pw.ForeignKeyField(Invitation, backref="products", on_delete="CASCADE")
    product = pw.ForeignKeyField(Product, on_delete="CASCADE")
    technical = pw.BooleanField(default=False)
    statistical = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("invitation", "product"), True),)


class Invoice(BaseModel):
    """An invoice of the paying organization (R16)."""

    organization = pw.ForeignKeyField(Organization, backref="invoices", on_delete="CASCADE")
    created_at = pw.DateTimeField(default=utcnow)


class ApiKey(BaseModel):
    """A caller's API key, stored as a SHA-256 hash; scope 'check', 'write' or 'review' (the /review console)."""

    name = pw.CharField(max_length=100)
    key_hash = pw.CharField(max_length=64, unique=True)
    scope = pw.CharField(max_length=8, constraints=[_one_of("scope", API_KEY_SCOPES)])
    created_at = pw.DateTimeField(default=utcnow)
    revoked_at = pw.DateTimeField(null=True)


class Event(BaseModel):
    """The outbox: one row per workflow step, written in the step's transaction."""

    kind = pw.CharField(max_length=64)
    subject = pw.CharField(max_length=64)
    actor = pw.CharField(max_length=64, null=True)
    payload = pw.TextField()
    created_at = pw.DateTimeField(default=utcnow)


class HistoryEntry(BaseModel):
    """Who changed a partnership or invitation, when, and its state before and after."""

    subject = pw.CharField(max_length=64, index=True)
    change = pw.CharField(max_length=64)
    actor = pw.CharField(max_length=64, null=True)
    before = pw.TextField(null=True)
    after = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)


class ConsoleSecret(BaseModel):
    """The key that signs /review session cookies: generated once per store, shared by every worker."""

    value = pw.CharField(max_length=128)


class ConsoleSession(BaseModel):
    """One /review sign-in: the cookie holds only a random token, this row holds its hash (console_sessions.py).

    A session is valid while not ended and before expires_at, fixed at sign-in (no request extends it);
    signing out sets ended_at, so a copied cookie stops working on every worker at once.
    """

    token_hash = pw.CharField(max_length=64, unique=True)
    key_id = pw.IntegerField(index=True)
    signed_in_at = pw.DateTimeField(default=utcnow)
    expires_at = pw.DateTimeField()
    ended_at = pw.DateTimeField(null=True)


class PolicyVersion(BaseModel):
    """One activation of a policy: every file's text, who activated it, and the store revision it took effect at.

    The newest row is the active policy; earlier rows are kept (history, and the policy in force at a revision).
    """

    version = pw.CharField(max_length=16, index=True)  # decide.checks.version_of() over `files`
    files = pw.TextField()  # JSON {file name: text}
    activated_at = pw.DateTimeField(default=utcnow)
    activated_by = pw.CharField(max_length=200)
    revision = pw.BigIntegerField(index=True)  # the store revision the activation committed at


MODELS: list[type[BaseModel]] = [
    StoreRevision, SchemaVersion, Organization, User, Membership, Product,
    ProductAuthorization, Assignment, Partnership, PartnershipProduct,
    Invitation, InvitationProduct, Invoice, ApiKey, Event, HistoryEntry, ConsoleSecret, ConsoleSession, PolicyVersion,
]

# R11: at most one active partnership per (partner, customer) pair, in the schema.
Partnership.add_index(
    Partnership.index(Partnership.partner, Partnership.customer, unique=True,
                      where=(Partnership.status == "active"), name="partnership_one_active_per_pair")
)
