"""Issue 22 item 5 and issue 19 item 4: `authz serve` refuses, with one line naming the setting and
exit code 2, every setting that would make requests fail later, and creates no store."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from live_servers import free_port
from service.cli.start_checks import check_store

ROOT = Path(__file__).resolve().parents[1]

BAD_SETTINGS = {  # setting -> (value, what the line must name)
    "short review secret": ({"AUTHZ_REVIEW_SECRET": "short"}, "AUTHZ_REVIEW_SECRET"),
    "unreachable postgresql": ({"DATABASE_URL": "postgresql://authz:pw@127.0.0.1:1/authz"}, "DATABASE_URL"),
    "zero workers": ({"WORKERS": "0"}, "WORKERS"),
    "workers not a number": ({"WORKERS": "abc"}, "WORKERS"),
    "threads not a number": ({"AUTHZ_THREADS": "abc"}, "AUTHZ_THREADS"),
    "zero threads": ({"AUTHZ_THREADS": "0"}, "AUTHZ_THREADS"),
    "decision log in no folder": ({"AUTHZ_DECISION_LOG": "/nonexistent-folder/decisions.log"}, "AUTHZ_DECISION_LOG"),
    "decision log on stdout": ({"AUTHZ_DECISION_LOG": "-"}, "AUTHZ_DECISION_LOG"),
    "deadline not a number": ({"AUTHZ_REQUEST_DEADLINE_SECONDS": "soon"}, "AUTHZ_REQUEST_DEADLINE_SECONDS"),
    "worker timeout below the deadline": ({"AUTHZ_WORKER_TIMEOUT_SECONDS": "5"}, "AUTHZ_WORKER_TIMEOUT_SECONDS"),
    "polar timeout negative": ({"POLAR_TIMEOUT_MS": "-1"}, "POLAR_TIMEOUT_MS"),
    "statement timeout not a number": ({"AUTHZ_STATEMENT_TIMEOUT_MS": "5s"}, "AUTHZ_STATEMENT_TIMEOUT_MS"),
}


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess:
    port = str(free_port())
    try:
        return subprocess.run([sys.executable, "-m", "service.cli", "serve", "--port", port],
                              env={**os.environ, "PORT": port, **env}, cwd=ROOT, capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:  # today's main: it started (and was killed by the timeout)
        pytest.fail("authz serve started instead of refusing")


@pytest.fixture
def existing_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'authz.db'}"
    done = subprocess.run([sys.executable, "-m", "service.cli", "init-db"], env={**os.environ, "DATABASE_URL": url},
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return url


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_serve_refuses_a_bad_setting_in_one_line(case: str, existing_store: str) -> None:
    settings, named = BAD_SETTINGS[case]
    done = _serve({"DATABASE_URL": existing_store, **settings})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], done.stderr
    assert "Traceback" not in done.stderr and "pw@" not in done.stderr  # no password shown


@pytest.mark.parametrize("how", ["missing", "no schema"])
def test_serve_refuses_a_sqlite_store_that_is_not_there(how: str, tmp_path: Path) -> None:
    path = tmp_path / "data" / "authz.db"
    if how == "no schema":
        path.parent.mkdir()
        path.touch()
    done = _serve({"DATABASE_URL": f"sqlite:///{path}"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "DATABASE_URL" in lines[0], done.stderr
    if how == "missing":
        assert not path.parent.exists()  # nothing created: no file, not even its folder


def test_an_existing_store_passes_and_a_dropped_schema_does_not(store_url: str) -> None:
    assert check_store(store_url) is None
    if store_url.startswith("postgresql"):
        from conftest import reset_postgres
        reset_postgres(store_url)
        problem = check_store(store_url)
        assert problem is not None and "schema" in problem
