"""Noticing that the SQLite file at the configured path is no longer the one a connection has open.

A pooled connection keeps its file open after the file is deleted or replaced (a restore, a
careless `rm`): writes would still succeed, into a file nobody will ever open again. Each
connection records the (device, inode) of its file when it opens; readiness and every write
transaction compare it with what the path names now and refuse when they differ.
"""
from __future__ import annotations

import os
import sqlite3


class StoreUnavailable(RuntimeError):
    """The store cannot take this request (its file was replaced, or it cannot be reached)."""


def file_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at path; None when there is none."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


class IdentifiedConnection(sqlite3.Connection):
    """A sqlite3 connection that remembers which file it opened (set by the database on connect)."""

    opened_file: tuple[int, int] | None = None


def file_replaced(connection: sqlite3.Connection, path: str) -> bool:
    """Whether the file at path is not the file this connection has open (deleted or replaced)."""
    if path == ":memory:" or not isinstance(connection, IdentifiedConnection):
        return False
    return connection.opened_file is None or file_identity(path) != connection.opened_file


def missing_message(path: str) -> str:
    return f"no store file at {path} (DATABASE_URL); the service creates none: run `authz init-db` or restore it"


def replaced_message(path: str) -> str:
    return (f"the store file {path} was deleted or replaced while the service held it open; "
            "nothing was written (restart the service)")
