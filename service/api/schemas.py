"""Shared request/response building blocks (pydantic v2). The OpenAPI spec is generated from these.

Every request model is strict (no "1" for 1, no 1 for true) and forbids unknown
fields, so a misspelled field name is an error rather than a silently ignored one.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.decide.refs import ID_PATTERN

MAX_ID_LENGTH = 128
# An id in its one canonical form: ASCII digits, no leading zero (`user:1`, never `user:0001`), and at
# most MAX_ID (2**31 - 1): the store's ids are 32-bit on both backends, so a larger one is a caller's
# bug, refused with 422 naming the field rather than denied (docs/api.md, "References").
CANONICAL_ID = ID_PATTERN

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
# Characters no name may hold: control characters (C0, DEL, C1), and those that make two names that
# differ look alike in the console: bidi controls (U+061C, U+200E/F, U+202A-E, U+2066-9) and the
# invisible ones (soft hyphen, combining grapheme joiner, Mongolian vowel separator, zero-width
# space/non-joiner/joiner, word joiner and invisible operators U+2060-F, byte order mark U+FEFF).
UNSEEN = r"\x00-\x1f\x7f-\x9f\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
# Free text (names).
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^" + UNSEEN + "]+$")]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254,
                                         pattern=r"^[^\s@" + UNSEEN + r"]+@[^\s@" + UNSEEN + r"]+$")]


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
