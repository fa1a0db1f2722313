"""Route declarations: one decorator gives a route its scope, its body model and its answer model.

The same declarations validate requests and generate /openapi.json (OpenAPI 3.1,
whose schema dialect is JSON Schema 2020-12, what pydantic v2 emits), so the
spec cannot drift from what the handlers accept.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from flask import Blueprint, Flask, Response, current_app, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from service.decide.refs import MAX_ID, describe_malformed

from . import strict_input
from .auth import PUBLIC, SCOPES, WRITE, authenticate
from .errors import ApiError
from .links import add_links
from .schemas import ErrorAnswer
from .standby import refuse_writes_on_standby

# Errors every declared route may answer; routes add their own (404, 409) with `errors=`.
COMMON_ERRORS = (400, 401, 403, 413, 422, 500, 503)  # 503: the store is unavailable (errors.py)
PUBLIC_ERRORS = (500,)

# pydantic error types that mean "malformed" (wrong JSON type, missing field): 400; anything else is 422.
_MALFORMED_TYPES = {
    "missing", "model_type", "model_attributes_type", "dict_type", "list_type", "string_type", "int_type",
    "bool_type", "float_type", "int_parsing", "bool_parsing", "float_parsing", "is_instance_of",
    "string_unicode", "none_required", "int_from_float",
}


@dataclass(frozen=True)
class Operation:
    method: str
    scope: str
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    decision: bool
    errors: tuple[int, ...]
    tag: str
    content_type: str = "application/json"
    description: str = ""
    responses: tuple[tuple[int, type[BaseModel]], ...] = ()   # non-error statuses answered with another model
    query: tuple[QueryParam, ...] = ()                        # query parameters, for the OpenAPI spec


@dataclass(frozen=True)
class QueryParam:
    """A query parameter as the OpenAPI spec lists it (the handler reads and checks it)."""

    name: str
    description: str
    schema: tuple[tuple[str, Any], ...]   # JSON Schema items, e.g. (("type", "integer"), ("minimum", 1))
    required: bool = False

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "in": "query", "required": self.required, "description": self.description,
                "schema": dict(self.schema)}


def validation_error(exc: ValidationError) -> ApiError:
    """The first pydantic error as our error shape, naming the field."""
    first = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in first.get("loc", ())) or None
    status = 400 if first.get("type") in _MALFORMED_TYPES else 422
    code = "malformed_field" if status == 400 else "invalid_field"
    message = first.get("msg", "invalid value")
    if first.get("type") == "too_long" and first.get("ctx", {}).get("max_length") is not None:
        message = f"at most {first['ctx']['max_length']} items allowed ({message})"
    if first.get("type") == "string_pattern_mismatch" and isinstance(first.get("input"), str):
        message = _pattern_message(first["input"]) or message
    return ApiError(status, code, message, field=loc)


def _pattern_message(text: str) -> str | None:
    """What a pattern refused, in words, where a regex of the OpenAPI spec would say it badly."""
    unseen = strict_input.unseen_character(text)
    if unseen is not None:
        return (f"holds {unseen}: control, bidi-control and zero-width characters are not accepted "
                "(two names that differ would look alike)")
    if ":" in text or text.isascii() and text.isdigit():
        return describe_malformed(text if ":" in text else f"id:{text}")
    return None


def _request_body() -> bytes:
    return request.get_data(cache=True)  # read and bounded (413) before the route ran: service/api/body.py


def parse_json(raw: bytes, model: type[BaseModel]) -> BaseModel:
    """A body's bytes validated by `model`: 400 if malformed (strict JSON: service/api/strict_input.py),
    422 if invalid, naming the field."""
    try:
        text = raw.decode("utf-8")
        data = strict_input.loads(text)
        if b"\\u" in raw:  # only a \u escape can smuggle in a lone surrogate ("\ud800"), which
            json.dumps(data, ensure_ascii=False).encode("utf-8")  # decodes but cannot be stored or echoed
    except (ValueError, RecursionError, UnicodeError):
        raise ApiError(400, "malformed_json", "the body must be a JSON object (UTF-8)") from None
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json", "the body must be a JSON object")
    strict_input.refuse_control_characters(text, data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def answer(op: Operation, handler: Callable, authorization: str, body: Callable[[], bytes],
           kwargs: dict[str, Any]) -> Any:
    """What a declared route answers, not yet rendered: the key checked (401/403, before the body is
    parsed), a write refused on a standby, the body validated, the handler called. Flask's view and the
    thin path (fast_path.py) both serve routes with this; `body` reads the request's bytes."""
    if op.scope != PUBLIC:
        authenticate(op.scope, authorization)
    if op.scope == WRITE:
        refuse_writes_on_standby(op.method)  # 503 read_only_standby: nothing attempted on a standby
    if op.body is not None:
        kwargs["body"] = parse_json(body(), op.body)
    return handler(**kwargs)


