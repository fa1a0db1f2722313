"""Reviewing, changing and ending partnerships (R10, R17, R18, R19) and exporting the managed customers.

A change writes the partnership row and bumps the store revision in one
transaction; decisions read facts fresh, so the very next decision in any
worker process sees it.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from service.decide.engine import Engine
from service.store.writes import write_transaction
from service.store import models as m

from .access import difference, granted_access, parse_access, requested_access, write_grant
from .common import authorize, load, ref_id
from .errors import Conflict, Invalid
from .records import history_of, iso, partnership_state, record


def _load_active(partnership_id: int) -> m.Partnership:
    p = load(m.Partnership, partnership_id, "partnership", "partnership", for_update=True)
    if p.status != "active":
        raise Conflict(f"partnership:{p.id} has ended; it can no longer be changed (R19)", "partnership",
                       status=p.status)
    return p


def _origin(p: m.Partnership) -> m.Invitation | None:
    """The invitation whose acceptance created this partnership, if any."""
    return m.Invitation.select().where(m.Invitation.partnership == p.id).order_by(m.Invitation.id).first()


def review_partnership(acting_user: str, partnership: str, *, engine: Engine | None = None) -> dict[str, Any]:
    """The granted access and payment mode beside what was requested (R10; R1 for the customer)."""
    ref_id(acting_user, "user", "acting_user")
    p = load(m.Partnership, ref_id(partnership, "partnership", "partnership"), "partnership", "partnership")
    authorize(acting_user, "review", f"partnership:{p.id}", engine)
    return _description(p)


def describe_partnership(partnership: str) -> dict[str, Any]:
    """Grant beside request, unauthorized: for the operator's CLI only."""
    return _description(load(m.Partnership, ref_id(partnership, "partnership", "partnership"),
                              "partnership", "partnership"))


def _description(p: m.Partnership) -> dict[str, Any]:
    """The partnership's state with its grant beside the request it was created from."""
    origin = _origin(p)
    requested = requested_access(origin) if origin is not None else None
    granted = granted_access(p)
    state = partnership_state(p)
    return {**state, "payment_mode": granted.payment_mode,
            "requested": requested.as_dict() if requested else None,
            "not_granted": difference(requested, granted),
            "invitation": f"invitation:{origin.id}" if origin else None,
            "created_at": iso(p.created_at)}


