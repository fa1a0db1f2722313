"""Signed-off access reviews: open one on a subject, decide keep or revoke per row, finish it once.

Opening freezes the subject's rows as its console page shows them (signoff_rows.py) with who, when,
the store revision and the policy version. Until it is finished a row's decision may be recorded
again (the last one counts, with who and when); finishing needs every row decided, and then the
review never changes again. The console changes no fact: finishing writes one `review.revoke_requested`
event per revoked row on /v1/events, in the same transaction, for the owning system to act on.

Writers of one review take its row lock first (PostgreSQL; SQLite's writers are serialized anyway),
so a decision cannot land after the finish that read the decisions. Bad input raises Refused naming
the field, before anything is written.
"""
from __future__ import annotations

import json
import unicodedata
from typing import Any

from service.store.db import database, is_postgres
from service.store.models import utcnow
from service.store.review_signoff_models import (DECISIONS, NOTE_LENGTH, SUBJECT_KINDS, AccessReview,
                                                 AccessReviewRow)
from service.store.schema import revision_stamp
from service.store.writes import write_transaction
from service.workflows.records import emit_event, iso

from .pages import NotFound
from .signoff_rows import frozen_rows

REVOKE_EVENT = "review.revoke_requested"
MAX_ID = 2**31 - 1


class Refused(ValueError):
    """A request the review cannot take: `field` names what is wrong, `status` the HTTP answer."""

    def __init__(self, message: str, field: str, status: int = 400) -> None:
        super().__init__(message)
        self.field, self.status = field, status


def whole_number(text: str | None, field: str) -> int:
    """An id or row number from a form or path: ASCII digits only (never ４２ or ²)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise Refused(f"{field} must be a whole number", field)
    return int(text)


def checked_note(note: str | None) -> str:
    note = note or ""
    if len(note) > NOTE_LENGTH:
        raise Refused(f"note must be at most {NOTE_LENGTH} characters (it has {len(note)})", "note")
    if any(unicodedata.category(ch) == "Cc" for ch in note):
        raise Refused("note must not hold control characters (NUL, CR, LF, tab, ...)", "note")
    return note.strip()


def open_review(engine: Any, kind: str | None, org_id: str | None, reviewer: str) -> AccessReview:
    """A new review of the organization's access as a `kind` (customer or partner), as of now."""
    if kind not in SUBJECT_KINDS:
        raise Refused(f"kind must be one of {', '.join(SUBJECT_KINDS)}", "kind")
    number = whole_number(org_id, "organization")
    try:
        frozen = frozen_rows(engine, kind, number)
    except NotFound as exc:
        raise Refused(f"no such {kind}: {exc}", "organization", 404) from None
    with database.atomic():
        previous = last_finished(kind, frozen.subject)
        review = AccessReview.create(kind=kind, subject=frozen.subject, subject_name=frozen.subject_name,
                                     opened_by=reviewer, revision=frozen.revision, store_epoch=revision_stamp()[0],
                                     policy_version=frozen.policy_version,
                                     previous=previous.id if previous else None)
        for position, row in enumerate(frozen.rows, start=1):
            shown = {k: v for k, v in row.items() if k not in ("user", "action", "resource")}
            AccessReviewRow.create(review=review, position=position, user=row["user"], action=row["action"],
                                   resource=row["resource"], shown=json.dumps(shown, sort_keys=True))
    return review


def last_finished(kind: str, subject: str) -> AccessReview | None:
    return (AccessReview.select().where((AccessReview.kind == kind) & (AccessReview.subject == subject)
                                        & AccessReview.finished_at.is_null(False))
            .order_by(AccessReview.finished_at.desc(), AccessReview.id.desc()).first())


def find_review(review_id: int) -> AccessReview:
    # an id past the column's range is no review (PostgreSQL would refuse the comparison with an error)
    review = AccessReview.get_or_none(AccessReview.id == review_id) if review_id <= MAX_ID else None
    if review is None:
        raise Refused(f"no such review: review:{review_id}", "review", 404)
    return review


def _locked_open(review_id: int) -> AccessReview:
    """The review, locked against the other writers of it; refused once finished."""
    query = AccessReview.select().where(AccessReview.id == review_id)
    review = (query.for_update() if is_postgres() else query).first() if review_id <= MAX_ID else None
    if review is None:
        raise Refused(f"no such review: review:{review_id}", "review", 404)
    if review.finished_at is not None:
        raise Refused(f"review:{review_id} was finished by {review.finished_by}; a finished review never "
                      "changes", "review", 409)
    return review


def decide(review_id: int, position: str | None, decision: str | None, note: str | None,
           reviewer: str) -> AccessReviewRow:
    """Record keep or revoke, with a note, on one row of an unfinished review."""
    number = whole_number(position, "row")
    with database.atomic():
        review = _locked_open(review_id)
        row = AccessReviewRow.get_or_none((AccessReviewRow.review == review) & (AccessReviewRow.position == number))
        if row is None:
            raise Refused(f"review:{review_id} has no row {number}", "row", 404)
        if decision not in DECISIONS:
            raise Refused(f"decision must be one of {', '.join(DECISIONS)}", "decision")
        row.decision, row.note, row.decided_by, row.decided_at = decision, checked_note(note), reviewer, utcnow()
        row.save()
    return row


def finish(review_id: int, reviewer: str) -> list[int]:
    """Sign the review off: every row decided, then immutable; the revoke events' ids."""
    with write_transaction():  # events are written in commit order (store/writes.py)
        review = _locked_open(review_id)
        undecided = AccessReviewRow.select().where((AccessReviewRow.review == review)
                                                   & AccessReviewRow.decision.is_null()).count()
        if undecided:
            raise Refused(f"rows must all be decided before finishing: {undecided} of review:{review_id} have no "
                          "decision yet", "rows", 409)
        review.finished_by, review.finished_at = reviewer, utcnow()
        review.save()
        revoked = (AccessReviewRow.select().where((AccessReviewRow.review == review)
                                                  & (AccessReviewRow.decision == "revoke"))
                   .order_by(AccessReviewRow.position))
        events = []
        for row in revoked:
            row.event = emit_event(REVOKE_EVENT, f"review:{review.id}", None, revoke_payload(review, row))
            row.save()
            events.append(row.event)
    return events


def revoke_payload(review: AccessReview, row: AccessReviewRow) -> dict[str, Any]:
    """What the owning system needs to act on a revoke: the access, the reviewer's note, the review."""
    return {"review": f"review:{review.id}", "row": row.position, "user": row.user, "action": row.action,
            "resource": row.resource, "note": row.note, "reviewer": row.decided_by,
            "decided_at": iso(row.decided_at), "subject": review.subject, "kind": review.kind,
            "finished_by": review.finished_by, "revision": review.revision, "policy_version": review.policy_version}

