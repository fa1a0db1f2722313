"""Facts: create, read, update and delete the store's entities (scope `write` for changes and reads).

Request shapes are fixed by the API contract (docs/api.md). Every create answers
201 `{"id": "type:id", ..., "revision": n}`; every write runs in one transaction
that bumps the store revision and answers it. Unknown references: 404 naming
the field; duplicates: 409. R3: the last legal representative of an
organization can be neither removed nor demoted (409). Racing writes of one row: the write
transaction (store/writes.py) admits one writer at a time and locks the row, and an update or
delete that touched no row answers 404; only a change that happened emits its event.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import peewee as pw
from flask import Blueprint, current_app

from service.audit.recorder import record_decision
from service.decide.refs import parse_ref
from service.store import bump_revision, current_revision, is_postgres
from service.store import models as m
from service.store.writes import write_transaction
from service.workflows.records import emit_event

from .auth import WRITE
from .errors import ApiError
from .fact_cascade import delete_dependents
from .fact_checks import PRODUCT_CATEGORIES, check_delete, check_fact, integrity_conflict
from .registry import route
from .schemas import Answer, Email, OrgRef, ProductRef, Request, Text, UserRef

bp = Blueprint("facts", __name__, url_prefix="/v1")

Role = Literal["legal_representative", "administrator", "collaborator", "external"]
Category = Literal[PRODUCT_CATEGORIES]
MAX_DB_ID = 2**63 - 1
LEGAL_REPRESENTATIVE = "legal_representative"


# -- request and answer models ---------------------------------------------------------------

class OrganizationCreate(Request):
    name: Text
    partner: bool = False


class OrganizationUpdate(Request):
    name: Text | None = None
    partner: bool | None = None


class OrganizationAnswer(Answer):
    id: str
    name: str
    partner: bool
    revision: int


class UserCreate(Request):
    email: Email
    name: Text


class UserUpdate(Request):
    email: Email | None = None
    name: Text | None = None


class UserAnswer(Answer):
    id: str
    email: str
    name: str
    revision: int


class MembershipCreate(Request):
    user: UserRef
    organization: OrgRef
    role: Role
    billing: bool = False
    # when a person makes the change: the policy decides (R3 appoint_legal_representative, R1 manage_users)
    acting_user: UserRef | None = None


class MembershipUpdate(Request):
    role: Role | None = None
    billing: bool | None = None
    acting_user: UserRef | None = None


class MembershipAnswer(Answer):
    id: str
    user: str
    organization: str
    role: str
    billing: bool
    revision: int


class ProductCreate(Request):
    organization: OrgRef
    category: Category
    name: Text


class ProductUpdate(Request):
    category: Category | None = None
    name: Text | None = None


class ProductAnswer(Answer):
    id: str
    organization: str
    category: str
    name: str
    revision: int


class ProductAuthorizationCreate(Request):
    user: UserRef
    product: ProductRef


class ProductAuthorizationAnswer(Answer):
    id: str
    user: str
    product: str
    revision: int


class AssignmentCreate(Request):
    partner: OrgRef
    user: UserRef
    customer: OrgRef


class AssignmentAnswer(Answer):
    id: str
    partner: str
    user: str
    customer: str
    revision: int


class InvoiceCreate(Request):
    organization: OrgRef


class InvoiceAnswer(Answer):
    id: str
    organization: str
    revision: int


class Deleted(Answer):
    id: str
    deleted: bool
    revision: int


# -- the generic CRUD ------------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """One fact type: its table, its shapes and how its rows become answers."""

    name: str                                   # reference type, e.g. "membership"
    path: str                                   # URL segment, e.g. "memberships"
    model: type[m.BaseModel]
    create: type[Request]
    answer: type[Answer]
    to_answer: Callable[[Any], dict[str, Any]]
    update: type[Request] | None = None
    # body field -> (reference type, model) for fields naming other facts
    refs: dict[str, tuple[str, type[m.BaseModel]]] = field(default_factory=dict)
    # body field -> column, where they differ
    columns: dict[str, str] = field(default_factory=dict)


def _ref(kind: str, row_id: int) -> str:
    return f"{kind}:{row_id}"


def _get(model: type[m.BaseModel], row_id: int, kind: str, field_name: str | None = None, *,
         for_update: bool = False) -> Any:
    """The row, or 404 naming the field; `for_update` locks it for the write's transaction (PostgreSQL)."""
    row = None
    if 0 < row_id <= MAX_DB_ID:
        query = model.select().where(model.id == row_id)
        row = (query.for_update() if for_update and is_postgres() else query).first()
    if row is None:
        raise ApiError(404, "not_found", f"no {kind} {row_id}", field=field_name)
    return row


