"""Sending, resending and cancelling invitations (R4, R5, R6, R9, R11), and listing pending ones.

Who invites follows from the policy: the acting user may `add_customer` on the
partner organization (R4: the invitation comes from the partner's side) or
`invite_partner` on the customer organization (R5: from the customer's side).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from service.decide.engine import Engine
from service.store.writes import write_transaction
from service.store import models as m

from .access import parse_access, write_invitation_products
from .common import authorize, decide_recorded, invitation_ttl_days, load, ref_id
from .errors import Conflict, Forbidden, Invalid
from .records import invitation_state, record


def _inviting_side(actor: str, partner_id: int, customer_id: int, engine: Engine | None) -> str:
    """Which side the acting user invites from, as the policy sees it; Forbidden when neither."""
    as_partner, partner_decision = decide_recorded(actor, "add_customer", f"organization:{partner_id}", engine)
    if as_partner.allowed:
        return "partner"
    as_customer, customer_decision = decide_recorded(actor, "invite_partner", f"organization:{customer_id}", engine)
    if as_customer.allowed:
        return "customer"
    raise Forbidden(f"{actor} may neither add_customer on organization:{partner_id} (R4) "
                    f"nor invite_partner on organization:{customer_id} (R5)",
                    as_partner.reasons + as_customer.reasons, decision_ids=[partner_decision, customer_decision])


def active_partnership(partner_id: int, customer_id: int) -> m.Partnership | None:
    return (m.Partnership.select()
            .where(m.Partnership.partner == partner_id, m.Partnership.customer == customer_id,
                   m.Partnership.status == "active").first())


def is_expired(inv: m.Invitation, now: dt.datetime) -> bool:
    return inv.expires_at <= now


def ensure_pending(inv: m.Invitation) -> None:
    """409 for an invitation that was already answered or cancelled (R9)."""
    if inv.status != "pending":
        raise Conflict(f"invitation:{inv.id} is {inv.status}; it can no longer be answered, resent "
                       "or cancelled", "invitation", status=inv.status)


def mark_expired(inv: m.Invitation, noticed_by: str | None, now: dt.datetime) -> bool:
    """Close an overdue pending invitation with its event; False if another step closed it first."""
    before = invitation_state(inv)
    changed = (m.Invitation.update(status="expired")
               .where(m.Invitation.id == inv.id, m.Invitation.status == "pending").execute())
    if changed != 1:
        return False
    after = invitation_state(m.Invitation.get_by_id(inv.id))
    record("invitation.expired", f"invitation:{inv.id}", None, before=before, after=after,
           payload={"invitation": f"invitation:{inv.id}", "partner": after["partner"],
                    "customer": after["customer"], "expired_at": after["expires_at"],
                    "noticed_by": noticed_by, "notify": [after["partner"], after["customer"]]})
    return True


def expired_conflict(inv_id: int) -> Conflict:
    return Conflict(f"invitation:{inv_id} has expired; it can no longer be answered, resent or cancelled",
                    "invitation", status="expired")


def create_invitation(acting_user: str, partner: str, customer: str, requested: Any, *,
                      engine: Engine | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Send an invitation (R4 or R5) requesting `requested` (R6); one transaction."""
    ref_id(acting_user, "user", "acting_user")
    partner_id = ref_id(partner, "organization", "partner")
    customer_id = ref_id(customer, "organization", "customer")
    now = now or m.utcnow()
    with write_transaction():
        partner_org = load(m.Organization, partner_id, "organization", "partner")
        load(m.Organization, customer_id, "organization", "customer")
        side = _inviting_side(acting_user, partner_id, customer_id, engine)
        if partner_id == customer_id:
            raise Invalid("customer: an organization cannot be its own partner", "customer")
        if not partner_org.is_partner:
            raise Invalid(f"partner: organization:{partner_id} is not in the partner program and cannot "
                          "manage customers (R4)", "partner")
        access = parse_access(requested, customer_id, "requested")
        existing = active_partnership(partner_id, customer_id)
        if existing is not None:
            raise Conflict(f"partnership:{existing.id} between these organizations is already active (R11)",
                           "customer", partnership=f"partnership:{existing.id}")
        pending = (m.Invitation.select(m.Invitation.id)
                   .where(m.Invitation.partner == partner_id, m.Invitation.customer == customer_id,
                          m.Invitation.status == "pending", m.Invitation.expires_at > now).first())
        if pending is not None:
            raise Conflict(f"invitation:{pending.id} between these organizations is still pending; "
                           "resend or cancel it instead", "customer", invitation=f"invitation:{pending.id}")
        inv = m.Invitation.create(
            partner=partner_id, customer=customer_id, inviting_side=side,
            invited_by=ref_id(acting_user, "user", "acting_user"),
            requested_access=access.level,
            requested_payment_mode=access.payment_mode if access.level == "full" else None,
            status="pending", created_at=now, sent_at=now,
            expires_at=now + dt.timedelta(days=invitation_ttl_days()))
        write_invitation_products(inv.id, access)
        after = invitation_state(inv)
        invited = after["customer"] if side == "partner" else after["partner"]
        record("invitation.sent", f"invitation:{inv.id}", acting_user, before=None, after=after,
               payload={"invitation": after["id"], "partner": after["partner"], "customer": after["customer"],
                        "inviting_side": side, "requested": after["requested"],
                        "expires_at": after["expires_at"], "notify": [invited]})
    return after