def change_access(acting_user: str, partnership: str, granted: Any, *, engine: Engine | None = None,
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """Replace the grant (level, products, rights, and with full access the payment mode) (R18)."""
    ref_id(acting_user, "user", "acting_user")
    p_id = ref_id(partnership, "partnership", "partnership")
    now = now or m.utcnow()
    with write_transaction():
        p = _load_active(p_id)
        ref = f"partnership:{p_id}"
        authorize(acting_user, "change_access", ref, engine)
        access = parse_access(granted, p.customer_id, "granted")
        if access.payment_mode != p.payment_mode:
            # Switching who pays is its own action, even when it comes with an access change.
            authorize(acting_user, "change_payment_mode", ref, engine)
        before = partnership_state(p)
        m.Partnership.update(access=access.level, payment_mode=access.payment_mode, updated_at=now) \
            .where(m.Partnership.id == p_id).execute()
        write_grant(p_id, access)
        after = partnership_state(m.Partnership.get_by_id(p_id))
        record("partnership.access_changed", ref, acting_user, before=before, after=after,
               payload={"partnership": ref, "partner": after["partner"], "customer": after["customer"],
                        "before": before["granted"], "granted": after["granted"], "notify": [after["partner"]]})
    return after


def change_payment_mode(acting_user: str, partnership: str, payment_mode: Any, *,
                        engine: Engine | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Switch who pays under full access (R16, R18)."""
    ref_id(acting_user, "user", "acting_user")
    p_id = ref_id(partnership, "partnership", "partnership")
    now = now or m.utcnow()
    with write_transaction():
        p = _load_active(p_id)
        ref = f"partnership:{p_id}"
        authorize(acting_user, "change_payment_mode", ref, engine)
        if payment_mode not in m.PAYMENT_MODES:
            raise Invalid(f"payment_mode must be one of {', '.join(m.PAYMENT_MODES)}", "payment_mode")
        if p.access != "full":
            raise Invalid("payment_mode: a payment mode only goes with full access; limited access is paid "
                          "by the customer (change the access instead)", "payment_mode")
        before = partnership_state(p)
        m.Partnership.update(payment_mode=payment_mode, updated_at=now).where(m.Partnership.id == p_id).execute()
        after = partnership_state(m.Partnership.get_by_id(p_id))
        record("partnership.payment_mode_changed", ref, acting_user, before=before, after=after,
               payload={"partnership": ref, "partner": after["partner"], "customer": after["customer"],
                        "before": before["granted"]["payment_mode"], "payment_mode": payment_mode,
                        "notify": [after["partner"]]})
    return after


def end_partnership(acting_user: str, partnership: str, *, engine: Engine | None = None,
                    now: dt.datetime | None = None) -> dict[str, Any]:
    """End the partnership (R19): nobody reaches the customer through it any more; its history stays."""
    actor_id = ref_id(acting_user, "user", "acting_user")
    p_id = ref_id(partnership, "partnership", "partnership")
    now = now or m.utcnow()
    with write_transaction():
        p = _load_active(p_id)
        ref = f"partnership:{p_id}"
        authorize(acting_user, "end", ref, engine)
        before = partnership_state(p)
        changed = (m.Partnership.update(status="ended", ended_at=now, ended_by=actor_id, updated_at=now)
                   .where(m.Partnership.id == p_id, m.Partnership.status == "active").execute())
        if changed != 1:
            raise Conflict(f"{ref} was ended meanwhile", "partnership")
        after = partnership_state(m.Partnership.get_by_id(p_id))
        record("partnership.ended", ref, acting_user, before=before, after=after,
               payload={"partnership": ref, "partner": after["partner"], "customer": after["customer"],
                        "ended_by": acting_user, "notify": [after["partner"], after["customer"]]})
    return after


def partnership_history(acting_user: str, partnership: str, *, engine: Engine | None = None) -> dict[str, Any]:
    """Every recorded change of the partnership and of the invitation it came from, oldest first."""
    ref_id(acting_user, "user", "acting_user")
    p_id = ref_id(partnership, "partnership", "partnership")
    p = load(m.Partnership, p_id, "partnership", "partnership")
    authorize(acting_user, "review", f"partnership:{p_id}", engine)
    subjects = [f"partnership:{p_id}"]
    origin = _origin(p)
    if origin is not None:
        subjects.append(f"invitation:{origin.id}")
    return {"partnership": f"partnership:{p_id}", "history": history_of(subjects)}


EXPORT_COLUMNS = ("customer", "customer_name", "partnership", "access", "payment_mode", "since",
                  "technical_products", "statistical_products")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_customers(acting_user: str, organization: str, *, engine: Engine | None = None) -> str:
    """The partner's managed customers (active partnerships) as CSV (R17)."""
    ref_id(acting_user, "user", "acting_user")
    org_id = ref_id(organization, "organization", "organization")
    load(m.Organization, org_id, "organization", "organization")
    authorize(acting_user, "export_customers", f"organization:{org_id}", engine)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    rows = (m.Partnership.select(m.Partnership, m.Organization)
            .join(m.Organization, on=(m.Partnership.customer == m.Organization.id))
            .where(m.Partnership.partner == org_id, m.Partnership.status == "active")
            .order_by(m.Partnership.id))
    for p in rows:
        granted = granted_access(p)
        technical = " ".join(f"product:{x.product_id}" for x in granted.products if x.technical)
        statistical = " ".join(f"product:{x.product_id}" for x in granted.products if x.statistical)
        writer.writerow([_cell(v) for v in (
            f"organization:{p.customer_id}", p.customer.name, f"partnership:{p.id}", granted.level,
            granted.payment_mode, iso(p.created_at), technical, statistical)])
    return out.getvalue()
