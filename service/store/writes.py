"""The transaction every change of the facts runs in: one writer at a time, in revision order.

A change writes its outbox event (service/workflows/records.py) and bumps the store revision
(schema.bump_revision) in one transaction. The feed (`GET /v1/events`) is read by cursor, the
event id: a reader that has seen event n asks for the events after n. So event ids must become
visible in id order, or a reader may pass an event that commits later with a lower id and never
see it.

- SQLite: `atomic()` begins IMMEDIATE (db.py), so writers hold the one write lock from BEGIN to
  COMMIT; ids are handed out and committed one writer after the other.
- PostgreSQL: the event's id comes from a sequence when it is inserted, and under READ COMMITTED
  two transactions can commit in the other order (the first to insert was still deleting its row
  while the second bumped and committed). write_transaction() therefore locks the revision row
  FIRST (SELECT ... FOR UPDATE), before any statement of the change: writers of facts wait for
  each other at the start, as on SQLite, and each one's event ids, revision and commit come after
  the previous writer's commit. Taking the lock first also means a change reads the rows it
  changes as the previous writer left them, and every writer takes its locks in the same order
  (revision row, then rows), so two writers cannot deadlock on them.

Writers were already serialized on the revision row from their bump to their commit; the lock
only moves the start of that wait to BEGIN. The changes themselves still check what their
statements touched (a 404 or 409 rather than an event for a change that did not happen).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from .db import database, is_postgres

LOCK_REVISION = "SELECT value FROM store_revision WHERE id = 1 FOR UPDATE"


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction for a change of the facts (its event and its revision bump included)."""
    with database.atomic():
        if is_postgres():
            database.execute_sql(LOCK_REVISION)
        yield
