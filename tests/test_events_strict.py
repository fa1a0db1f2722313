"""Issue 12 item 5: the events feed reads its cursor and page size strictly (no 500, no silent
cap, no cursor past the last event, which would skip the events written next), and fact writes
(memberships, assignments, products, product authorizations) emit events like workflow steps."""
from __future__ import annotations

import pytest

from service.store import models as m
from test_api_support import Api, api  # noqa: F401  (fixture)


@pytest.mark.parametrize("query, field", [
    ("limit=%C2%B2", "limit"),                 # a superscript two: str.isdigit says yes
    ("limit=%EF%BC%92", "limit"),              # a fullwidth two
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=-1", "limit"), ("limit=010", "limit"),
    ("limit=", "limit"), ("limit=1.0", "limit"),
    ("after=99999999999999999999", "after"),   # past 64 bits
    ("after=%C2%B2", "after"), ("after=-1", "after"), ("after=x", "after"), ("after=01", "after"),
])
def test_bad_cursors_and_limits_are_400_naming_the_field(api: Api, query: str, field: str) -> None:
    answer = api.get(f"/v1/events?{query}")
    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["field"] == field and answer.json["error"]["code"] == "malformed_field"


def test_a_cursor_past_the_last_event_is_refused(api: Api, demo) -> None:
    api.write("POST", "/v1/invoices", {"organization": demo["webwerk"]})
    feed = api.get("/v1/events?limit=500").json
    last = int(feed["next"])
    assert last > 0 and api.get(f"/v1/events?after={last}").json["events"] == []
    past = api.get(f"/v1/events?after={last + 1}")
    assert past.status_code == 400 and past.json["error"]["field"] == "after"
    assert api.get("/v1/events?limit=500").status_code == 200


def test_fact_writes_emit_events(api: Api, demo) -> None:
    start = api.get("/v1/events?limit=500").json["next"]
    product = api.write("POST", "/v1/products", {"organization": demo["webwerk"], "category": "mail",
                                                 "name": "Mail Agentur"}).json
    membership = api.write("POST", "/v1/memberships", {"user": demo["bea"], "organization": demo["webwerk"],
                                                       "role": "collaborator"}).json
    authorization = api.write("POST", "/v1/product-authorizations",
                              {"user": demo["bea"], "product": product["id"]}).json
    assignment = api.write("POST", "/v1/assignments", {"partner": demo["webwerk"], "user": demo["dirk"],
                                                       "customer": demo["baeckerei"]}).json
    api.write("PATCH", f"/v1/memberships/{membership['id'].split(':')[1]}", {"billing": True})
    api.write("DELETE", f"/v1/assignments/{assignment['id'].split(':')[1]}")
    events = api.get(f"/v1/events?after={start}").json["events"]
    assert [(e["kind"], e["subject"]) for e in events] == [
        ("product.created", product["id"]), ("membership.created", membership["id"]),
        ("product_authorization.created", authorization["id"]), ("assignment.created", assignment["id"]),
        ("membership.updated", membership["id"]), ("assignment.deleted", assignment["id"])]
    assert events[4]["payload"]["billing"] is True and events[1]["payload"]["user"] == demo["bea"]


def test_a_refused_write_emits_no_event(api: Api, demo) -> None:
    before = m.Event.select().count()
    assert api.write("POST", "/v1/assignments", {"partner": demo["webwerk"], "user": demo["dirk"],
                                                 "customer": demo["cafe"]}).status_code == 422
    assert m.Event.select().count() == before
