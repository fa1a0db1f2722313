"""Issue 19 items 4-5: a store that is gone answers 503 store_unavailable with Retry-After on reads
and writes, the service never creates a new empty store, and the log stays small."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from service.store import init_schema, open_database
from test_api_support import make_api

CHECK = {"actor": "user:1", "action": "view", "resource": "organization:1"}


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{path}{suffix}").exists():
            os.remove(f"{path}{suffix}")


def test_a_deleted_store_is_503_on_reads_and_writes_and_never_recreated(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "authz.db"
    open_database(f"sqlite:///{path}")
    init_schema()
    api = make_api(f"sqlite:///{path}", tmp_path)
    assert api.post("/v1/check", CHECK).status_code == 200
    _remove(path)
    caplog.set_level(logging.WARNING)
    for _ in range(50):
        answer = api.post("/v1/check", CHECK)
        assert answer.status_code == 503 and answer.json["error"]["code"] == "store_unavailable"
        assert answer.json["allowed"] is False and answer.headers["Retry-After"].isdigit()
        written = api.write("POST", "/v1/organizations", {"name": "After"})
        assert written.status_code == 503 and written.headers["Retry-After"].isdigit()
    api.app.extensions["authz_engine"]  # noqa: B018  (the app is still up)
    ready = api.client.get("/readyz")
    assert ready.status_code == 503 and ready.json["store_reachable"] is False
    assert not path.exists()  # no new empty store took its place
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) <= 2 and len(caplog.records) <= 5, [r.getMessage() for r in caplog.records]


def test_a_service_started_on_a_missing_file_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "authz.db"
    from service.api import create_app
    client = create_app({"DATABASE_URL": f"sqlite:///{path}", "DECISION_LOG": "off"}).test_client()
    answer = client.post("/v1/check", json=CHECK, headers={"Authorization": "Bearer azk_x"})
    assert answer.status_code == 503 and answer.json["error"]["code"] == "store_unavailable"
    assert "DATABASE_URL" in answer.json["error"]["message"] and answer.json["allowed"] is False
    assert client.get("/readyz").status_code == 503
    assert not path.parent.exists()


def test_an_unreachable_postgresql_is_503_with_retry_after() -> None:
    from service.api import create_app
    client = create_app({"DATABASE_URL": "postgresql://authz:authz@127.0.0.1:1/authz",
                         "DECISION_LOG": "off"}).test_client()
    for path, body in (("/v1/check", CHECK), ("/v1/organizations", {"name": "X"})):
        answer = client.post(path, json=body, headers={"Authorization": "Bearer azk_x"})
        assert answer.status_code == 503 and answer.json["error"]["code"] == "store_unavailable"
        assert answer.headers["Retry-After"].isdigit() and "127.0.0.1" not in answer.json["error"]["message"]
    assert client.post("/v1/check", json=CHECK, headers={"Authorization": "Bearer azk_x"}).json["allowed"] is False
