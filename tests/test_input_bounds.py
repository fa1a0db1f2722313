"""Issue 20 items 1-3 and 6 through the test client, on SQLite and PostgreSQL: one body reader
(413 past 64 KiB, chunked or not, nothing acted on), one id bound (the store's 2**31 - 1: 422 past
it, never a 500), no control or look-alike characters, canonical queries, contradictory fields."""
from __future__ import annotations

import io
import json

import pytest

from service.store import current_revision
from test_api_support import Api, api  # noqa: F401  (fixture)

TOO_BIG = 2**31  # one past the store's largest id


def _chunked(api: Api, path: str, payload: bytes, scope: str):
    return api.client.post(path, input_stream=io.BytesIO(payload), environ_overrides={"wsgi.input_terminated": True},
                           headers={**api.headers(scope), "Transfer-Encoding": "chunked",
                                    "Content-Type": "application/json"})


def test_a_chunked_body_over_the_limit_is_413_and_creates_nothing(api: Api, demo) -> None:
    before = current_revision()
    padded = json.dumps({"name": "Prefix GmbH", "partner": False}).encode() + b" " * (1024 * 1024)
    answer = _chunked(api, "/v1/organizations", padded, "write")
    assert answer.status_code == 413 and answer.json["error"]["code"] == "body_too_large"
    assert current_revision() == before
    check = json.dumps({"actor": demo["anna"], "action": "access_account", "resource": demo["baeckerei"]})
    denied = _chunked(api, "/v1/check", check.encode() + b" " * 70_000, "check")
    assert denied.status_code == 413 and denied.json["allowed"] is False
    small = _chunked(api, "/v1/check", check.encode(), "check")  # under the limit, chunked is fine
    assert small.status_code == 200 and small.json["allowed"] is True


@pytest.mark.parametrize("ref", [f"user:{TOO_BIG}", "user:9999999999", "user:999999999999999999"])
def test_ids_past_the_store_bound_are_422_on_every_decision_route(api: Api, demo, ref: str) -> None:
    org = demo["baeckerei"]
    for path, body, field in [
        ("/v1/check", {"actor": ref, "action": "access_account", "resource": org}, "actor"),
        ("/v1/check", {"actor": demo["anna"], "action": "access_account", "resource": f"organization:{TOO_BIG}"},
         "resource"),
        ("/v1/check/batch", {"checks": [{"actor": demo["anna"], "action": "access_account", "resource": org},
                                        {"actor": ref, "action": "access_account", "resource": org}]},
         "checks.1.actor"),
        ("/v1/actions", {"actor": ref, "resource": org}, "actor"),
        ("/v1/list", {"actor": ref, "action": "access_account", "resource_type": "organization"}, "actor"),
        ("/v1/list", {"actor": demo["anna"], "action": "access_account", "resource_type": "organization",
                      "cursor": str(TOO_BIG)}, "cursor"),
    ]:
        answer = api.post(path, body)
        assert answer.status_code == 422, (path, answer.json)
        assert answer.json["error"]["field"] == field and answer.json["allowed"] is False
        assert "2147483647" in answer.json["error"]["message"]
    largest = api.post("/v1/check", {"actor": "user:2147483647", "action": "access_account", "resource": org})
    assert largest.status_code == 200 and largest.json["allowed"] is False  # unknown but possible: a deny


def test_path_ids_past_the_bound_are_404_on_the_api_and_the_console(api: Api) -> None:
    assert api.get(f"/v1/organizations/{TOO_BIG}").status_code == 404
    assert api.get(f"/v1/users/{TOO_BIG}").status_code == 404
    for page in ("customers", "partners", "users"):
        assert api.client.get(f"/review/{page}/{TOO_BIG}").status_code == 404


def test_openapi_states_the_bound() -> None:
    from service.api.schemas import CANONICAL_ID
    assert "2147483647" in CANONICAL_ID and "214748364[0-6]" in CANONICAL_ID


@pytest.mark.parametrize("name", ["Anna\u202eanna", "An\u200bna", "\ufeffAnna", "An\u2066na", "Ann\u00ada"])
def test_names_refuse_bidi_and_zero_width_characters(api: Api, demo, name: str) -> None:
    before = current_revision()
    created = api.write("POST", "/v1/users", {"email": "lookalike@example.test", "name": name})
    assert created.status_code == 422 and created.json["error"]["field"] == "name"
    assert "U+" in created.json["error"]["message"]
    renamed = api.write("PATCH", f"/v1/organizations/{demo['webwerk'].split(':')[1]}", {"name": name})
    assert renamed.status_code == 422 and renamed.json["error"]["field"] == "name"
    assert current_revision() == before


