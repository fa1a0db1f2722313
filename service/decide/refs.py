"""Resource references: `type:id` strings such as `user:17` or `organization:4`."""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REF_LENGTH = 128
_REF = re.compile(r"^([a-z_]+):(0|[1-9][0-9]{0,17})$")  # canonical ids only: no `user:0001`

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
        raise RefError("must be of the form type:id, e.g. organization:4")
    kind, ident = match.group(1), int(match.group(2))
    if kind not in RESOURCE_TYPES:
        raise RefError(f"unknown type {kind!r}; one of {', '.join(RESOURCE_TYPES)}")
    return Ref(kind, ident)
