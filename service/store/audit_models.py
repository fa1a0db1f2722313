"""Tables of the audit: when each revision was written (and under which policy), the policy texts
by version, and every decision served. Kept apart from models.py (issue 11)."""
from __future__ import annotations

import peewee as pw

from .models import BaseModel, utcnow


class RevisionMoment(BaseModel):
    """When a store revision was written and the policy version in force then."""

    revision = pw.BigIntegerField(primary_key=True)
    at = pw.DateTimeField(index=True)
    policy_version = pw.CharField(max_length=64)


class PolicySnapshot(BaseModel):
    """The policy file texts of one version (name -> text as JSON), so past decisions can be re-made."""

    version = pw.CharField(max_length=64, primary_key=True)
    files = pw.TextField()
    first_seen = pw.DateTimeField(default=utcnow)


class DecisionRecord(BaseModel):
    """One decision served, as the caller was answered; `detail` holds what replay needs besides."""

    decision_id = pw.CharField(max_length=36, primary_key=True)
    decided_at = pw.DateTimeField(index=True)
    moment = pw.DateTimeField()  # the time the facts were read as of: decided_at, or a past `at`
    key_id = pw.IntegerField(null=True)
    endpoint = pw.CharField(max_length=32)
    actor = pw.TextField(null=True)
    action = pw.TextField(null=True)
    resource = pw.TextField(null=True)
    allowed = pw.BooleanField()
    reasons = pw.TextField()
    policy_version = pw.CharField(max_length=64)
    revision = pw.BigIntegerField()
    detail = pw.TextField()

    class Meta:
        table_name = "decision"


AUDIT_MODELS: list[type[BaseModel]] = [RevisionMoment, PolicySnapshot, DecisionRecord]