def test_control_characters_are_refused_in_json_strings_queries_and_paths(api: Api, demo) -> None:
    body = {"actor": demo["anna"], "action": "access_account", "resource": demo["baeckerei"], "at": "2026\u0000"}
    answer = api.post("/v1/check", body)
    assert answer.status_code == 422 and answer.json["error"]["field"] == "at" and answer.json["allowed"] is False
    partnership = demo["webwerk_baeckerei"].split(":")[1]
    query = api.get(f"/v1/partnerships/{partnership}?acting_user={demo['anna']}%00")
    assert query.status_code == 400 and query.json["error"]["field"] == "acting_user"
    assert api.client.get("/review/search?q=%00").status_code == 400
    assert api.get("/v1/organizations/1%00").status_code == 400


def test_a_repeated_query_parameter_is_400_naming_it(api: Api, demo) -> None:
    partnership = demo["webwerk_baeckerei"].split(":")[1]
    answer = api.get(f"/v1/partnerships/{partnership}?acting_user={demo['anna']}&acting_user=user:1")
    assert answer.status_code == 400 and answer.json["error"] == {
        "code": "repeated_parameter", "field": "acting_user",
        "message": "the query parameter 'acting_user' is given 2 times; give it once"}
    assert api.get("/v1/events?limit=1&limit=500").json["error"]["field"] == "limit"


def test_an_empty_patch_changes_nothing_and_bumps_no_revision(api: Api, demo) -> None:
    org = demo["webwerk"].split(":")[1]
    before = current_revision()
    events = api.get("/v1/events?limit=500").json
    for method in ("PATCH", "PUT"):
        answer = api.write(method, f"/v1/organizations/{org}", {})
        assert answer.status_code == 200 and answer.json["revision"] == before
    assert current_revision() == before and api.get("/v1/events?limit=500").json == events
    assert api.write("PATCH", f"/v1/organizations/{TOO_BIG - 1}", {}).status_code == 404


@pytest.mark.parametrize("past", [{"at_revision": 1}, {"at": "2026-01-01T00:00:00Z"}])
def test_a_past_moment_with_min_revision_is_refused_naming_both(api: Api, demo, past: dict) -> None:
    body = {"actor": demo["anna"], "action": "access_account", "resource": demo["baeckerei"], "min_revision": 1,
            **past}
    answer = api.post("/v1/check", body)
    assert answer.status_code == 422 and answer.json["error"]["field"] == "min_revision"
    assert next(iter(past)) in answer.json["error"]["message"] and answer.json["allowed"] is False


def test_emails_are_unique_regardless_of_letter_case(api: Api, demo) -> None:
    first = api.write("POST", "/v1/users", {"email": "at@x.y", "name": "At"})
    assert first.status_code == 201
    before = current_revision()
    twin = api.write("POST", "/v1/users", {"email": "AT@x.Y", "name": "At twin"})
    assert twin.status_code == 409 and twin.json["error"]["field"] == "email"
    assert twin.json["existing"] == first.json["id"]
    other = demo["anna"].split(":")[1]
    moved = api.write("PATCH", f"/v1/users/{other}", {"email": "At@X.y"})
    assert moved.status_code == 409 and current_revision() == before
    assert api.write("PATCH", f"/v1/users/{first.json['id'].split(':')[1]}", {"email": "AT@x.y"}).status_code == 200


def test_a_store_holding_case_duplicates_is_not_migrated(api: Api, demo) -> None:
    from service.store import database, init_schema
    from service.store.emails import INDEX, DuplicateEmails
    database.execute_sql(f"DROP INDEX {INDEX}")  # a store as an older release left it
    database.execute_sql("INSERT INTO users (email, name, created_at) VALUES ('dup@x.y', 'a', '2026-01-01'), "
                         "('DUP@x.y', 'b', '2026-01-01')")
    with pytest.raises(DuplicateEmails, match="DUP@x.y"):
        init_schema()
    count = database.execute_sql("SELECT count(*) FROM users WHERE email IN ('dup@x.y', 'DUP@x.y')").fetchone()[0]
    assert count == 2  # nothing merged or renamed
    database.execute_sql("UPDATE users SET email = 'dup2@x.y' WHERE email = 'DUP@x.y'")
    init_schema()
    assert api.write("POST", "/v1/users", {"email": "Dup@x.y", "name": "c"}).status_code == 409


def test_the_cli_refuses_ids_past_the_bound(store_url: str, demo) -> None:
    import os
    import subprocess
    import sys
    env = {**os.environ, "DATABASE_URL": store_url, "AUTHZ_DECISION_LOG": "off"}
    refused = subprocess.run([sys.executable, "-m", "service.cli", "check", f"user:{TOO_BIG}", "access_account",
                              demo["baeckerei"]], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "at most 2147483647" in refused.stderr
