"""What `authz serve` checks before it starts gunicorn: every setting that would make requests fail later.

A setting that only fails once requests arrive (a review secret too short: every /review page a
500; WORKERS=0: a port that listens and never answers; a decision log path that cannot be opened:
"Worker failed to boot" after 150 lines; a store that is not there: created empty, or 500s) is
refused here instead, with one line naming the setting, and `authz serve` exits 2 (errors.py).

Each check returns None or the line to print; they run cheapest first, the store last.
"""
from __future__ import annotations

import math
import os
from typing import Callable
from urllib.parse import urlparse

from service.api.deadline import (DEFAULT_REQUEST_DEADLINE_SECONDS, DEFAULT_WORKER_TIMEOUT_SECONDS,
                                  check_settings)
from service.decision_log import DecisionLog, DecisionLogError
from service.review.session import MIN_SECRET_LENGTH
from service.store import open_database, schema_is_current
from service.store.db import database_url, sqlite_path

MAX_PORT = 65535

# Integer settings read when a worker boots or a request runs (their readers call int()/float()),
# with the smallest value that works.
WHOLE_NUMBER_SETTINGS = {
    "AUTHZ_THREADS": 1,
    "AUTHZ_WORKER_TIMEOUT_SECONDS": 1,
    "POLAR_TIMEOUT_MS": 1,
    "AUTHZ_STATEMENT_TIMEOUT_MS": 1,
    "AUTHZ_DECISION_CACHE_SIZE": 0,
    "AUTHZ_PATTERN_MEMO_SIZE": 0,
    "AUTHZ_DECISION_LOG_MAX_BYTES": 0,
    "AUTHZ_DECISION_LOG_BACKUPS": 1,
}
NUMBER_SETTINGS = {  # may have a fraction; above the bound
    "AUTHZ_REQUEST_DEADLINE_SECONDS": 0.0,
    "AUTHZ_DECISION_RETENTION_DAYS": -math.inf,  # 0 or less: records kept for ever
    "AUTHZ_INVITATION_TTL_DAYS": 0.0,
    "AUTHZ_OUTAGE_LOG_SECONDS": 0.0,
}


def whole_number(name: str, text: str, minimum: int) -> str | None:
    """None if `text` is a whole number of at least `minimum`, else the line naming `name`."""
    try:
        value = int(text.strip())
    except ValueError:
        return f"{name}={text!r} is not a whole number"
    if value < minimum:
        return f"{name}={value} must be at least {minimum}"
    return None


def _number(name: str, text: str, above: float) -> str | None:
    try:
        value = float(text.strip())
    except ValueError:
        return f"{name}={text!r} is not a number"
    if not math.isfinite(value) or value <= above:
        return f"{name}={text.strip()} must be a finite number" + (f" above {above:g}" if math.isfinite(above) else "")
    return None


def check_numbers() -> str | None:
    for name, minimum in WHOLE_NUMBER_SETTINGS.items():
        text = os.environ.get(name, "")
        if text.strip() and (problem := whole_number(name, text, minimum)):
            return problem
    for name, above in NUMBER_SETTINGS.items():
        text = os.environ.get(name, "")
        if text.strip() and (problem := _number(name, text, above)):
            return problem
    return None


def check_timeouts() -> str | None:
    """The deadline plus the Polar timeout below the worker timeout (deadline.py), once each parses."""
    deadline = float(os.environ.get("AUTHZ_REQUEST_DEADLINE_SECONDS") or DEFAULT_REQUEST_DEADLINE_SECONDS)
    worker_timeout = int(os.environ.get("AUTHZ_WORKER_TIMEOUT_SECONDS") or DEFAULT_WORKER_TIMEOUT_SECONDS)
    try:
        check_settings(deadline, worker_timeout)
    except ValueError as exc:
        return str(exc)
    return None


def check_review_secret() -> str | None:
    secret = os.environ.get("AUTHZ_REVIEW_SECRET", "")
    if secret and len(secret) < MIN_SECRET_LENGTH:
        return (f"AUTHZ_REVIEW_SECRET is {len(secret)} characters, at least {MIN_SECRET_LENGTH} needed "
                "(or unset it: the store keeps a generated one)")
    return None


def check_decision_log() -> str | None:
    """AUTHZ_DECISION_LOG opened as a worker opens it (append, created if missing), then closed."""
    try:
        DecisionLog.from_setting().close()
    except DecisionLogError as exc:
        return str(exc)
    except OSError as exc:
        return f"AUTHZ_DECISION_LOG={os.environ.get('AUTHZ_DECISION_LOG', '')!r} cannot be opened: {exc.strerror}"
    return None


def shown_url(url: str) -> str:
    """The store URL without its password (the line goes to a terminal or a log)."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")).geturl()


def check_store(url: str | None = None) -> str | None:
    """The store at DATABASE_URL exists (a SQLite file is never created here), answers, and has
    the current schema. Closed again afterwards: gunicorn's workers open their own."""
    url = url or database_url()
    scheme = urlparse(url).scheme
    if scheme not in ("sqlite", "postgres", "postgresql"):
        return f"DATABASE_URL={shown_url(url)!r}: unsupported scheme {scheme!r} (use sqlite:/// or postgresql://)"
    path = sqlite_path(url)
    if path is not None and (path == ":memory:" or not os.path.isfile(path)):
        what = "an in-memory SQLite store is empty in every worker" if path == ":memory:" else f"no store file at {path}"
        return f"DATABASE_URL: {what} (create it with `authz init-db`; `authz serve` creates no store)"
    try:
        db = open_database(url, must_exist=True)
        try:
            db.execute_sql("SELECT 1")
            current = schema_is_current()
        finally:
            db.close()
    except Exception as exc:  # the driver's own errors (connection refused, no such database), a file gone since
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"DATABASE_URL={shown_url(url)}: the store cannot be reached: {first}"
    if not current:
        return f"DATABASE_URL={shown_url(url)}: the store's schema is missing or older than this code (run `authz init-db`)"
    return None


CHECKS: tuple[Callable[[], str | None], ...] = (
    check_numbers, check_timeouts, check_review_secret, check_decision_log, check_store)


def first_problem(workers: str, port: str) -> str | None:
    """The first setting `authz serve` must refuse, as the line to print; None when all hold."""
    problem = (whole_number("WORKERS (--workers)", workers, 1) or whole_number("PORT (--port)", port, 1)
               or (f"PORT (--port)={port.strip()} must be at most {MAX_PORT}" if int(port) > MAX_PORT else None))
    if problem:
        return problem
    for check in CHECKS:
        if problem := check():
            return problem
    return None

