"""Signed-off access reviews (issue 21 item 6) through HTTP (the Flask client), on every backend: rows
frozen as the customer/partner page shows them, keep and revoke recorded with who and when, a revoke's
event on /v1/events (and no fact changed), the evidence export and its hash, "changed since the last
review", and bad input answered 4xx naming the field, changing nothing."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json

import pytest

from service.store import models as m
from service.store.review_signoff_models import AccessReview, AccessReviewRow

from test_api_support import Api

JSON = {"Accept": "application/json"}


@pytest.fixture
def reviewer_name() -> str:
    """`console` (conftest.py) signs in with this key: the "who" every decision here records."""
    return "quarterly-reviewer"


def _id(ref: str) -> str:
    return ref.split(":")[1]


def _open(api: Api, kind: str, ref: str) -> dict:
    answer = api.client.post("/review/reviews", data={"kind": kind, "organization": _id(ref)}, headers=JSON)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.json


def _decide(api: Api, review: int, row: int, decision: str, note: str = "") -> dict:
    answer = api.client.post(f"/review/reviews/{review}/rows/{row}", data={"decision": decision, "note": note},
                             headers=JSON)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json


def _keys(rows: list[dict]) -> list[tuple[str, str, str]]:
    return [(r["user"], r["action"], r["resource"]) for r in rows]


def _events_after(api: Api, cursor: str) -> list[dict]:
    return api.get(f"/v1/events?after={cursor}&limit=500").json["events"]


def test_keep_and_revoke_are_recorded_and_a_revoke_is_an_event(console: Api, demo) -> None:
    customer = demo["baeckerei"]
    page = console.client.get(f"/review/customers/{_id(customer)}?format=json").json
    shown = list(csv.DictReader(io.StringIO(
        console.client.get(f"/review/customers/{_id(customer)}?format=csv").get_data(as_text=True))))
    cursor = console.get("/v1/events?limit=500").json["next"]
    opened = _open(console, "customer", customer)
    review, rows = opened["review"], opened["rows"]
    # the rows are the customer page's, in its order; made against its revision and policy version, by the key
    assert _keys(rows) == _keys(shown) and len(rows) > 3
    assert (review["revision"], review["policy_version"]) == (page["revision"], page["policy_version"])
    assert review["opened_by"] == "quarterly-reviewer" and review["status"] == "open" and review["previous"] is None

    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    kept = _decide(console, review["id"], 1, "keep", "legal representative, needed")
    revoked = _decide(console, review["id"], 2, "revoke", "left the company in October")
    assert kept["decision"] == "keep" and kept["decided_by"] == "quarterly-reviewer"
    assert revoked["note"] == "left the company in October" and revoked["decided_by"] == "quarterly-reviewer"
    assert dt.datetime.fromisoformat(revoked["decided_at"].rstrip("Z")) >= started

    # not every row decided: finishing is refused (409 naming `rows`), the review stays open, no event
    early = console.client.post(f"/review/reviews/{review['id']}/finish", headers=JSON)
    assert early.status_code == 409 and early.json["error"]["field"] == "rows" and str(len(rows) - 2) in early.json["error"]["message"]
    assert _events_after(console, cursor) == []
    for row in rows[2:]:
        _decide(console, review["id"], row["row"], "keep")
    _decide(console, review["id"], 1, "revoke", "changed my mind")  # until finished, the last decision counts

    revision = console.client.get(f"/review/customers/{_id(customer)}?format=json").json["revision"]
    finished = console.client.post(f"/review/reviews/{review['id']}/finish", headers=JSON)
    assert finished.status_code == 200 and finished.json["review"]["finished_by"] == "quarterly-reviewer"
    events = _events_after(console, cursor)
    assert [e["kind"] for e in events] == ["review.revoke_requested"] * 2
    assert [e["cursor"] for e in events] == finished.json["events"]
    first, second = (e["payload"] for e in events)
    assert (first["row"], first["note"], first["reviewer"]) == (1, "changed my mind", "quarterly-reviewer")
    assert (second["user"], second["action"], second["resource"]) == _keys(rows)[1]
    assert events[0]["subject"] == f"review:{review['id']}" and first["review"] == f"review:{review['id']}"
    # the console changed no fact: same revision, same page
    after = console.client.get(f"/review/customers/{_id(customer)}?format=json").json
    assert after["revision"] == revision == page["revision"] and after["access"] == page["access"]

    # a finished review is immutable: finishing again, deciding again are refused, naming `review`
    for path, data in ((f"/review/reviews/{review['id']}/finish", {}),
                       (f"/review/reviews/{review['id']}/rows/3", {"decision": "revoke", "note": "late"})):
        again = console.client.post(path, data=data, headers=JSON)
        assert again.status_code == 409 and again.json["error"]["field"] == "review", path
    assert AccessReviewRow.get(AccessReviewRow.review == review["id"], AccessReviewRow.position == 3).decision == "keep"
    assert len(_events_after(console, cursor)) == 2
    listed = console.client.get("/review/reviews?format=json").json["reviews"]
    assert [(r["review"], r["status"], r["decided"], r["rows"]) for r in listed] == [
        (f"review:{review['id']}", "finished", len(rows), len(rows))]
    html = console.client.get(f"/review/reviews/{review['id']}").get_data(as_text=True)
    assert "changed my mind" in html and "quarterly-reviewer" in html and "Finish and sign off" not in html


def _finished_review(api: Api, kind: str, ref: str, revoke: set[int] = frozenset()) -> dict:
    opened = _open(api, kind, ref)
    for row in opened["rows"]:
        _decide(api, opened["review"]["id"], row["row"], "revoke" if row["row"] in revoke else "keep", f"n{row['row']}")
    assert api.client.post(f"/review/reviews/{opened['review']['id']}/finish", headers=JSON).status_code == 200
    return opened


def test_the_evidence_export_and_its_hash(console: Api, demo) -> None:
    opened = _open(console, "partner", demo["webwerk"])
    review_id = opened["review"]["id"]
    unfinished = console.client.get(f"/review/reviews/{review_id}/export?format=json")
    assert unfinished.status_code == 409 and unfinished.json["error"]["field"] == "review"
    for row in opened["rows"]:
        _decide(console, review_id, row["row"], "revoke" if row["row"] == 2 else "keep", "=cmd|' /C calc'!A0")
    console.client.post(f"/review/reviews/{review_id}/finish", headers=JSON)

    doc = json.loads(console.client.get(f"/review/reviews/{review_id}/export?format=json").get_data(as_text=True))
    rows, manifest = doc["rows"], doc["manifest"]
    assert _keys(rows) == _keys(opened["rows"]) and [r["decision"] for r in rows][:3] == ["keep", "revoke", "keep"]
    lines = "".join(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for r in rows)
    assert manifest["sha256"] == hashlib.sha256(lines.encode()).hexdigest() and manifest["rows"] == len(rows)
    assert (manifest["revision"], manifest["policy_version"]) == (opened["review"]["revision"],
                                                                  opened["review"]["policy_version"])
    assert manifest["review"]["finished_by"] == "quarterly-reviewer" and manifest["exported_by"] == "quarterly-reviewer"
    assert all(r["decided_by"] == "quarterly-reviewer" and r["decided_at"] for r in rows)

    served = console.client.get(f"/review/reviews/{review_id}/export?format=csv")
    body = served.get_data()
    csv_manifest = console.client.get(served.headers["Link"].split(">")[0].lstrip("<")).json
    assert csv_manifest["sha256"] == hashlib.sha256(body).hexdigest() == served.headers["X-Authz-Sha256"]
    parsed = list(csv.DictReader(io.StringIO(body.decode())))
    assert _keys(parsed) == _keys(rows) and parsed[0]["note"].startswith("'=")  # a formula is defused
    again = json.loads(console.client.get(f"/review/reviews/{review_id}/export?format=json").get_data(as_text=True))
    assert again["manifest"]["sha256"] == manifest["sha256"]  # frozen rows: the same evidence every time
    bad = console.client.get(f"/review/reviews/{review_id}/export?format=xml")
    assert bad.status_code == 400 and bad.json["error"]["field"] == "format"


def test_a_partner_review_holds_the_partner_page(console: Api, demo) -> None:
    partner = console.client.get(f"/review/partners/{_id(demo['webwerk'])}?format=json").json
    expected = []
    for cell in partner["matrix"]:
        if cell["access_account"]:
            expected.append((cell["user"], "access_account", cell["customer"]))
        expected += [(cell["user"], action, p) for action in ("manage_product", "view_statistics") for p in cell[action]]
    opened = _open(console, "partner", demo["webwerk"])
    assert _keys(opened["rows"]) == expected and expected


def test_a_later_review_shows_what_changed_since_the_last_finished_one(console: Api, demo) -> None:
    customer = demo["baeckerei"]
    first = _finished_review(console, "customer", customer, revoke={1})
    # since then: carla's assignment to the customer is removed, a new member joins the customer
    carla = int(_id(demo["carla"]))
    assignment = m.Assignment.get((m.Assignment.user == carla) & (m.Assignment.customer == int(_id(customer))))
    assert console.write("DELETE", f"/v1/assignments/{assignment.id}").status_code in (200, 204)
    assert console.write("POST", "/v1/memberships", {"user": demo["dirk"], "organization": customer,
                                                     "role": "administrator"}).status_code == 201
    unfinished = _open(console, "customer", customer)  # an open review is no "last review"
    second = _open(console, "customer", customer)
    assert unfinished["review"]["previous"] == second["review"]["previous"] == first["review"]["review"]

    before, now = set(_keys(first["rows"])), set(_keys(second["rows"]))
    changes = second["changes"]
    assert {_keys(second["rows"])[n - 1] for n in changes["added"]} == now - before and now - before
    assert set(_keys(changes["removed"])) == before - now and any(k[0] == demo["carla"] for k in before - now)
    decided_then = {k: ("revoke" if r["row"] == 1 else "keep", f"n{r['row']}") for k, r in
                    zip(_keys(first["rows"]), first["rows"])}
    assert {(r["user"], r["action"], r["resource"]): (r["decision"], r["note"]) for r in changes["removed"]} == \
           {k: decided_then[k] for k in before - now}
    previous = {_keys(second["rows"])[int(n) - 1]: (p["decision"], p["note"]) for n, p in changes["previous"].items()}
    assert previous == {k: decided_then[k] for k in now & before}
    csv_rows = list(csv.DictReader(io.StringIO(console.client.get(
        f"/review/reviews/{second['review']['id']}?format=csv").get_data(as_text=True))))
    assert {r["previous"] for r in csv_rows} <= {"keep", "revoke", "new"} and "new" in {r["previous"] for r in csv_rows}
    html = console.client.get(f"/review/reviews/{second['review']['id']}").get_data(as_text=True)
    assert f"{len(now - before)} row(s) added, {len(before - now)} removed" in html and "Gone since" in html


def test_bad_input_is_4xx_naming_the_field_and_changes_nothing(console: Api, demo) -> None:
    opened = _open(console, "customer", demo["baeckerei"])
    review_id = opened["review"]["id"]
    last = len(opened["rows"])
    cases = [
        ("/review/reviews", {"kind": "supplier", "organization": _id(demo["baeckerei"])}, 400, "kind"),
        ("/review/reviews", {"kind": "customer", "organization": "４２"}, 400, "organization"),
        ("/review/reviews", {"kind": "customer"}, 400, "organization"),
        ("/review/reviews", {"kind": "customer", "organization": "999999"}, 404, "organization"),
        ("/review/reviews", {"kind": "partner", "organization": _id(demo["baeckerei"])}, 404, "organization"),
        (f"/review/reviews/{review_id}/rows/{last + 1}", {"decision": "keep"}, 404, "row"),
        (f"/review/reviews/{review_id}/rows/x", {"decision": "keep"}, 400, "row"),
        (f"/review/reviews/{review_id}/rows/1", {"decision": "delete"}, 400, "decision"),
        (f"/review/reviews/{review_id}/rows/1", {}, 400, "decision"),
        (f"/review/reviews/{review_id}/rows/1", {"decision": "keep", "note": "x" * 501}, 400, "note"),
        (f"/review/reviews/{review_id}/rows/1", {"decision": "keep", "note": "ok\r\nSet-Cookie: x"}, 400, "note"),
        (f"/review/reviews/{review_id}/rows/1", {"decision": "keep", "note": "nul\x00"}, 400, "note"),
        ("/review/reviews/99999/rows/1", {"decision": "keep"}, 404, "review"),
        ("/review/reviews/99999/finish", {}, 404, "review"),
        ("/review/reviews/2147483648/finish", {}, 404, None),  # past the id column (int32): no route, never a 500
        (f"/review/reviews/{review_id}/rows/99999999999999999999", {"decision": "keep"}, 400, "row"),
    ]
    for path, data, status, field in cases:
        answer = console.client.post(path, data=data, headers=JSON)
        assert (answer.status_code, (answer.json or {}).get("error", {}).get("field")) == (status, field), (path, data, answer.json)
    html = console.client.post(f"/review/reviews/{review_id}/rows/1", data={"decision": "delete"})
    assert html.status_code == 400 and "decision" in html.get_data(as_text=True) and html.mimetype == "text/html"
    cross = console.client.post(f"/review/reviews/{review_id}/rows/1", data={"decision": "revoke"},
                                headers={**JSON, "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and cross.json["error"]["field"] == "origin"
    assert AccessReview.select().count() == 1
    assert AccessReviewRow.select().where(AccessReviewRow.decision.is_null(False)).count() == 0
    for path in ("/review/reviews/99999", "/review/reviews/99999999999999999999",
                 "/review/reviews/99999999999999999999/export?format=csv"):
        assert console.client.get(path).status_code == 404, path
    assert _decide(console, review_id, 1, "keep", " " + "x" * 499)["note"] == "x" * 499  # 500 is allowed


def test_a_version_9_store_is_migrated_to_10(store_url: str) -> None:
    from service.store.db import database
    from service.store.schema import SCHEMA_VERSION, init_schema
    database.drop_tables([AccessReviewRow, AccessReview])
    m.SchemaVersion.update(version=9).execute()
    init_schema()
    assert SCHEMA_VERSION == 10 and m.SchemaVersion.get_by_id(1).version == 10
    assert AccessReview.select().count() == 0 and AccessReviewRow.select().count() == 0
