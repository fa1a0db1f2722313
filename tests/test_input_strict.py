"""Issue 12 items 6 and 10: one canonical reading of every request.

Duplicate JSON keys are refused (a proxy reading the first key would see another question);
ids only in canonical form (no `user:0001`, no fullwidth digits) in bodies, paths and queries;
integral floats are the integers the published schema says they are; a 405 names `Allow`;
the OpenAPI spec lists the query parameters."""
from __future__ import annotations

import pytest

from test_api_support import Api, api  # noqa: F401  (fixture)


def _raw_check(api: Api, text: str):
    return api.client.post("/v1/check", data=text.encode("utf-8"), content_type="application/json",
                           headers=api.headers("check"))


def test_duplicate_json_keys_are_refused_naming_the_key(api: Api, demo) -> None:
    body = ('{"actor": "%s", "action": "access_account", "resource": "%s", "actor": "%s"}'
            % (demo["dirk"], demo["baeckerei"], demo["anna"]))
    answer = _raw_check(api, body)
    assert answer.status_code == 400 and answer.json["allowed"] is False
    assert answer.json["error"] == {"code": "duplicate_key", "field": "actor",
                                    "message": "the key 'actor' appears more than once in one object"}
    nested = api.client.post("/v1/invitations", data=b'{"acting_user": "user:1", "requested": '
                             b'{"access": "full", "access": "limited"}}', content_type="application/json",
                             headers=api.headers("write"))
    assert nested.status_code == 400 and nested.json["error"]["field"] == "access"


@pytest.mark.parametrize("ref", ["user:0001", "user:01", "user:\uff11", "user:\u00b2", "user:+1", "user: 1"])
def test_only_canonical_refs_in_bodies(api: Api, demo, ref: str) -> None:
    answer = api.post("/v1/check", {"actor": ref, "action": "access_account", "resource": demo["baeckerei"]})
    assert answer.status_code in (400, 422) and answer.json["error"]["field"] == "actor"
    assert answer.json["allowed"] is False
    written = api.write("POST", "/v1/memberships", {"user": ref, "organization": demo["webwerk"],
                                                    "role": "collaborator"})
    assert written.status_code in (400, 422) and written.json["error"]["field"] == "user"


@pytest.mark.parametrize("segment", ["\uff11", "01", "0001", "\u0661", "+1"])
def test_only_canonical_ids_in_paths(api: Api, demo, segment: str) -> None:
    org = demo["webwerk"].split(":")[1]
    assert org == "1" and api.get(f"/v1/organizations/{org}").status_code == 200
    answer = api.get(f"/v1/organizations/{segment}")
    assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("value", ["user:01", "user:\uff11", ""])
def test_only_canonical_refs_in_queries(api: Api, demo, value: str) -> None:
    partnership = demo["webwerk_baeckerei"].split(":")[1]
    assert api.get(f"/v1/partnerships/{partnership}?acting_user={demo['anna']}").status_code == 200
    answer = api.get(f"/v1/partnerships/{partnership}?acting_user={value}")
    assert answer.status_code == 400 and answer.json["error"]["field"] == "acting_user"


def test_405_names_the_allowed_methods(api: Api) -> None:
    answer = api.client.get("/v1/check", headers=api.headers("check"))
    assert answer.status_code == 405 and answer.json["allowed"] is False
    assert "POST" in [m.strip() for m in answer.headers["Allow"].split(",")]
    item = api.client.post("/v1/users/1", headers=api.headers("write"))
    assert item.status_code == 405 and {"GET", "PUT", "PATCH", "DELETE"} <= set(item.headers["Allow"].split(", "))


def test_integral_floats_are_integers(api: Api, demo) -> None:
    body = {"actor": demo["anna"], "action": "access_account", "resource": demo["baeckerei"]}
    assert api.post("/v1/check", {**body, "min_revision": 1.0}).status_code == 200
    assert api.post("/v1/check", {**body, "min_revision": 1e0}).status_code == 200
    listed = api.post("/v1/list", {"actor": demo["anna"], "action": "access_account",
                                   "resource_type": "organization", "page_size": 2.0})
    assert listed.status_code == 200 and len(listed.json["ids"]) == 2
    fraction = api.post("/v1/check", {**body, "min_revision": 1.5})
    assert fraction.status_code == 400 and fraction.json["error"]["field"] == "min_revision"
    not_json = _raw_check(api, '{"actor": "%s", "action": "x", "resource": "%s", "min_revision": NaN}'
                          % (demo["anna"], demo["baeckerei"]))
    assert not_json.status_code == 400 and not_json.json["allowed"] is False


def test_openapi_lists_the_query_parameters(api: Api) -> None:
    paths = api.client.get("/openapi.json").json["paths"]

    def query(path: str) -> dict[str, dict]:
        return {p["name"]: p for p in paths[path]["get"].get("parameters", []) if p["in"] == "query"}

    assert set(query("/v1/events")) == {"after", "limit"}
    assert query("/v1/events")["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}
    for path in ("/v1/partnerships/{partnership_id}", "/v1/partnerships/{partnership_id}/history",
                 "/v1/organizations/{organization_id}/customers.csv"):
        assert query(path)["acting_user"]["required"] is True, path
