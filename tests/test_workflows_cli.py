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


def test_invitations_expire_closes_overdue_invitations_with_their_event(demo: dict[str, str], store_url: str) -> None:
    import datetime as dt

    from click.testing import CliRunner

    from service.cli import main
    from service.store import database
    from service.store import models as m

    invitation_id = int(demo["webwerk_blumen_invite"].split(":")[1])
    m.Invitation.update(expires_at=m.utcnow() - dt.timedelta(days=1)).where(m.Invitation.id == invitation_id).execute()
    database.close()
    result = CliRunner().invoke(main, ["invitations", "expire"], env={"DATABASE_URL": store_url})
    assert result.exit_code == 0, result.output
    assert demo["webwerk_blumen_invite"] in result.output
    database.connect(reuse_if_open=True)
    assert m.Invitation.get_by_id(invitation_id).status == "expired"
    assert m.Event.select().where(m.Event.kind == "invitation.expired",
                                  m.Event.subject == demo["webwerk_blumen_invite"]).count() == 1
    again = CliRunner().invoke(main, ["invitations", "expire"], env={"DATABASE_URL": store_url})
    assert again.exit_code == 0 and demo["webwerk_blumen_invite"] not in again.output
