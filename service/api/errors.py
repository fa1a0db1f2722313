"""One JSON error shape for every failure: {"error": {"code", "message", "field"?}}.

Error answers to decision calls (check, batch, actions, list, subjects) also carry
`"allowed": false`, whatever went wrong (auth, validation, limits, internal
errors), so a careless caller that only reads `allowed` still fails closed.
No answer ever carries a stack trace.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from service.store.file_identity import StoreUnavailable

log = logging.getLogger("authz.api")


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
    """Whether the current request is routed to a decision endpoint (declared with decision=True)."""
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
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
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

    @app.errorhandler(StoreUnavailable)
    def _store_unavailable(exc: StoreUnavailable):
        log.error("store unavailable (answered 503, nothing written): %s", exc)
        return error_response(ApiError(503, "store_unavailable", str(exc)))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error (answered 500, nothing allowed)")
        return error_response(ApiError(500, "internal_error", "internal error; the request changed nothing",
                                       extra={"allowed": False} if is_decision_request() else None))
