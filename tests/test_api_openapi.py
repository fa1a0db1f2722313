"""/openapi.json is OpenAPI 3.1, generated from the route declarations; it and Flask's URL map
describe the same operations (diffed both ways); /docs is a page that loads nothing from elsewhere."""
from __future__ import annotations

import re
from pathlib import Path

from test_api_support import make_api


def _url_map_operations(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/review"):  # the HTML review console is not part of the JSON API
            continue
        path = re.sub(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found.add((method.lower(), path))
    return found


def test_spec_and_url_map_match_both_ways(store_url: str, tmp_path: Path) -> None:
    api = make_api(store_url, tmp_path)
    spec = api.client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    in_spec = {(method, path) for path, item in spec["paths"].items() for method in item}
    in_app = _url_map_operations(api.app)
    assert in_app - in_spec == set(), "routes missing from the spec"
    assert in_spec - in_app == set(), "spec operations without a route"
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op["x-scope"] in ("check", "write", "public"), (method, path)
            assert (op["x-scope"] == "public") == (not path.startswith("/v1/")), (method, path)
            if path.startswith("/v1/"):
                assert op["security"] == [{"bearer": []}] and {"401", "403", "413"} <= set(op["responses"])
    check = spec["paths"]["/v1/check"]["post"]
    body = check["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(spec["components"]["schemas"][body]["required"]) == {"actor", "action", "resource"}
    error = spec["components"]["schemas"]["ErrorAnswer"]
    assert "error" in error["required"]


def test_docs_page_is_self_contained(store_url: str, tmp_path: Path) -> None:
    api = make_api(store_url, tmp_path)
    page = api.client.get("/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    assert "/openapi.json" in html and "https://" not in html and "http://" not in html


def _links(spec: dict, path: str, method: str, status: str) -> dict:
    return spec["paths"][path][method]["responses"][status].get("links", {})


def test_answers_link_to_the_operations_that_take_their_ids(store_url: str, tmp_path: Path) -> None:
    """Stateful clients chain calls along `links`: a created entity's id feeds every operation on it."""
    spec = make_api(store_url, tmp_path).client.get("/openapi.json").json
    ids = {op["operationId"]: (path, method) for path, item in spec["paths"].items() for method, op in item.items()}
    created = _links(spec, "/v1/users", "post", "201")
    assert {link["operationId"] for link in created.values()} >= {
        "facts_get_user", "facts_patch_user", "facts_put_user", "facts_delete_user"}
    assert created["facts_get_user"]["parameters"] == {"path.user_id": "$response.body#/id#regex:^[a-z_]+:([0-9]+)$"}
    for collection in ("organizations", "products", "memberships", "invoices", "assignments",
                       "product-authorizations", "invitations"):
        targets = {ids[link["operationId"]][0] for link in _links(spec, f"/v1/{collection}", "post", "201").values()}
        assert any(target.startswith(f"/v1/{collection}/{{") for target in targets), collection
    accepted = _links(spec, "/v1/invitations/{invitation_id}/accept", "post", "200")
    review = accepted["workflows_review_partnership_by_partnership"]["parameters"]
    assert review["path.partnership_id"].startswith("$response.body#/partnership#regex:")
    assert review["query.acting_user"] == "$request.body#/acting_user"  # the same user goes on
    decided = _links(spec, "/v1/check", "post", "200")
    assert decided["audit_show_decision_by_decision_id"]["parameters"] == {
        "path.decision_id": "$response.body#/decision_id"}
    for path, item in spec["paths"].items():  # every link names an operation of this document
        for op in item.values():
            for answer in op["responses"].values():
                for link in answer.get("links", {}).values():
                    target_path, target_method = ids[link["operationId"]]
                    target = spec["paths"][target_path][target_method]
                    names = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])}
                    assert set(link["parameters"]) <= names, (path, link)
