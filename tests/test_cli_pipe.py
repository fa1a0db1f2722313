"""Issue 23: a closed pipe ends the command quietly. `authz impact … | head -1` used to end with
`error: [Errno 32] Broken pipe` (exit 2); now stdout is pointed at /dev/null when its reader goes away
and the command exits 141 (128 + SIGPIPE, as a shell reports a writer whose reader left) with nothing on
stderr. Real pipes: `authz` and `head -1` are two processes joined as a shell joins them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.world import generate
from conftest import activate_repo_policy
from policy_edits import candidate
from service.cli.errors import PIPE_CLOSED_EXIT
from service.store import database
from service.store.world import load_world

pytestmark = pytest.mark.skipif(shutil.which("head") is None, reason="needs head(1)")


def into_head(*args: str, url: str) -> tuple[int, str, str]:
    """`authz ARGS | head -1`: (authz's exit code, what head printed, authz's stderr)."""
    env = {**os.environ, "DATABASE_URL": url, "AUTHZ_DECISION_LOG": "off"}
    writer = subprocess.Popen([sys.executable, "-m", "service.cli", *args], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    head = subprocess.Popen(["head", "-1"], stdin=writer.stdout, stdout=subprocess.PIPE)
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.close()  # only head reads it now: when head exits, the pipe is closed
    shown, _ = head.communicate(timeout=120)
    errors = writer.stderr.read().decode()
    writer.stderr.close()
    return writer.wait(timeout=120), shown.decode(), errors


def test_impact_into_head_ends_quietly(store_url: str, tmp_path: Path) -> None:
    load_world(generate(4, 200, 3, seed=7).data)  # ~15,000 gained view_invoice lines: far more than a pipe holds
    activate_repo_policy()
    database.close()
    folder = candidate(tmp_path, "r16_partner_sees_invoices")
    code, shown, errors = into_head("impact", "--policies", str(folder), url=store_url)
    assert shown.startswith("baseline ") and shown.count("\n") == 1
    assert errors == "" and code == PIPE_CLOSED_EXIT, (code, errors)


def test_printed_ids_into_head_end_quietly(store_url: str, tmp_path: Path) -> None:
    world = tmp_path / "users.yaml"
    world.write_text("users:\n" + "".join(f"  - {{key: user_number_{i:06}}}\n" for i in range(30_000)))  # ~1.5 MB of ids
    code, shown, errors = into_head("load", "--print-ids", str(world), url=store_url)
    assert shown.split() == ["user_number_000000", shown.split()[1]] and shown.split()[1].startswith("user:")
    assert code == PIPE_CLOSED_EXIT, (code, errors)
    assert errors.startswith("load: ") and len(errors.splitlines()) == 1, errors  # its summary, no error
    assert "rror" not in errors and "Broken pipe" not in errors


@pytest.mark.parametrize("args", [("--help",), ("rules",), ("invitations", "pending")])
def test_short_output_into_head_ends_quietly(demo: dict[str, str], store_url: str, args: tuple) -> None:
    database.close()
    code, shown, errors = into_head(*args, url=store_url)
    assert shown.count("\n") == 1 and errors == "", (shown, errors)
    assert code in (0, PIPE_CLOSED_EXIT)  # 0 when the whole output was in the pipe before head left
