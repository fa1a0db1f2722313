"""Tables of the auditor's work in the console (issue 21): the exports given out.

None of them is a fact a decision reads: writing them bumps no store revision and changes no answer.
"""
from __future__ import annotations

import peewee as pw

from .models import BaseModel, utcnow


class ExportRecord(BaseModel):
    """The manifest of one export served by the console, kept so that a CSV's manifest can be fetched after it."""

    token = pw.CharField(max_length=32, unique=True)
    manifest = pw.TextField()  # JSON, exactly as served
    exported_by = pw.CharField(max_length=100)
    created_at = pw.DateTimeField(default=utcnow)


REVIEW_MODELS: list[type[BaseModel]] = [ExportRecord]
