"""The CLI with DATABASE_URL pointing at a PostgreSQL standby (issue 22): a writing command fails with one
line naming the standby and pointing at its primary (AUTHZ_PRIMARY_URL), exit 2, never the server's raw
read-only error; reading commands answer from the standby; `authz check` records on the primary, or is
refused before deciding when no primary is named. Each command runs as the operator runs it: a process.

The standby is only read: the primary gets the demo world once (as the other standby tests do).
Skipped without the standby URLs, required in CI (AUTHZ_STANDBY_TESTS=required).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Iterator

import pytest

from conftest import DEMO_WORLD, activate_repo_policy, reset_postgres
from service.api.auth import create_key
from service.store import database, init_schema, open_database
from service.store.world import load_world, read_world_file
from standby_pair import PRIMARY_URL, ROOT, STANDBY_URL, needs_pair, scalar, standby_db, wait_replayed

pytestmark = [needs_pair, pytest.mark.shares("standby pair")]  # one pair: these files never overlap


def authz(*args: str, primary: bool = False, **env: str) -> subprocess.CompletedProcess:
    """`authz ARGS` with DATABASE_URL the standby (and AUTHZ_PRIMARY_URL its primary when `primary`)."""
    settings = {**os.environ, "DATABASE_URL": STANDBY_URL or "", "AUTHZ_PRIMARY_URL": PRIMARY_URL if primary else "",
                **env}
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=settings, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def key_id() -> Iterator[int]:
    """The demo world and one check key on the primary, replayed by the standby; the key's id."""
    assert PRIMARY_URL and STANDBY_URL, "AUTHZ_STANDBY_TESTS=required but the standby URLs are unset"
    reset_postgres(PRIMARY_URL)
    open_database(PRIMARY_URL)
    init_schema()
    load_world(read_world_file(DEMO_WORLD))
    activate_repo_policy()
    row, _ = create_key("standby-cli", "check")
    database.close()
    wait_replayed()
    yield row.id
    database.close()


def assert_standby_refusal(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    line = lines[0]
    assert line.startswith("error: ") and "read-only PostgreSQL standby" in line, line
    port = STANDBY_URL.rsplit(":", 1)[1].split("/")[0]  # type: ignore[union-attr]
    assert f"127.0.0.1:{port}/" in line and "nothing was changed" in line, line
    assert "read-only transaction" not in line and "authz:authz" not in line, line  # no raw error, no password
    for word in words:
        assert word in line, line


WRITING = [("keys", "create", "--name", "x", "--scope", "check"), ("keys", "revoke", "{key}"), ("keys", "dev"),
           ("policy", "activate"), ("load", str(DEMO_WORLD)), ("decisions", "prune", "--before", "2020-01-01")]


@pytest.mark.parametrize("command", WRITING, ids=lambda command: " ".join(command[:2]))
def test_a_writing_command_on_a_standby_is_one_line_pointing_at_the_primary(key_id: int, command: tuple) -> None:
    keys_before = scalar(standby_db(), "SELECT count(*) FROM api_key WHERE revoked_at IS NULL")
    args = [part.format(key=key_id) for part in command]
    assert_standby_refusal(authz(*args), "AUTHZ_PRIMARY_URL")
    wait_replayed()
    assert scalar(standby_db(), "SELECT count(*) FROM api_key WHERE revoked_at IS NULL") == keys_before


def test_with_the_primary_named_the_line_says_where_to_run_it(key_id: int) -> None:
    primary_port = PRIMARY_URL.rsplit(":", 1)[1].split("/")[0]  # type: ignore[union-attr]
    assert_standby_refusal(authz("keys", "revoke", str(key_id), primary=True), f"127.0.0.1:{primary_port}/")


def test_reading_commands_answer_from_the_standby(key_id: int) -> None:
    listed = authz("keys", "list")
    assert listed.returncode == 0 and "standby-cli" in listed.stdout, listed.stderr
    shown = authz("policy", "show")
    assert shown.returncode == 0 and shown.stdout.startswith("active "), shown.stderr


def test_check_on_a_standby_records_on_the_primary_or_is_refused_before_deciding(key_id: int) -> None:
    question = ("check", "user:1", "access_account", "organization:1", "--json")
    refused = authz(*question)
    assert refused.returncode == 2 and refused.stdout == "", (refused.stdout, refused.stderr)
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "AUTHZ_PRIMARY_URL" in lines[0], refused.stderr
    decided = authz(*question, primary=True)
    assert decided.returncode in (0, 1) and decided.stderr == "", decided.stderr
    decision_id = json.loads(decided.stdout)["decision_id"]
    found = authz("decisions", "show", decision_id, primary=True)  # the records are read where they are
    assert found.returncode == 0 and decision_id in found.stdout, found.stderr
    # the records off: nothing to write, so nothing refused (and the recorder prunes nothing either)
    unrecorded = authz(*question, AUTHZ_DECISION_STORE="off")
    assert unrecorded.returncode in (0, 1) and unrecorded.stderr == "", unrecorded.stderr
