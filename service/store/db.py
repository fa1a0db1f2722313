"""The one deferred database object and how it is bound to SQLite or PostgreSQL."""
from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Callable, ContextManager, Iterator
from urllib.parse import quote, urlparse, unquote

import peewee
import psycopg2.extensions
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase, PooledSqliteDatabase

from . import fast_sql
from .file_identity import (IdentifiedConnection, StoreUnavailable, file_identity, file_replaced, missing_message,
                            replaced_message)
# Bound by open_database(); models refer to it through a DatabaseProxy so nothing
# touches a database at import time. Defined in proxy.py, so that fast_sql.py needs no import of this module.
from .proxy import database  # (most modules import it from here)

DEFAULT_SQLITE_PATH = Path(__file__).resolve().parents[2] / "data" / "authz.db"

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
}


def database_url() -> str:
    """The store URL from DATABASE_URL, else the SQLite file under data/."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"


class ImmediateSqliteDatabase(peewee.SqliteDatabase):
    """SQLite whose write transactions take the write lock at BEGIN.

    atomic() on SQLite defaults to a deferred transaction that may fail with
    "database is locked" when it upgrades to a writer; BEGIN IMMEDIATE waits
    for the lock (busy_timeout) instead.
    """

    def atomic(self, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("lock_type", "IMMEDIATE")
        return super().atomic(*args, **kwargs)

    # Set by make_database(must_exist=True), as the server opens its store: a connection opens the
    # file that exists and never creates one (a deleted store would otherwise come back empty and be
    # served). Only `authz init-db` and the commands that load a store create the file.
    must_exist = False

    # The server's store file: the (device, inode) its first connection opened. A connection opened
    # later on another file at the path (a restore copied into place after the file was deleted) is
    # marked as holding the store's file, so readiness and every request refuse it as replaced:
    # otherwise threads with new connections would serve the restore while the others refuse it.
    store_file: tuple[int, int] | None = None

    def _connect(self):  # type: ignore[override]
        conn = self._connect_existing() if self.must_exist and self.database != ":memory:" else super()._connect()
        conn.opened_file = file_identity(self.database)
        if self.must_exist:
            self.store_file = self.store_file or conn.opened_file
            conn.opened_file = self.store_file
        return conn

    def _connect_existing(self) -> sqlite3.Connection:
        """peewee's _connect, on the file only if it exists (mode=rw: SQLite creates nothing)."""
        if not os.path.isfile(self.database):
            raise StoreUnavailable(missing_message(self.database))
        conn = sqlite3.connect(f"file:{quote(self.database)}?mode=rw", uri=True, timeout=self._timeout,
                               isolation_level=None, **self.connect_params)
        try:
            self._add_conn_hooks(conn)
        except Exception:
            conn.close()
            raise
        return conn

    def begin(self, lock_type=None):  # type: ignore[override]
        # never write into a file that is no longer the store (see file_identity.py)
        if self.file_replaced():
            raise StoreUnavailable(replaced_message(self.database))
        return super().begin(lock_type)

    def file_replaced(self) -> bool:
        """Whether this connection's file is no longer the one at the configured path."""
        return file_replaced(self.connection(), self.database)


class PooledImmediateSqliteDatabase(PooledSqliteDatabase, ImmediateSqliteDatabase):
    """The server's SQLite: connections are reused across requests instead of reopened
    (opening one and setting its pragmas cost more than a cached decision)."""


# A pooled connection idle for longer than this is closed rather than reused.
POOL_STALE_SECONDS = 300
POOL_MAX_CONNECTIONS = 32
PG_CONNECT_TIMEOUT_SECONDS = 5
DEFAULT_STATEMENT_TIMEOUT_MS = 5_000


def statement_timeout_ms() -> int:
    """The server's PostgreSQL statement_timeout: AUTHZ_STATEMENT_TIMEOUT_MS, default 5 s (below the deadline)."""
    return int(os.environ.get("AUTHZ_STATEMENT_TIMEOUT_MS") or DEFAULT_STATEMENT_TIMEOUT_MS)


def sqlite_path(url: str) -> str | None:
    """The file of a sqlite:/// URL (":memory:" for sqlite://); None for another scheme."""
    if urlparse(url).scheme != "sqlite":
        return None
    return unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ":memory:"


