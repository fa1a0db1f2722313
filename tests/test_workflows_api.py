"""The workflow endpoints end to end over HTTP (Flask test client), on SQLite and PostgreSQL:
each step with its allowed actor and denied actors (a collaborator, the other side's
administrator, a stranger), the error shape, scopes, review, export, events and history."""
from __future__ import annotations

from typing import Any

import pytest

from service.api import create_app
from service.api.auth import create_key
from service.store import models as m


class Api:
    def __init__(self, client: Any, key: str, demo: dict[str, str]) -> None:
        self.client, self.key, self.demo = client, key, demo

    def _headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def post(self, path: str, body: dict, key: str | None = None):
        return self.client.post(path, json=body, headers=self._headers(key))

    def put(self, path: str, body: dict):
        return self.client.put(path, json=body, headers=self._headers(None))

    def get(self, path: str, key: str | None = None):
        return self.client.get(path, headers=self._headers(key))

    def check(self, actor: str, action: str, resource: str) -> bool:
        from service.policy.active import decide
        return decide(self.demo[actor], action, self.demo[resource]).allowed


def num(ref: str) -> int:
    return int(ref.split(":")[1])


@pytest.fixture
def api(store_url: str, demo: dict[str, str]) -> Api:
    app = create_app({"DATABASE_URL": store_url, "TESTING": True})
    _, key = create_key("workflow-tests", "write")
    return Api(app.test_client(), key, demo)


def assert_denied(resp, rule_hint: str | None = None) -> None:
    assert resp.status_code == 403, resp.get_json()
    body = resp.get_json()
    assert body["error"]["code"] == "forbidden"
    assert body["reasons"], body


FULL = {"access": "full", "payment_mode": "customer"}


def test_partner_invites_customer_allowed_and_denied(api: Api) -> None:
    d = api.demo
    body = {"partner": d["pixelhaus"], "customer": d["baeckerei"], "requested": FULL}
    # a collaborator, the partner's administrator, the other side's administrator, a stranger
    for who in ("pia", "peter", "bruno", "anna"):
        assert_denied(api.post("/v1/invitations", {**body, "acting_user": d[who]}))
    resp = api.post("/v1/invitations", {**body, "acting_user": d["paula"]})
    assert resp.status_code == 201, resp.get_json()
    out = resp.get_json()
    assert out["id"].startswith("invitation:") and out["inviting_side"] == "partner"
    # R11 / duplicate: a second invitation for the pair while one is pending
    assert api.post("/v1/invitations", {**body, "acting_user": d["paula"]}).status_code == 409


def test_customer_invites_partner_allowed_and_denied(api: Api) -> None:
    d = api.demo
    body = {"partner": d["pixelhaus"], "customer": d["baeckerei"],
            "requested": {"access": "limited", "products": [{"product": d["baeckerei_web"], "technical": True}]}}
    for who in ("bea", "bruno", "carl"):
        assert_denied(api.post("/v1/invitations", {**body, "acting_user": d[who]}))
    resp = api.post("/v1/invitations", {**body, "acting_user": d["berta"]})
    assert resp.status_code == 201 and resp.get_json()["inviting_side"] == "customer"
    # the partner's legal representative accepts what was offered
    accepted = api.post(f"/v1/invitations/{num(resp.get_json()['id'])}/accept", {"acting_user": d["paula"]})
    assert accepted.status_code == 200, accepted.get_json()
    assert api.check("paula", "manage_product", "baeckerei_web")
    assert not api.check("paula", "view_statistics", "baeckerei_web")


@pytest.mark.parametrize("requested, status, field", [
    ({"access": "limited", "products": []}, 422, "requested.products"),
    ({"access": "limited", "payment_mode": "partner", "products": [{"product": "P", "technical": True}]},
     422, "requested.payment_mode"),
    ({"access": "limited", "products": [{"product": "OTHER", "technical": True}]}, 422,
     "requested.products[0].product"),
    ({"access": "limited", "products": [{"product": "P"}]}, 422, "requested.products[0]"),
    ({"access": "full"}, 422, "requested.payment_mode"),
    ({"access": "full", "payment_mode": "customer", "products": [{"product": "P", "technical": True}]},
     422, "requested.products"),
    ({"access": "limited", "products": [{"product": "product:999999", "technical": True}]}, 404,
     "requested.products[0].product"),
])
def test_invitation_validation_names_the_field(api: Api, requested: dict, status: int, field: str) -> None:
    d = api.demo
    for item in requested.get("products") or []:
        item["product"] = {"P": d["baeckerei_web"], "OTHER": d["cafe_web"]}.get(item["product"], item["product"])
    resp = api.post("/v1/invitations", {"acting_user": d["paula"], "partner": d["pixelhaus"],
                                        "customer": d["baeckerei"], "requested": requested})
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["field"] == field
    assert m.Event.select().count() == 0


