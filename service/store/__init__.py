"""The store: peewee models over SQLite (default) or PostgreSQL (DATABASE_URL)."""
from .db import database, database_url, is_postgres, open_database
from .schema import bump_revision, current_revision, init_schema, schema_is_current

__all__ = [
    "database", "database_url", "is_postgres", "open_database",
    "bump_revision", "current_revision", "init_schema", "schema_is_current",
]