def _gone(kind: str, row_id: int) -> ApiError:
    """A write whose statement touched no row: another write deleted it first (nothing is emitted)."""
    return ApiError(404, "not_found", f"no {kind} {row_id} (deleted meanwhile)")


def _resolve(kind: Kind, data: dict[str, Any]) -> dict[str, Any]:
    """Body values as column values: references checked to exist (404 naming the field)."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in kind.refs:
            ref_type, model = kind.refs[name]
            ref = parse_ref(value, expected=ref_type)
            value = _get(model, ref.id, ref_type, name).id
        values[kind.columns.get(name, name)] = value
    return values


def _write(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run fn in one write transaction (writes.py: one writer at a time, events in commit order)
    that bumps the revision; duplicates and dangling rows answer 409."""
    try:
        with write_transaction():
            result = fn()
            revision = bump_revision()
    except pw.IntegrityError as exc:
        raise integrity_conflict(exc) from None
    return result, revision


def _legal_representatives(org_id: int) -> list[int]:
    """Membership ids of the organization's legal representatives, locked on PostgreSQL for this transaction."""
    query = m.Membership.select(m.Membership.id).where(
        (m.Membership.organization == org_id) & (m.Membership.role == LEGAL_REPRESENTATIVE))
    if is_postgres():
        query = query.for_update()
    return [row.id for row in query]


def _guard_last_legal_representative(membership: m.Membership) -> None:
    """R3: 409 if `membership` is its organization's only legal representative."""
    if membership.role != LEGAL_REPRESENTATIVE:
        return
    others = [mid for mid in _legal_representatives(membership.organization_id) if mid != membership.id]
    if not others:
        raise ApiError(409, "last_legal_representative",
                       f"organization:{membership.organization_id} would be left without a legal representative "
                       "(R3)", field="role")


def _authorize_membership_change(acting_user: str | None, org_id: int, role: str) -> None:
    """With an acting user, the policy decides the change: making someone a legal representative
    is `appoint_legal_representative` (R3), any other membership change `manage_users` (R1)."""
    if acting_user is None:
        return
    action = "appoint_legal_representative" if role == LEGAL_REPRESENTATIVE else "manage_users"
    started, resource = time.perf_counter(), f"organization:{org_id}"
    decision = current_app.extensions["authz_engine"].decide(acting_user, action, resource)
    decision_id = record_decision("fact_write", acting_user, action, resource, decision, started)
    if not decision.allowed:
        raise ApiError(403, "forbidden", f"{acting_user} may not {action} of organization:{org_id}",
                       field="acting_user", extra={"reasons": decision.reasons, "decision_id": decision_id})


def _before_create(kind: Kind, values: dict[str, Any]) -> None:
    acting_user = values.pop("acting_user", None)
    if kind.model is m.Membership:
        _authorize_membership_change(acting_user, values["organization"], values["role"])
    check_fact(kind.model, kind.name, values)


def _before_update(kind: Kind, row: Any, values: dict[str, Any]) -> None:
    acting_user = values.pop("acting_user", None)
    if kind.model is m.Membership:
        _authorize_membership_change(acting_user, row.organization_id, values.get("role", row.role))
        if "role" in values and values["role"] != LEGAL_REPRESENTATIVE:
            _guard_last_legal_representative(row)
    check_fact(kind.model, kind.name, values, row_id=row.id)


def _before_delete(kind: Kind, row: Any) -> None:
    check_delete(kind.model, row)
    if kind.model is m.Membership:
        _guard_last_legal_representative(row)
    elif kind.model is m.User:
        for membership in m.Membership.select().where(m.Membership.user == row.id):
            _guard_last_legal_representative(membership)


def _emitted(kind: Kind, change: str, row: Any, actor: str | None) -> Any:
    """Emit the fact's outbox event (e.g. `membership.created`, its state as payload); return row."""
    state = kind.to_answer(row)
    emit_event(f"{kind.name}.{change}", state["id"], actor, state)
    return row


def _emit_dependent_deleted(model: type[m.BaseModel], row: Any) -> None:
    _emitted(KIND_OF_MODEL[model], "deleted", row, None)