def test_non_partner_cannot_be_the_partner(api: Api) -> None:
    d = api.demo
    resp = api.post("/v1/invitations", {"acting_user": d["berta"], "partner": d["metzgerei"],
                                        "customer": d["baeckerei"], "requested": FULL})
    assert resp.status_code == 422 and resp.get_json()["error"]["field"] == "partner"
    assert_denied(api.post("/v1/invitations", {"acting_user": d["max"], "partner": d["metzgerei"],
                                               "customer": d["cafe"], "requested": FULL}))


def test_malformed_bodies_are_400(api: Api) -> None:
    d = api.demo
    resp = api.post("/v1/invitations", {"acting_user": d["paula"], "partner": "pixelhaus",
                                        "customer": d["baeckerei"], "requested": FULL})
    assert resp.status_code in (400, 422) and resp.get_json()["error"]["field"] == "partner"
    resp = api.post("/v1/invitations/1/accept", {"acting_user": d["flora"], "grant": FULL})
    assert resp.status_code in (400, 422)


def test_accept_with_narrower_grant_allowed_and_denied(api: Api) -> None:
    d = api.demo
    path = f"/v1/invitations/{num(d['webwerk_blumen_invite'])}/accept"
    granted = {"access": "limited", "products": [{"product": d["blumen_web"], "technical": True,
                                                  "statistical": False}]}
    # the inviting side's legal representative, a collaborator, the partner's administrator, a stranger
    for who in ("anna", "carla", "bernd", "berta"):
        assert_denied(api.post(path, {"acting_user": d[who], "granted": granted}))
    resp = api.post(path, {"acting_user": d["flora"], "granted": granted})
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert out["partnership"].startswith("partnership:")
    assert out["requested"] == FULL and out["granted"]["access"] == "limited"
    assert api.check("anna", "manage_product", "blumen_web")
    assert not api.check("anna", "view_statistics", "blumen_web")        # R8: requested (full), not granted
    again = api.post(path, {"acting_user": d["flora"]})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"


def test_refuse_allowed_and_denied(api: Api) -> None:
    d = api.demo
    path = f"/v1/invitations/{num(d['webwerk_blumen_invite'])}/refuse"
    for who in ("anna", "carla", "berta"):
        assert_denied(api.post(path, {"acting_user": d[who]}))
    resp = api.post(path, {"acting_user": d["flora"]})
    assert resp.status_code == 200 and resp.get_json()["status"] == "refused"
    assert api.post(path, {"acting_user": d["flora"]}).status_code == 409
    assert not api.check("anna", "access_account", "blumen")


@pytest.mark.parametrize("step, status", [("resend", "pending"), ("cancel", "cancelled")])
def test_resend_and_cancel_allowed_and_denied(api: Api, step: str, status: str) -> None:
    d = api.demo
    path = f"/v1/invitations/{num(d['webwerk_blumen_invite'])}/{step}"
    for who in ("carla", "bernd", "flora", "paula"):
        assert_denied(api.post(path, {"acting_user": d[who]}))
    resp = api.post(path, {"acting_user": d["anna"]})
    assert resp.status_code == 200 and resp.get_json()["status"] == status
    cancelled = f"/v1/invitations/{num(d['pixelhaus_zahnarzt_cancelled'])}/{step}"
    assert api.post(cancelled, {"acting_user": d["paula"]}).status_code == 409
    assert api.post("/v1/invitations/999999/accept", {"acting_user": d["flora"]}).status_code == 404


def test_review_allowed_and_denied(api: Api) -> None:
    d = api.demo
    path = f"/v1/partnerships/{num(d['pixelhaus_verein'])}"
    for who in ("paula", "peter", "vera"):
        resp = api.get(f"{path}?acting_user={d[who]}")
        assert resp.status_code == 200, resp.get_json()
        out = resp.get_json()
        assert out["requested"] == {"access": "full", "payment_mode": "partner"}
        assert out["granted"]["access"] == "limited"
        assert out["not_granted"]["access"] == {"requested": "full", "granted": "limited"}
    for who in ("pia", "anna", "tom"):
        assert_denied(api.get(f"{path}?acting_user={d[who]}"))
    assert api.get(path).status_code == 400
    assert api.get(f"/v1/partnerships/999999?acting_user={d['paula']}").status_code == 404


