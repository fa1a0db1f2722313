"""Every request has a deadline, below gunicorn's worker timeout.

A worker silent for longer than the worker timeout is killed and its caller gets no decision at
all. So a request that is running late stops deciding at its deadline and denies the rest of a
batch (or of an action list) with a reason saying so, answering in time instead of being killed.
A single decision is bounded by the Polar timeout (about 1 s) and PostgreSQL's statement_timeout.

Settings: AUTHZ_REQUEST_DEADLINE_SECONDS (default 20) plus twice POLAR_TIMEOUT_MS (1 s: the query
running at the deadline still ends, and a list's query out of time is asked once more: Engine.reasons)
below AUTHZ_WORKER_TIMEOUT_SECONDS (default 30).
"""
from __future__ import annotations

import os
import time

from flask import Flask, current_app, g

from service.decide.engine import POLAR_TIMEOUT_MS

DEFAULT_REQUEST_DEADLINE_SECONDS = 20.0
DEFAULT_WORKER_TIMEOUT_SECONDS = 30


def request_deadline_seconds() -> float:
    return float(os.environ.get("AUTHZ_REQUEST_DEADLINE_SECONDS") or DEFAULT_REQUEST_DEADLINE_SECONDS)


def worker_timeout_seconds() -> int:
    return int(os.environ.get("AUTHZ_WORKER_TIMEOUT_SECONDS") or DEFAULT_WORKER_TIMEOUT_SECONDS)


def polar_timeout_seconds() -> float:
    return int(os.environ.get("POLAR_TIMEOUT_MS") or POLAR_TIMEOUT_MS) / 1000


def check_settings(deadline: float, worker_timeout: int) -> None:
    """Refuse to start with a deadline that the worker timeout would cut short: the query running at
    the deadline may take two Polar timeouts to finish (a list's query out of time is asked again)."""
    if not 0 <= deadline + 2 * polar_timeout_seconds() < worker_timeout:
        raise ValueError(f"AUTHZ_REQUEST_DEADLINE_SECONDS ({deadline:g}) plus twice POLAR_TIMEOUT_MS "
                         f"(2 × {polar_timeout_seconds():g} s) must be below the gunicorn worker timeout "
                         f"AUTHZ_WORKER_TIMEOUT_SECONDS ({worker_timeout})")


def init_app(app: Flask) -> None:
    """Start each request's clock (setting REQUEST_DEADLINE_SECONDS, default from the environment)."""
    app.config.setdefault("REQUEST_DEADLINE_SECONDS", request_deadline_seconds())

    @app.before_request
    def _start_clock() -> None:
        start_clock()


def start_clock() -> None:
    """Start the current request's clock (the app's before_request hook, and the thin path)."""
    g.deadline = time.monotonic() + float(current_app.config["REQUEST_DEADLINE_SECONDS"])


def current_deadline() -> float | None:
    """The current request's deadline (a time.monotonic() value); None outside a request."""
    return g.get("deadline")


def past_deadline() -> bool:
    deadline = current_deadline()
    return deadline is not None and time.monotonic() >= deadline
