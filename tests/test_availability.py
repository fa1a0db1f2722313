"""Issue 12 items 1 and 2: liveness never touches the store; readiness answers 503 with
`store_reachable: false` when the store is down or its SQLite file was deleted or replaced,
and writes are refused (503) rather than written into a file nobody will open again."""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from service.api import create_app
from service.store import init_schema, open_database
from test_api_support import make_api

UNREACHABLE = {
    # nothing listens on port 1: PostgreSQL is down
    "postgres": "postgresql://authz:authz@127.0.0.1:1/authz",
    # a directory is no database file: SQLite cannot open it
    "sqlite": "sqlite:///{tmp}",
}


@pytest.mark.parametrize("backend", sorted(UNREACHABLE))
def test_liveness_answers_and_readiness_is_503_when_the_store_is_down(backend: str, tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": UNREACHABLE[backend].format(tmp=tmp_path)})
    client = app.test_client()
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["store_reachable"] is False and ready.json["ready"] is False
    denied = client.post("/v1/check", json={"actor": "user:1", "action": "view", "resource": "organization:1"},
                         headers={"Authorization": "Bearer azk_x"})
    assert denied.status_code >= 400 and denied.json["allowed"] is False and "error" in denied.json


def _remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.remove(f"{path}{suffix}")


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_deleted_or_replaced_sqlite_file_is_noticed(how: str, tmp_path: Path) -> None:
    path = tmp_path / "authz.db"
    open_database(f"sqlite:///{path}")
    init_schema()
    api = make_api(f"sqlite:///{path}", tmp_path)
    assert api.client.get("/readyz").status_code == 200
    assert api.write("POST", "/v1/organizations", {"name": "Before"}).status_code == 201
    if how == "replaced":  # e.g. a restore copied over the live file
        spare = tmp_path / "spare.db"
        with sqlite3.connect(path) as live, sqlite3.connect(spare) as copy:
            live.backup(copy)
        _remove_sqlite_files(path)
        shutil.move(spare, path)
    else:
        _remove_sqlite_files(path)
    ready = api.client.get("/readyz")
    assert ready.status_code == 503 and ready.json["store_reachable"] is False
    refused = api.write("POST", "/v1/organizations", {"name": "After"})
    assert refused.status_code == 503 and refused.json["error"]["code"] == "store_unavailable"
    assert "deleted or replaced" in refused.json["error"]["message"]
