"""The decision records' promise at the HTTP edge.

Durable mode: a decision route's answer leaves only once the records it made are committed (the
writer commits them with those of every other request waiting meanwhile); if they cannot be, the
answer becomes 503 `audit_unavailable` (allowed false, no decision id: none would ever be found).
Routes that write facts and record the decisions they made keep their answer (the write is
committed already); their unwritten records are counted as lost by the recorder.

While records cannot be written every decision request ends here the same way, so these lines are
counted, not written one per request: the first of each kind at once, then one per interval with the
count (the recorder logs the cause, its traceback once, and its own counts).
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask, Response

from service.audit.recorder import AuditUnavailable, DecisionRecorder, get_recorder
from service.store.outage import log_interval_seconds

from .error_answers import handles
from .errors import ApiError, error_response, is_decision_request

log = logging.getLogger("authz.api")

RETRY_AFTER_SECONDS = 1


class CountedLines:
    """One log line per message and interval, with how many times it happened meanwhile."""

    def __init__(self, interval: float | None = None) -> None:
        self.interval = log_interval_seconds() if interval is None else interval
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def log(self, level: int, message: str, cause: str) -> None:
        now = time.monotonic()
        with self._lock:
            count = self._counts.get(message, 0) + 1
            last = self._last.get(message)
            if last is not None and now - last < self.interval:
                self._counts[message] = count
                return
            self._counts[message], self._last[message] = 0, now
        if last is None:
            log.log(level, "%s (%s); more are counted, one line per %.0f s", message, cause, self.interval)
        else:
            log.log(level, "%s: %d times in the last %.0f s (%s)", message, count, now - last, cause)


lines = CountedLines()  # per worker process


def _recorder() -> DecisionRecorder:
    return get_recorder()  # the one decisions are recorded with (tests may replace the app's)


def unavailable(message: str):
    response, status = error_response(ApiError(503, "audit_unavailable", message, extra={"allowed": False}))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, status


def begin_request() -> None:
    """Before a request: no batch of an earlier request on this thread is waited for."""
    _recorder().forget_waits()


def once_recorded(status: int) -> Response | None:
    """After an answer with `status`: durable mode waits for this request's records; what replaces the
    answer when they could not be committed (503 audit_unavailable), else None (the answer stands)."""
    recorder = _recorder()
    if recorder.await_recorded() or status >= 400:
        return None
    if recorder.serve_unrecorded or not is_decision_request():
        lines.log(logging.ERROR, "answered without its decision records", f"not written: {recorder.last_error}")
        return None
    lines.log(logging.WARNING, "decision refused: its record could not be committed", recorder.last_error)
    refused, status = unavailable("the decision could not be recorded; nothing was decided")
    refused.status_code = status
    return refused


def register(app: Flask) -> None:
    # the hooks' bodies are plain functions: the thin path (fast_path.py) runs the same ones
    @app.before_request
    def _fresh_waits() -> None:
        begin_request()

    @app.after_request
    def _answer_once_recorded(response: Response) -> Response:
        refused = once_recorded(response.status_code)
        return response if refused is None else refused

    @handles(app, AuditUnavailable)
    def _audit_unavailable(exc: AuditUnavailable):
        lines.log(logging.WARNING, "decision refused: its record cannot be kept", str(exc))
        return unavailable(f"{exc}; nothing was decided")
