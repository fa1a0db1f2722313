"""The outbox (events) and the history of every workflow step.

Both are written inside the step's transaction, so a step either happened with
its event and history entry or not at all. A mailer reads events with
`events_after(cursor)`; the service itself sends no mail.
"""
from __future__ import annotations

import json
from typing import Any

import peewee as pw

from service.store import bump_revision
from service.store import models as m

from .access import granted_access, requested_access
from .errors import Malformed

MAX_EVENTS_PAGE = 500
DEFAULT_EVENTS_PAGE = 100


def invitation_state(inv: m.Invitation) -> dict[str, Any]:
    return {
        "id": f"invitation:{inv.id}",
        "status": inv.status,
        "partner": f"organization:{inv.partner_id}",
        "customer": f"organization:{inv.customer_id}",
        "inviting_side": inv.inviting_side,
        "invited_by": f"user:{inv.invited_by_id}" if inv.invited_by_id else None,
        "requested": requested_access(inv).as_dict(),
        "sent_at": iso(inv.sent_at),
        "expires_at": iso(inv.expires_at),
        "answered_by": f"user:{inv.answered_by_id}" if inv.answered_by_id else None,
        "answered_at": iso(inv.answered_at),
        "partnership": f"partnership:{inv.partnership_id}" if inv.partnership_id else None,
    }


def partnership_state(p: m.Partnership) -> dict[str, Any]:
    return {
        "id": f"partnership:{p.id}",
        "status": p.status,
        "partner": f"organization:{p.partner_id}",
        "customer": f"organization:{p.customer_id}",
        "granted": granted_access(p).as_dict(),
        "updated_at": iso(p.updated_at),
        "ended_at": iso(p.ended_at),
        "ended_by": f"user:{p.ended_by_id}" if p.ended_by_id else None,
    }


def iso(value: Any) -> str | None:
    """A stored time as the API shows it (UTC, seconds, 'Z'); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite may hand back the stored text
        value = m.Invitation.sent_at.python_value(value)
    return value.isoformat(timespec="seconds") + "Z"


def record(kind: str, subject: str, actor: str | None, *, before: dict | None, after: dict | None,
           payload: dict[str, Any]) -> int:
    """Write one event and one history entry and bump the store revision (call inside the transaction)."""
    event_id = emit_event(kind, subject, actor, payload)
    m.HistoryEntry.create(subject=subject, change=kind, actor=actor,
                          before=json.dumps(before, sort_keys=True) if before is not None else None,
                          after=json.dumps(after, sort_keys=True) if after is not None else None)
    bump_revision()
    return event_id


def emit_event(kind: str, subject: str, actor: str | None, payload: dict[str, Any]) -> int:
    """Write one outbox event (call inside the write's transaction): workflow steps and fact writes."""
    return m.Event.create(kind=kind, subject=subject, actor=actor,
                          payload=json.dumps(payload, sort_keys=True, default=str)).id


def history_entry(subject: str, change: str, actor: str | None, *, before: dict | None,
                  after: dict | None) -> None:
    """A second history entry in the same step (accepting changes an invitation and creates a partnership)."""
    m.HistoryEntry.create(subject=subject, change=change, actor=actor,
                          before=json.dumps(before, sort_keys=True) if before is not None else None,
                          after=json.dumps(after, sort_keys=True) if after is not None else None)


def _event_dict(e: m.Event) -> dict[str, Any]:
    return {"cursor": str(e.id), "kind": e.kind, "subject": e.subject, "actor": e.actor,
            "payload": json.loads(e.payload), "created_at": iso(e.created_at)}


def events_after(cursor: str | int | None = None, limit: int = 100) -> dict[str, Any]:
    """Events strictly after `cursor`, oldest first; `next` is the cursor to ask with next time."""
    try:
        after = int(cursor) if cursor not in (None, "") else 0
    except (TypeError, ValueError):
        raise Malformed("after must be a cursor returned as `next` by an earlier call", "after") from None
    if after < 0:
        raise Malformed("after must be a cursor returned as `next` by an earlier call", "after")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_EVENTS_PAGE:  # never capped silently
        raise Malformed(f"limit must be a whole number from 1 to {MAX_EVENTS_PAGE}", "limit")
    last = m.Event.select(pw.fn.MAX(m.Event.id)).scalar() or 0
    if after > last:  # a cursor no answer gave out (another store, a restore): it would skip what comes next
        raise Malformed(f"after must be a cursor returned as `next` by an earlier call; the last event is {last}",
                        "after")
    rows = list(m.Event.select().where(m.Event.id > after).order_by(m.Event.id).limit(limit))
    return {"events": [_event_dict(e) for e in rows],
            "next": str(rows[-1].id) if rows else str(after)}


def history_of(subjects: list[str]) -> list[dict[str, Any]]:
    rows = (m.HistoryEntry.select().where(m.HistoryEntry.subject.in_(subjects))
            .order_by(m.HistoryEntry.id))
    return [{"subject": h.subject, "change": h.change, "actor": h.actor, "at": iso(h.created_at),
             "before": json.loads(h.before) if h.before else None,
             "after": json.loads(h.after) if h.after else None} for h in rows]
