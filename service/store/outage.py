"""Telling a store outage from a bug, and logging outages at a readable rate.

An outage is a store that cannot take the request right now: PostgreSQL stopped or unreachable
(the connection refused, reset or closed under a statement), a SQLite disk full, read-only or
failing, the store file gone or replaced (StoreUnavailable). Such a request answers 503
`store_unavailable` with Retry-After (service/api/errors.py), never 500: nothing is wrong with the
request or the code, and the same request will succeed once the store is back.

During an outage every request fails the same way, so logging each one with its traceback (9 KB)
would bury the log (75 MB per 10 s of a PostgreSQL restart). OutageLog writes one traceback per
outage (the first failure's), then per failure kind a first line and at most one line per interval
with how many requests it refused meanwhile, and one line when the store answers again. One restart
of PostgreSQL shows five or six kinds in a row ("server closed the connection", "shutting down",
"connection refused", "starting up"...): a traceback per kind made 90 KB per worker of a 4 s
restart, where one says all there is to say (tests/test_outage_served.py measures it).
"""
from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time

import peewee
import psycopg2
import psycopg2.errors

from .file_identity import StoreUnavailable

# What a client is told to wait before asking again (a PostgreSQL restart takes a few seconds).
RETRY_AFTER_SECONDS = 2
# At most one log line per failure kind per this many seconds (the first one carries the traceback).
LOG_INTERVAL_SECONDS = 10.0
LOG_INTERVAL_VAR = "AUTHZ_OUTAGE_LOG_SECONDS"  # `authz serve` refuses one that is not a number above 0


def log_interval_seconds() -> float:
    """The interval of the outage lines (of requests refused, and of the decision recorder's counts)."""
    return float(os.environ.get(LOG_INTERVAL_VAR) or LOG_INTERVAL_SECONDS)

# SQLite errors that say the file cannot be read or written now; anything else it raises (a
# constraint, a syntax error, "no such table") is the request's or the code's fault.
_SQLITE_OUTAGES = ("database or disk is full", "disk i/o error", "readonly database", "unable to open",
                   "database is locked", "no longer the store", "deleted or replaced", "file is not a database",
                   "database disk image is malformed")


def outage_kind(exc: BaseException) -> str | None:
    """A short name for the kind of store outage `exc` is ("postgresql unreachable: connection
    refused", "sqlite: database or disk is full"), or None when it is not one.

    A store error raised while handling an outage is that outage: SQLite rolls a transaction back
    itself when its COMMIT finds the disk full, so peewee's own ROLLBACK then fails with "cannot
    rollback - no transaction is active", and that is the error that reaches the API."""
    found: BaseException | None = exc
    for _ in range(6):
        if found is None:
            break
        kind = _own_kind(found)
        if kind is not None:
            return kind
        if not isinstance(found, (peewee.PeeweeException, sqlite3.Error, psycopg2.Error)):
            break  # the code's own error (a bug) while handling an outage stays a bug
        found = found.__cause__ or found.__context__
    return None


def _own_kind(exc: BaseException) -> str | None:
    if isinstance(exc, StoreUnavailable):
        return "store file deleted or replaced"
    cause = _driver_error(exc)
    first = _first_line(cause)
    if isinstance(cause, (psycopg2.OperationalError, psycopg2.InterfaceError)) \
            and not isinstance(cause, psycopg2.errors.QueryCanceled):  # a statement timeout is not an outage
        return f"postgresql unreachable: {first}"
    if isinstance(cause, psycopg2.errors.ReadOnlySqlTransaction):
        return f"postgresql read-only: {first}"
    if isinstance(cause, (psycopg2.errors.AdminShutdown, psycopg2.errors.CannotConnectNow)):
        return f"postgresql shutting down: {first}"
    if isinstance(cause, sqlite3.OperationalError):
        if any(marker in first.lower() for marker in _SQLITE_OUTAGES):
            return f"sqlite: {first}"
    if isinstance(exc, peewee.InterfaceError) and "closed" in first.lower():
        return f"store connection closed: {first}"
    return None


def is_outage(exc: BaseException) -> bool:
    return outage_kind(exc) is not None


def reraise_outage(exc: BaseException) -> None:
    """Raise `exc` again if it is a store outage: code that turns any error into a deny calls this
    first, so an outage reaches the API as a 503 instead of a 500 (a deny either way)."""
    if is_outage(exc):
        raise exc


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own error under peewee's wrappers (peewee raises its type while handling the
    driver's, sometimes twice: a pool's connect inside a query's)."""
    found: BaseException | None = exc
    for _ in range(5):
        if found is None or not isinstance(found, peewee.PeeweeException):
            break
        found = found.__cause__ or found.__context__
    return found if isinstance(found, (sqlite3.Error, psycopg2.Error)) else exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    # numbers (pids, ports in a retry, byte counts) would make every occurrence a kind of its own
    return re.sub(r"\d+", "N", text.splitlines()[0] if text else type(exc).__name__)[:160]


class OutageLog:
    """Logs store outages: per kind, the traceback once, then one line per interval with a count."""

    def __init__(self, logger: logging.Logger, interval: float | None = None) -> None:
        self.logger, self.interval = logger, log_interval_seconds() if interval is None else interval
        self._lock = threading.Lock()
        self._traced = False                      # this outage's traceback is logged
        self._seen: set[str] = set()              # kinds this process has logged a first line of
        self._unlogged: dict[str, int] = {}       # kind -> failures since its last line
        self._last_line: dict[str, float] = {}    # kind -> when its last line was written
        self.failing = False                      # read unlocked on every request: one attribute

    def failed(self, kind: str, exc: BaseException, what: str) -> None:
        """Count one failure of `kind`; log it when due (`what`: what was answered, e.g. "503")."""
        now = time.monotonic()
        with self._lock:
            self.failing = True
            count = self._unlogged.get(kind, 0) + 1
            first = kind not in self._seen
            since = self._last_line.get(kind)
            if not first and since is not None and now - since < self.interval:
                self._unlogged[kind] = count
                return
            traced, self._traced = self._traced, True
            self._seen.add(kind)
            self._unlogged[kind] = 0
            self._last_line[kind] = now
        if first:
            self.logger.error("store unavailable (%s; answered %s, nothing written); further failures of this "
                              "kind are counted, one line per %.0f s", kind, what, self.interval,
                              exc_info=None if traced else exc)
        elif since is None:  # the first failure of a new outage of a kind seen before
            self.logger.error("store unavailable (%s; answered %s, nothing written)", kind, what,
                              exc_info=None if traced else exc)
        else:
            self.logger.error("store unavailable (%s): %d requests answered %s in the last %.0f s",
                              kind, count, what, now - since)

    def recovered(self) -> None:
        """The store answered a request: say so once, with the failures not yet logged."""
        with self._lock:
            if not self.failing:
                return
            self.failing = False
            self._traced = False  # the next outage logs its traceback
            unlogged = {kind: count for kind, count in self._unlogged.items() if count}
            self._unlogged.clear()
            self._last_line.clear()  # a new outage logs its first line at once
        counts = ", ".join(f"{count} more of {kind!r}" for kind, count in unlogged.items())
        self.logger.warning("store available again%s", f" ({counts})" if counts else "")