def register(kind: Kind) -> None:
    collection, item = f"/{kind.path}", f"/{kind.path}/<int:{kind.name}_id>"
    label = kind.name.replace("_", " ")

    def create(body: Request):
        values = _resolve(kind, body.model_dump(exclude_none=True))
        acting_user = values.get("acting_user")
        _before_create(kind, values)
        row, revision = _write(lambda: _emitted(kind, "created", kind.model.create(**values), acting_user))
        return kind.answer(**kind.to_answer(row), revision=revision), 201

    def read(**path: int):
        row = _get(kind.model, path[f"{kind.name}_id"], kind.name)
        return kind.answer(**kind.to_answer(row), revision=current_revision())

    def update(body: Request, **path: int):
        row_id = path[f"{kind.name}_id"]
        values = {k: v for k, v in _resolve(kind, body.model_dump(exclude_none=True)).items()}
        if not set(values) - {"acting_user"}:  # nothing to change: no write, no revision, no event
            return read(**path)

        def apply() -> Any:
            row = _get(kind.model, row_id, kind.name, for_update=True)
            acting_user = values.get("acting_user")
            _before_update(kind, row, values)
            for column, value in values.items():
                setattr(row, column, value)
            if row.save() != 1:  # the lock makes this unreachable; a change that did not happen emits nothing
                raise _gone(kind.name, row_id)
            return _emitted(kind, "updated", row, acting_user)

        row, revision = _write(apply)
        return kind.answer(**kind.to_answer(row), revision=revision)

    def delete(**path: int):
        row_id = path[f"{kind.name}_id"]

        def apply() -> None:
            row = _get(kind.model, row_id, kind.name, for_update=True)
            _before_delete(kind, row)
            # what the store's cascade would remove silently goes first, each with its event (fact_cascade.py)
            delete_dependents(kind.model, row.id, _emit_dependent_deleted)
            if row.delete_instance() != 1:  # as in update: only a delete that happened is emitted
                raise _gone(kind.name, row_id)
            _emitted(kind, "deleted", row, None)

        _, revision = _write(apply)
        return Deleted(id=_ref(kind.name, row_id), deleted=True, revision=revision)

    for fn, verb in ((create, "create"), (read, "get"), (update, "update"), (delete, "delete")):
        fn.__name__ = f"{verb}_{kind.name}"
    route(bp, collection, "POST", scope=WRITE, summary=f"Create a {label}", body=kind.create,
          response=kind.answer, status=201, errors=(404, 409))(create)
    route(bp, item, "GET", scope=WRITE, summary=f"Read a {label}", response=kind.answer, errors=(404,))(read)
    if kind.update is not None:
        for method in ("PUT", "PATCH"):
            def updater(body: Request, _update=update, **path: int):
                return _update(body, **path)
            updater.__name__ = f"{method.lower()}_{kind.name}"
            route(bp, item, method, scope=WRITE, summary=f"Update a {label} (fields given are changed)",
                  body=kind.update, response=kind.answer, errors=(404, 409))(updater)
    route(bp, item, "DELETE", scope=WRITE, summary=f"Delete a {label}", response=Deleted,
          errors=(404, 409))(delete)


KINDS = [
    Kind("organization", "organizations", m.Organization, OrganizationCreate, OrganizationAnswer,
         lambda r: {"id": _ref("organization", r.id), "name": r.name, "partner": bool(r.is_partner)},
         update=OrganizationUpdate, columns={"partner": "is_partner"}),
    Kind("user", "users", m.User, UserCreate, UserAnswer,
         lambda r: {"id": _ref("user", r.id), "email": r.email, "name": r.name}, update=UserUpdate),
    Kind("membership", "memberships", m.Membership, MembershipCreate, MembershipAnswer,
         lambda r: {"id": _ref("membership", r.id), "user": _ref("user", r.user_id),
                    "organization": _ref("organization", r.organization_id), "role": r.role,
                    "billing": bool(r.billing)},
         update=MembershipUpdate, refs={"user": ("user", m.User), "organization": ("organization", m.Organization)}),
    Kind("product", "products", m.Product, ProductCreate, ProductAnswer,
         lambda r: {"id": _ref("product", r.id), "organization": _ref("organization", r.organization_id),
                    "category": r.category, "name": r.name},
         update=ProductUpdate, refs={"organization": ("organization", m.Organization)}),
    Kind("product_authorization", "product-authorizations", m.ProductAuthorization, ProductAuthorizationCreate,
         ProductAuthorizationAnswer,
         lambda r: {"id": _ref("product_authorization", r.id), "user": _ref("user", r.user_id),
                    "product": _ref("product", r.product_id)},
         refs={"user": ("user", m.User), "product": ("product", m.Product)}),
    Kind("assignment", "assignments", m.Assignment, AssignmentCreate, AssignmentAnswer,
         lambda r: {"id": _ref("assignment", r.id), "partner": _ref("organization", r.partner_id),
                    "user": _ref("user", r.user_id), "customer": _ref("organization", r.customer_id)},
         refs={"partner": ("organization", m.Organization), "user": ("user", m.User),
               "customer": ("organization", m.Organization)}),
    Kind("invoice", "invoices", m.Invoice, InvoiceCreate, InvoiceAnswer,
         lambda r: {"id": _ref("invoice", r.id), "organization": _ref("organization", r.organization_id)},
         refs={"organization": ("organization", m.Organization)}),
]

KIND_OF_MODEL = {kind.model: kind for kind in KINDS}

for _kind in KINDS:
    register(_kind)
