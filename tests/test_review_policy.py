"""The console's policy versions (/review/policy and /review/policy/<activation>): who activated which version
when, and the decisions each activation gained and lost, equal to what `authz impact` answered for that pair of
versions just before the activation (on the store as it stood then, whatever was written since)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from service.analysis.candidates import activate, load_candidate
from service.api.auth import create_key
from service.audit.recorder import shutdown
from service.cli import main as cli
from service.store import open_database
from service.store.models import Assignment

from policy_edits import ONE_TRUTH_EDITS, apply_steps
from test_api_support import Api, make_api

Triple = tuple[str, str, str]


def _signed_in(api: Api) -> Api:
    _, key = create_key("reviewer", "review")
    assert api.client.post("/review/sign-in", data={"key": key}).status_code == 302
    return api


def impact_then_activate(monkeypatch: pytest.MonkeyPatch, store_url: str, folder: Path, by: str) -> dict[str, Any]:
    """`authz impact --format json` of the candidate against the active version, then its activation."""
    monkeypatch.setenv("DATABASE_URL", store_url)
    shutdown()  # the command rebinds the store: the decision writer is stopped first
    result = CliRunner().invoke(cli, ["impact", "--policies", str(folder), "--format", "json"])
    open_database(store_url, pooled=True)
    answer = json.loads(result.stdout)
    files, _engine = load_candidate(folder)
    stored, recorded = activate(files, by, wait=0)
    assert recorded and stored.version == answer["candidate"]
    return answer


def _triples(changes: list[dict[str, Any]]) -> set[Triple]:
    return {(c["actor"], c["action"], c["resource"]) for c in changes}


def _counts(tally: dict[str, dict[str, int]]) -> dict[str, tuple[int, int]]:
    return {k: (v["gained"], v["lost"]) for k, v in tally.items()}


def test_each_activation_shows_what_authz_impact_answered(store_url: str, demo, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    api = _signed_in(make_api(store_url, tmp_path))
    impacts = {}
    for name, by in (("r13_all_collaborators", "alice-policy"), ("r12_legal_representatives_only", "bob-policy")):
        folder = apply_steps(tmp_path / name, ONE_TRUTH_EDITS[name].steps)
        impacts[by] = impact_then_activate(monkeypatch, store_url, folder, by)
        assert impacts[by]["gained"] or impacts[by]["lost"]
    # a fact write after the activations: the activations' impact is on the store as it stood then
    carla = int(demo["carla"].split(":")[1])
    for row in Assignment.select().where(Assignment.user == carla):
        assert api.write("DELETE", f"/v1/assignments/{row.id}").status_code == 200

    listed = api.client.get("/review/policy?format=json").json["activations"]
    assert [a["activated_by"] for a in listed] == ["bob-policy", "alice-policy", "tests"]
    assert listed[2]["unavailable"] and listed[2]["gained"] is None  # the first activation: nothing before it
    for entry in listed[:2]:
        impact = impacts[entry["activated_by"]]
        assert (entry["version"], entry["previous_version"]) == (impact["candidate"], impact["baseline"])
        assert (entry["gained"], entry["lost"]) == (len(impact["gained"]), len(impact["lost"]))
        assert _counts(entry["by_rule"]) == _counts(impact["by_rule"])
        assert _counts(entry["by_action"]) == _counts(impact["by_action"])
        for ident in (entry["activation"], entry["version"]):
            detail = api.client.get(f"/review/policy/{ident}?format=json").json
            gained = {(r["user"], r["action"], r["resource"]) for r in detail["changes"] if r["change"] == "gained"}
            lost = {(r["user"], r["action"], r["resource"]) for r in detail["changes"] if r["change"] == "lost"}
            assert (gained, lost) == (_triples(impact["gained"]), _triples(impact["lost"]))
    newest = listed[0]
    rule = next(iter(newest["by_rule"]))
    only = api.client.get(f"/review/policy/{newest['activation']}?format=json&rule={rule}").json["changes"]
    assert only and len(only) == sum(newest["by_rule"][rule].values()) and all(rule in r["rules"].split() for r in only)
    html = api.client.get(f"/review/policy/{newest['activation']}").get_data(as_text=True)
    assert "bob-policy" in html and 'href="/review/users/' in html and 'href="/review/customers/' in html
    index = api.client.get("/review/policy").get_data(as_text=True)
    assert "alice-policy" in index and f'href="/review/policy/{newest["activation"]}"' in index
    assert api.client.get("/review/policy/999999").status_code == 404
    assert api.client.get(f"/review/policy/{newest['activation']}?rule=bad").status_code == 400
