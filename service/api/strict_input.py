"""Input in its one canonical form: what a proxy, a log reader and this service see is the same.

- A JSON body with a key given twice is refused (400 naming the key): one reader would take the
  first value, another the last, and a proxy could be shown another question than the one answered.
- An integral number written as a float (`3.0`) is the integer it denotes, as JSON Schema says
  (`"type": "integer"` admits 3.0); `NaN` and `Infinity` are not JSON and are refused.
- Path and query ids are ASCII digits without leading zeros: `/organizations/1`, never
  `/organizations/0001` or a fullwidth `１` (which `int()` and `str.isdigit` accept), and at most
  2**31 - 1, the store's bound on both backends (service/decide/refs.py).
- No control character (C0, DEL, C1) in any JSON string or key, query parameter or path; no
  bidi control or zero-width character in names (schemas.UNSEEN): 422/400 naming where.
- A query parameter is given once: `?acting_user=user:20&acting_user=user:1` is 400 naming it
  (readers disagree on which of two values counts, as with duplicate JSON keys).
"""
from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.routing import IntegerConverter

from service.decide.refs import ID_PATTERN

from .errors import ApiError
from .schemas import UNSEEN

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
    """`<int:...>` path segments: ASCII digits, no leading zero, at most the store's 2**31 - 1
    (anything else is no route: 404, as an id that names nothing)."""

    regex = ID_PATTERN


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSEEN = re.compile("[" + UNSEEN + "]")
# a decoded JSON text can hold a control character only escaped (\u0000) or as a raw C1 character
_MAY_HOLD_CONTROL = re.compile(r"\\u00|[\x7f-\x9f]")


def unseen_character(text: str) -> str | None:
    """The first character of `text` a name may not hold, as U+XXXX; None if there is none."""
    found = _UNSEEN.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def _control_in(value: Any, path: str) -> str | None:
    """The path (dotted, as errors name fields) of the first string or key holding a control character."""
    if isinstance(value, str):
        return path if _CONTROL.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and _CONTROL.search(key):
            return where
        found = _control_in(item, where)
        if found is not None:
            return found
    return None


def refuse_control_characters(text: str, data: Any) -> None:
    """422 naming the field if a JSON string or key holds a control character (NUL, ESC, C1...)."""
    if not _MAY_HOLD_CONTROL.search(text):
        return  # the common case costs one scan of the text
    where = _control_in(data, "")
    if where is not None:
        raise ApiError(422, "control_character", "control characters (U+0000-U+001F, U+007F-U+009F) are "
                       "not accepted in any string", field=where)


def check_query_and_path(args: Any, path: str) -> None:
    """400 naming the parameter given twice or holding a control character; 400 for such a path."""
    if _CONTROL.search(path):
        raise ApiError(400, "malformed_path", "the path holds a control character")
    for name in args:
        values = args.getlist(name)
        if len(values) > 1:
            raise ApiError(400, "repeated_parameter", f"the query parameter {name!r} is given "
                           f"{len(values)} times; give it once", field=name)
        if _CONTROL.search(name) or _CONTROL.search(values[0]):
            raise ApiError(400, "control_character", "control characters are not accepted in query "
                           "parameters", field=name)


def query_integer(args: Any, name: str, default: int, *, low: int, high: int) -> int:
    """A whole-number query parameter in canonical form within [low, high]; 400 naming it otherwise."""
    raw = args.get(name)
    if raw is None:
        return default
    if not CANONICAL_INTEGER.match(raw) or not low <= int(raw) <= high:
        raise ApiError(400, "malformed_field", f"{name} must be a whole number from {low} to {high} "
                       "(ASCII digits, no sign, no leading zero)", field=name)
    return int(raw)


def init_app(app: Any) -> None:
    """Every request's path and query in canonical form before any route (API or console) reads them."""
    from flask import request

    from werkzeug.exceptions import BadRequest

    @app.before_request
    def _canonical_query_and_path() -> None:
        try:
            check_query_and_path(request.args, request.path)
        except ApiError as err:
            if request.blueprint == "review":  # the console answers HTML: its handlers draw a 400 page
                raise BadRequest(f"{err.message} ({err.field})" if err.field else err.message) from None
            raise