def make_database(url: str, *, pooled: bool = False, must_exist: bool = False) -> peewee.Database:
    """A peewee database for a sqlite:/// or postgresql:// URL (pooled for the server). must_exist:
    a SQLite file is opened only if it exists, never created (the server's store)."""
    parsed = urlparse(url)
    pool = {"max_connections": POOL_MAX_CONNECTIONS, "stale_timeout": POOL_STALE_SECONDS} if pooled else {}
    if parsed.scheme == "sqlite":
        path = sqlite_path(url) or ":memory:"
        if path != ":memory:" and not must_exist:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        cls = PooledImmediateSqliteDatabase if pooled else ImmediateSqliteDatabase
        # lock_type here too: atomic() through the DatabaseProxy bypasses the override above
        db = cls(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False, lock_type="IMMEDIATE",
                 factory=IdentifiedConnection, **pool)
        db.must_exist = must_exist
        return db
    if parsed.scheme in ("postgres", "postgresql"):
        cls = PooledPostgresqlDatabase if pooled else peewee.PostgresqlDatabase
        return cls(
            unquote(parsed.path.lstrip("/")),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname,
            port=parsed.port,
            connect_timeout=PG_CONNECT_TIMEOUT_SECONDS,
            # the server's statements: one running away (a lock wait, a huge scan) ends before the
            # request's deadline; the CLI's (migrations, large loads) may take as long as they need
            **({"options": f"-c statement_timeout={statement_timeout_ms()}"} if pooled else {}),
            **pool,
        )
    raise ValueError(f"unsupported DATABASE_URL scheme {parsed.scheme!r} (use sqlite:/// or postgresql://)")


# Held while the bound database is closed and another bound: a layer above that uses the store from
# a thread of its own (the decision recorder's writer) makes it wait for the write under way, so
# that no connection is closed under a statement another thread is running on it.
_rebind_guards: list[Callable[[], ContextManager[None]]] = []


def guard_rebind(guard: Callable[[], ContextManager[None]]) -> Callable[[], ContextManager[None]]:
    """Register `guard`, entered while open_database() closes the database bound until then."""
    _rebind_guards.append(guard)
    return guard


def open_database(url: str | None = None, *, pooled: bool = False, must_exist: bool = False) -> peewee.Database:
    """Bind the proxy to the database at url (default: database_url()); must_exist: see make_database.

    The database bound before is closed first (all of its pooled connections), so
    rebinding never leaks connections; the guard_rebind guards are held meanwhile.
    """
    db = make_database(url or database_url(), pooled=pooled, must_exist=must_exist)
    with contextlib.ExitStack() as guards:
        for guard in list(_rebind_guards):
            guards.enter_context(guard())
        previous = database.obj
        if previous is not None:
            if isinstance(previous, (PooledSqliteDatabase, PooledPostgresqlDatabase)):
                previous.close_all()
            elif not previous.is_closed():
                previous.close()
        database.initialize(db)
    return db


def release_connection() -> None:
    """End a request's use of the store. A server thread keeps its pooled connection for its next
    request (checking it in and out of the pool cost more than a cached decision), unless the
    request left it inside a transaction or the pool's own tests find it broken or dirty: then it
    goes back to the pool, which rolls it back or closes it. Other databases close as before."""
    db = database.obj
    if db is None or db.is_closed():
        return
    if not isinstance(db, PooledDatabase) or db.in_transaction():
        db.close()
        return
    if not _kept_connection_usable(db, db.connection()):
        db.close()


def _kept_connection_usable(db: PooledDatabase, conn: object) -> bool:
    """The pool's check-out and check-in tests, without a round trip. On PostgreSQL the pool's test
    sends `SELECT 1`: at the end of every request, that was a second statement beside a cached
    check's one (its CPU and its wait; bench/request_cost.py --postgres). The connection's own state
    says enough here: closed, or not idle (a transaction left open, an error, a lost server) goes back
    to the pool, which rolls it back or discards it. A server that goes away between two requests is
    met by the next request's statement, as it would be after the SELECT 1 anyway (store/outage.py)."""
    if isinstance(db, PooledPostgresqlDatabase):
        return not conn.closed and conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    return not db._is_closed(conn) and db._can_reuse(conn)


@contextlib.contextmanager
def read_snapshot() -> Iterator[None]:
    """One consistent view of the store for reads made in several statements.

    One decision reads its facts in one statement, which sees one state by itself; a batch
    (the stamp, then its checks' facts), an explained deny (whynot.py reads more facts) and
    `authz impact` read in several. Without a snapshot a concurrent write could be seen half
    between them (a torn read: the old partnership ended but the new one not yet there, or both). SQLite: a deferred read transaction
    (WAL readers never block writers); PostgreSQL: REPEATABLE READ, read only. Inside a
    write transaction (a workflow deciding its own step) that transaction's view is used.
    Plain BEGIN/COMMIT statements: peewee's atomic() costs more than the reads themselves,
    and nothing inside a snapshot writes.
    """
    db = database.obj
    if db.in_transaction():
        yield
        return
    begin = ("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
             if isinstance(db, peewee.PostgresqlDatabase) else "BEGIN DEFERRED")
    fast_sql.execute(begin)
    try:
        yield
    finally:
        fast_sql.execute("COMMIT")  # a read-only transaction: commit and rollback are the same


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def store_file_replaced() -> bool:
    """Whether the bound store is a SQLite file deleted or replaced under its open connection."""
    db = database.obj
    return isinstance(db, ImmediateSqliteDatabase) and db.file_replaced()


def require_store_file() -> None:
    """Raise StoreUnavailable when the bound SQLite file was deleted or replaced under this thread's
    connection: a read from it would answer from a store nobody writes any more (a stat per call)."""
    db = database.obj
    if isinstance(db, ImmediateSqliteDatabase) and db.file_replaced():
        raise StoreUnavailable(replaced_message(db.database))
