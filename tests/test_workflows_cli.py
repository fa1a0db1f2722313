"""`authz partnership show` and `authz invitations pending` on the demo world."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from service.cli import main


@pytest.fixture
def run(store_url: str, demo: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", store_url)
    return lambda *args: CliRunner().invoke(main, list(args))


def test_partnership_show_puts_request_beside_grant(run, demo: dict[str, str]) -> None:
    out = run("partnership", "show", demo["webwerk_anwalt"])
    assert out.exit_code == 0, out.output
    web = next(line for line in out.output.splitlines() if demo["anwalt_web"] + " " in line)
    assert web.startswith("!") and web.split()[-2:] == ["technical+statistical", "technical"]
    assert "requested but not granted" in out.output


def test_partnership_show_as_a_user_asks_the_policy(run, demo: dict[str, str]) -> None:
    assert run("partnership", "show", demo["webwerk_anwalt"], "--as", demo["bernd"]).exit_code == 0
    denied = run("partnership", "show", demo["webwerk_anwalt"], "--as", demo["carla"])
    assert denied.exit_code == 1 and "forbidden" in denied.output


def test_invitations_pending(run, demo: dict[str, str]) -> None:
    out = run("invitations", "pending")
    assert out.exit_code == 0
    listed = [line.split()[0] for line in out.output.splitlines()]
    assert listed == [demo["webwerk_blumen_invite"], demo["tischler_pixelhaus_invite"]]
    only = run("invitations", "pending", "--organization", demo["blumen"])
    assert [line.split()[0] for line in only.output.splitlines()] == [demo["webwerk_blumen_invite"]]
