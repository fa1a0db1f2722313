"""Tables of the signed-off access reviews (issue 21 item 6): a review and its frozen rows.

A review is opened on one subject (a customer's or a partner's access) at one state: the rows are
copied from the console page when it is opened and never recomputed, so the review keeps saying what
the reviewer saw. None of these tables is a fact a decision reads: writing them bumps no store
revision and changes no answer (a revoke is only asked for, by an event on /v1/events).
"""
from __future__ import annotations

import peewee as pw

from .models import BaseModel, _one_of, utcnow

SUBJECT_KINDS = ("customer", "partner")
DECISIONS = ("keep", "revoke")
NOTE_LENGTH = 500


class AccessReview(BaseModel):
    """Who opened a review of which subject, against which revision and policy version; finished once."""

    kind = pw.CharField(max_length=16, constraints=[_one_of("kind", SUBJECT_KINDS)])
    subject = pw.CharField(max_length=64, index=True)  # organization:N
    subject_name = pw.CharField(max_length=200)
    opened_by = pw.CharField(max_length=100)  # the review key's name
    opened_at = pw.DateTimeField(default=utcnow)
    revision = pw.IntegerField()
    store_epoch = pw.CharField(max_length=32)
    policy_version = pw.CharField(max_length=16)
    previous = pw.IntegerField(null=True)  # the last finished review of the same subject when this one opened
    finished_by = pw.CharField(max_length=100, null=True)
    finished_at = pw.DateTimeField(null=True)


class AccessReviewRow(BaseModel):
    """One access row as the page showed it at opening, and the reviewer's decision on it."""

    review = pw.ForeignKeyField(AccessReview, backref="rows", on_delete="CASCADE")
    position = pw.IntegerField()  # 1, 2, ... in the page's order: the row's number in URLs and exports
    user = pw.CharField(max_length=64)
    action = pw.CharField(max_length=64)
    resource = pw.CharField(max_length=64)
    shown = pw.TextField()  # JSON: the page's other columns (names, side, rules, why), as shown
    decision = pw.CharField(max_length=8, null=True, constraints=[_one_of("decision", DECISIONS)])
    note = pw.CharField(max_length=NOTE_LENGTH, default="")
    decided_by = pw.CharField(max_length=100, null=True)
    decided_at = pw.DateTimeField(null=True)
    event = pw.IntegerField(null=True)  # the review.revoke_requested event written at finish

    class Meta:
        indexes = ((("review", "position"), True),)


SIGNOFF_MODELS: list[type[BaseModel]] = [AccessReview, AccessReviewRow]
