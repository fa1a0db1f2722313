"""Issue 12 item 7: an id is never handed out twice, on either store, and a store made before
schema version 5 is rebuilt without losing a row or a foreign key."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from service.store import database, init_schema, open_database
from service.store import models as m
from service.store.schema import SCHEMA_VERSION
from service.store.world import load_world
from test_api_support import Api, api  # noqa: F401  (fixture)

OLD_STORE_DUMP = Path(__file__).parent / "data" / "store_v2.sql"
DELETED_USER_ID = 19  # created and deleted in the dump: the newest id a plain SQLite table reuses


def test_deleted_ids_are_not_handed_out_again(api: Api) -> None:
    first = api.write("POST", "/v1/users", {"email": "a@x.example", "name": "A"}).json["id"]
    assert api.write("DELETE", f"/v1/users/{first.split(':')[1]}").status_code == 200
    second = api.write("POST", "/v1/users", {"email": "b@x.example", "name": "B"}).json["id"]
    assert second != first and int(second.split(":")[1]) > int(first.split(":")[1])


def test_a_world_loaded_after_a_delete_does_not_reuse_ids(store_url: str) -> None:
    gone = m.User.create(email="gone@x.example", name="Gone").id
    m.User.delete_by_id(gone)
    refs = load_world({"users": [{"key": "new"}]})
    assert int(refs["new"].split(":")[1]) > gone
    assert m.User.create(email="later@x.example", name="Later").id > int(refs["new"].split(":")[1])


def _old_store(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    connection.executescript(OLD_STORE_DUMP.read_text())
    connection.close()
    return path


def _counts() -> dict[str, int]:
    """Rows per table of the old store (tables that later versions add are not in it yet)."""
    return {model._meta.table_name: model.select().count() for model in m.MODELS if model.table_exists()}


def test_migration_keeps_every_row_and_foreign_key(tmp_path: Path) -> None:
    path = _old_store(tmp_path)
    open_database(f"sqlite:///{path}")
    before = _counts()
    assert before["users"] > 0 and before["partnership"] > 0
    init_schema()
    assert m.SchemaVersion.get_by_id(1).version == SCHEMA_VERSION
    after = _counts()
    assert {table: after[table] for table in before} == before
    assert database.execute_sql("PRAGMA foreign_key_check").fetchall() == []
    tables = dict(database.execute_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    assert "AUTOINCREMENT" in tables["users"] and "REFERENCES" in tables["membership"]
    assert "AUTOINCREMENT" not in tables["store_revision"]  # a single row with a fixed id
    # foreign keys still act: deleting a user cascades to its memberships
    member = m.Membership.select().first()
    m.User.delete_by_id(member.user_id)
    assert m.Membership.get_or_none(m.Membership.id == member.id) is None
    # from now on the newest id deleted is not handed out again (an id deleted before the
    # migration, above the highest one left, cannot be known: the old store kept no trace of it)
    newest = m.User.create(email="new@x.example", name="New").id
    m.User.delete_by_id(newest)
    assert m.User.create(email="newer@x.example", name="Newer").id > newest
    init_schema()  # idempotent
    assert m.SchemaVersion.get_by_id(1).version == SCHEMA_VERSION
    database.close()


def test_plain_sqlite_store_reused_ids_before_the_migration(tmp_path: Path) -> None:
    """The fault itself, on the old schema: SQLite hands the deleted newest id out again."""
    connection = sqlite3.connect(_old_store(tmp_path))
    created = connection.execute("INSERT INTO users (email, name, created_at) VALUES ('x@x', 'X', '2026-01-01')")
    assert created.lastrowid == DELETED_USER_ID
    connection.close()