def rendered(result: Any, op: Operation) -> Response | tuple[bytes, int]:
    """A handler's result as an answer: a Response, or the JSON bytes of a model and the status (which
    the thin path writes without building a Response; _render wraps them in one)."""
    status = op.status
    if isinstance(result, tuple):
        result, status = result
    if isinstance(result, Response):
        return result
    if op.response is not None and not isinstance(result, op.response):
        result = op.response.model_validate(result)
    if isinstance(result, BaseModel):
        # pydantic's own serializer writes the JSON (compact, fields in declaration order) in one call
        return result.__pydantic_serializer__.to_json(result) + b"\n", status
    return json_response(result, status)


def _render(result: Any, op: Operation) -> Response:
    out = rendered(result, op)
    return out if isinstance(out, Response) else Response(out[0], status=out[1], mimetype=JSON)


JSON = "application/json"


def json_response(payload: Any, status: int = 200) -> Response:
    """What flask.jsonify answers outside debug mode (compact, sorted keys), without its per-call overhead."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=current_app.json.default)  # type: ignore[attr-defined]
    return Response(text + "\n", status=status, mimetype=JSON)


# "a" before a word that starts with a vowel sound reads "an": summaries built as f"Create a {label}"
# say "Create an assignment", "Read an invoice", but "Create a user" (a "u" sounded "you": us-, uni-, unu-)
_A_BEFORE_VOWEL = re.compile(r"\b(a) (?=[aeio]|u(?!s|ni|nu))", re.IGNORECASE)


def english_articles(text: str) -> str:
    """`text` with "a" written "an" before a vowel sound (the /docs page and /openapi.json show summaries)."""
    return _A_BEFORE_VOWEL.sub(lambda match: match.group(1) + "n ", text)


def route(bp: Blueprint, rule: str, method: str = "POST", *, scope: str, summary: str,
          body: type[BaseModel] | None = None, response: type[BaseModel] | None = None,
          status: int = 200, decision: bool = False, errors: tuple[int, ...] = (),
          content_type: str = "application/json", description: str = "",
          responses: dict[int, type[BaseModel]] | None = None, query: tuple[QueryParam, ...] = ()) -> Callable:
    """Declare a route. The handler receives `body=` (the validated model) when `body` is given,
    plus the URL's path arguments, and returns a model, a dict, a (value, status) pair or a Response."""
    if scope not in (*SCOPES, PUBLIC):
        raise ValueError(f"unknown scope {scope!r}")
    base = PUBLIC_ERRORS if scope == PUBLIC else COMMON_ERRORS
    op = Operation(method.upper(), scope, english_articles(summary), body, response, status, decision,
                   tuple(sorted(set(base) | set(errors))), bp.name, content_type, description,
                   tuple(sorted((responses or {}).items())), tuple(query))

    def decorator(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def view(**kwargs: Any) -> Response:
            return _render(answer(op, fn, request.headers.get("Authorization", ""), _request_body, kwargs), op)

        view.authz_scope = scope          # type: ignore[attr-defined]  (the URL-map test reads this)
        view.authz_operation = op         # type: ignore[attr-defined]
        view.authz_handler = fn           # type: ignore[attr-defined]  (the thin path calls it: fast_path.py)
        bp.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[op.method])
        return view

    return decorator


# -- OpenAPI ---------------------------------------------------------------------------------

