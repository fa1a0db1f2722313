"""Issue 23: every error the CLI prints starts with one prefix, `error: ` (click's own usage errors,
which click writes as `Error:` after a usage block, included), on one line, on stderr; nothing is
ever printed as `Error:`. Usage errors exit 2 like every other error."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from policy_edits import candidate
from service.cli import main
from service.cli.errors import ERROR_PREFIX

MISSING = "/no/such/file.yaml"


def _broken_policy(tmp_path: Path) -> Path:
    folder = candidate(tmp_path, "r4_nobody")
    (folder / "customers.polar").write_text("this is not polar (\n")
    return folder


def _broken_world(tmp_path: Path) -> Path:
    world = tmp_path / "broken.yaml"
    world.write_text("users: [\n  - {key: a\n")
    return world


# (arguments, their exit code, words of the error line); a callable argument is made from tmp_path
ERRORS = [
    (("chek",), 2, "No such command 'chek'"),
    (("--bogus",), 2, "No such option '--bogus'"),
    (("check",), 2, "Missing argument 'ACTOR'"),
    (("check", "user:1", "access_account"), 2, "Missing argument 'RESOURCE'"),
    (("check", "user:1", "access_account", "organization:1", "--jsn"), 2, "No such option '--jsn'"),
    (("check", "user:x", "access_account", "organization:1"), 2, "Invalid value for 'ACTOR'"),
    (("actions", "user:1", "organization:x"), 2, "Invalid value for 'RESOURCE'"),
    (("load", MISSING), 2, "does not exist"),
    (("load", _broken_world), 2, "not valid YAML"),
    (("load", "--ids-file", "/no/such/dir/ids.txt", "data/demo.yaml"), 2, "--ids-file"),
    (("keys", "revoke", "abc"), 2, "'abc' is not a valid integer"),
    (("keys", "revoke", "999999"), 2, "no active key 999999"),
    (("keys", "create", "--name", "x", "--scope", "root"), 2, "Invalid value for '--scope'"),
    (("decisions", "show", "nope"), 2, "no decision nope is recorded"),
    (("decisions", "prune", "--before", "yesterday"), 2, "Invalid value for '--before'"),
    (("replay", "nope"), 2, "nope"),
    (("history", "prune"), 2, "Missing option '--before'"),
    (("partnership", "show", "partnership:999999"), 2, "404"),
    (("partnership", "show", "x"), 2, "Invalid value for 'PARTNERSHIP_ID'"),
    (("invitations", "pending", "--organization", "x"), 2, "Invalid value for '--organization'"),
    (("impact",), 2, "Missing option '--policies'"),
    (("impact", "--policies", _broken_policy), 2, "candidate invalid"),
    (("policy", "activate", _broken_policy), 2, "refused"),
    (("policy", "nope"), 2, "No such command 'nope'"),
    (("validate", "--policies", _broken_policy), 1, "policy invalid"),  # a finding: exit 1
    (("test", MISSING), 2, "does not exist"),
    (("rules", "--bogus"), 2, "No such option '--bogus'"),
    (("serve", "--port", "http"), 2, "PORT (--port)='http' is not a whole number"),
]


@pytest.fixture
def run(demo: dict[str, str], store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("AUTHZ_DECISION_LOG", "off")

    def invoke(*args):
        concrete = [str(arg(tmp_path)) if callable(arg) else arg for arg in args]
        return CliRunner().invoke(main, concrete)
    return invoke


@pytest.mark.parametrize("args, code, words", ERRORS, ids=[" ".join(getattr(a, "__name__", str(a)) for a in e[0])[:50] for e in ERRORS])
def test_every_error_is_one_line_with_the_one_prefix(run, args: tuple, code: int, words: str) -> None:
    result = run(*args)
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output and "Error:" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors and errors[0].startswith(ERROR_PREFIX), result.stderr
    # one error line; only a message that has its own context (a policy file's parse error) goes on, indented
    assert all(line[:1].isspace() for line in errors[1:]), result.stderr
    if "policy" not in args[0] and args[0] not in ("impact", "validate"):
        assert len(errors) == 1, result.stderr
    assert words in errors[0], errors[0]
    assert "Usage:" not in result.output  # the usage block is not repeated: the line says where help is


def test_a_usage_error_says_where_the_help_is(run) -> None:
    result = run("check", "user:1", "access_account")
    assert result.stderr.strip().endswith("(see `authz check --help`)"), result.stderr


def test_the_prefix_holds_in_a_real_process_too(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    for args in (["chek"], ["check", "user:1"], ["check", "user:1", "access_account", "organization:1"]):
        result = subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 2 and result.stdout == "", result
        assert result.stderr.startswith(ERROR_PREFIX) and len(result.stderr.splitlines()) == 1, result.stderr
        assert "Error:" not in result.stderr
