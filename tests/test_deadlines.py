"""Issue 12 item 3: a request stops deciding at its deadline (below gunicorn's worker timeout)
and denies the rest with a clear reason instead of being killed; PostgreSQL statements have a
timeout; the settings refuse a deadline the worker timeout would cut short."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import peewee
import pytest

from service.api import create_app
from service.api.auth import create_key
from service.store.db import make_database
from conftest import POSTGRES_URL

DEADLINE_DENIAL = {"rule": "R20", "denied": "request deadline exceeded: not decided, denied"}


def _client(store_url: str, deadline: float):
    app = create_app({"DATABASE_URL": store_url, "REQUEST_DEADLINE_SECONDS": deadline})
    _, key = create_key("deadline-test", "check")
    return app.test_client(), {"Authorization": f"Bearer {key}"}


def test_a_batch_past_its_deadline_is_denied_with_the_reason(store_url: str, demo) -> None:
    checks = [{"actor": demo["anna"], "action": "access_account", "resource": demo["baeckerei"]}] * 100
    client, headers = _client(store_url, 0.0)
    late = client.post("/v1/check/batch", json={"checks": checks}, headers=headers)
    assert late.status_code == 200 and len(late.json["results"]) == 100
    assert all(r["allowed"] is False and r["reasons"] == [DEADLINE_DENIAL] for r in late.json["results"])
    in_time, headers = _client(store_url, 15.0)
    answered = in_time.post("/v1/check/batch", json={"checks": checks}, headers=headers)
    assert all(r["allowed"] is True for r in answered.json["results"])


def test_actions_past_the_deadline_are_not_listed(store_url: str, demo) -> None:
    client, headers = _client(store_url, 0.0)
    late = client.post("/v1/actions", json={"actor": demo["anna"], "resource": demo["webwerk"]}, headers=headers)
    assert late.status_code == 200 and late.json["actions"] == [] and late.json["allowed"] is False
    assert late.json["reasons"] and all(r["denied"] == DEADLINE_DENIAL["denied"] for r in late.json["reasons"])


def test_serve_refuses_a_deadline_at_or_above_the_worker_timeout(tmp_path: Path) -> None:
    env = {**os.environ, "AUTHZ_REQUEST_DEADLINE_SECONDS": "30", "AUTHZ_WORKER_TIMEOUT_SECONDS": "30",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'authz.db'}"}
    # a subprocess: were the settings accepted, serve would replace this process with gunicorn
    result = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--port", "8499"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "must be below the gunicorn worker timeout" in result.stderr
    # a deadline below the worker timeout, but a Polar timeout that a decision at the deadline may still use
    env.update(AUTHZ_REQUEST_DEADLINE_SECONDS="20", POLAR_TIMEOUT_MS="10000")
    result = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--port", "8499"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "plus twice POLAR_TIMEOUT_MS (2 × 10 s)" in result.stderr
    env.update(POLAR_TIMEOUT_MS="5000")  # 20 + 2 × 5 = 30: a list's query asked again may run that long
    result = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--port", "8499"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "plus twice POLAR_TIMEOUT_MS (2 × 5 s)" in result.stderr


@pytest.mark.skipif(not POSTGRES_URL, reason="PostgreSQL only (TEST_POSTGRES_URL)")
def test_postgres_statements_time_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert POSTGRES_URL
    served = make_database(POSTGRES_URL, pooled=True)
    assert served.execute_sql("SHOW statement_timeout").fetchone()[0] == "5s"
    served.close_all()
    monkeypatch.setenv("AUTHZ_STATEMENT_TIMEOUT_MS", "100")
    short = make_database(POSTGRES_URL, pooled=True)
    with pytest.raises(peewee.OperationalError, match="statement timeout"):
        short.execute_sql("SELECT pg_sleep(2)")
    short.close_all()
    operator = make_database(POSTGRES_URL)  # the CLI: migrations and large loads are not cut short
    assert operator.execute_sql("SHOW statement_timeout").fetchone()[0] == "0"
    operator.close()