_PARAM = re.compile(r"<(?:(?P<conv>[a-z_]+)(?:\([^)]*\))?:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>")
MAX_PATH_ID = MAX_ID  # the store's bound on both backends, as the <int:> converter matches
NO_CONTROL_CHARACTERS = r"^[^\u0000-\u001f\u007f-\u009f]*$"  # a path holding one is 400 (strict_input)


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """A Flask rule as an OpenAPI path and its path parameters."""
    params: list[dict[str, Any]] = []

    def replace(match: re.Match) -> str:
        conv, name = match.group("conv") or "string", match.group("name")
        schema: dict[str, Any] = ({"type": "integer", "minimum": 1, "maximum": MAX_PATH_ID}
                                  if conv == "int" else {"type": "string", "maxLength": 128,
                                                         "pattern": NO_CONTROL_CHARACTERS})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _PARAM.sub(replace, rule), params


def operations(app: Flask) -> list[tuple[str, Operation, str]]:
    """(rule, operation, endpoint) for every declared route of the app."""
    found = []
    for rule in app.url_map.iter_rules():
        op = getattr(app.view_functions.get(rule.endpoint), "authz_operation", None)
        if op is not None:
            found.append((rule.rule, op, rule.endpoint))
    return sorted(found, key=lambda item: (item[0], item[1].method))


def openapi_spec(app: Flask, *, title: str, version: str) -> dict[str, Any]:
    ops = operations(app)
    models: dict[tuple[type[BaseModel], str], None] = {(ErrorAnswer, "serialization"): None}
    for _, op, _ in ops:
        if op.body is not None:
            models[(op.body, "validation")] = None
        if op.response is not None:
            models[(op.response, "serialization")] = None
        for _, model in op.responses:
            models[(model, "serialization")] = None
    keys, defs = models_json_schema(list(models), ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})
    error_ref = keys[(ErrorAnswer, "serialization")]
    paths: dict[str, dict[str, Any]] = {}
    for rule, op, endpoint in ops:
        path, params = openapi_path(rule)
        operation: dict[str, Any] = {
            "operationId": endpoint.replace(".", "_"),
            "summary": op.summary,
            "tags": [op.tag],
            "x-scope": op.scope,
            "responses": {},
        }
        if op.description:
            operation["description"] = op.description
        params += [param.spec() for param in op.query]
        if params:
            operation["parameters"] = params
        if op.scope != PUBLIC:
            operation["security"] = [{"bearer": []}]
        if op.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": keys[(op.body, "validation")]}}}
        ok: dict[str, Any] = {"description": "success"}
        if op.response is not None:
            ok["content"] = {op.content_type: {"schema": keys[(op.response, "serialization")]}}
        elif op.content_type != "application/json":
            ok["content"] = {op.content_type: {"schema": {"type": "string"}}}
        operation["responses"][str(op.status)] = ok
        for status in op.errors:
            operation["responses"][str(status)] = {
                "description": _ERROR_DESCRIPTIONS.get(status, "error"),
                "content": {"application/json": {"schema": error_ref}}}
        for status, model in op.responses:
            operation["responses"][str(status)] = {
                "description": _ERROR_DESCRIPTIONS.get(status, "answer"),
                "content": {"application/json": {"schema": keys[(model, "serialization")]}}}
        paths.setdefault(path, {})[op.method.lower()] = operation
    add_links(paths, schemas)  # which answer feeds which operation, for stateful clients
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Policy-as-code authorization for the partner program. "
                                "Errors: {\"error\": {code, message, field?}}; decision calls add allowed: false."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "an API key from `authz keys create`"}},
        },
    }


_ERROR_DESCRIPTIONS = {
    400: "malformed request (not JSON, wrong types, missing fields)",
    401: "missing, unknown or revoked API key",
    403: "the API key lacks this operation's scope",
    404: "unknown reference",
    409: "state conflict (duplicate, stale revision, last legal representative)",
    413: "body larger than 64 KiB",
    422: "well-formed but invalid request",
    500: "internal error; nothing allowed, nothing changed",
    503: "not ready, the store is unavailable, or no policy version is in force (`policy_unavailable`)",
}
