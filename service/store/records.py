"""The one place that says which database records are written to while deciding.

Decisions only read, but serving them writes: the decision records (service/audit/recorder.py writes
them, lookup.py and pruning read and delete them) and the console's generated session secret. On an
instance whose store is a standby (standby.py) those go to AUTHZ_PRIMARY_URL, the primary, so that no
record is lost and a decision served by any instance is found by every instance; otherwise, and once
the standby is promoted, to the bound store itself. (API keys keep no "last used" column: checking a
key writes nothing.)
"""
from __future__ import annotations

import os
import threading

import peewee

from .proxy import database
from .standby import is_standby, primary_url

_primary: dict[tuple[int, str], peewee.Database] = {}  # per process (forked workers) and URL
_lock = threading.Lock()


class NoPrimary(RuntimeError):
    """The store is a standby and AUTHZ_PRIMARY_URL is not set: records have nowhere to go."""


def records_database() -> peewee.Database:
    """The database records are written to (and read from, so that a lookup sees every instance's)."""
    if not is_standby():
        return database.obj
    url = primary_url()
    if url is None:  # refused at start (check_primary_setting); the writes then fail, logged, and are retried
        return database.obj
    key = (os.getpid(), url)
    db = _primary.get(key)
    if db is None:
        with _lock:
            db = _primary.get(key)
            if db is None:
                from .db import make_database  # db.py builds on this module's neighbours, not the reverse
                db = _primary[key] = make_database(url, pooled=True)
    return db


def check_primary_setting(records_on: bool) -> None:
    """Refuse to serve from a standby that records decisions without AUTHZ_PRIMARY_URL (every record lost)."""
    if records_on and primary_url() is None and is_standby():
        raise NoPrimary("DATABASE_URL is a PostgreSQL standby (read only): set AUTHZ_PRIMARY_URL to its primary "
                        "for the decision records, or AUTHZ_DECISION_STORE=off")


def writes_elsewhere() -> bool:
    """Whether records go to another database than the bound store (the recorder closes its use of it)."""
    return records_database() is not database.obj
