"""A primary and a streaming standby (.ci/start-standby) with one service instance on each.

TEST_POSTGRES_PRIMARY_URL / TEST_POSTGRES_STANDBY_URL name them; unset, the standby tests skip,
unless AUTHZ_STANDBY_TESTS=required (CI), where they fail. The instance on the standby has
AUTHZ_PRIMARY_URL set to the primary, as docs/scaling.md tells an operator to run it.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import peewee
import pytest

from conftest import DEMO_WORLD, activate_repo_policy, reset_postgres
from live_servers import ROOT, START_SECONDS, free_port, stop, wait_ready
from live_servers import request as http
from service.api.auth import create_key
from service.store import database, init_schema, open_database
from service.store.db import make_database
from service.store.world import load_world, read_world_file

PRIMARY_URL = os.environ.get("TEST_POSTGRES_PRIMARY_URL")
STANDBY_URL = os.environ.get("TEST_POSTGRES_STANDBY_URL")
REQUIRED = os.environ.get("AUTHZ_STANDBY_TESTS") == "required"
REPLAY_SECONDS = 30

needs_pair = pytest.mark.skipif(not (PRIMARY_URL and STANDBY_URL) and not REQUIRED,
                                reason="needs TEST_POSTGRES_PRIMARY_URL and TEST_POSTGRES_STANDBY_URL "
                                       "(bash .ci/start-standby 5452 5453)")


@dataclass
class Pair:
    primary: str          # base URL of the instance on the primary
    standby: str          # base URL of the instance on the standby
    check_key: str
    write_key: str
    demo: dict[str, str]

    def post(self, base: str, path: str, body: dict, key: str | None = None) -> tuple[int, Any]:
        return http(base, "POST", path, key or self.check_key, body)

    def check(self, base: str, actor: str, action: str, resource: str, **extra: Any) -> tuple[int, Any]:
        return self.post(base, "/v1/check", {"actor": self.demo[actor], "action": action,
                                             "resource": self.demo[resource], **extra})


def standby_db() -> peewee.Database:
    assert STANDBY_URL, "AUTHZ_STANDBY_TESTS=required but TEST_POSTGRES_STANDBY_URL is unset"
    return make_database(STANDBY_URL)


def scalar(db: peewee.Database, sql: str) -> Any:
    db.connect(reuse_if_open=True)
    try:
        return db.execute_sql(sql).fetchone()[0]
    finally:
        db.close()


def wait_replayed(timeout: float = REPLAY_SECONDS) -> None:
    """Until the standby has replayed everything the primary had written when called."""
    primary = make_database(PRIMARY_URL)  # type: ignore[arg-type]
    target = scalar(primary, "SELECT pg_current_wal_lsn()::text")
    db, ends = standby_db(), time.monotonic() + timeout
    while scalar(db, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") is not True:
        assert time.monotonic() < ends, "the standby did not replay within the time allowed"
        time.sleep(0.05)


def start(store_url: str, port: int, **env: str) -> subprocess.Popen:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return subprocess.Popen([gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
                             "--worker-class", "gthread", "--no-control-socket", "--log-level", "warning",
                             "service.wsgi:app"], cwd=ROOT,
                            env={**os.environ, "DATABASE_URL": store_url, "AUTHZ_DECISION_LOG": "off",
                                 "AUTHZ_SHAPE_TABLE": "0", **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rebuild_standby() -> None:
    """Make the standby again from the primary if it was promoted (the script keeps a standby as it is)."""
    ports = [str(urlparse(url).port) for url in (PRIMARY_URL, STANDBY_URL)]  # type: ignore[arg-type]
    done = subprocess.run(["bash", str(ROOT / ".ci" / "start-standby"), *ports], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]


@contextlib.contextmanager
def pair(tmp_path: Path) -> Iterator[Pair]:
    """The demo world on the primary, replayed by the standby, and an instance on each."""
    assert PRIMARY_URL and STANDBY_URL, "AUTHZ_STANDBY_TESTS=required but the standby URLs are unset"
    reset_postgres(PRIMARY_URL)
    open_database(PRIMARY_URL)
    init_schema()
    demo = load_world(read_world_file(DEMO_WORLD))
    activate_repo_policy()
    _, check_key = create_key("standby-check", "check")
    _, write_key = create_key("standby-write", "write")
    database.close()
    wait_replayed()
    procs, ports = [], [free_port(), free_port()]
    try:
        procs.append(start(PRIMARY_URL, ports[0]))
        procs.append(start(STANDBY_URL, ports[1], AUTHZ_PRIMARY_URL=PRIMARY_URL))
        deadline = time.monotonic() + START_SECONDS
        for port, proc in zip(ports, procs):
            wait_ready(port, proc, deadline)
        yield Pair(f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}", check_key, write_key, demo)
    finally:
        stop(procs)
        database.close()
