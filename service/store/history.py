"""The history of every fact a decision reads, kept by the store itself.

Each fact table T has a twin `T_history` holding every version of every row with
the store revisions it was valid for: [valid_from, valid_to), valid_to NULL while
current. SQL triggers (per backend) write it, so no handler, workflow or loader has
to: a change inserts a pending version (valid_from NULL) and marks the replaced
one pending-closed (valid_to -1); bumping the store revision stamps both with the
new revision (under the revision row's lock, so concurrent writers cannot swap
numbers). The current tables are untouched: decisions at the present read only them.

`as_of(revision, moment)` answers past questions with the unchanged decision code:
inside one transaction that is always rolled back, temporary views named like the
fact tables (and `store_revision`) shadow them with the rows valid at `revision`
(SQLite and PostgreSQL both resolve unqualified names to temporary objects first).
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from typing import Iterator

from .audit_models import RevisionMoment
from .db import database, is_postgres
from .models import utcnow

# Every table a decision reads (engine facts, listing, subjects).
HISTORY_TABLES = ("organization", "users", "membership", "product", "product_authorization", "assignment",
                  "partnership", "partnership_product", "invitation", "invoice")
# Columns past decisions look rows up by, besides id.
LOOKUP_COLUMNS = {
    "membership": ("user_id", "organization_id"), "product": ("organization_id",),
    "product_authorization": ("user_id",), "assignment": ("user_id",), "partnership": ("customer_id",),
    "partnership_product": ("partnership_id",), "invoice": ("organization_id",),
}
PENDING_CLOSE = -1

_moment: contextvars.ContextVar[dt.datetime | None] = contextvars.ContextVar("decision_moment", default=None)


def decision_moment() -> dt.datetime:
    """The time a decision is made at: now, or the past moment of an `as_of` question (invitations expire)."""
    return _moment.get() or utcnow()


def history_table(table: str) -> str:
    return f"{table}_history"


def _columns(table: str) -> list[str]:
    return [c.name for c in database.get_columns(table)]


# -- installing ---------------------------------------------------------------

def ensure_history() -> None:
    """Create or extend every history table and (re)install its triggers; idempotent (call in init_schema)."""
    for table in HISTORY_TABLES:
        _ensure_table(table)
        _install_capture(table, _columns(table))
    _install_stamping()
    if is_postgres():
        _install_past_views()


def _ensure_table(table: str) -> None:
    hist = history_table(table)
    if not database.table_exists(hist):
        database.execute_sql(f"CREATE TABLE {hist} AS SELECT * FROM {table} WHERE 1 = 0")
        database.execute_sql(f"ALTER TABLE {hist} ADD COLUMN valid_from BIGINT")
        database.execute_sql(f"ALTER TABLE {hist} ADD COLUMN valid_to BIGINT")
    present = set(_columns(hist))
    for column in database.get_columns(table):  # a later migration added a column to the fact table
        if column.name not in present:
            database.execute_sql(f"ALTER TABLE {hist} ADD COLUMN {column.name} {column.data_type}")
    indexes = [("open", "id, valid_to"), ("from", "valid_from"), ("to", "valid_to")]
    indexes += [(column, column) for column in LOOKUP_COLUMNS.get(table, ())]
    for name, columns in indexes:
        database.execute_sql(f"CREATE INDEX IF NOT EXISTS {hist}_{name} ON {hist} ({columns})")


def _capture_statements(table: str, columns: list[str]) -> tuple[str, str]:
    hist = history_table(table)
    close = f"UPDATE {hist} SET valid_to = {PENDING_CLOSE} WHERE id = OLD.id AND valid_to IS NULL"
    names = ", ".join(columns)
    values = ", ".join(f"NEW.{c}" for c in columns)
    add = f"INSERT INTO {hist} ({names}, valid_from, valid_to) VALUES ({values}, NULL, NULL)"
    return close, add


def _install_capture(table: str, columns: list[str]) -> None:
    close, add = _capture_statements(table, columns)
    trigger = f"{table}_history_capture"
    if is_postgres():
        database.execute_sql(
            f"CREATE OR REPLACE FUNCTION {trigger}() RETURNS trigger AS $$ BEGIN "
            f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {close}; END IF; "
            f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {add}; END IF; "
            f"RETURN NULL; END $$ LANGUAGE plpgsql")
        database.execute_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        database.execute_sql(f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                             f"FOR EACH ROW EXECUTE FUNCTION {trigger}()")
        return
    for event, body in (("INSERT", [add]), ("UPDATE", [close, add]), ("DELETE", [close])):
        name = f"{trigger}_{event.lower()}"
        database.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
        database.execute_sql(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN "
                             + "; ".join(body) + "; END")


def _install_stamping() -> None:
    """On every revision bump: give the pending versions of this transaction their revision."""
    statements = []
    for table in HISTORY_TABLES:
        hist = history_table(table)
        statements += [f"UPDATE {hist} SET valid_from = NEW.value WHERE valid_from IS NULL",
                       f"UPDATE {hist} SET valid_to = NEW.value WHERE valid_to = {PENDING_CLOSE}",
                       # a version born and replaced in the same write was never visible
                       f"DELETE FROM {hist} WHERE valid_to = NEW.value AND valid_from = NEW.value"]
    if is_postgres():
        database.execute_sql("CREATE OR REPLACE FUNCTION store_revision_stamp() RETURNS trigger AS $$ BEGIN "
                             + "; ".join(statements) + "; RETURN NULL; END $$ LANGUAGE plpgsql")
        database.execute_sql("DROP TRIGGER IF EXISTS store_revision_stamp ON store_revision")
        database.execute_sql("CREATE TRIGGER store_revision_stamp AFTER UPDATE OF value ON store_revision "
                             "FOR EACH ROW EXECUTE FUNCTION store_revision_stamp()")
        return
    database.execute_sql("DROP TRIGGER IF EXISTS store_revision_stamp")
    database.execute_sql("CREATE TRIGGER store_revision_stamp AFTER UPDATE OF value ON store_revision BEGIN "
                         + "; ".join(statements) + "; END")


def seed_history(revision: int) -> int:
    """Open a version, valid from `revision`, for every current row without one (a store older than its
    history); returns how many were added."""
    added = 0
    for table in HISTORY_TABLES:
        hist, names = history_table(table), ", ".join(_columns(table))
        cursor = database.execute_sql(
            f"INSERT INTO {hist} ({names}, valid_from, valid_to) SELECT {names}, {int(revision)}, NULL "
            f"FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {hist} h WHERE h.id = t.id AND h.valid_to IS NULL)")
        added += max(cursor.rowcount or 0, 0)
    return added


# -- asking the past ------------------------------------------------------------

PAST_SCHEMA = "authz_past"  # PostgreSQL: permanent views of the history, chosen per transaction by search_path
PAST_SETTING = "authz.as_of_revision"


def _valid_at(revision_sql: str) -> str:
    return f"valid_from <= {revision_sql} AND (valid_to IS NULL OR valid_to > {revision_sql})"


def _past_views(revision_sql: str) -> list[tuple[str, str]]:
    """(name, SELECT) of every view that shadows a table for a past question."""
    home = _schema()
    views = [(table, f"SELECT {', '.join(_columns(table))} FROM {home}.{history_table(table)} "
                     f"WHERE {_valid_at(revision_sql)}") for table in HISTORY_TABLES]
    views.append(("store_revision", f"SELECT 1 AS id, {revision_sql} AS value, CAST('history' AS VARCHAR(32)) AS epoch"))
    if database.table_exists("policy_version"):  # the activations made by then (issue 10)
        views.append(("policy_version", f"SELECT * FROM {home}.policy_version WHERE revision <= {revision_sql}"))
    return views


def _install_past_views() -> None:
    """PostgreSQL: the views of PAST_SCHEMA, reading the revision from a transaction-local setting."""
    database.execute_sql(f"CREATE SCHEMA IF NOT EXISTS {PAST_SCHEMA}")
    for name, select in _past_views(f"CAST(current_setting('{PAST_SETTING}') AS BIGINT)"):
        database.execute_sql(f"DROP VIEW IF EXISTS {PAST_SCHEMA}.{name}")
        database.execute_sql(f"CREATE VIEW {PAST_SCHEMA}.{name} AS {select}")


@contextlib.contextmanager
def as_of(revision: int, moment: dt.datetime) -> Iterator[None]:
    """Inside: every unqualified read of a fact table sees the rows valid at `revision`,
    store_revision reads `revision`, and decision_moment() is `moment`. Nothing is written:
    the transaction is rolled back. PostgreSQL puts PAST_SCHEMA first on the search path for
    this transaction only; SQLite creates temporary views (they shadow the tables)."""
    revision = int(revision)
    token = _moment.set(moment)
    try:
        with _discarded_transaction():
            if is_postgres():
                database.execute_sql(f"SET LOCAL search_path = {PAST_SCHEMA}, {_schema()}")
                database.execute_sql(f"SET LOCAL {PAST_SETTING} = '{revision}'")
            else:
                for name, select in _past_views(str(revision)):
                    database.execute_sql(f"CREATE TEMP VIEW {name} AS {select}")
            yield
    finally:
        _moment.reset(token)


def _schema() -> str:
    """The schema holding the store's tables (a view of the same name must not refer to itself)."""
    if is_postgres():
        return database.execute_sql("SELECT current_schema()").fetchone()[0]
    return "main"


