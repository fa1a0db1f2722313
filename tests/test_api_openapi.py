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