def test_change_access_allowed_and_denied(api: Api) -> None:
    d = api.demo
    path = f"/v1/partnerships/{num(d['webwerk_anwalt'])}/access"
    granted = {"access": "limited", "products": [{"product": d["anwalt_drive"], "statistical": True}]}
    for who in ("anna", "carla", "bernd", "berta"):
        assert_denied(api.put(path, {"acting_user": d[who], "granted": granted}))
    assert not api.check("anna", "view_statistics", "anwalt_drive")
    resp = api.put(path, {"acting_user": d["alma"], "granted": granted})
    assert resp.status_code == 200, resp.get_json()
    assert api.check("anna", "view_statistics", "anwalt_drive")
    assert not api.check("anna", "manage_product", "anwalt_web")


def test_change_payment_mode_allowed_and_denied(api: Api) -> None:
    d = api.demo
    path = f"/v1/partnerships/{num(d['webwerk_baeckerei'])}/payment-mode"
    for who in ("anna", "bea", "bruno", "carl"):
        assert_denied(api.put(path, {"acting_user": d[who], "payment_mode": "partner"}))
    resp = api.put(path, {"acting_user": d["berta"], "payment_mode": "partner"})
    assert resp.status_code == 200 and resp.get_json()["granted"]["payment_mode"] == "partner"
    bad = api.put(f"/v1/partnerships/{num(d['webwerk_anwalt'])}/payment-mode",
                  {"acting_user": d["alma"], "payment_mode": "partner"})
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "payment_mode"


def test_end_allowed_and_denied_and_history_stays(api: Api) -> None:
    d = api.demo
    pid = num(d["webwerk_baeckerei"])
    for who in ("carla", "bernd", "bruno", "paula"):
        assert_denied(api.post(f"/v1/partnerships/{pid}/end", {"acting_user": d[who]}))
    assert api.check("carla", "access_account", "baeckerei")
    resp = api.post(f"/v1/partnerships/{pid}/end", {"acting_user": d["berta"]})
    assert resp.status_code == 200 and resp.get_json()["status"] == "ended"
    assert not api.check("carla", "access_account", "baeckerei")
    assert not api.check("anna", "manage_product", "baeckerei_web")
    assert api.post(f"/v1/partnerships/{pid}/end", {"acting_user": d["anna"]}).status_code == 409
    history = api.get(f"/v1/partnerships/{pid}/history?acting_user={d['berta']}")
    assert history.status_code == 200
    [entry] = history.get_json()["history"]
    assert entry["change"] == "partnership.ended" and entry["actor"] == d["berta"]
    assert entry["before"]["status"] == "active" and entry["after"]["status"] == "ended"
    # the partner no longer reviews an ended partnership (R10); the customer still does (R1)
    assert_denied(api.get(f"/v1/partnerships/{pid}/history?acting_user={d['anna']}"))


def test_export_allowed_and_denied(api: Api) -> None:
    d = api.demo
    path = f"/v1/organizations/{num(d['webwerk'])}/customers.csv"
    resp = api.get(f"{path}?acting_user={d['bernd']}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = resp.get_data(as_text=True).strip().splitlines()
    assert len(rows) == 1 + 3 and rows[0].startswith("customer,")
    for who in ("carla", "berta", "paula"):
        assert_denied(api.get(f"{path}?acting_user={d[who]}"))


def test_events_feed_and_scopes(api: Api) -> None:
    d = api.demo
    _, check_key = create_key("checker", "check")
    path = f"/v1/invitations/{num(d['webwerk_blumen_invite'])}/accept"
    assert api.post(path, {"acting_user": d["flora"]}, key=check_key).status_code == 403
    assert api.client.post(path, json={"acting_user": d["flora"]}).status_code == 401
    assert api.post(path, {"acting_user": d["flora"]}).status_code == 200
    api.post(f"/v1/partnerships/{num(d['webwerk_baeckerei'])}/end", {"acting_user": d["anna"]})
    first = api.get("/v1/events?limit=1").get_json()
    assert [e["kind"] for e in first["events"]] == ["invitation.accepted"]
    rest = api.get(f"/v1/events?after={first['next']}").get_json()
    assert [e["kind"] for e in rest["events"]] == ["partnership.ended"]
    assert rest["events"][0]["payload"]["ended_by"] == d["anna"]
    assert api.get(f"/v1/events?after={rest['next']}").get_json()["events"] == []
    assert api.get("/v1/events?after=x").status_code == 400
    assert api.get("/v1/events", key=check_key).status_code == 403
