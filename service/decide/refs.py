"""Resource references: `type:id` strings such as `user:17` or `organization:4`."""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REF_LENGTH = 128
# The store's ids are 32-bit on both backends (PostgreSQL `integer`; SQLite is held to the same):
# an id past MAX_ID names nothing that can exist, and asking PostgreSQL about it is an error.
MAX_ID = 2**31 - 1


def _at_most(bound: str) -> str:
    """A regex for the canonical decimal numbers 0..int(bound): no sign, no leading zero."""
    shorter = f"[1-9][0-9]{{0,{len(bound) - 2}}}" if len(bound) > 1 else None
    same_length = []
    for at, digit in enumerate(bound):  # same length: equal up to `at`, smaller digit there, anything after
        low = "1" if at == 0 else "0"
        if digit > low:
            smaller = low if int(digit) - 1 == int(low) else f"[{low}-{int(digit) - 1}]"
            rest = len(bound) - at - 1
            tail = "" if rest == 0 else "[0-9]" if rest == 1 else f"[0-9]{{{rest}}}"
            same_length.append(f"{bound[:at]}{smaller}{tail}")
    same_length.append(bound)
    return "(?:" + "|".join(["0"] + ([shorter] if shorter else []) + same_length) + ")"


# An id in its one canonical form (ASCII digits, no leading zero: `user:1`, never `user:0001`),
# at most MAX_ID. The API's schemas, path converter and OpenAPI spec use this very pattern.
ID_PATTERN = _at_most(str(MAX_ID))
_REF = re.compile(r"^([a-z_]+):(" + ID_PATTERN + ")$")
_LOOKS_LIKE_REF = re.compile(r"^[a-z_]+:[1-9][0-9]*$")

RESOURCE_TYPES = ("user", "organization", "product", "invitation", "partnership", "invoice")


class RefError(ValueError):
    """A reference that is not `type:id` with a known type and a numeric id."""


@dataclass(frozen=True, slots=True)
class Ref:
    type: str
    id: int

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


# References parsed before, by their text: a decision parses two, and the same actors and resources
# come back. Bounded: emptied when full (refilled by the next requests).
_PARSED: dict[str, Ref] = {}
_PARSED_SIZE = 20_000


def parse_ref(text: object, *, expected: str | None = None) -> Ref:
    ref = _PARSED.get(text) if type(text) is str else None  # type: ignore[call-overload]
    if ref is None:
        ref = _parse(text)
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.clear()
        _PARSED[text] = ref  # type: ignore[index]
    if expected is not None and ref.type != expected:
        raise RefError(f"must name a {expected} ({expected}:id)")
    return ref


def _parse(text: object) -> Ref:
    if not isinstance(text, str):
        raise RefError("must be a string of the form type:id")
    if len(text) > MAX_REF_LENGTH:
        raise RefError(f"must be at most {MAX_REF_LENGTH} characters")
    match = _REF.match(text)
    if not match:
        raise RefError(describe_malformed(text))
    kind, ident = match.group(1), int(match.group(2))
    if kind not in RESOURCE_TYPES:
        raise RefError(f"unknown type {kind!r}; one of {', '.join(RESOURCE_TYPES)}")
    return Ref(kind, ident)


def describe_malformed(text: str) -> str:
    """Why `text` is not a reference, in words (the API's 422 and the CLI's error say this)."""
    if _LOOKS_LIKE_REF.match(text):
        return f"the id must be at most {MAX_ID} (ids are 32-bit in the store)"
    return "must be of the form type:id, e.g. organization:4 (id in ASCII digits, no leading zero)"