class _Discard(Exception):
    """Raised to roll back the as_of transaction (it only created temporary views)."""


@contextlib.contextmanager
def _discarded_transaction() -> Iterator[None]:
    db = database.obj
    if db.in_transaction():
        raise RuntimeError("as_of() cannot run inside another transaction")
    options = {} if is_postgres() else {"lock_type": "DEFERRED"}  # SQLite: never take the write lock
    try:
        with db.transaction(**options):
            yield
            raise _Discard
    except _Discard:
        pass


def prune_versions(before_revision: int) -> int:
    """Delete the versions that stopped being valid at or before `before_revision`; how many."""
    removed = 0
    for table in HISTORY_TABLES:
        cursor = database.execute_sql(f"DELETE FROM {history_table(table)} WHERE valid_to >= 0 "
                                      f"AND valid_to <= {int(before_revision)}")
        removed += max(cursor.rowcount or 0, 0)
    return removed


# -- what changed between two revisions ---------------------------------------------------------

def unchanged_between(tables: tuple[str, ...], first: int, second: int) -> bool:
    """Whether no row of `tables` changed between revisions `first` and `second` (either order), read in
    the caller's snapshot: no version of theirs began or ended in between, and none is pending (a write
    of the caller's own transaction). False when the history no longer reaches back that far (a prune
    deletes versions that ended before its floor). Lets an answer read from these tables at one revision
    stand for the other; it never answers what the facts mean."""
    low, high = sorted((int(first), int(second)))
    floor = database.execute_sql(f"SELECT MIN(revision) FROM {RevisionMoment._meta.table_name}").fetchone()[0]
    if floor is None or low < int(floor):
        return False
    changed = " OR ".join(
        f"EXISTS (SELECT 1 FROM {history_table(t)} WHERE valid_from IS NULL OR valid_to = {PENDING_CLOSE} "
        f"OR (valid_from > {low} AND valid_from <= {high}) OR (valid_to > {low} AND valid_to <= {high}))"
        for t in tables)
    return not database.execute_sql(f"SELECT CASE WHEN {changed} THEN 1 ELSE 0 END").fetchone()[0]
