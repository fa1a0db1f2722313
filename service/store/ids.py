"""Ids are never handed out twice, on either store.

A reference such as `user:21` travels into log lines, events and other services' records; if
the id came back for a new row after a delete, those would point at another person. PostgreSQL
sequences never go back. SQLite's plain INTEGER PRIMARY KEY takes max(id) + 1, so a deleted
newest row's id returns: tables there use AUTOINCREMENT, and schema version 5 rebuilds the
tables of older stores that lack it (rows, indexes and foreign keys kept). The models' primary key
is NeverReusedAutoField (id_field.py).
"""
from __future__ import annotations

import re

import peewee as pw

from .db import database, is_postgres
from .id_field import NeverReusedAutoField
from .models import MODELS


def next_free_id(model: type[pw.Model]) -> int:
    """The first id that was never used in model's table (for loaders that assign ids themselves)."""
    table = model._meta.table_name
    highest = model.select(pw.fn.MAX(model._meta.primary_key)).scalar() or 0
    if is_postgres():
        issued = database.execute_sql(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass)", (table,)).fetchone()[0]
    else:
        row = (database.execute_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
               if database.table_exists("sqlite_sequence") else None)
        issued = row[0] if row else 0
    return max(highest, issued or 0) + 1


# `"id" INTEGER NOT NULL PRIMARY KEY` as peewee writes it, not yet followed by AUTOINCREMENT
_PLAIN_ID = re.compile(r'("id" INTEGER NOT NULL PRIMARY KEY)(?!\s+AUTOINCREMENT)', re.IGNORECASE)
_CREATE_HEAD = re.compile(r'^CREATE TABLE (?:IF NOT EXISTS )?("?)(\w+)\1', re.IGNORECASE)


def rebuild_without_id_reuse() -> None:
    """Schema v5 (SQLite only): rebuild every table whose id lacks AUTOINCREMENT.

    SQLite cannot alter a column, so each table is recreated from its own stored definition (so
    whatever columns other migrations added are kept), its rows copied with their ids, the old
    table dropped and the new one renamed, its indexes recreated. Needs foreign-key enforcement
    off (init_schema does that, then checks every foreign key before committing).
    """
    if is_postgres():
        return
    ours = {model._meta.table_name for model in MODELS if isinstance(model._meta.primary_key, NeverReusedAutoField)}
    tables = database.execute_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall()
    for name, sql in tables:
        if name in ours and sql and _PLAIN_ID.search(sql):
            _rebuild(name, sql)


def _rebuild(name: str, sql: str) -> None:
    temporary = f"{name}__v5"
    indexes = [row[0] for row in database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (name,))]
    create = _CREATE_HEAD.sub(f'CREATE TABLE "{temporary}"', sql, count=1)
    database.execute_sql(_PLAIN_ID.sub(r"\1 AUTOINCREMENT", create, count=1))
    database.execute_sql(f'INSERT INTO "{temporary}" SELECT * FROM "{name}"')
    database.execute_sql(f'DROP TABLE "{name}"')
    database.execute_sql(f'ALTER TABLE "{temporary}" RENAME TO "{name}"')
    for index in indexes:
        database.execute_sql(index)
