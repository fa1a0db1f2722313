"""Workflow functions (R4-R19) called directly, on SQLite and PostgreSQL: each step is decided by the
policy, validated, and written with its event and history entry in one transaction."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from service import workflows as wf
from service.policy.active import decide
from service.store import current_revision
from service.store import models as m


def events(kind: str | None = None) -> list[m.Event]:
    query = m.Event.select().order_by(m.Event.id)
    return [e for e in query if kind is None or e.kind == kind]


def limited(*items: tuple[str, bool, bool]) -> dict:
    return {"access": "limited",
            "products": [{"product": p, "technical": t, "statistical": s} for p, t, s in items]}


FULL = {"access": "full", "payment_mode": "customer"}


# -- sending (R4, R5, R6, R11) ------------------------------------------------------------------

def test_partner_legal_representative_invites_a_customer(demo: dict[str, str]) -> None:
    rev = current_revision()
    inv = wf.create_invitation(demo["paula"], demo["pixelhaus"], demo["baeckerei"], FULL)
    assert inv["status"] == "pending" and inv["inviting_side"] == "partner"
    assert inv["invited_by"] == demo["paula"]
    assert current_revision() == rev + 1
    [sent] = events("invitation.sent")
    assert sent.subject == inv["id"] and sent.actor == demo["paula"]
    assert json.loads(sent.payload)["notify"] == [demo["baeckerei"]]
    [entry] = m.HistoryEntry.select().where(m.HistoryEntry.subject == inv["id"])
    assert entry.before is None and json.loads(entry.after)["status"] == "pending"


@pytest.mark.parametrize("who", ["peter", "pia", "bruno", "anna", "max"])
def test_only_the_partner_legal_representative_may_add_that_customer(demo: dict[str, str], who: str) -> None:
    with pytest.raises(wf.Forbidden) as err:
        wf.create_invitation(demo[who], demo["pixelhaus"], demo["baeckerei"], FULL)
    assert err.value.reasons and all(r["rule"] == "R20" for r in err.value.reasons)
    assert events() == []


def test_customer_legal_representative_invites_a_partner(demo: dict[str, str]) -> None:
    inv = wf.create_invitation(demo["berta"], demo["pixelhaus"], demo["baeckerei"],
                               limited((demo["baeckerei_web"], True, False)))
    assert inv["inviting_side"] == "customer"
    assert events("invitation.sent")[0].actor == demo["berta"]
    assert json.loads(events()[0].payload)["notify"] == [demo["pixelhaus"]]


def test_a_non_partner_organization_cannot_add_customers(demo: dict[str, str]) -> None:
    # max is the legal representative of metzgerei, which is not a partner (R4)
    with pytest.raises(wf.Forbidden):
        wf.create_invitation(demo["max"], demo["metzgerei"], demo["cafe"], FULL)
    # the customer's own legal representative may invite, but only a partner organization (422)
    with pytest.raises(wf.Invalid) as err:
        wf.create_invitation(demo["berta"], demo["metzgerei"], demo["baeckerei"], FULL)
    assert err.value.field == "partner"


@pytest.mark.parametrize("requested, field", [
    ({"access": "limited", "products": []}, "requested.products"),
    ({"access": "limited", "payment_mode": "partner", "products": [
        {"product": "PRODUCT:baeckerei_web", "technical": True}]}, "requested.payment_mode"),
    ({"access": "full"}, "requested.payment_mode"),
    ({"access": "full", "payment_mode": "partner", "products": [
        {"product": "PRODUCT:baeckerei_web", "technical": True}]}, "requested.products"),
    ({"access": "limited", "products": [{"product": "PRODUCT:baeckerei_web"}]}, "requested.products[0]"),
    ({"access": "limited", "products": [{"product": "PRODUCT:cafe_web", "technical": True}]},
     "requested.products[0].product"),
    ({"access": "everything"}, "requested.access"),
])
def test_requests_are_validated_naming_the_field(demo: dict[str, str], requested: dict, field: str) -> None:
    text = json.dumps(requested)
    for key in ("baeckerei_web", "cafe_web"):
        text = text.replace(f"PRODUCT:{key}", demo[key])
    with pytest.raises(wf.Invalid) as err:
        wf.create_invitation(demo["paula"], demo["pixelhaus"], demo["baeckerei"], json.loads(text))
    assert err.value.field == field
    assert events() == []


def test_unknown_product_is_404_and_malformed_reference_is_400(demo: dict[str, str]) -> None:
    with pytest.raises(wf.NotFound):
        wf.create_invitation(demo["paula"], demo["pixelhaus"], demo["baeckerei"],
                             limited(("product:999999", True, False)))
    with pytest.raises(wf.Malformed) as err:
        wf.create_invitation(demo["paula"], "org:1", demo["baeckerei"], FULL)
    assert err.value.field == "partner"


def test_r11_no_invitation_while_a_partnership_is_active_or_one_is_pending(demo: dict[str, str]) -> None:
    with pytest.raises(wf.Conflict):
        wf.create_invitation(demo["anna"], demo["webwerk"], demo["baeckerei"], FULL)
    with pytest.raises(wf.Conflict):
        wf.create_invitation(demo["anna"], demo["webwerk"], demo["blumen"], FULL)
    # an ended partnership does not block a new invitation
    assert wf.create_invitation(demo["anna"], demo["webwerk"], demo["zahnarzt"], FULL)["status"] == "pending"


# -- answering (R7, R8, R9) ------------------------------------------------------------------

def test_accept_with_a_narrower_grant_only_the_grant_takes_effect(demo: dict[str, str]) -> None:
    inv = wf.create_invitation(demo["paula"], demo["pixelhaus"], demo["baeckerei"], limited(
        (demo["baeckerei_web"], True, True), (demo["baeckerei_shop"], True, True)))
    answer = wf.accept_invitation(demo["berta"], inv["id"], limited((demo["baeckerei_web"], False, True)))
    assert answer["granted"]["products"] == [{"product": demo["baeckerei_web"], "technical": False,
                                              "statistical": True}]
    assert decide(demo["paula"], "view_statistics", demo["baeckerei_web"]).allowed
    for action, product in [("manage_product", "baeckerei_web"), ("manage_product", "baeckerei_shop"),
                            ("view_statistics", "baeckerei_shop")]:
        assert not decide(demo["paula"], action, demo[product]).allowed, (action, product)
    [accepted] = events("invitation.accepted")
    payload = json.loads(accepted.payload)
    assert payload["partnership"] == answer["partnership"] and payload["granted"] == answer["granted"]
    # R8: the request stays on the invitation only
    pid = int(answer["partnership"].split(":")[1])
    assert m.PartnershipProduct.select().where(m.PartnershipProduct.partnership == pid).count() == 1


def test_accept_without_grant_takes_the_request(demo: dict[str, str]) -> None:
    answer = wf.accept_invitation(demo["flora"], demo["webwerk_blumen_invite"])
    assert answer["granted"] == {"access": "full", "payment_mode": "customer"}
    assert decide(demo["anna"], "access_account", demo["blumen"]).allowed


@pytest.mark.parametrize("who", ["anna", "bernd", "carla", "berta"])
def test_only_the_invited_legal_representative_may_answer(demo: dict[str, str], who: str) -> None:
    for step in (wf.accept_invitation, wf.refuse_invitation):
        with pytest.raises(wf.Forbidden):
            step(demo[who], demo["webwerk_blumen_invite"])
    assert events() == []


def test_a_customer_invitation_is_accepted_as_offered(demo: dict[str, str]) -> None:
    with pytest.raises(wf.Invalid) as err:
        wf.accept_invitation(demo["paula"], demo["tischler_pixelhaus_invite"], FULL)
    assert err.value.field == "granted"
    answer = wf.accept_invitation(demo["paula"], demo["tischler_pixelhaus_invite"])
    assert answer["granted"]["access"] == "limited"


def test_a_grant_must_name_the_customers_products(demo: dict[str, str]) -> None:
    with pytest.raises(wf.Invalid) as err:
        wf.accept_invitation(demo["flora"], demo["webwerk_blumen_invite"], limited((demo["cafe_web"], True, True)))
    assert err.value.field == "granted.products[0].product"
    assert m.Invitation.get_by_id(int(demo["webwerk_blumen_invite"].split(":")[1])).status == "pending"


def test_answered_cancelled_and_refused_invitations_cannot_be_answered(demo: dict[str, str]) -> None:
    wf.refuse_invitation(demo["flora"], demo["webwerk_blumen_invite"])
    for step in (wf.accept_invitation, wf.refuse_invitation, wf.cancel_invitation, wf.resend_invitation):
        with pytest.raises(wf.Conflict):
            step(demo["flora"], demo["webwerk_blumen_invite"])
    with pytest.raises(wf.Conflict):
        wf.accept_invitation(demo["zora"], demo["pixelhaus_zahnarzt_cancelled"])
    assert [e.kind for e in events()] == ["invitation.refused"]


def test_an_expired_invitation_is_marked_expired_and_answers_409(demo: dict[str, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHZ_INVITATION_TTL_DAYS", "1")
    past = m.utcnow() - dt.timedelta(days=2)
    inv = wf.create_invitation(demo["paula"], demo["pixelhaus"], demo["baeckerei"], FULL, now=past)
    with pytest.raises(wf.Conflict) as err:
        wf.accept_invitation(demo["berta"], inv["id"])
    assert "expired" in err.value.message
    assert m.Invitation.get_by_id(int(inv["id"].split(":")[1])).status == "expired"
    assert [e.kind for e in events()] == ["invitation.sent", "invitation.expired"]
    with pytest.raises(wf.Conflict):
        wf.accept_invitation(demo["berta"], inv["id"])
    assert m.Partnership.select().where(m.Partnership.partner == int(demo["pixelhaus"].split(":")[1]),
                                        m.Partnership.customer == int(demo["baeckerei"].split(":")[1])).count() == 0


def test_resend_renews_and_cancel_closes(demo: dict[str, str]) -> None:
    inv = demo["webwerk_blumen_invite"]
    for who in ("flora", "bernd", "carla"):
        for step in (wf.resend_invitation, wf.cancel_invitation):
            with pytest.raises(wf.Forbidden):
                step(demo[who], inv)
    resent = wf.resend_invitation(demo["anna"], inv)
    cancelled = wf.cancel_invitation(demo["anna"], inv)
    assert resent["status"] == "pending" and cancelled["status"] == "cancelled"
    assert [e.kind for e in events()] == ["invitation.resent", "invitation.cancelled"]
    assert wf.pending_invitations(demo["blumen"]) == []
    assert [i["id"] for i in wf.pending_invitations(demo["pixelhaus"])] == [demo["tischler_pixelhaus_invite"]]


# -- review, change, end (R10, R17, R18, R19) ----------------------------------------------------------

def test_review_shows_the_grant_beside_the_request(demo: dict[str, str]) -> None:
    for who in ("anna", "bernd", "alma"):
        review = wf.review_partnership(demo[who], demo["webwerk_anwalt"])
        assert review["granted"]["access"] == "limited" and review["requested"]["access"] == "limited"
    missing = {(r["product"], r["right"]) for r in review["not_granted"]["rights_not_granted"]}
    assert missing == {(demo["anwalt_web"], "statistical"), (demo["anwalt_mail"], "technical"),
                       (demo["anwalt_drive"], "technical")}
    for who in ("carla", "peter", "erik"):
        with pytest.raises(wf.Forbidden):
            wf.review_partnership(demo[who], demo["webwerk_anwalt"])


def test_change_access_takes_effect_on_the_next_decision(demo: dict[str, str]) -> None:
    p = demo["webwerk_anwalt"]
    for who in ("anna", "bernd", "carla"):
        with pytest.raises(wf.Forbidden):
            wf.change_access(demo[who], p, FULL)
    assert not decide(demo["anna"], "manage_product", demo["anwalt_drive"]).allowed
    wf.change_access(demo["alma"], p, limited((demo["anwalt_drive"], True, False)))
    assert decide(demo["anna"], "manage_product", demo["anwalt_drive"]).allowed
    assert not decide(demo["anna"], "manage_product", demo["anwalt_web"]).allowed
    [changed] = events("partnership.access_changed")
    assert json.loads(changed.payload)["notify"] == [demo["webwerk"]]


def test_change_payment_mode(demo: dict[str, str]) -> None:
    for who in ("anna", "bruno", "bea"):
        with pytest.raises(wf.Forbidden):
            wf.change_payment_mode(demo[who], demo["webwerk_baeckerei"], "partner")
    after = wf.change_payment_mode(demo["berta"], demo["webwerk_baeckerei"], "partner")
    assert after["granted"]["payment_mode"] == "partner"
    with pytest.raises(wf.Invalid) as err:
        wf.change_payment_mode(demo["alma"], demo["webwerk_anwalt"], "partner")
    assert err.value.field == "payment_mode"


@pytest.mark.parametrize("ender", ["anna", "berta"])
def test_end_stops_access_and_keeps_history(demo: dict[str, str], ender: str) -> None:
    p = demo["webwerk_baeckerei"]
    for who in ("bernd", "carla", "bruno", "paula"):
        with pytest.raises(wf.Forbidden):
            wf.end_partnership(demo[who], p)
    assert decide(demo["carla"], "access_account", demo["baeckerei"]).allowed
    wf.end_partnership(demo[ender], p)
    for who in ("anna", "bernd", "carla"):
        assert not decide(demo[who], "access_account", demo["baeckerei"]).allowed
    with pytest.raises(wf.Conflict):
        wf.end_partnership(demo[ender], p)
    history = wf.partnership_history(demo["berta"], p)["history"]
    assert [h["change"] for h in history] == ["partnership.ended"]
    assert history[-1]["before"]["status"] == "active" and history[-1]["after"]["status"] == "ended"
    assert history[-1]["actor"] == demo[ender]


def test_export_customers_csv(demo: dict[str, str]) -> None:
    for who in ("anna", "bernd"):
        text = wf.export_customers(demo[who], demo["webwerk"])
        lines = text.strip().splitlines()
        assert lines[0].startswith("customer,customer_name,partnership")
        assert {line.split(",")[0] for line in lines[1:]} == {demo["baeckerei"], demo["metzgerei"], demo["anwalt"]}
    for who in ("carla", "erik", "paula"):
        with pytest.raises(wf.Forbidden):
            wf.export_customers(demo[who], demo["webwerk"])


def test_events_page_by_cursor_and_history_follows_the_invitation(demo: dict[str, str]) -> None:
    inv = wf.create_invitation(demo["paula"], demo["pixelhaus"], demo["baeckerei"], FULL)
    wf.resend_invitation(demo["paula"], inv["id"])
    answer = wf.accept_invitation(demo["berta"], inv["id"], {"access": "full", "payment_mode": "partner"})
    wf.end_partnership(demo["paula"], answer["partnership"])
    first = wf.events_after(None, 2)
    rest = wf.events_after(first["next"], 100)
    kinds = [e["kind"] for e in first["events"] + rest["events"]]
    assert kinds == ["invitation.sent", "invitation.resent", "invitation.accepted", "partnership.ended"]
    assert wf.events_after(rest["next"])["events"] == []
    history = wf.partnership_history(demo["berta"], answer["partnership"])["history"]
    assert [h["change"] for h in history] == ["invitation.sent", "invitation.resent", "partnership.created",
                                              "invitation.accepted", "partnership.ended"]
    with pytest.raises(wf.Malformed):
        wf.events_after("abc")
