"""A version that allows an action to anyone (the "stranger"): lists and subjects follow it too.

The candidates of a list are the resources related to the user plus those a user with no facts may
act on; of /v1/subjects, every user when a user with no facts may act on the resource
(service/queries/stranger.py). These tests activate such versions and compare /v1/list and
/v1/subjects with /v1/check on every (user, resource); and they show that an invitation open to
anyone leaves the lists when it expires, with no write in between (time alone changes its facts).
"""
from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pytest

from policy_edits import copy_policies
from service.analysis.candidates import activate, read_candidate
from service.store import bump_revision, database
from service.store import models as m

from test_api_support import Api, api  # noqa: F401  (fixture)

OPEN_INVOICES = ('\n# R16 (deliberately open, a test): every user sees every invoice.\n'
                 'grant(_user: User, "view_invoice", invoice: Invoice, why) if why = {rule: "R16", invoice: invoice.id};\n')
OPEN_REFUSAL = ('\n# R7 (deliberately open, a test): anyone may refuse an open invitation.\n'
                'grant(_user: User, "refuse", inv: Invitation, why) if inv.is_open and why = {rule: "R7", invitation: inv.id};\n')


def _activate_with(tmp_path: Path, file: str, text: str) -> None:
    folder = copy_policies(tmp_path / "open")
    with open(folder / file, "a", encoding="utf-8") as fh:
        fh.write(text)
    activate(read_candidate(folder), "tests")
    shutil.rmtree(folder)


def _ids(model: type[m.BaseModel], kind: str) -> list[str]:
    return [f"{kind}:{row.id}" for row in model.select(model.id).order_by(model.id)]


def _listed(api: Api, actor: str, action: str, kind: str, **past: str) -> list[str]:
    ids, cursor = [], None
    while True:
        answer = api.post("/v1/list", {"actor": actor, "action": action, "resource_type": kind, "page_size": 3,
                                       **({"cursor": cursor} if cursor else {}), **past})
        assert answer.status_code == 200, answer.json
        ids += answer.json["ids"]
        cursor = answer.json["next_cursor"]
        if cursor is None:
            return ids


def _allowed(api: Api, actor: str, action: str, resource: str) -> bool:
    answer = api.post("/v1/check", {"actor": actor, "action": action, "resource": resource})
    assert answer.status_code == 200, answer.json
    return answer.json["allowed"]


def test_an_action_open_to_anyone_lists_every_resource_and_names_every_user(api: Api, demo, tmp_path: Path) -> None:
    _activate_with(tmp_path, "billing.polar", OPEN_INVOICES)
    users, invoices = _ids(m.User, "user"), _ids(m.Invoice, "invoice")
    for user in users:
        assert _listed(api, user, "view_invoice", "invoice") == invoices, user
    for invoice in invoices:
        answer = api.post("/v1/subjects", {"action": "view_invoice", "resource": invoice})
        assert answer.status_code == 200, answer.json
        assert [s["user"] for s in answer.json["subjects"]] == users, invoice
        assert all(_allowed(api, user, "view_invoice", invoice) for user in users)


def test_an_invitation_open_to_anyone_leaves_the_lists_when_it_expires(api: Api, demo, tmp_path: Path) -> None:
    _activate_with(tmp_path, "invitations.polar", OPEN_REFUSAL)
    invitation = m.Invitation.select().where(m.Invitation.status == "pending").order_by(m.Invitation.id).first()
    assert invitation is not None, "the demo world has a pending invitation"
    with database.atomic():  # it expires in a moment; nothing is written after this
        m.Invitation.update(expires_at=m.utcnow() + dt.timedelta(seconds=1.5)) \
            .where(m.Invitation.id == invitation.id).execute()
        bump_revision()
    ref = f"invitation:{invitation.id}"
    users = _ids(m.User, "user")
    open_at = _now()
    before = {user: ref in _listed(api, user, "refuse", "invitation") for user in users}
    assert all(before.values()) and all(_allowed(api, user, "refuse", ref) for user in users)
    time.sleep(1.6)
    for user in users:
        assert ref not in _listed(api, user, "refuse", "invitation"), user
        assert not _allowed(api, user, "refuse", ref)
    answer = api.post("/v1/subjects", {"action": "refuse", "resource": ref})
    assert answer.status_code == 200 and answer.json["subjects"] == []
    # the same revision asked about later, then earlier: the invitation is open only at the earlier moment,
    # also for a user of neither side (a candidate only as the stranger's)
    sides = {invitation.partner_id, invitation.customer_id}
    outsider = next(user for user in users if not m.Membership.select().where(
        (m.Membership.user == int(user.split(":")[1])) & m.Membership.organization.in_(sides)).exists())
    for at, listed in ((_now(), False), (open_at, True)):
        assert (ref in _listed(api, outsider, "refuse", "invitation", at=at)) is listed, at


def _now() -> str:
    return m.utcnow().isoformat(timespec="milliseconds") + "Z"


@pytest.mark.parametrize("kind", ["organization", "product", "invoice", "invitation", "partnership"])
def test_without_an_open_grant_a_user_of_no_organization_lists_nothing(api: Api, demo, kind: str) -> None:
    created = api.write("POST", "/v1/users", {"email": "nobody@example.test", "name": "Nobody"})
    assert created.status_code == 201, created.json
    for action in {"organization": ["access_account", "view_billing"], "product": ["view_statistics"],
                   "invoice": ["view_invoice"], "invitation": ["accept", "refuse"],
                   "partnership": ["review", "end"]}[kind]:
        assert _listed(api, created.json["id"], action, kind) == []
