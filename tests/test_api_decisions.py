"""Decision endpoints, limits, errors, the decision log and the ops endpoints, through HTTP."""
from __future__ import annotations

import json

import pytest

from service.decide.engine import Engine
from service.store import bump_revision, database

from test_api_support import Api, api  # noqa: F401  (fixture)


def _check(api: Api, actor: str, action: str, resource: str, **extra):
    return api.post("/v1/check", {"actor": actor, "action": action, "resource": resource, **extra})


def test_check_allows_and_denies_with_reasons(api: Api, demo) -> None:
    allowed = _check(api, demo["carla"], "access_account", demo["baeckerei"])
    assert allowed.status_code == 200
    body = allowed.json
    assert set(body) == {"allowed", "decision_id", "reasons", "policy_version", "revision"}
    assert body["allowed"] is True and body["reasons"][0]["rule"] == "R13" and body["revision"] >= 1
    denied = _check(api, demo["dirk"], "access_account", demo["baeckerei"]).json
    assert denied["allowed"] is False and denied["reasons"][0]["rule"] == "R20"
    assert denied["decision_id"] != body["decision_id"]
    # unknown action, unknown ids and unknown types are denials (R20), not errors
    for actor, action, resource in ((demo["anna"], "fly", demo["webwerk"]),
                                    ("user:999999", "manage_users", demo["webwerk"]),
                                    (demo["anna"], "manage_users", "organization:999999"),
                                    (demo["anna"], "manage_users", "spaceship:1")):
        answer = _check(api, actor, action, resource)
        assert answer.status_code == 200 and answer.json["allowed"] is False
    explained = _check(api, demo["anna"], "manage_product", demo["baeckerei_web"], explain=True).json
    assert explained["allowed"] and {r["rule"] for r in explained["reasons"]} == {"R14"}


def test_check_min_revision(api: Api, demo) -> None:
    current = _check(api, demo["anna"], "add_customer", demo["webwerk"]).json["revision"]
    ok = _check(api, demo["anna"], "add_customer", demo["webwerk"], min_revision=current)
    assert ok.status_code == 200 and ok.json["allowed"] is True
    stale = _check(api, demo["anna"], "add_customer", demo["webwerk"], min_revision=current + 1)
    assert stale.status_code == 409 and stale.json["allowed"] is False
    assert stale.json["error"]["field"] == "min_revision"
    with database.atomic():
        bump_revision()
    assert _check(api, demo["anna"], "add_customer", demo["webwerk"], min_revision=current + 1).status_code == 200


def test_validation_errors_name_the_field_and_deny(api: Api, demo) -> None:
    good = {"actor": demo["anna"], "action": "add_customer", "resource": demo["webwerk"]}
    cases = [
        (b"not json", 400, None), (b"[1, 2]", 400, None), (b"", 400, None), (b'"x"', 400, None),
        (json.dumps({**good, "actor": 5}).encode(), 400, "actor"),
        (json.dumps({k: v for k, v in good.items() if k != "action"}).encode(), 400, "action"),
        (json.dumps({**good, "actor": "organization:1"}).encode(), 422, "actor"),
        (json.dumps({**good, "resource": "x" * 129}).encode(), 422, "resource"),
        (json.dumps({**good, "resource": "organization:1\n"}).encode(), 422, "resource"),
        (json.dumps({**good, "resource": "organization:\u00001"}).encode(), 422, "resource"),
        (json.dumps({**good, "extra": 1}).encode(), 422, "extra"),
        (json.dumps({**good, "min_revision": -1}).encode(), 422, "min_revision"),
        (b'{"actor": "\\ud800"}', 400, None),
    ]
    for raw, status, field in cases:
        answer = api.client.post("/v1/check", data=raw, headers={**api.headers("check"),
                                                                  "Content-Type": "application/json"})
        assert answer.status_code == status, (raw, answer.json)
        assert answer.json["allowed"] is False
        assert answer.json["error"]["code"] and answer.json["error"]["message"]
        assert answer.json["error"].get("field") == field, (raw, answer.json)
        assert "Traceback" not in answer.get_data(as_text=True)


