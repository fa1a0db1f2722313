"""Access descriptions (R6): what an invitation requests and what a partnership grants.

    {"access": "full", "payment_mode": "customer" | "partner"}
    {"access": "limited", "products": [{"product": "product:7", "technical": true, "statistical": false}]}

Parsing validates the shape and that every product belongs to the customer; it
never decides who may use the access (that is the policy's job).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from service.store import models as m

from .common import ref_id
from .errors import Invalid, Malformed, NotFound

MAX_PRODUCTS = 500


@dataclass(frozen=True, slots=True)
class ProductRights:
    product_id: int
    technical: bool
    statistical: bool

    def as_dict(self) -> dict[str, Any]:
        return {"product": f"product:{self.product_id}", "technical": self.technical,
                "statistical": self.statistical}


@dataclass(frozen=True, slots=True)
class Access:
    level: str                                  # "full" | "limited"
    payment_mode: str                           # limited access is always paid by the customer
    products: tuple[ProductRights, ...] = ()    # limited only, ordered by product id

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"access": self.level, "payment_mode": self.payment_mode}
        if self.level == "limited":
            out["products"] = [p.as_dict() for p in self.products]
        return out

    def rights(self) -> set[tuple[int, str]]:
        """(product id, right) pairs this access names; empty for full access."""
        out = set()
        for p in self.products:
            if p.technical:
                out.add((p.product_id, "technical"))
            if p.statistical:
                out.add((p.product_id, "statistical"))
        return out


def parse_access(spec: Any, customer_id: int, field: str) -> Access:
    """Validate an access description against the customer's products."""
    if not isinstance(spec, dict):
        raise Malformed(f"{field} must be an object with an access level", field)
    level = spec.get("access")
    if level not in m.ACCESS_LEVELS:
        raise Invalid(f"{field}.access must be one of {', '.join(m.ACCESS_LEVELS)}", f"{field}.access")
    payment_mode = spec.get("payment_mode")
    products = spec.get("products")
    if level == "full":
        if payment_mode not in m.PAYMENT_MODES:
            raise Invalid(f"{field}.payment_mode is required with full access: one of "
                          f"{', '.join(m.PAYMENT_MODES)}", f"{field}.payment_mode")
        if products:
            raise Invalid(f"{field}.products: a product list only goes with limited access",
                          f"{field}.products")
        return Access("full", payment_mode)
    # limited (R6, R15): the customer always pays, so a payment mode other than the customer's is invalid
    if payment_mode not in (None, "customer"):
        raise Invalid(f"{field}.payment_mode: a payment mode only goes with full access "
                      "(limited access is paid by the customer)", f"{field}.payment_mode")
    return Access("limited", "customer", _parse_products(products, customer_id, f"{field}.products"))


def _parse_products(products: Any, customer_id: int, field: str) -> tuple[ProductRights, ...]:
    if not isinstance(products, list) or not products:
        raise Invalid(f"{field}: limited access needs at least one product", field)
    if len(products) > MAX_PRODUCTS:
        raise Invalid(f"{field}: at most {MAX_PRODUCTS} products", field)
    parsed: dict[int, ProductRights] = {}
    for i, item in enumerate(products):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise Malformed(f"{where} must be an object {{product, technical, statistical}}", where)
        product_id = ref_id(item.get("product"), "product", f"{where}.product")
        technical, statistical = item.get("technical", False), item.get("statistical", False)
        if not isinstance(technical, bool) or not isinstance(statistical, bool):
            raise Malformed(f"{where}: technical and statistical must be true or false", where)
        if not (technical or statistical):
            raise Invalid(f"{where}: a product needs the technical or the statistical right (or both)", where)
        if product_id in parsed:
            raise Invalid(f"{where}.product: product:{product_id} is listed twice", f"{where}.product")
        parsed[product_id] = ProductRights(product_id, technical, statistical)
    owners = dict(m.Product.select(m.Product.id, m.Product.organization)
                  .where(m.Product.id.in_(list(parsed))).tuples())
    for i, product_id in enumerate(parsed):
        where = f"{field}[{i}].product"
        if product_id not in owners:
            raise NotFound(f"{where}: product:{product_id} does not exist", where)
        if owners[product_id] != customer_id:
            raise Invalid(f"{where}: product:{product_id} does not belong to the customer "
                          f"organization:{customer_id}", where)
    return tuple(sorted(parsed.values(), key=lambda p: p.product_id))


def _rows_to_products(rows: Iterable[Any]) -> tuple[ProductRights, ...]:
    return tuple(sorted((ProductRights(r.product_id, bool(r.technical), bool(r.statistical)) for r in rows),
                        key=lambda p: p.product_id))


def requested_access(inv: m.Invitation) -> Access:
    """What the invitation requested (R8: never a source of access)."""
    products = m.InvitationProduct.select().where(m.InvitationProduct.invitation == inv.id)
    if inv.requested_access == "full":
        return Access("full", inv.requested_payment_mode or "customer")
    return Access("limited", "customer", _rows_to_products(products))


def granted_access(p: m.Partnership) -> Access:
    """What the partnership grants: the only access that takes effect (R8)."""
    if p.access == "full":
        return Access("full", p.payment_mode)
    products = m.PartnershipProduct.select().where(m.PartnershipProduct.partnership == p.id)
    return Access("limited", "customer", _rows_to_products(products))


def write_invitation_products(inv_id: int, access: Access) -> None:
    if access.products:
        m.InvitationProduct.insert_many([
            {"invitation": inv_id, "product": p.product_id, "technical": p.technical, "statistical": p.statistical}
            for p in access.products]).execute()


def write_grant(partnership_id: int, access: Access) -> None:
    """Replace the partnership's granted products with exactly `access` (R8, R18)."""
    m.PartnershipProduct.delete().where(m.PartnershipProduct.partnership == partnership_id).execute()
    if access.products:
        m.PartnershipProduct.insert_many([
            {"partnership": partnership_id, "product": p.product_id, "technical": p.technical,
             "statistical": p.statistical}
            for p in access.products]).execute()


def difference(requested: Access | None, granted: Access) -> dict[str, Any]:
    """What was requested but not granted, so a reviewer sees the gap (R7, R10)."""
    if requested is None:
        return {}
    out: dict[str, Any] = {}
    if requested.level != granted.level:
        out["access"] = {"requested": requested.level, "granted": granted.level}
    if requested.payment_mode != granted.payment_mode:
        out["payment_mode"] = {"requested": requested.payment_mode, "granted": granted.payment_mode}
    if granted.level == "limited":
        # Full access requested covers every right; limited requested names them.
        missing = sorted(requested.rights() - granted.rights())
        if missing:
            out["rights_not_granted"] = [{"product": f"product:{pid}", "right": right} for pid, right in missing]
    return out
