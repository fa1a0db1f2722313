"""The console's "what changed" pages (/review/{customers,partners,users}/<id>/changes): between two moments
every access gained and lost, each with its cause, and nothing else; compared with /v1/subjects and /v1/list
at both moments (the API's own `at_revision`), and each cause checked to be the revision where the row flips."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.analysis.candidates import activate, load_candidate
from service.decide.vocabulary import ACTIONS, actions_for
from service.store.models import Assignment, Invoice, Product

from policy_edits import ONE_TRUTH_EDITS, apply_steps
from test_api_support import Api, make_api, signed_in

Triple = tuple[str, str, str]


def _id(ref: str) -> int:
    return int(ref.split(":")[1])


def _revision(api: Api) -> int:
    return api.post("/v1/check", {"actor": "user:1", "action": "access_account", "resource": "organization:1"}).json[
        "revision"]


def _customer_access(api: Api, org_id: int, revision: int) -> set[Triple]:
    """Who may act on the customer, its products and invoices at `revision`, as /v1/subjects answers."""
    refs = [f"organization:{org_id}"] + [f"product:{p.id}" for p in Product.select().where(
        Product.organization == org_id)] + [f"invoice:{i.id}" for i in Invoice.select().where(
        Invoice.organization == org_id)]
    found = set()
    for ref in refs:
        for action in actions_for(ref.split(":")[0]):
            answer = api.post("/v1/subjects", {"action": action, "resource": ref, "at_revision": revision}).json
            found |= {(s["user"], action, ref) for s in answer["subjects"]}
    return found


def _user_access(api: Api, user: str, revision: int) -> set[Triple]:
    found = set()
    for kind, actions in ACTIONS.items():
        for action in actions:
            answer = api.post("/v1/list", {"actor": user, "action": action, "resource_type": kind, "page_size": 1000,
                                           "at_revision": revision}).json
            assert "ids" in answer, (kind, action, answer)
            found |= {(user, action, ref) for ref in answer["ids"]}
    return found


def _allowed_at(api: Api, triple: Triple, revision: int) -> bool:
    user, action, resource = triple
    return api.post("/v1/check", {"actor": user, "action": action, "resource": resource,
                                  "at_revision": revision}).json["allowed"]


@pytest.fixture
def history(store_url: str, demo, tmp_path: Path) -> dict[str, Any]:
    """The demo world, then four changes touching Kanzlei (anwalt), one unrelated write between them:
    an assignment removed, a grant narrowed, a policy activated (R12: administrators no longer reach
    customers), the partnership ended. Revisions by name."""
    api = signed_in(make_api(store_url, tmp_path))
    anwalt, carla = _id(demo["anwalt"]), _id(demo["carla"])
    steps: dict[str, int] = {"from": _revision(api)}
    assignment = Assignment.get((Assignment.user == carla) & (Assignment.customer == anwalt))
    assert api.write("DELETE", f"/v1/assignments/{assignment.id}").status_code == 200
    steps["assignment"] = _revision(api)
    other = Assignment.get((Assignment.user == carla) & (Assignment.customer == _id(demo["baeckerei"])))
    assert api.write("DELETE", f"/v1/assignments/{other.id}").status_code == 200  # another customer's
    steps["unrelated"] = _revision(api)
    granted = {"access": "limited", "products": [{"product": demo["anwalt_web"], "technical": True,
                                                  "statistical": False}]}
    answer = api.write("PUT", f"/v1/partnerships/{_id(demo['webwerk_anwalt'])}/access",
                       {"acting_user": demo["alma"], "granted": granted})
    assert answer.status_code == 200, answer.json
    steps["grant"] = _revision(api)
    files, _engine = load_candidate(apply_steps(tmp_path / "r12", ONE_TRUTH_EDITS["r12_legal_representatives_only"]
                                                .steps))
    stored, recorded = activate(files, "policy-admin", wait=0)
    assert recorded
    steps["activation"] = stored.revision
    answer = api.write("POST", f"/v1/partnerships/{_id(demo['webwerk_anwalt'])}/end", {"acting_user": demo["alma"]})
    assert answer.status_code == 200, answer.json
    steps["end"] = _revision(api)
    return {"api": api, "revisions": steps, "version": stored.version}


def _changes(api: Api, path: str, start: int, end: int) -> dict[str, Any]:
    answer = api.client.get(f"{path}?from_revision={start}&to_revision={end}&format=json")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.json


def _rows(body: dict[str, Any]) -> dict[Triple, dict[str, Any]]:
    return {(r["user"], r["action"], r["resource"]): r for r in body["gained"] + body["lost"]}


def test_customer_changes_name_each_cause_and_nothing_else(history, demo) -> None:
    api, rev = history["api"], history["revisions"]
    anwalt = _id(demo["anwalt"])
    body = _changes(api, f"/review/customers/{anwalt}/changes", rev["from"], rev["end"])
    before, after = _customer_access(api, anwalt, rev["from"]), _customer_access(api, anwalt, rev["end"])
    rows = _rows(body)
    assert {t for t, r in rows.items() if r["change"] == "lost"} == before - after
    assert {t for t, r in rows.items() if r["change"] == "gained"} == after - before
    assert before - after and all(not user.endswith(f":{_id(demo['alma'])}") for user, _, _ in rows)
    by_cause: dict[int, set[str]] = {}
    for triple, row in rows.items():
        cause = row["cause"]["revision"]
        # the cause is the revision at which the row took its value at `to`
        assert _allowed_at(api, triple, cause - 1) != _allowed_at(api, triple, cause), (triple, cause)
        by_cause.setdefault(cause, set()).add(row["user"])
    assert by_cause[rev["assignment"]] == {demo["carla"]}
    assert by_cause[rev["grant"]] >= {demo["anna"]}
    assert by_cause[rev["activation"]] == {demo["bernd"]}
    assert by_cause[rev["end"]] == {demo["anna"]}
    assert rev["unrelated"] not in by_cause
    causes = {c["revision"]: c for c in body["causes"]}
    assignment = causes[rev["assignment"]]
    assert assignment["kind"] == "fact write" and assignment["by"] == "test-write"
    assert [e["kind"] for e in assignment["events"]] == ["assignment.deleted"]
    assert any(line.startswith("assignment:") and "removed" in line for line in assignment["changes"])
    assert causes[rev["grant"]]["events"][0]["kind"] == "partnership.access_changed"
    assert any("partnership_product" in line for line in causes[rev["grant"]]["changes"])
    activation = causes[rev["activation"]]
    assert (activation["kind"], activation["by"], activation["version"]) == ("activation", "policy-admin",
                                                                              history["version"])
    assert any("status active → ended" in line for line in causes[rev["end"]]["changes"])


def test_user_and_partner_changes_match_the_lists(history, demo) -> None:
    api, rev = history["api"], history["revisions"]
    carla = demo["carla"]
    body = _changes(api, f"/review/users/{_id(carla)}/changes", rev["from"], rev["end"])
    before, after = _user_access(api, carla, rev["from"]), _user_access(api, carla, rev["end"])
    rows = _rows(body)
    assert {t for t, r in rows.items() if r["change"] == "lost"} == before - after
    assert {t for t, r in rows.items() if r["change"] == "gained"} == after - before
    assert {r["cause"]["revision"] for r in rows.values()} == {rev["assignment"], rev["unrelated"]}
    partner = _changes(api, f"/review/partners/{_id(demo['webwerk'])}/changes", rev["from"], rev["end"])
    customer = _changes(api, f"/review/customers/{_id(demo['anwalt'])}/changes", rev["from"], rev["end"])
    webwerk_users = {demo[k] for k in ("anna", "bernd", "carla", "dirk", "erik")}
    anwalt_rows = {t: r for t, r in _rows(customer).items() if t[0] in webwerk_users
                   and t[1] in ("access_account", "manage_product", "view_statistics")}
    partner_rows = {t: r for t, r in _rows(partner).items() if t in anwalt_rows or t[2] == demo["anwalt"]
                    or t[2] in {demo[k] for k in ("anwalt_web", "anwalt_mail", "anwalt_drive")}}
    assert {t: r["cause"]["revision"] for t, r in partner_rows.items()} == \
        {t: r["cause"]["revision"] for t, r in anwalt_rows.items()}
    baeckerei = {t for t in _rows(partner) if t[0] == carla and t not in partner_rows}
    assert baeckerei and all(_rows(partner)[t]["cause"]["revision"] == rev["unrelated"] for t in baeckerei)


def test_a_window_without_change_is_empty_and_the_page_links_each_cause(history, demo) -> None:
    api, rev = history["api"], history["revisions"]
    anwalt = _id(demo["anwalt"])
    assert _changes(api, f"/review/customers/{anwalt}/changes", rev["end"], rev["end"])["gained"] == []
    quiet = _changes(api, f"/review/customers/{anwalt}/changes", rev["assignment"], rev["unrelated"])
    assert quiet["gained"] == quiet["lost"] == []
    html = api.client.get(f"/review/customers/{anwalt}/changes?from_revision={rev['from']}"
                          f"&to_revision={rev['end']}").get_data(as_text=True)
    assert f'id="revision-{rev["activation"]}"' in html and "policy-admin" in html and "test-write" in html
    page = api.client.get(f"/review/customers/{anwalt}").get_data(as_text=True)
    assert f'action="/review/customers/{anwalt}/changes"' in page
    for path in (f"/review/users/{_id(demo['carla'])}", f"/review/partners/{_id(demo['webwerk'])}"):
        assert f'action="{path}/changes"' in api.client.get(path).get_data(as_text=True)


BAD_MOMENTS = [("to=2026-11-03T12:00:00Z", "from"), ("from_revision=2", "to"),
               ("from=2020-01-01T00:00:00Z&to_revision=2", "from"), ("from=yesterday&to=now", "from"),
               ("from_revision=1&to=soon", "to"), ("from_revision=2&to_revision=1", "to"),
               ("from_revision=x&to_revision=2", "from_revision")]


def test_a_missing_or_malformed_moment_is_a_400_naming_it(store_url: str, demo, tmp_path: Path) -> None:
    api = signed_in(make_api(store_url, tmp_path))
    for query, field in BAD_MOMENTS:
        answer = api.client.get(f"/review/customers/{_id(demo['anwalt'])}/changes?{query}")
        assert answer.status_code == 400 and answer.mimetype == "text/html", query
        message = answer.get_data(as_text=True).split('<p class="message">', 1)[1].split("</p>", 1)[0]
        assert message.startswith(f"{field} "), (query, message)  # "from is before ...", never "from: at is ..."
