"""API keys: 401 for a missing, bad or revoked key, 403 for the wrong scope; every /v1 route declares a
scope; the keys CLI prints the new key alone on its last line and stores only its hash."""
from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from service.api.auth import SCOPES, revoke_key
from service.store.models import ApiKey

from test_api_support import Api, api, make_api  # noqa: F401  (fixture)


def test_every_v1_route_declares_a_scope(store_url: str, tmp_path: Path) -> None:
    app = make_api(store_url, tmp_path).app
    routes = list(app.url_map.iter_rules())
    v1 = [r for r in routes if r.rule.startswith("/v1/")]
    assert len(v1) > 20
    for rule in v1:
        scope = getattr(app.view_functions[rule.endpoint], "authz_scope", None)
        assert scope in SCOPES, f"{rule.rule} declares no scope (got {scope!r})"
    for rule in routes:  # outside /v1 only the declared public ops routes exist
        assert getattr(app.view_functions[rule.endpoint], "authz_scope", None) is not None, rule.rule


def test_missing_bad_revoked_and_wrong_scope_keys(api: Api, demo) -> None:
    body = {"actor": demo["anna"], "action": "add_customer", "resource": demo["webwerk"]}
    assert api.post("/v1/check", body).json["allowed"] is True
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                    {"Authorization": f"Bearer {api.check_key}x"}, {"Authorization": "Bearer "}):
        answer = api.client.post("/v1/check", json=body, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.json["allowed"] is False and answer.json["error"]["code"] in ("unauthenticated", "invalid_key")
    wrong = api.post("/v1/check", body, scope="write")
    assert wrong.status_code == 403 and wrong.json["allowed"] is False
    assert wrong.json["error"]["code"] == "wrong_scope"
    assert api.post("/v1/organizations", {"name": "X", "partner": False}, scope="check").status_code == 403
    assert api.client.get("/v1/policy").status_code == 401
    # the key is checked before the body: an unauthenticated garbage body is a 401, not a 400
    assert api.client.post("/v1/check", data=b"{{{").status_code == 401
    key_id = ApiKey.get(ApiKey.key_hash == hashlib.sha256(api.check_key.encode()).hexdigest()).id
    assert revoke_key(key_id)
    revoked = api.post("/v1/check", body)
    assert revoked.status_code == 401 and revoked.json["allowed"] is False


def test_keys_cli_create_list_revoke(store_url: str, monkeypatch) -> None:
    from service.cli import main
    monkeypatch.setenv("DATABASE_URL", store_url)
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--name", "billing", "--scope", "write"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("azk_") and " " not in key
    row = ApiKey.get(ApiKey.name == "billing")
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and row.scope == "write"
    assert ApiKey.select().where(ApiKey.key_hash == key).count() == 0  # never stored in clear
    listed = runner.invoke(main, ["keys", "list"])
    assert "billing" in listed.output and key not in listed.output
    assert runner.invoke(main, ["keys", "create", "--name", "x", "--scope", "admin"]).exit_code != 0
    assert runner.invoke(main, ["keys", "revoke", str(row.id)]).exit_code == 0
    assert ApiKey.get_by_id(row.id).revoked_at is not None
    assert runner.invoke(main, ["keys", "revoke", str(row.id)]).exit_code != 0
