"""The decision path's statements, run on the driver's cursor rather than through peewee.

A decision runs a handful of one-row, indexed statements. peewee's execute_sql costs about
3.5 µs per statement on top of the driver's own call (query logging, hooks, cursor wrapping;
measured on SQLite: the revision stamp took 5.9 µs through peewee, 2.4 µs on the driver), which
was more than the database's own work. These helpers use the very connection peewee holds for
this thread (opened as peewee's autoconnect would), and raise a driver error as peewee's own
exception type, so callers see exactly what execute_sql would have raised.

Statements are written with `?` placeholders. On PostgreSQL each statement is prepared once per
connection (PREPARE ... AS, then EXECUTE): planning a statement cost PostgreSQL more CPU than running
it (bench/decision_cost.py measures the server's CPU per decision). A prepared statement lives as
long as its session, and survives a rolled-back transaction.
"""
from __future__ import annotations

import itertools
import weakref
from typing import Any

import peewee

from .proxy import database

_translate_errors = peewee.__exception_wrapper__
# PostgreSQL: connection -> {statement text: name of its prepared statement on that connection}
_prepared: "weakref.WeakKeyDictionary[Any, dict[str, str]]" = weakref.WeakKeyDictionary()


def _connection() -> Any:
    db = database.obj
    if db.is_closed():
        db.connect()
    return db.connection()


def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's $1, $2, ... (no statement here has a `?` inside a literal)."""
    counter = itertools.count(1)
    return "".join(f"${next(counter)}{part}" if i else part for i, part in enumerate(sql.split("?")))


def _execute_prepared(conn: Any, cursor: Any, sql: str, params: tuple[Any, ...]) -> None:
    names = _prepared.get(conn)
    if names is None:
        names = _prepared[conn] = {}
    name = names.get(sql)
    if name is None:
        name = f"authz_fast_{len(names)}"
        cursor.execute(f"PREPARE {name} AS {_numbered(sql)}")
        names[sql] = name
    cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})" if params else f"EXECUTE {name}", params)


def _cursor(sql: str, params: tuple[Any, ...]) -> Any:
    conn = _connection()
    with _translate_errors:
        cursor = conn.cursor()
        if database.obj.param == "?":
            cursor.execute(sql, params)
        elif params or sql.startswith("SELECT"):
            _execute_prepared(conn, cursor, sql, params)
        else:  # BEGIN, COMMIT
            cursor.execute(sql)
    return cursor


_plain_cursor = _cursor  # StatementCounter swaps _cursor to count


def fetch_all(sql: str, params: tuple[Any, ...] = ()) -> list[tuple]:
    try:
        return _run(sql, params).fetchall()
    except Exception:
        with _translate_errors:  # a driver error as peewee's type (peewee's own pass through)
            raise


def fetch_one(sql: str, params: tuple[Any, ...] = ()) -> tuple | None:
    try:
        return _run(sql, params).fetchone()
    except Exception:
        with _translate_errors:
            raise


def _run(sql: str, params: tuple[Any, ...]) -> Any:
    """A cursor that ran `sql`: the driver's call alone on this thread's open SQLite connection (a
    decision's statement), else through _cursor (PostgreSQL's prepared statements, a connection to
    open, a StatementCounter counting)."""
    conn = _sqlite_connection()
    return conn.execute(sql, params) if conn is not None else _cursor(sql, params)


def _sqlite_connection() -> Any:
    """This thread's open SQLite connection, read from peewee's per-thread state (what
    db.connection() returns, without its checks); None on PostgreSQL, with no connection open
    yet, or while a StatementCounter counts (the statements then go through _cursor)."""
    db = database.obj
    state = db._state
    if db.param != "?" or state.closed or _cursor is not _plain_cursor:
        return None
    return state.conn


def execute(sql: str) -> None:
    """A statement without parameters or results (BEGIN, COMMIT)."""
    _cursor(sql, ())


class StatementCounter:
    """Counts the statements run on the bound store, through these helpers and through peewee, while
    active (`with StatementCounter() as counted:`); for query-budget tests and the benchmark."""

    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def _seen(self, sql: str) -> None:
        self.count += 1
        self.statements.append(sql)

    def __enter__(self) -> "StatementCounter":
        global _cursor
        db = database.obj
        self._peewee, self._fast = db.execute_sql, _cursor

        def peewee_counted(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
            self._seen(sql)
            return self._peewee(sql, params, *args, **kwargs)

        def fast_counted(sql: str, params: tuple[Any, ...]) -> Any:
            self._seen(sql)
            return self._fast(sql, params)

        db.execute_sql = peewee_counted
        _cursor = fast_counted
        return self

    def __exit__(self, *exc: Any) -> None:
        global _cursor
        database.obj.execute_sql = self._peewee
        _cursor = self._fast
