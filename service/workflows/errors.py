"""Workflow errors: each carries the HTTP status the API answers with, a stable code and the field at fault.

The workflow layer knows nothing about Flask; service/api/workflows.py turns these
into the shared `{"error": {...}}` shape.
"""
from __future__ import annotations

from typing import Any


class WorkflowError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message, self.field, self.extra = message, field, extra


class Malformed(WorkflowError):
    """Input that is not even well formed (a reference that is not type:id): 400."""

    status, code = 400, "malformed_field"


class NotFound(WorkflowError):
    """A reference to something the store does not hold: 404."""

    status, code = 404, "not_found"


class Forbidden(WorkflowError):
    """The policy denied the step; `reasons` are the decision's reasons: 403."""

    status, code = 403, "forbidden"

    def __init__(self, message: str, reasons: list[dict[str, Any]], **extra: Any) -> None:
        super().__init__(message, None, reasons=reasons, **extra)
        self.reasons = reasons


class Conflict(WorkflowError):
    """The step does not fit the current state (already answered, ended, R11): 409."""

    status, code = 409, "conflict"


class Invalid(WorkflowError):
    """Well-formed but invalid input (a product of another organization, ...): 422."""

    status, code = 422, "invalid_field"