def test_body_limit_is_64_kib(api: Api, demo) -> None:
    big = json.dumps({"actor": demo["anna"], "action": "x" * (65 * 1024), "resource": demo["webwerk"]})
    answer = api.client.post("/v1/check", data=big, headers={**api.headers("check"),
                                                               "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json["allowed"] is False
    assert answer.json["error"]["code"] == "body_too_large"
    facts = api.client.post("/v1/organizations", data=big, headers=api.headers("write"))
    assert facts.status_code == 413 and "allowed" not in facts.json


def test_batch_in_order_and_limited_to_100(api: Api, demo) -> None:
    checks = [{"actor": demo["anna"], "action": "add_customer", "resource": demo["webwerk"]},
              {"actor": demo["dirk"], "action": "add_customer", "resource": demo["webwerk"]},
              {"actor": demo["pia"], "action": "manage_product", "resource": demo["verein_web"]}]
    answer = api.post("/v1/check/batch", {"checks": checks})
    assert answer.status_code == 200
    assert [r["allowed"] for r in answer.json["results"]] == [True, False, True]
    assert all(set(r) == {"allowed", "decision_id", "reasons", "policy_version", "revision"}
               for r in answer.json["results"])
    too_many = api.post("/v1/check/batch", {"checks": checks[:1] * 101})
    assert too_many.status_code == 422 and too_many.json["allowed"] is False
    assert too_many.json["error"]["field"] == "checks" and "100" in too_many.json["error"]["message"]
    assert api.post("/v1/check/batch", {"checks": []}).status_code == 422
    assert api.post("/v1/check/batch", {"checks": checks[:1] * 100}).status_code == 200


def test_actions(api: Api, demo) -> None:
    answer = api.post("/v1/actions", {"actor": demo["carla"], "resource": demo["anwalt_mail"]}).json
    assert answer["actions"] == ["view_statistics"] and answer["allowed"] is True
    assert answer["reasons"][0]["action"] == "view_statistics" and answer["reasons"][0]["rule"] == "R15"
    assert {"decision_id", "policy_version", "revision"} <= set(answer)
    nothing = api.post("/v1/actions", {"actor": demo["erik"], "resource": demo["baeckerei"]}).json
    assert nothing["actions"] == [] and nothing["allowed"] is False
    lr = api.post("/v1/actions", {"actor": demo["anna"], "resource": demo["webwerk"]}).json["actions"]
    assert "add_customer" in lr and "access_account" in lr


def test_engine_failure_is_a_500_that_denies(api: Api, demo, monkeypatch) -> None:
    engine, _refused, _stamp = api.app.extensions["authz_engine"].current()  # the active version's engine

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(engine, "_load", broken)  # a failure inside the engine, not a mock of its answer
    monkeypatch.setattr(engine.cache, "size", 0)
    answer = _check(api, demo["anna"], "manage_users", demo["baeckerei"])
    assert answer.status_code == 500 and answer.json["allowed"] is False
    assert "boom" not in answer.get_data(as_text=True) and answer.json["decision_id"]
    batch = api.post("/v1/check/batch", {"checks": [{"actor": demo["anna"], "action": "manage_users",
                                                      "resource": demo["webwerk"]}]})
    assert batch.status_code == 500 and batch.json["allowed"] is False


def test_decision_log_has_one_line_per_decision(api: Api, demo) -> None:
    ids = [_check(api, demo["anna"], "add_customer", demo["webwerk"]).json["decision_id"],
           _check(api, demo["dirk"], "add_customer", demo["webwerk"]).json["decision_id"]]
    lines = [json.loads(line) for line in api.log_path.read_text().splitlines()]
    assert [line["decision_id"] for line in lines] == ids
    first = lines[0]
    assert {"time", "key_id", "actor", "action", "resource", "allowed", "reasons", "policy_version",
            "revision", "latency_ms", "decision_id"} <= set(first)
    assert first["allowed"] is True and lines[1]["allowed"] is False and first["key_id"] is not None
    assert first["actor"] == demo["anna"] and first["latency_ms"] >= 0


def test_decision_log_setting(tmp_path, monkeypatch) -> None:
    from service.decision_log import DecisionLog, DecisionLogError
    monkeypatch.setenv("AUTHZ_DECISION_LOG", "off")
    assert not DecisionLog.from_setting().enabled
    monkeypatch.setenv("AUTHZ_DECISION_LOG", "-")  # stdout cannot keep records whole: refused, not degraded
    with pytest.raises(DecisionLogError, match="standard output"):
        DecisionLog.from_setting()
    monkeypatch.setenv("AUTHZ_DECISION_LOG", str(tmp_path / "d.log"))
    log = DecisionLog.from_setting()
    log.write({"decision_id": "e", "allowed": True})
    log.close()
    assert json.loads((tmp_path / "d.log").read_text())["decision_id"] == "e"


def test_ops_endpoints(api: Api, demo) -> None:
    assert api.client.get("/healthz").json == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json == {"ready": True, "policy_loaded": True, "store_reachable": True,
                                                       "schema_current": True, "policy": Engine().policy_version,
                                                       "recorder_writing": True,
                                                       "recorder": "async: 0 waiting, 0 lost, 0 refused"}  # the default mode
    _check(api, demo["anna"], "add_customer", demo["webwerk"])
    _check(api, demo["dirk"], "add_customer", demo["webwerk"])
    api.client.post("/v1/check", json={})
    metrics = api.client.get("/metrics")
    text = metrics.get_data(as_text=True)
    assert metrics.status_code == 200 and metrics.content_type.startswith("text/plain")
    assert 'authz_decisions_total{action="add_customer",outcome="allow"}' in text
    assert 'authz_decisions_total{action="add_customer",outcome="deny"}' in text
    assert "authz_decision_latency_seconds_bucket" in text and 'authz_errors_total{code="unauthenticated"' in text
    policy = api.get("/v1/policy", scope="check")
    assert policy.status_code == 200 and "main.polar" in policy.json["files"] and policy.json["version"]
    from service.store.models import SchemaVersion
    SchemaVersion.update(version=0).execute()
    not_ready = api.client.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json["schema_current"] is False


def test_unknown_routes_and_methods_use_the_error_shape(api: Api) -> None:
    missing = api.client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong_method = api.client.get("/v1/check", headers=api.headers("check"))
    assert wrong_method.status_code == 405 and wrong_method.json["allowed"] is False
