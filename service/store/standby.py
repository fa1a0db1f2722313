"""Whether the bound store is a PostgreSQL hot standby, and which primary its writes belong to.

An instance whose DATABASE_URL is a streaming standby decides from it; AUTHZ_PRIMARY_URL names the
primary, where whatever it writes while deciding goes (records.py). Standby-ness is asked of the
server (`pg_is_in_recovery()`), never configured: a promoted standby is a primary at the next check.
The answer is kept RECHECK_SECONDS per process, so a decision pays that statement at most once a second.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any
from urllib.parse import urlparse

import peewee

from .proxy import database

log = logging.getLogger("authz.store")

RECHECK_SECONDS = 1.0
READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction: what a standby answers to any write

_state: dict[str, Any] = {"db": None, "at": float("-inf"), "standby": False}
_lock = threading.Lock()


def primary_url() -> str | None:
    """AUTHZ_PRIMARY_URL: the primary of the standby named by DATABASE_URL (None: not set)."""
    return os.environ.get("AUTHZ_PRIMARY_URL") or None


class StandbyReadOnly(RuntimeError):
    """Something would have to be written to the bound store, and it is a read-only standby."""


def public_name(url: str) -> str:
    """A PostgreSQL URL as an operator names the server, host:port/database, never its user or password."""
    parsed = urlparse(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.hostname or 'localhost'}{port}/{parsed.path.lstrip('/')}"


def primary_host() -> str:
    """The primary as an operator names it (public_name), or "" when AUTHZ_PRIMARY_URL is not set."""
    url = primary_url()
    return public_name(url) if url else ""


def is_standby() -> bool:
    """Whether the bound store is a PostgreSQL server in recovery (asked again every RECHECK_SECONDS;
    a failed check keeps the last answer: the request's own statements will meet the outage)."""
    db = database.obj
    if not isinstance(db, peewee.PostgresqlDatabase):
        return False
    now = time.monotonic()
    if _state["db"] is db and now - _state["at"] < RECHECK_SECONDS:
        return bool(_state["standby"])
    with _lock:
        try:
            standby = bool(db.execute_sql("SELECT pg_is_in_recovery()").fetchone()[0])
        except peewee.DatabaseError:
            log.warning("could not ask the store whether it is a standby; keeping the last answer")
            return bool(_state["standby"]) if _state["db"] is db else False
        _state.update(db=db, at=now, standby=standby)
    return standby


def forget() -> None:
    """Ask the server again at the next check (after a write was refused as read only)."""
    _state["at"] = float("-inf")


def is_read_only_error(exc: BaseException | None) -> bool:
    """Whether exc (peewee's wrapper, psycopg2's own, or what it was raised from) is a standby refusing a write."""
    seen = 0
    while exc is not None and seen < 5:
        if getattr(exc, "pgcode", None) == READ_ONLY_SQLSTATE:
            return True
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc, seen = inner or exc.__cause__ or exc.__context__, seen + 1
    return False
