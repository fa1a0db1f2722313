"""Issue 12 item 9: the CLI fails with one clear line (no traceback), `error: ` first, and exit code 2;
a deny exits 1; `authz check` on a missing store creates nothing; `authz load` says what it wrote and
how long it took. Each command runs as the operator runs it: a separate process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO_WORLD


def authz(*args: str, url: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def test_loading_a_world_twice_is_one_line(store_url: str) -> None:
    assert authz("load", str(DEMO_WORLD), url=store_url).returncode == 0
    assert_one_line_error(authz("load", str(DEMO_WORLD), url=store_url), "nothing was changed", "--if-empty")


@pytest.mark.parametrize("text, words", [
    ("users: 5\n", ("`users` must be a list of mappings",)),
    ("users: [\n  - {key: a\n", ("not valid YAML",)),
    ("products:\n  - {name: no-organization}\n", ("malformed input", "organization")),
])
def test_a_broken_world_file_is_one_line(store_url: str, tmp_path: Path, text: str, words: tuple) -> None:
    world = tmp_path / "world.yaml"
    world.write_text(text)
    assert_one_line_error(authz("load", str(world), url=store_url), *words)


def test_commands_before_init_db_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    assert_one_line_error(authz("partnership", "show", "7", url=f"sqlite:///{empty}"), "authz init-db")


def test_an_unsupported_database_url_is_one_line() -> None:
    assert_one_line_error(authz("check", "user:1", "access_account", "organization:1", url="mysql://x"),
                          "unsupported DATABASE_URL scheme")
    assert_one_line_error(authz("init-db", url="mysql://x"), "unsupported DATABASE_URL scheme")


def test_check_on_a_missing_store_creates_nothing_and_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "authz.db"
    result = authz("check", "user:1", "access_account", "organization:1", url=f"sqlite:///{missing}")
    assert_one_line_error(result, "no store at", str(missing))
    assert not (tmp_path / "no").exists()


def test_check_exit_codes_allow_0_deny_1(store_url: str, demo: dict[str, str]) -> None:
    allowed = authz("check", demo["anna"], "access_account", demo["baeckerei"], url=store_url)
    denied = authz("check", demo["dirk"], "access_account", demo["baeckerei"], url=store_url)
    assert (allowed.returncode, denied.returncode) == (0, 1)


def test_load_says_what_it_wrote_and_prints_no_ids_unless_asked(store_url: str, tmp_path: Path) -> None:
    world = tmp_path / "large.yaml"
    lines = ["organizations:", "  - {key: org, name: Org}", "users:"]
    lines += [f"  - {{key: u{i}, email: u{i}@x.example, name: {'x' * 150}}}" for i in range(6000)]  # > 1 MB
    world.write_text("\n".join(lines) + "\n")
    result = authz("load", str(world), url=store_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # no id lines without --print-ids
    summary = result.stderr.splitlines()
    assert len(summary) == 1 and summary[0].startswith(f"load: {world}: 6,001 rows, 6,001 keys; done in "), summary
    assert "\r" not in result.stderr  # no progress bar: stderr is not a terminal
    small = authz("load", str(DEMO_WORLD), url=store_url)
    assert small.returncode == 0 and small.stdout == "" and len(small.stderr.splitlines()) == 1
