"""Shared request/response building blocks (pydantic v2). The OpenAPI spec is generated from these.

Every request model is strict (no "1" for 1, no 1 for true) and forbids unknown
fields, so a misspelled field name is an error rather than a silently ignored one.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_ID_LENGTH = 128
# An id in its one canonical form: ASCII digits, no leading zero (`user:1`, never `user:0001`).
CANONICAL_ID = r"(?:0|[1-9][0-9]{0,17})"

# `type:id`, at most 128 characters; the pattern excludes control characters by construction.
Ref = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH, pattern=r"^[a-z_]{1,32}:" + CANONICAL_ID + "$"),
                Field(examples=["user:1", "organization:4"])]
UserRef = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH, pattern=r"^user:" + CANONICAL_ID + "$"),
                    Field(examples=["user:1"])]
OrgRef = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH, pattern=r"^organization:" + CANONICAL_ID + "$"),
                   Field(examples=["organization:1"])]
ProductRef = Annotated[str, StringConstraints(max_length=MAX_ID_LENGTH, pattern=r"^product:" + CANONICAL_ID + "$"),
                       Field(examples=["product:1"])]
# An action name: lower-case words joined by underscores (unknown actions are denied, not rejected).
Action = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z_]{1,64}$"),
                   Field(examples=["access_account"])]
ResourceType = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z_]{1,32}$"),
                         Field(examples=["organization"])]
# Free text (names): no control characters (C0, DEL, C1).
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254,
                                         pattern=r"^[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$")]


class Request(BaseModel):
    """Base of every request body."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Answer(BaseModel):
    """Base of every response body."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Answer):
    code: str
    message: str
    field: str | None = None


class ErrorAnswer(BaseModel):
    """The one error shape. Decision calls add `allowed: false` (and may add `decision_id`)."""

    model_config = ConfigDict(extra="allow")
    error: ErrorDetail
    allowed: Literal[False] | None = Field(default=None, description="present, and false, on decision calls")


Reason = dict[str, Any]
