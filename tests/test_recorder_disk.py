"""Issue 19 items 3 and 6: the decision records' store fills up under a served instance. Readiness
answers 503 naming the recorder, decisions answer 503 audit_unavailable (durable mode at once, async
mode at its backlog bound) rather than ids never recorded, lookups answer from what is stored, and
all recovers once space returns.

SQLite: the store on a small tmpfs mounted in a mount namespace of the server's own (root only, as in
CI), then a file filling it. PostgreSQL: a shared server's disk cannot be filled by a test; a trigger
raises PostgreSQL's own `disk_full` error (SQLSTATE 53100) for every write to the decision table."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from recorder_served import Load, call, missing, serve, stop
from small_disk import Disk
from service.api.auth import create_key
from service.store import database

ROOT = Path(__file__).resolve().parents[1]
BACKLOG_MAX = 40
@contextlib.contextmanager
def served_on_a_small_disk(store_url: str, tmp_path: Path, mode: str) -> Iterator[tuple[Disk, int]]:
    if store_url.startswith("sqlite") and (os.geteuid() != 0 or not shutil.which("unshare")):
        pytest.skip("a tmpfs needs root (CI runs as root)")
    disk = Disk(store_url, tmp_path)
    database.close()  # the test's connection: the store file is whole (checkpointed) before it is copied
    proc, port = serve(disk.url, mode, prefix=disk.prefix(tmp_path),
                       extra_env={"AUTHZ_DECISION_BACKLOG_MAX": str(BACKLOG_MAX)}, workers=1)
    disk.pid = proc.pid
    try:
        yield disk, port
    finally:
        err = stop(proc)
        if not store_url.startswith("sqlite"):
            with contextlib.suppress(Exception):
                disk.free()
        assert "decision records cannot be written" in err, err[-2000:]


def _check(port: int, key: str) -> tuple[int, dict]:
    return call(port, "POST", "/v1/check", key, {"actor": "user:1", "action": "access_account",
                                                 "resource": "organization:1"})


def _until(condition, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    return None


@pytest.mark.parametrize("mode", ["durable", "async"])
def test_a_full_disk_refuses_decisions_shows_in_readiness_and_recovers(store_url: str, demo, tmp_path: Path,
                                                                       mode: str) -> None:
    _, key = create_key("disk-test", "check")
    with served_on_a_small_disk(store_url, tmp_path, mode) as (disk, port):
        status, before = _check(port, key)
        assert status == 200
        assert _until(lambda: call(port, "GET", "/readyz", key)[0] == 200)
        assert not missing(port, key, [before["decision_id"]])  # committed (async mode: the lookup writes it)
        disk.fill()
        acked: list[str] = []

        def refused() -> dict | None:  # SQLite fills its WAL's free pages first: checks until the first 503
            status, body = _check(port, key)
            if status == 200:
                acked.append(body["decision_id"])
                return None
            assert status == 503, (status, body)
            return body

        body = _until(refused, 30)
        assert body is not None, f"no 503 after {len(acked)} decisions on a full disk"
        assert body["error"]["code"] == "audit_unavailable" and body["allowed"] is False and "decision_id" not in body
        ready_status, ready = call(port, "GET", "/readyz", key)
        assert ready_status == 503 and ready["recorder_writing"] is False and "failing" in ready["recorder"], ready
        # lookups answer from what is stored: the record committed before, and 404 for an unknown id
        assert call(port, "GET", f"/v1/decisions/{before['decision_id']}", key)[0] == 200
        assert call(port, "GET", "/v1/decisions/00000000-0000-7000-8000-000000000000", key)[0] == 404
        metrics = call_text(port, "/metrics")
        assert "authz_decision_recorder_writing 0.0" in metrics, metrics[-800:]
        disk.free()
        assert _until(lambda: call(port, "GET", "/readyz", key)[0] == 200), call(port, "GET", "/readyz", key)
        status, after = _check(port, key)
        assert status == 200
        # every decision answered 200 is recorded, those answered while the disk filled included
        assert _until(lambda: not missing(port, key, [before["decision_id"], after["decision_id"], *acked])), acked


def call_text(port: int, path: str) -> str:
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    text = conn.getresponse().read().decode()
    conn.close()
    return text
