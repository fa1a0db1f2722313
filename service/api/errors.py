"""One JSON error shape for every failure: {"error": {"code", "message", "field"?}}.

Error answers to decision calls (check, batch, actions, list, subjects) also carry
`"allowed": false`, whatever went wrong (auth, validation, limits, internal
errors), so a careless caller that only reads `allowed` still fails closed.
No answer ever carries a stack trace.

A store outage (service/store/outage.py: PostgreSQL unreachable, a SQLite disk full or
read-only, the file gone) is 503 `store_unavailable` with Retry-After on every route, logged
at the outage log's rate (the traceback once per kind, then one line per interval with a count).
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from service.review import error_pages as console_error_pages
from service.store.file_identity import StoreUnavailable
from service.store.outage import RETRY_AFTER_SECONDS, OutageLog, outage_kind

from .error_answers import handles

log = logging.getLogger("authz.api")
outages = OutageLog(log)  # per worker process


class ApiError(Exception):
    """An error answer: HTTP status, a stable code, a message and, where it applies, the field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error, **self.extra}


def is_decision_request() -> bool:
    """Whether the current request is routed to a decision endpoint (declared with decision=True).
    The thin path (fast_path.py) knows it before anything runs and says so in `g.decision_request`."""
    known = g.get("decision_request")
    if known is not None:
        return known
    from flask import current_app
    def decision(endpoint: str) -> bool:
        operation = getattr(current_app.view_functions.get(endpoint), "authz_operation", None)
        return bool(operation is not None and operation.decision)

    if request.url_rule is not None:
        return decision(request.url_rule.endpoint)
    # no rule matched (e.g. 405): decision routes have no path arguments, so compare paths
    path = request.path.rstrip("/") or "/"
    return any(rule.rule == path and decision(rule.endpoint) for rule in current_app.url_map.iter_rules())


def error_response(err: ApiError):
    body = err.body()
    if is_decision_request():
        body["allowed"] = False
    from .metrics import count_error
    count_error(err.status, err.code)
    return jsonify(body), err.status


def register_error_handlers(app: Flask) -> None:
    @handles(app, ApiError)
    def _api_error(err: ApiError):
        return error_response(err)

    @handles(app, HTTPException)
    def _http_error(exc: HTTPException):
        if console_error_pages.under_console(request.path):  # no route under /review matched: its own pages
            return console_error_pages.http_error(exc)
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
        if status == 413:
            return error_response(ApiError(413, "body_too_large",
                                           f"the request body exceeds {app.config['MAX_CONTENT_LENGTH']} bytes"))
        if status == 400:
            return error_response(ApiError(400, "malformed_request", "the request could not be parsed"))
        response = error_response(ApiError(status, code, exc.description or exc.name))
        allowed_methods = getattr(exc, "valid_methods", None)
        if status == 405 and allowed_methods:  # RFC 9110: a 405 names the methods the resource takes
            response[0].headers["Allow"] = ", ".join(sorted(allowed_methods))
        return response

    @handles(app, Exception)
    def _unexpected(exc: Exception):
        kind = outage_kind(exc)
        if kind is not None:  # StoreUnavailable, or a driver error that says the store cannot be used now
            return store_unavailable(exc, kind)
        log.exception("unhandled error (answered 500, nothing allowed)")
        return error_response(ApiError(500, "internal_error", "internal error; the request changed nothing",
                                       extra={"allowed": False} if is_decision_request() else None))

    @app.after_request
    def _recovered(response: Response) -> Response:
        note_recovery(response.status_code)
        return response


def note_recovery(status: int) -> None:
    """After an answer: a request that read the store's stamp reached the store, so an outage logged
    before is over (run by the app's after_request hook and by the thin path)."""
    if outages.failing and g.get("store_stamp") is not None and status < 500:
        outages.recovered()


def store_unavailable(exc: BaseException, kind: str):
    """503 store_unavailable with Retry-After (allowed: false on decision calls), logged at the outage log's rate."""
    outages.failed(kind, exc, "503")
    message = str(exc) if isinstance(exc, StoreUnavailable) else (
        f"the store is unavailable ({public_reason(kind)}); nothing was written, nothing decided; "
        f"retry after {RETRY_AFTER_SECONDS} s")
    response, status = error_response(ApiError(503, "store_unavailable", message))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, status


def public_reason(kind: str) -> str:
    """What an answer says of an outage: SQLite's own words ("database or disk is full"), but not a
    PostgreSQL server's address or its messages (only the log has those)."""
    return kind if kind.startswith("sqlite") else kind.split(":", 1)[0]
