"""Input in its one canonical form: what a proxy, a log reader and this service see is the same.

- A JSON body with a key given twice is refused (400 naming the key): one reader would take the
  first value, another the last, and a proxy could be shown another question than the one answered.
- An integral number written as a float (`3.0`) is the integer it denotes, as JSON Schema says
  (`"type": "integer"` admits 3.0); `NaN` and `Infinity` are not JSON and are refused.
- Path and query ids are ASCII digits without leading zeros: `/organizations/1`, never
  `/organizations/0001` or a fullwidth `１` (which `int()` and `str.isdigit` accept).
"""
from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.routing import IntegerConverter

from .errors import ApiError

# a whole number in canonical form, at most 18 digits (always within a 64-bit id)
CANONICAL_INTEGER = re.compile(r"^(?:0|[1-9][0-9]{0,17})$")


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def loads(text: str) -> Any:
    """json.loads that refuses duplicate keys (400 naming the key) and NaN/Infinity."""
    try:
        return json.loads(text, object_pairs_hook=_object_without_duplicates, parse_float=_number,
                          parse_constant=_not_json)
    except DuplicateKey as exc:
        raise ApiError(400, "duplicate_key", f"the key {exc.key!r} appears more than once in one object",
                       field=exc.key) from None


class CanonicalIntConverter(IntegerConverter):
    """`<int:...>` path segments: ASCII digits, no leading zero (anything else is no route: 404)."""

    regex = r"(?:0|[1-9][0-9]{0,17})"


def query_integer(args: Any, name: str, default: int, *, low: int, high: int) -> int:
    """A whole-number query parameter in canonical form within [low, high]; 400 naming it otherwise."""
    raw = args.get(name)
    if raw is None:
        return default
    if not CANONICAL_INTEGER.match(raw) or not low <= int(raw) <= high:
        raise ApiError(400, "malformed_field", f"{name} must be a whole number from {low} to {high} "
                       "(ASCII digits, no sign, no leading zero)", field=name)
    return int(raw)