def _close_pending(action: str, acting_user: str, invitation: str, engine: Engine | None,
                   now: dt.datetime | None) -> dict[str, Any]:
    """Resend (renews the lifetime) or cancel a pending invitation (R9); one transaction."""
    ref_id(acting_user, "user", "acting_user")
    inv_id = ref_id(invitation, "invitation", "invitation")
    now = now or m.utcnow()
    with write_transaction():
        inv = load(m.Invitation, inv_id, "invitation", "invitation", for_update=True)
        ensure_pending(inv)
        if not is_expired(inv, now):
            authorize(acting_user, action, f"invitation:{inv_id}", engine)
            before = invitation_state(inv)
            if action == "resend":
                query = m.Invitation.update(sent_at=now, expires_at=now + dt.timedelta(days=invitation_ttl_days()))
            else:
                query = m.Invitation.update(status="cancelled")
            if query.where(m.Invitation.id == inv_id, m.Invitation.status == "pending").execute() != 1:
                raise Conflict(f"invitation:{inv_id} was answered meanwhile", "invitation")
            after = invitation_state(m.Invitation.get_by_id(inv_id))
            invited = after["customer"] if inv.inviting_side == "partner" else after["partner"]
            kind = "invitation.resent" if action == "resend" else "invitation.cancelled"
            record(kind, f"invitation:{inv_id}", acting_user, before=before, after=after,
                   payload={"invitation": after["id"], "partner": after["partner"], "customer": after["customer"],
                            "requested": after["requested"], "expires_at": after["expires_at"],
                            "notify": [invited]})
            return after
        mark_expired(inv, acting_user, now)
    raise expired_conflict(inv_id)


def resend_invitation(acting_user: str, invitation: str, *, engine: Engine | None = None,
                      now: dt.datetime | None = None) -> dict[str, Any]:
    return _close_pending("resend", acting_user, invitation, engine, now)


def cancel_invitation(acting_user: str, invitation: str, *, engine: Engine | None = None,
                      now: dt.datetime | None = None) -> dict[str, Any]:
    return _close_pending("cancel", acting_user, invitation, engine, now)


def pending_invitations(organization: str | None = None, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Pending, unexpired invitations, optionally only those naming `organization` on either side."""
    now = now or m.utcnow()
    query = (m.Invitation.select()
             .where(m.Invitation.status == "pending", m.Invitation.expires_at > now)
             .order_by(m.Invitation.id))
    if organization is not None:
        org_id = ref_id(organization, "organization", "organization")
        query = query.where((m.Invitation.partner == org_id) | (m.Invitation.customer == org_id))
    return [invitation_state(inv) for inv in query]


def expire_overdue(now: dt.datetime | None = None) -> list[str]:
    """Close every overdue pending invitation with its event (one transaction each); the refs closed."""
    now = now or m.utcnow()
    closed = []
    overdue = (m.Invitation.select(m.Invitation.id)
               .where(m.Invitation.status == "pending", m.Invitation.expires_at <= now))
    for (inv_id,) in overdue.tuples():
        with write_transaction():
            inv = m.Invitation.get_or_none(m.Invitation.id == inv_id)
            if inv is not None and mark_expired(inv, None, now):
                closed.append(f"invitation:{inv_id}")
    return closed
