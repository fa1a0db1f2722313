"""/review/export (issue 21 item 5): the export equals brute-force /v1/check/batch over every (user, action,
resource) of a fixture world, with the first reason /v1/check gives, and its manifest's hash matches the rows
(JSON: the canonical row lines; CSV: the bytes served). Bad input is a 400 naming the field."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from conftest import DEMO_WORLD, ROOT
from service.api.auth import create_key
from service.decide.vocabulary import actions_for
from service.store import models as m
from service.store.world import load_world, read_world_file

from test_api_support import Api, make_api

WORLDS = [DEMO_WORLD, ROOT / "tests" / "policy" / "worlds" / "edge_cases.yaml"]
MODELS = {"organization": m.Organization, "product": m.Product, "invoice": m.Invoice,
          "invitation": m.Invitation, "partnership": m.Partnership}


def _signed_in(store_url: str, tmp_path: Path, world: Path) -> Api:
    load_world(read_world_file(world))
    api = make_api(store_url, tmp_path)
    _, key = create_key("auditor-export", "review")
    assert api.client.post("/review/sign-in", data={"key": key}).status_code == 302
    return api


def _brute_force(api: Api) -> dict[tuple[str, str, str], dict]:
    users = [f"user:{r.id}" for r in m.User.select(m.User.id).order_by(m.User.id)]
    triples = [(u, a, f"{kind}:{r.id}") for kind, model in MODELS.items() for r in model.select(model.id)
               for a in actions_for(kind) for u in users]
    allowed = {}
    for start in range(0, len(triples), 100):
        chunk = triples[start:start + 100]
        body = api.post("/v1/check/batch", {"checks": [{"actor": a, "action": b, "resource": c}
                                                       for a, b, c in chunk]}).json
        allowed.update({t: r["reasons"][0] for t, r in zip(chunk, body["results"]) if r["allowed"]})
    return allowed


@pytest.mark.parametrize("world", WORLDS, ids=lambda p: p.stem)
def test_the_export_is_brute_force_check_and_its_hash_matches(store_url: str, tmp_path: Path, world: Path) -> None:
    api = _signed_in(store_url, tmp_path, world)
    answer = api.client.get("/review/export?format=json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    doc = json.loads(answer.get_data(as_text=True))
    rows, manifest = doc["rows"], doc["manifest"]
    expected = _brute_force(api)
    assert {(r["user"], r["action"], r["resource"]): r["reason"] for r in rows} == expected
    assert len(rows) == len(expected) > 0 and all(r["rule"] == r["reason"]["rule"] for r in rows)
    lines = "".join(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for r in rows)
    assert manifest["sha256"] == hashlib.sha256(lines.encode()).hexdigest() and manifest["rows"] == len(rows)
    assert manifest["policy_version"] == api.post("/v1/check/batch", {"checks": []}).json.get(
        "policy_version", manifest["policy_version"]) and manifest["exported_by"] == "auditor-export"

    served = api.client.get("/review/export?format=csv")
    body = served.get_data()
    link = served.headers["Link"].split(">")[0].lstrip("<")
    csv_manifest = api.client.get(link).json
    assert csv_manifest["sha256"] == hashlib.sha256(body).hexdigest() and csv_manifest["rows"] == len(rows)
    assert served.headers["X-Authz-Revision"] == str(manifest["revision"])
    parsed = list(csv.DictReader(io.StringIO(body.decode())))
    assert [(r["user"], r["action"], r["resource"], r["rule"]) for r in parsed] == \
           [(r["user"], r["action"], r["resource"], r["rule"]) for r in rows]
    assert "auditor-export" in api.client.get("/review/export").get_data(as_text=True)  # listed as given out


def test_a_past_export_is_the_state_then(store_url: str, tmp_path: Path) -> None:
    api = _signed_in(store_url, tmp_path, DEMO_WORLD)
    before = json.loads(api.client.get("/review/export?format=json").get_data(as_text=True))
    membership = m.Membership.select().where(m.Membership.role == "collaborator").first()
    assert api.write("DELETE", f"/v1/memberships/{membership.id}").status_code in (200, 204)
    now = json.loads(api.client.get("/review/export?format=json").get_data(as_text=True))
    past = json.loads(api.client.get(f"/review/export?format=json&at_revision={before['manifest']['revision']}")
                      .get_data(as_text=True))
    assert now["rows"] != before["rows"]
    assert past["rows"] == before["rows"] and past["manifest"]["sha256"] == before["manifest"]["sha256"]


@pytest.mark.parametrize("query, field", [("format=xml", "format"), ("format=csv&at=yesterday", "at"),
                                          ("format=json&at_revision=1x", "at_revision"),
                                          ("format=json&at_revision=999999", "at_revision")])
def test_bad_input_is_a_400_naming_the_field(store_url: str, tmp_path: Path, query: str, field: str) -> None:
    api = _signed_in(store_url, tmp_path, DEMO_WORLD)
    answer = api.client.get(f"/review/export?{query}")
    assert answer.status_code == 400 and answer.json["error"]["field"] == field


def test_authz_export_writes_the_rows_and_their_manifest(store_url: str, tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner
    from service.cli.main import main as authz
    api = _signed_in(store_url, tmp_path, DEMO_WORLD)
    served = json.loads(api.client.get("/review/export?format=json").get_data(as_text=True))
    monkeypatch.setenv("DATABASE_URL", store_url)
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(authz, ["export", "--format", "csv", "--output", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "export.csv.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["rows"] == served["manifest"]["rows"] and manifest["revision"] == served["manifest"]["revision"]
    parsed = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["user"], r["action"], r["resource"]) for r in parsed] == \
           [(r["user"], r["action"], r["resource"]) for r in served["rows"]]
