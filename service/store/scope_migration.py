"""Schema v6: widen the CHECK constraint of api_key.scope to the current API_KEY_SCOPES.

Written to work whatever other migrations did to api_key: PostgreSQL drops every
CHECK constraint that mentions `scope` and adds the current one; SQLite cannot
alter a constraint, so the table is rebuilt from its own stored CREATE statement
(other columns and indexes kept as they are) with only the scope list replaced.
"""
from __future__ import annotations

import re

from .db import database
from .models import API_KEY_SCOPES

_SCOPE_CHECK = re.compile(r"CHECK\s*\(\s*\"?scope\"?\s+IN\s*\([^)]*\)\s*\)", re.IGNORECASE)


def _scope_check() -> str:
    return "CHECK (scope IN ({}))".format(", ".join(f"'{scope}'" for scope in API_KEY_SCOPES))


def widen_api_key_scopes() -> None:
    if database.obj.param == "?":
        _rebuild_sqlite_table()
    else:
        _replace_postgres_constraint()


def _replace_postgres_constraint() -> None:
    rows = database.execute_sql(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'api_key'::regclass AND contype = 'c' "
        "AND pg_get_constraintdef(oid) LIKE %s", ("%scope%",)).fetchall()
    for (name,) in rows:
        database.execute_sql(f'ALTER TABLE api_key DROP CONSTRAINT "{name}"')
    database.execute_sql(f"ALTER TABLE api_key ADD CONSTRAINT api_key_scope_check {_scope_check()}")


def _rebuild_sqlite_table() -> None:
    create = database.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'api_key'").fetchone()
    if create is None:
        return  # nothing to widen: create_tables makes it with the current scopes
    widened, count = _SCOPE_CHECK.subn(_scope_check(), create[0])
    if count != 1:
        raise RuntimeError(f"api_key: expected one CHECK on scope, found {count}: {create[0]}")
    indexes = [row[0] for row in database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'api_key' AND sql IS NOT NULL")]
    columns = ", ".join(f'"{row[1]}"' for row in database.execute_sql('PRAGMA table_info("api_key")'))
    database.execute_sql('ALTER TABLE "api_key" RENAME TO "api_key_v5"')
    database.execute_sql(widened)
    database.execute_sql(f'INSERT INTO "api_key" ({columns}) SELECT {columns} FROM "api_key_v5"')
    database.execute_sql('DROP TABLE "api_key_v5"')
    for sql in indexes:
        database.execute_sql(sql)
