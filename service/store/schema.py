"""Creating the schema idempotently and the store revision counter."""
from __future__ import annotations

import contextlib
import uuid
from typing import Callable, Iterator

import peewee as pw

from . import fast_sql
from .audit_models import AUDIT_MODELS
from .db import database, is_postgres
from .emails import ensure_unique_folded
from .history import ensure_history, seed_history
from .ids import rebuild_without_id_reuse
from .models import MODELS, SchemaVersion, StoreRevision
from .moments import record_moment
from .review_models import REVIEW_MODELS
from .revision_writes import REVISION_WRITE_MODELS, note_write
from .review_signoff_models import SIGNOFF_MODELS
from .rollout_models import ROLLOUT_MODELS, ensure_heartbeat_precision
from .scope_migration import widen_api_key_scopes
from .standby import StandbyReadOnly, is_standby

# Bump when a model changes, and add the step that brings an older store up to it.
SCHEMA_VERSION = 10


def _add_store_epoch() -> None:
    """v2: a random epoch beside the revision counter (decision caches key on both)."""
    database.execute_sql("ALTER TABLE store_revision ADD COLUMN epoch VARCHAR(32)")
    StoreRevision.update(epoch=uuid.uuid4().hex).execute()


def _start_history() -> None:
    """v4: the facts' history starts at the current revision (nothing older can be answered)."""
    revision = current_revision()
    ensure_history()
    seed_history(revision)
    record_moment(revision)


def _allow_review_keys() -> None:
    """v6: api_key.scope may also be 'review' (its CHECK constraint lists the scopes)."""
    widen_api_key_scopes()


# version -> the step that brings a store of version - 1 to it
# v3 (the policy_version table) and v7 (the console's export records, review_models.py) are
# new tables only: create_tables(..., safe=True) makes them
MIGRATIONS: dict[int, Callable[[], None]] = {2: _add_store_epoch, 3: lambda: None, 4: _start_history,
                                             5: rebuild_without_id_reuse, 6: _allow_review_keys, 7: lambda: None,
                                             8: lambda: None,  # v8: the policy rollout tables (rollout_models.py)
                                             9: lambda: None,  # v9: who wrote each revision (revision_writes.py)
                                             10: lambda: None}  # v10: signed-off access reviews (review_signoff_models.py)


@contextlib.contextmanager
def _sqlite_foreign_keys_off() -> Iterator[None]:
    """SQLite rebuilds tables with foreign-key enforcement off (dropping a parent would cascade);
    the pragma works only outside a transaction. PostgreSQL: nothing to do."""
    if is_postgres():
        yield
        return
    database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        database.execute_sql("PRAGMA foreign_keys = ON")


def _check_foreign_keys() -> None:
    """Refuse to commit a migration that left a row pointing nowhere (SQLite)."""
    if is_postgres():
        return
    broken = database.execute_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise pw.IntegrityError(f"migration left {len(broken)} dangling foreign keys, e.g. {broken[0]}")


def init_schema() -> None:
    """Create what is missing and migrate an older store to SCHEMA_VERSION; safe to run again.

    On a standby nothing can be created: its schema is the primary's, replayed, so a current one is
    left as it is (reading commands work there) and a missing or older one is StandbyReadOnly."""
    if is_standby():
        if not schema_is_current():
            raise StandbyReadOnly("its schema is missing or older than this code, and a standby creates "
                                  "nothing (run `authz init-db` on the primary; the standby replays it)")
        return
    with _sqlite_foreign_keys_off(), database.atomic():
        existing = _stored_version()
        database.create_tables(MODELS + AUDIT_MODELS + REVIEW_MODELS + ROLLOUT_MODELS + REVISION_WRITE_MODELS
                               + SIGNOFF_MODELS, safe=True)
        if existing is not None:
            for version in range(existing + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version]()
            _check_foreign_keys()
        StoreRevision.insert(id=1, value=0, epoch=uuid.uuid4().hex).on_conflict_ignore().execute()
        ensure_history()  # again on every start: picks up columns later migrations add to fact tables
        ensure_unique_folded()  # e-mails unique regardless of case (stops, changing nothing, on duplicates)
        ensure_heartbeat_precision(database.obj)  # v8's first heartbeat column was too coarse on PostgreSQL
        if existing is None:
            record_moment(0)  # the store exists from now on
        SchemaVersion.insert(id=1, version=SCHEMA_VERSION).on_conflict(
            conflict_target=[SchemaVersion.id], update={SchemaVersion.version: SCHEMA_VERSION}
        ).execute()


def _stored_version() -> int | None:
    """The schema version of an existing store; None for an empty database."""
    if not database.table_exists("schema_version"):
        return None
    row = SchemaVersion.select(SchemaVersion.version).where(SchemaVersion.id == 1).first()
    return row.version if row else None


def schema_is_current() -> bool:
    try:
        row = SchemaVersion.get_or_none(SchemaVersion.id == 1)
    except pw.DatabaseError:
        return False
    return row is not None and row.version == SCHEMA_VERSION


def bump_revision() -> int:
    """Count one committed write; call inside the write's transaction."""
    StoreRevision.update(value=StoreRevision.value + 1).where(StoreRevision.id == 1).execute()
    revision = current_revision()
    record_moment(revision)  # the stamping trigger gave this write's fact versions the same number
    note_write(revision)  # its key and its events, for the console's "what changed"
    return revision


def current_revision() -> int:
    return revision_stamp()[1]


def revision_stamp() -> tuple[str, int]:
    """(store epoch, revision): identifies the state of this very store."""
    row = fast_sql.fetch_one("SELECT epoch, value FROM store_revision WHERE id = 1")
    return (row[0], int(row[1])) if row else ("", 0)
