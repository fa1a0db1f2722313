"""The /review console through HTTP: sign-in and sessions, and every page's data against the
engine's own answers (/v1/subjects, /v1/list, decide), as HTML, CSV and JSON."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from service.api import create_app
from service.api.auth import create_key, revoke_key
from service.decide.vocabulary import actions_for

from test_api_support import Api, make_api

PAGES = ["/review/", "/review/customers/{baeckerei}", "/review/partners/{webwerk}", "/review/users/{carla}",
         "/review/rules/R12", "/review/search?q=anna", "/review/customers/{baeckerei}?format=json",
         "/review/customers/{baeckerei}?format=csv"]


@pytest.fixture
def console(store_url: str, demo, tmp_path: Path) -> Api:
    return make_api(store_url, tmp_path)


def _id(ref: str) -> str:
    return ref.split(":")[1]


def _paths(demo) -> list[str]:
    return [p.format(**{k: _id(demo[k]) for k in ("baeckerei", "webwerk", "carla")}) for p in PAGES]


def _signed_in(api: Api) -> Api:
    _, key = create_key("reviewer", "review")
    answer = api.client.post("/review/sign-in", data={"key": key})
    assert answer.status_code == 302
    return api


def test_no_page_opens_without_signing_in(console: Api, demo) -> None:
    for path in _paths(demo):
        answer = console.client.get(path)
        if "format=" in path:  # an export answers 401 JSON, never the HTML sign-in form
            assert answer.status_code == 401 and answer.json["error"]["code"] == "session_required", path
            continue
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/review/sign-in?next="), path


def test_check_and_write_keys_do_not_open_the_console(console: Api, demo) -> None:
    for key in (console.check_key, console.write_key, "azk_not_a_key"):
        answer = console.client.post("/review/sign-in", data={"key": key})
        assert answer.status_code == 401 and "Set-Cookie" not in answer.headers
        assert console.client.get(f"/review/customers/{_id(demo['baeckerei'])}").status_code == 302
    assert "does not open the review console" in console.client.post(
        "/review/sign-in", data={"key": console.check_key}).get_data(as_text=True)


def test_review_keys_do_not_open_the_api(console: Api, demo) -> None:
    _, key = create_key("reviewer", "review")
    answer = console.client.post("/v1/check", json={"actor": demo["anna"], "action": "add_customer",
                                                    "resource": demo["webwerk"]},
                                 headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403


def test_the_session_cookie_and_the_key_never_in_a_url(console: Api, demo) -> None:
    _, key = create_key("reviewer", "review")
    target = f"/review/customers/{_id(demo['baeckerei'])}"
    answer = console.client.post("/review/sign-in", data={"key": key, "next": target})
    cookie = answer.headers["Set-Cookie"]
    assert answer.headers["Location"] == target and key not in answer.headers["Location"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/review" in cookie and key not in cookie
    form = console.client.get("/review/sign-in").get_data(as_text=True)
    assert 'method="post"' in form and 'type="password"' in form
    assert console.client.get(target).status_code == 200


def test_next_never_leaves_the_console(console: Api) -> None:
    _, key = create_key("reviewer", "review")
    for target in ("//evil.example/x", "https://evil.example/", "/v1/check"):
        answer = console.client.post("/review/sign-in", data={"key": key, "next": target})
        assert answer.headers["Location"] == "/review/"


def test_sign_out_and_revocation_close_the_session(console: Api, demo) -> None:
    _, key = create_key("reviewer", "review")
    page = f"/review/users/{_id(demo['anna'])}"
    console.client.post("/review/sign-in", data={"key": key})
    assert console.client.get(page).status_code == 200
    console.client.post("/review/sign-out")
    assert console.client.get(page).status_code == 302
    row, key = create_key("reviewer2", "review")
    console.client.post("/review/sign-in", data={"key": key})
    assert console.client.get(page).status_code == 200
    revoke_key(row.id)
    assert console.client.get(page).status_code == 302


def test_the_signing_secret_is_shared_through_the_store(console: Api, store_url: str, demo, tmp_path: Path) -> None:
    _signed_in(console)
    page = f"/review/users/{_id(demo['anna'])}"
    assert console.client.get(page).status_code == 200
    other = create_app({"DATABASE_URL": store_url, "DECISION_LOG": "off"}).test_client()  # another worker
    cookie = console.client.get_cookie("authz_review", path="/review")
    other.set_cookie("authz_review", cookie.value, path="/review")
    assert other.get(page).status_code == 200


def test_the_customer_page_is_v1_subjects_for_every_action(console: Api, demo) -> None:
    _signed_in(console)
    for key in ("baeckerei", "anwalt", "webwerk", "zahnarzt"):
        ref = demo[key]
        body = console.client.get(f"/review/customers/{_id(ref)}?format=json").json
        assert set(body) == {"customer", "resources", "access", "at", "policy_version", "revision"}
        assert body["customer"] == ref and body["resources"][0] == ref and body["at"] is None
        expected = []
        for resource in body["resources"]:
            for action in actions_for(resource.split(":")[0]):
                subjects = console.post("/v1/subjects", {"action": action, "resource": resource}).json["subjects"]
                expected += [{"user": s["user"], "action": action, "resource": resource, "reasons": s["reasons"]}
                             for s in subjects]
        assert body["access"] == expected
        assert any(r.startswith("product:") for r in body["resources"]) or key != "baeckerei"
        rows = list(csv.DictReader(io.StringIO(console.client.get(f"/review/customers/{_id(ref)}?format=csv")
                                               .get_data(as_text=True))))
        assert [(r["user"], r["action"], json.loads(r["reasons"])) for r in rows] == \
               [(a["user"], a["action"], a["reasons"]) for a in body["access"]]
    html = console.client.get(f"/review/customers/{_id(demo['baeckerei'])}").get_data(as_text=True)
    assert f'href="/review/users/{_id(demo["carla"])}"' in html and 'href="/review/rules/R13"' in html


def test_the_partner_page_agrees_with_decisions(console: Api, demo) -> None:
    _signed_in(console)
    body = console.client.get(f"/review/partners/{_id(demo['webwerk'])}?format=json").json
    customers = {c["customer"]: c for c in body["customers"]}
    assert set(customers) == {demo[k] for k in ("baeckerei", "metzgerei", "anwalt")}
    assert customers[demo["metzgerei"]]["payment_mode"] == "partner" and customers[demo["anwalt"]]["access"] == "limited"
    assert all(len(c["since"]) == 10 for c in customers.values())
    for cell in body["matrix"]:
        asked = console.post("/v1/check", {"actor": cell["user"], "action": "access_account",
                                           "resource": cell["customer"]}).json
        assert asked["allowed"] == cell["access_account"], cell
    carla = {c["customer"]: c for c in body["matrix"] if c["user"] == demo["carla"]}
    assert carla[demo["baeckerei"]]["access_account"] and not carla[demo["metzgerei"]]["access_account"]
    matrix_csv = console.client.get(f"/review/partners/{_id(demo['webwerk'])}?format=csv&table=matrix").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(matrix_csv)))) == len(body["matrix"])
    assert console.client.get(f"/review/partners/{_id(demo['baeckerei'])}").status_code == 404  # not a partner


def test_the_user_page_lists_what_v1_list_lists(console: Api, demo) -> None:
    _signed_in(console)
    body = console.client.get(f"/review/users/{_id(demo['carla'])}?format=json").json
    listed = set()
    for resource_type, actions in (("organization", ("access_account", "manage_users")),
                                   ("product", ("manage_product", "view_statistics"))):
        for action in actions:
            ids = console.post("/v1/list", {"actor": demo["carla"], "action": action, "resource_type": resource_type,
                                            "page_size": 1000}).json["ids"]
            listed |= {(action, ref) for ref in ids}
    shown = {(m["action"], m["resource"]) for m in body["may"]}
    assert listed and listed <= shown
    assert {m["role"] for m in body["memberships"]} == {"collaborator"}


def test_the_rule_page(console: Api, demo) -> None:
    _signed_in(console)
    body = console.client.get("/review/rules/R13?format=json").json
    assert body["statement"].startswith("A collaborator of a partner may access only the customers")
    assert any("grant(user: User, \"access_account\"" in c["source"] for c in body["clauses"])
    assert body["granted_pairs"] >= 3 and len(body["rows"]) >= 10
    assert console.client.get("/review/rules/R99").status_code == 404


def test_search_by_name_email_and_id(console: Api, demo) -> None:
    _signed_in(console)
    def refs(q: str) -> set[str]:
        return {r["ref"] for r in console.client.get(f"/review/search?format=json&q={q}").json["results"]}
    assert demo["carla"] in refs("carla") and demo["carla"] in refs(demo["carla"])
    assert demo["webwerk"] in refs("webwerk") and demo["webwerk"] in refs(demo["webwerk"])
    assert refs("nobody-matches-this") == set()
    assert console.client.get("/review/search?q=x&format=xml").status_code == 400


def test_csv_cells_never_run_as_spreadsheet_formulas(console: Api, demo) -> None:
    _signed_in(console)
    created = console.write("POST", "/v1/organizations", {"name": "=HYPERLINK(\"http://evil.example\")",
                                                         "partner": False}).json["id"]
    found = console.client.get("/review/search?format=csv&q=hyperlink").get_data(as_text=True)
    [row] = list(csv.DictReader(io.StringIO(found)))
    assert row["ref"] == created and row["name"].startswith("'=HYPERLINK")


def test_search_takes_any_text_literally(console: Api, demo) -> None:
    _signed_in(console)
    for query in ("%", "_", "99999999999999999999", "user:99999999999999999999", "'; DROP TABLE users; --", "\\"):
        answer = console.client.get("/review/search", query_string={"format": "json", "q": query})
        assert answer.status_code == 200 and answer.json["results"] == [], query


def test_pages_at_a_past_moment_answer_as_the_api_with_at(console: Api, demo) -> None:
    """A fact removed after revision R: the pages ?at_revision=R answer as /v1/subjects and /v1/list with
    at_revision=R (the removed access still there), and the present pages without it."""
    _signed_in(console)
    before = console.client.get(f"/review/users/{_id(demo['carla'])}?format=json").json
    past = before["revision"]
    from service.store.models import Assignment
    mine = Assignment.select().where(Assignment.user == int(_id(demo["carla"]))).order_by(Assignment.id).first()
    assert console.write("DELETE", f"/v1/assignments/{mine.id}").status_code == 200
    customer = f"organization:{mine.customer_id}"
    then = console.client.get(f"/review/customers/{_id(customer)}?format=json&at_revision={past}").json
    now = console.client.get(f"/review/customers/{_id(customer)}?format=json").json
    assert then["revision"] == past and now["revision"] > past and then["at"] is not None
    for body, extra in ((then, {"at_revision": past}), (now, {})):
        expected = [{"user": s["user"], "action": "access_account", "resource": customer, "reasons": s["reasons"]}
                    for s in console.post("/v1/subjects", {"action": "access_account", "resource": customer,
                                                           **extra}).json["subjects"]]
        assert [a for a in body["access"] if a["action"] == "access_account" and a["resource"] == customer] == expected
    users_then = {a["user"] for a in then["access"] if a["action"] == "access_account"}
    users_now = {a["user"] for a in now["access"] if a["action"] == "access_account"}
    assert demo["carla"] in users_then - users_now
    page_then = console.client.get(f"/review/users/{_id(demo['carla'])}?format=json&at_revision={past}").json
    listed = console.post("/v1/list", {"actor": demo["carla"], "action": "access_account",
                                       "resource_type": "organization", "at_revision": past}).json["ids"]
    assert sorted(m["resource"] for m in page_then["may"] if m["action"] == "access_account") == sorted(listed)
    html = console.client.get(f"/review/customers/{_id(customer)}?at_revision={past}").get_data(as_text=True)
    assert f"store revision <strong>{past}</strong>" in html and "As of" in html
    assert console.client.get(f"/review/customers/{_id(customer)}?at=yesterday").status_code == 400
    assert console.client.get(f"/review/customers/{_id(customer)}?at_revision=999999").status_code == 400


def test_search_is_paged_in_natural_order_with_its_total(console: Api, demo) -> None:
    _signed_in(console)
    for n in (10, 9, 100):
        console.write("POST", "/v1/organizations", {"name": f"Zeta {n}", "partner": False})
    body = console.client.get("/review/search?format=json&q=zeta").json
    assert [r["name"] for r in body["results"]] == ["Zeta 9", "Zeta 10", "Zeta 100"] and body["total"] == 3
    for n in range(120):
        console.write("POST", "/v1/organizations", {"name": f"Omega {n}", "partner": False})
    first = console.client.get("/review/search?format=json&q=omega").json
    second = console.client.get("/review/search?format=json&q=omega&page=2").json
    assert first["total"] == 120 and len(first["results"]) == 100 and len(second["results"]) == 20
    assert second["results"][-1]["name"] == "Omega 119"
    csv_rows = list(csv.DictReader(io.StringIO(console.client.get("/review/search?format=csv&q=omega")
                                               .get_data(as_text=True))))
    assert len(csv_rows) == 120


def test_why_not_shows_the_why_not_entries_of_v1_check(console: Api, demo) -> None:
    _signed_in(console)
    question = {"actor": demo["carla"], "action": "access_account", "resource": demo["metzgerei"]}
    api = console.post("/v1/check", {**question, "explain": True}).json
    body = console.client.get("/review/why-not", query_string={**question, "format": "json"}).json
    assert api["allowed"] is False and body["allowed"] is False
    assert body["reasons"] == api["reasons"] and all("text" in r and "missing" in r for r in body["reasons"])
    html = console.client.get("/review/why-not", query_string=question).get_data(as_text=True)
    assert "Denied" in html and body["reasons"][0]["text"].split(":")[0] in html
    page = console.client.get(f"/review/customers/{_id(demo['metzgerei'])}").get_data(as_text=True)
    assert 'action="/review/why-not"' in page
    allowed = console.client.get("/review/why-not", query_string={**question, "resource": demo["baeckerei"],
                                                                  "format": "json"}).json
    assert allowed["allowed"] is True
