"""Answering an invitation (R7, R8, R9, R11): accept, possibly with a different grant, or refuse.

Race safety: on PostgreSQL the answer first locks the invitation row (SELECT ...
FOR UPDATE), so a concurrent answer waits, then sees it answered (409) and the
policy never decides on a state that changes under it (a 403 instead of a 409);
SQLite serialises writers with BEGIN IMMEDIATE. The answer then claims the
invitation with a conditional `UPDATE invitation SET status=... WHERE id=? AND
status='pending'` and goes on only if it changed exactly one row. Of several
concurrent answers exactly one wins; the others roll back and get 409. The
partial unique index on active partnerships (R11) is the last line of defence.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from service.decide.engine import Engine
from service.store.writes import write_transaction
from service.store import models as m

from .access import parse_access, requested_access, write_grant
from .common import authorize, load, ref_id
from .errors import Conflict, Invalid
from .invitations import active_partnership, ensure_pending, expired_conflict, is_expired, mark_expired
from .records import history_entry, invitation_state, partnership_state, record


def _claim(inv_id: int, status: str, actor_id: int, now: dt.datetime) -> None:
    """Move the invitation from pending to `status`; Conflict if another answer got there first."""
    changed = (m.Invitation.update(status=status, answered_by=actor_id, answered_at=now)
               .where(m.Invitation.id == inv_id, m.Invitation.status == "pending").execute())
    if changed != 1:
        raise Conflict(f"invitation:{inv_id} was answered meanwhile; it is answered at most once (R9)",
                       "invitation")


def accept_invitation(acting_user: str, invitation: str, granted: Any = None, *,
                      engine: Engine | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Accept (R7); `granted` (customer side only) may differ from the request, and only it takes effect (R8)."""
    actor_id = ref_id(acting_user, "user", "acting_user")
    inv_id = ref_id(invitation, "invitation", "invitation")
    now = now or m.utcnow()
    try:
        with write_transaction():
            inv = load(m.Invitation, inv_id, "invitation", "invitation", for_update=True)
            ensure_pending(inv)
            if not is_expired(inv, now):
                return _accept(inv, acting_user, actor_id, granted, engine, now)
            mark_expired(inv, acting_user, now)
    except pw.IntegrityError:
        # Only the R11 index can fail here: another step activated a partnership for this pair meanwhile.
        raise Conflict("the partner and the customer already have an active partnership (R11)", "invitation") \
            from None
    raise expired_conflict(inv_id)


def _accept(inv: m.Invitation, acting_user: str, actor_id: int, granted: Any, engine: Engine | None,
            now: dt.datetime) -> dict[str, Any]:
    authorize(acting_user, "accept", f"invitation:{inv.id}", engine)
    requested = requested_access(inv)
    if granted is None:
        grant = requested
    elif inv.inviting_side == "customer":
        # R7: the customer offered this access itself; the partner accepts or refuses it as offered.
        raise Invalid("granted: an invitation sent by the customer is accepted as offered; "
                      "refuse it instead of changing it (R7)", "granted")
    else:
        grant = parse_access(granted, inv.customer_id, "granted")
    before = invitation_state(inv)
    _claim(inv.id, "accepted", actor_id, now)
    existing = active_partnership(inv.partner_id, inv.customer_id)
    if existing is not None:
        raise Conflict(f"partnership:{existing.id} between these organizations is already active (R11)",
                       "invitation", partnership=f"partnership:{existing.id}")
    # R8: the partnership carries the grant only; the request stays on the invitation.
    partnership = m.Partnership.create(partner=inv.partner_id, customer=inv.customer_id, status="active",
                                       access=grant.level, payment_mode=grant.payment_mode,
                                       created_at=now, updated_at=now)
    write_grant(partnership.id, grant)
    m.Invitation.update(partnership=partnership.id).where(m.Invitation.id == inv.id).execute()
    after = invitation_state(m.Invitation.get_by_id(inv.id))
    created = partnership_state(m.Partnership.get_by_id(partnership.id))
    history_entry(created["id"], "partnership.created", acting_user, before=None, after=created)
    inviting = after["partner"] if inv.inviting_side == "partner" else after["customer"]
    record("invitation.accepted", after["id"], acting_user, before=before, after=after,
           payload={"invitation": after["id"], "partnership": created["id"], "partner": after["partner"],
                    "customer": after["customer"], "requested": after["requested"],
                    "granted": created["granted"], "notify": [inviting]})
    return {"partnership": created["id"], "invitation": after["id"], "requested": after["requested"],
            "granted": created["granted"], "status": created["status"]}


def refuse_invitation(acting_user: str, invitation: str, *, engine: Engine | None = None,
                      now: dt.datetime | None = None) -> dict[str, Any]:
    """Refuse (R7); the invitation is closed for good (R9)."""
    actor_id = ref_id(acting_user, "user", "acting_user")
    inv_id = ref_id(invitation, "invitation", "invitation")
    now = now or m.utcnow()
    with write_transaction():
        inv = load(m.Invitation, inv_id, "invitation", "invitation", for_update=True)
        ensure_pending(inv)
        if not is_expired(inv, now):
            authorize(acting_user, "refuse", f"invitation:{inv_id}", engine)
            before = invitation_state(inv)
            _claim(inv_id, "refused", actor_id, now)
            after = invitation_state(m.Invitation.get_by_id(inv_id))
            inviting = after["partner"] if inv.inviting_side == "partner" else after["customer"]
            record("invitation.refused", after["id"], acting_user, before=before, after=after,
                   payload={"invitation": after["id"], "partner": after["partner"],
                            "customer": after["customer"], "notify": [inviting]})
            return after
        mark_expired(inv, acting_user, now)
    raise expired_conflict(inv_id)
