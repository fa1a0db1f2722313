"""Facts that must mean something, and conflicts that say what they conflict with.

A write is refused with 422 naming the field when the fact it would store is meaningless: an
assignment (R13) of a user who is not a member of the partner, by an organization that is not
a partner, or to a customer it has no active partnership with; a product authorization (R2) for
a product of an organization the user does not belong to. Duplicates answer 409 naming the
field and the existing fact (`existing`). These are integrity checks on the data, not
authorization: who may do something is still decided by the policy alone.
"""
from __future__ import annotations

from typing import Any

import peewee as pw

from service.store import models as m
from service.store.emails import fold, folded_sql

from .errors import ApiError

# The kinds of product an organization can own (docs/rules.md: hosting, domains, mail, cloud drive).
PRODUCT_CATEGORIES = ("hosting", "domain", "mail", "cloud_drive")


def _meaningless(field: str, message: str) -> ApiError:
    return ApiError(422, "meaningless_fact", message, field=field)


def _is_member(user_id: int, org_id: int) -> bool:
    return m.Membership.select().where((m.Membership.user == user_id) & (m.Membership.organization == org_id)).exists()


def _check_assignment(values: dict[str, Any]) -> None:
    partner, user, customer = values["partner"], values["user"], values["customer"]
    if not m.Organization.get_by_id(partner).is_partner:
        raise _meaningless("partner", f"organization:{partner} is not a partner")
    if not _is_member(user, partner):
        raise _meaningless("user", f"user:{user} is not a member of organization:{partner}")
    active = m.Partnership.select().where((m.Partnership.partner == partner) & (m.Partnership.customer == customer)
                                          & (m.Partnership.status == "active")).exists()
    if not active:
        raise _meaningless("customer", f"organization:{partner} has no active partnership with "
                                       f"organization:{customer}")


def _check_product_authorization(values: dict[str, Any]) -> None:
    user, product = values["user"], m.Product.get_by_id(values["product"])
    if not _is_member(user, product.organization_id):
        raise _meaningless("product", f"product:{product.id} belongs to organization:{product.organization_id}, "
                                      f"which user:{user} is not a member of")


MEANING: dict[type[m.BaseModel], Any] = {
    m.Assignment: _check_assignment,
    m.ProductAuthorization: _check_product_authorization,
}

# model -> (the field a conflict is reported on, the columns that must be unique together)
UNIQUE: dict[type[m.BaseModel], tuple[str, tuple[str, ...]]] = {
    m.User: ("email", ("email",)),
    m.Membership: ("user", ("user", "organization")),
    m.ProductAuthorization: ("product", ("user", "product")),
    m.Assignment: ("customer", ("partner", "user", "customer")),
}


def check_fact(model: type[m.BaseModel], kind: str, values: dict[str, Any], row_id: int | None = None) -> None:
    """422 if the fact would be meaningless, 409 naming the existing fact if it would be a duplicate."""
    meaning = MEANING.get(model)
    if meaning is not None:
        meaning(values)
    if model in UNIQUE:
        _check_unique(model, kind, values, row_id)


def _check_unique(model: type[m.BaseModel], kind: str, values: dict[str, Any], row_id: int | None) -> None:
    field, columns = UNIQUE[model]
    if not all(column in values for column in columns):
        return
    query = model.select(model.id).where(*[_same(model, column, values[column]) for column in columns])
    if row_id is not None:
        query = query.where(model.id != row_id)
    existing = query.first()
    if existing is not None:
        raise ApiError(409, "conflict", f"{kind}:{existing.id} already holds this {' and '.join(columns)}",
                       field=field, extra={"existing": f"{kind}:{existing.id}"})


def _same(model: type[m.BaseModel], column: str, value: Any) -> Any:
    """column == value, as the store's unique index compares it (e-mails regardless of letter case)."""
    if model is m.User and column == "email":
        return pw.SQL(folded_sql()) == fold(value)
    return getattr(model, column) == value


def check_delete(model: type[m.BaseModel], row: Any) -> None:
    """409 naming what still refers to the row and keeps it (an organization's partnerships keep their history)."""
    if model is not m.Organization:
        return
    blocking = m.Partnership.select(m.Partnership.id).where(
        (m.Partnership.partner == row.id) | (m.Partnership.customer == row.id)).first()
    if blocking is not None:
        raise ApiError(409, "conflict", f"organization:{row.id} is in partnership:{blocking.id}, "
                       "whose history stays", field="id", extra={"existing": f"partnership:{blocking.id}"})


def integrity_conflict(exc: pw.IntegrityError) -> ApiError:
    """A conflict the checks above could not see coming (a concurrent write): 409 with the database's words."""
    detail = str(exc).splitlines()[0][:200]
    return ApiError(409, "conflict", f"this would duplicate an existing fact or orphan one that depends on it "
                    f"({detail})")
