"""The decision records' promise at the HTTP edge.

Durable mode: a decision route's answer leaves only once the records it made are committed (the
writer commits them with those of every other request waiting meanwhile); if they cannot be, the
answer becomes 503 `audit_unavailable` (allowed false, no decision id: none would ever be found).
Routes that write facts and record the decisions they made keep their answer (the write is
committed already); their unwritten records are counted as lost by the recorder.
"""
from __future__ import annotations

import logging

from flask import Flask, Response

from service.audit.recorder import AuditUnavailable, DecisionRecorder, get_recorder

from .errors import ApiError, error_response, is_decision_request

log = logging.getLogger("authz.api")

RETRY_AFTER_SECONDS = 1


def _recorder() -> DecisionRecorder:
    return get_recorder()  # the one decisions are recorded with (tests may replace the app's)


def unavailable(message: str):
    response, status = error_response(ApiError(503, "audit_unavailable", message, extra={"allowed": False}))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, status


def register(app: Flask) -> None:
    @app.before_request
    def _fresh_waits() -> None:
        _recorder().forget_waits()

    @app.after_request
    def _answer_once_recorded(response: Response) -> Response:
        recorder = _recorder()
        if recorder.await_recorded() or response.status_code >= 400:
            return response
        if recorder.serve_unrecorded or not is_decision_request():
            log.error("answered without its decision records (not written: %s)", recorder.last_error)
            return response
        log.warning("decision refused: its record could not be committed (%s)", recorder.last_error)
        refused, status = unavailable("the decision could not be recorded; nothing was decided")
        refused.status_code = status
        return refused

    @app.errorhandler(AuditUnavailable)
    def _audit_unavailable(exc: AuditUnavailable):
        log.warning("decision refused: %s", exc)
        return unavailable(f"{exc}; nothing was decided")
