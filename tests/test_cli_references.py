"""Issue 23: a malformed reference given to the CLI is bad input, not a question: exit 2, one line
naming the argument, nothing decided and nothing recorded (neither in the store's `decision` table nor
in the decision log). Each command runs as the operator runs it: a separate process."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def authz(*args: str, url: str, log: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "AUTHZ_DECISION_LOG": str(log)}
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def recorded(url: str, log: Path) -> tuple[int, int]:
    """(decision records in the store, lines in the decision log)."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///"):]) as db:
            stored = db.execute("SELECT COUNT(*) FROM decision").fetchone()[0]
    else:
        import psycopg2
        with psycopg2.connect(url) as db, db.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM decision")
            stored = cursor.fetchone()[0]
    return stored, (len(log.read_text().splitlines()) if log.exists() else 0)


MALFORMED = [  # (arguments, the argument the error line names, what it says)
    (("check", "user:x", "access_account", "organization:1"), "'ACTOR'", "must be of the form type:id"),
    (("check", "organization:1", "access_account", "organization:1"), "'ACTOR'", "must name a user"),
    (("check", "user:1", "access_account", "organization:01"), "'RESOURCE'", "must be of the form type:id"),
    (("check", "user:1", "access_account", "organisation:1"), "'RESOURCE'", "unknown type 'organisation'"),
    (("check", "user:1", "access_account", "organization:"), "'RESOURCE'", "must be of the form type:id"),
    (("check", "--explain", "--json", "user:1", "access_account", "x" * 200), "'RESOURCE'", "at most 128"),
    (("actions", "user:one", "organization:1"), "'ACTOR'", "must be of the form type:id"),
    (("actions", "user:1", "organization:-1"), "'RESOURCE'", "must be of the form type:id"),
    (("partnership", "show", "five"), "'PARTNERSHIP_ID'", "must be of the form type:id"),
    (("partnership", "show", "organization:1"), "'PARTNERSHIP_ID'", "must name a partnership"),
    (("partnership", "show", "1", "--as", "user:x"), "'--as'", "must be of the form type:id"),
    (("invitations", "pending", "--organization", "user:1"), "'--organization'", "must name a organization"),
]


@pytest.mark.parametrize("args, argument, says", MALFORMED, ids=[" ".join(a[0])[:60] for a in MALFORMED])
def test_a_malformed_reference_exits_2_naming_the_argument_and_records_nothing(
        demo: dict[str, str], store_url: str, tmp_path: Path, args: tuple, argument: str, says: str) -> None:
    log = tmp_path / "decisions.log"
    before = recorded(store_url, log)
    result = authz(*args, url=store_url, log=log)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and argument in lines[0] and says in lines[0], lines[0]
    assert recorded(store_url, log) == before  # not a decision: nothing recorded


def test_a_well_formed_check_is_still_decided_and_recorded(demo: dict[str, str], store_url: str,
                                                           tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    stored, logged = recorded(store_url, log)
    allowed = authz("check", demo["anna"], "access_account", demo["baeckerei"], url=store_url, log=log)
    unknown = authz("check", "user:999999", "access_account", demo["baeckerei"], url=store_url, log=log)
    assert (allowed.returncode, unknown.returncode) == (0, 1), (allowed.stderr, unknown.stderr)
    assert unknown.stdout.startswith("DENY")  # well formed but unknown: a deny, as over HTTP
    assert recorded(store_url, log) == (stored + 2, logged + 2)


def test_bare_ids_still_work_where_the_type_is_implied(demo: dict[str, str], store_url: str, tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    number = demo["webwerk_anwalt"].split(":")[1]
    shown = authz("partnership", "show", number, url=store_url, log=log)
    assert shown.returncode == 0 and shown.stdout.startswith(demo["webwerk_anwalt"]), shown.stderr
    pending = authz("invitations", "pending", "--organization", demo["blumen"].split(":")[1], url=store_url, log=log)
    assert pending.returncode == 0 and pending.stdout.split()[0] == demo["webwerk_blumen_invite"], pending.stderr


def test_a_refused_workflow_read_is_an_error_but_a_policy_refusal_a_deny(demo: dict[str, str], store_url: str,
                                                                         tmp_path: Path) -> None:
    log = tmp_path / "decisions.log"
    missing = authz("partnership", "show", "partnership:999999", url=store_url, log=log)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "404" in missing.stderr
    denied = authz("partnership", "show", demo["webwerk_anwalt"], "--as", demo["carla"], url=store_url, log=log)
    assert denied.returncode == 1 and denied.stderr.startswith("error: ") and "403 forbidden" in denied.stderr
