"""Creating the schema idempotently and the store revision counter."""
from __future__ import annotations

import uuid

import peewee as pw

from .db import database
from .models import MODELS, SchemaVersion, StoreRevision

# Bump when a model changes; /readyz reports a store whose schema is older.
SCHEMA_VERSION = 1


def init_schema() -> None:
    """Create every table and index that is missing; safe to run again."""
    with database.atomic():
        database.create_tables(MODELS, safe=True)
        StoreRevision.insert(id=1, value=0, epoch=uuid.uuid4().hex).on_conflict_ignore().execute()
        SchemaVersion.insert(id=1, version=SCHEMA_VERSION).on_conflict(
            conflict_target=[SchemaVersion.id], update={SchemaVersion.version: SCHEMA_VERSION}
        ).execute()


def schema_is_current() -> bool:
    try:
        row = SchemaVersion.get_or_none(SchemaVersion.id == 1)
    except pw.DatabaseError:
        return False
    return row is not None and row.version == SCHEMA_VERSION


def bump_revision() -> int:
    """Count one committed write; call inside the write's transaction."""
    StoreRevision.update(value=StoreRevision.value + 1).where(StoreRevision.id == 1).execute()
    return current_revision()


def current_revision() -> int:
    return revision_stamp()[1]


def revision_stamp() -> tuple[str, int]:
    """(store epoch, revision): identifies the state of this very store."""
    cursor = database.execute_sql("SELECT epoch, value FROM store_revision WHERE id = 1")
    row = cursor.fetchone()
    return (row[0], int(row[1])) if row else ("", 0)


def drop_everything() -> None:
    """Drop every table (tests and `authz init-db --reset` only)."""
    database.drop_tables(MODELS, safe=True, cascade=isinstance(database.obj, pw.PostgresqlDatabase))
