"""Explained denials: `explain: true` on /v1/check and `authz check --explain` list, for a deny,
what each rule that could have allowed it lacks; the decision tables pin `missing` row by row."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from service.analysis import tables as t
from service.decide.engine import POLICY_DIR
from service.decide.whynot import TEXTS
from service.cli import main as cli

from test_api_support import Api, api  # noqa: F401  (fixture)

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo.yaml"


def _explain(api: Api, actor: str, action: str, resource: str) -> dict:
    answer = api.post("/v1/check", {"actor": actor, "action": action, "resource": resource, "explain": True})
    assert answer.status_code == 200
    return answer.json


def _only(body: dict) -> dict:
    assert body["allowed"] is False and len(body["reasons"]) == 1, body
    return body["reasons"][0]


def test_r12_names_the_ended_partnership(api: Api, demo) -> None:
    entry = _only(_explain(api, demo["anna"], "access_account", demo["zahnarzt"]))
    partner, customer = demo["webwerk"].split(":")[1], demo["zahnarzt"].split(":")[1]
    assert entry["rule"] == "R12" and entry["missing"] == "active_partnership"
    assert entry["partner"] == int(partner) and entry["customer"] == int(customer)
    assert entry["ended"][0]["partnership"] == int(demo["webwerk_zahnarzt"].split(":")[1])
    assert re.fullmatch(rf"R12: no active partnership between organization:{partner} and organization:{customer} "
                        rf"\({demo['webwerk_zahnarzt']} ended \d{{4}}-\d\d-\d\d\)", entry["text"])


def test_r13_names_the_missing_assignment(api: Api, demo) -> None:
    entry = _only(_explain(api, demo["carla"], "access_account", demo["metzgerei"]))
    assert (entry["rule"], entry["missing"]) == ("R13", "assignment")
    assert entry["text"] == (f"R13: {demo['carla']} is a collaborator of {demo['webwerk']} "
                             f"but is not assigned to {demo['metzgerei']}")


def test_r15_names_the_right_the_grant_lacks(api: Api, demo) -> None:
    entry = _only(_explain(api, demo["anna"], "view_statistics", demo["anwalt_web"]))
    assert (entry["rule"], entry["missing"]) == ("R15", "statistical_right")
    assert entry["granted"] == {"technical": True, "statistical": False}
    assert entry["text"] == (f"R15: {demo['webwerk_anwalt']} grants {demo['anwalt_web']} "
                             "without the statistical right")
    entry = _only(_explain(api, demo["anna"], "manage_product", demo["anwalt_drive"]))
    assert entry["text"] == f"R15: {demo['webwerk_anwalt']} does not grant {demo['anwalt_drive']} at all"


def test_r16_names_the_paying_organization(api: Api, demo) -> None:
    entry = _only(_explain(api, demo["anna"], "view_invoice", demo["baeckerei_invoice"]))
    assert (entry["rule"], entry["missing"]) == ("R16", "billing_right")
    assert entry["text"] == (f"R16: {demo['baeckerei_invoice']} belongs to {demo['baeckerei']}; "
                             f"{demo['anna']} has no billing right there")


def test_without_explain_the_plain_deny_is_unchanged(api: Api, demo) -> None:
    body = api.post("/v1/check", {"actor": demo["anna"], "action": "access_account",
                                  "resource": demo["zahnarzt"]}).json
    assert body["reasons"] == [{"rule": "R20", "denied": "no rule allows this", "actor": demo["anna"],
                                "action": "access_account", "resource": demo["zahnarzt"]}]


def test_an_explained_allow_is_unchanged(api: Api, demo) -> None:
    body = _explain(api, demo["carla"], "access_account", demo["baeckerei"])
    assert body["allowed"] and body["reasons"][0]["rule"] == "R13" and "missing" not in body["reasons"][0]


def test_unknown_things_are_explained_as_r20(api: Api, demo) -> None:
    entry = _only(_explain(api, "user:999999", "manage_users", demo["webwerk"]))
    assert (entry["rule"], entry["missing"], entry["text"]) == ("R20", "existing_actor", "R20: user:999999 does not exist")
    entry = _only(_explain(api, demo["anna"], "fly", demo["webwerk"]))
    assert (entry["rule"], entry["missing"]) == ("R20", "known_action")


def test_cli_check_explain(store_url: str, demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", store_url)
    out = CliRunner().invoke(cli, ["check", demo["carla"], "access_account", demo["metzgerei"], "--explain"])
    assert out.exit_code == 1
    assert f"missing R13: {demo['carla']} is a collaborator of {demo['webwerk']}" in out.output
    plain = CliRunner().invoke(cli, ["check", demo["carla"], "access_account", demo["metzgerei"]])
    assert "missing" not in plain.output and '"denied": "no rule allows this"' in plain.output


def test_every_why_not_clause_has_a_text() -> None:
    pairs = set()
    for path in POLICY_DIR.glob("*.polar"):
        pairs |= set(re.findall(r'missing = \{rule: "(R\d+)", missing: "([a-z_]+)"', path.read_text()))
    assert pairs and pairs <= set(TEXTS), sorted(pairs - set(TEXTS))


def test_every_deny_row_states_missing() -> None:
    for table in t.load_tables(t.DEFAULT_TABLE_DIR):
        for row in table.rows:
            assert bool(row.missing) == (row.expect == "deny"), row.id


def _table(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"description": "d", "world": str(DEMO), "rows": rows}))
    return path


ROW = {"actor": "user:carla", "action": "access_account", "resource": "organization:metzgerei",
       "expect": "deny", "rule": "R13", "note": "n"}


def test_the_runner_fails_a_row_whose_missing_differs(tmp_path: Path) -> None:
    path = _table(tmp_path, [{**ROW, "missing": ["R12 active_partnership"]}])
    result = CliRunner().invoke(cli, ["test", str(path)])
    assert result.exit_code == 1
    assert "expected missing ['R12 active_partnership'], got ['R13 assignment']" in result.output
    right = CliRunner().invoke(cli, ["test", str(_table(tmp_path, [{**ROW, "missing": ["R13 assignment"]}]))])
    assert right.exit_code == 0, right.output


@pytest.mark.parametrize("row, message", [
    (ROW, "a deny row states missing"),
    ({**ROW, "missing": ["assignment"]}, "a deny row states missing"),
    ({**ROW, "expect": "allow", "missing": ["R13 assignment"]}, "an allow row has no missing"),
])
def test_the_runner_rejects_rows_without_a_proper_missing(tmp_path: Path, row: dict, message: str) -> None:
    with pytest.raises(t.TableError, match=message):
        t.load_table(_table(tmp_path, [row]))


def test_the_why_not_rules_keep_the_pattern_memo_on() -> None:
    """why_not clauses live in the same files: they must stay id-blind (no numbers, no ordering),
    or the engine would silently lose its pattern memo (service/decide/patterns.py)."""
    from service.decide.engine import Engine
    assert Engine(pattern_memo_size=10, shape_table=False).patterns is not None


def test_fill_missing_writes_the_engines_answer_into_rows_that_lack_it(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(f"description: d\nworld: {DEMO}\nrows:\n"
                    '  - {actor: user:carla, action: access_account, resource: organization:metzgerei, '
                    'expect: deny, rule: R13, note: "not assigned"}\n'
                    '  - {actor: user:anna, action: add_customer, resource: organization:webwerk, '
                    'expect: allow, rule: R4, note: "allowed"}\n')
    out = CliRunner().invoke(cli, ["fill-missing", str(path)])
    assert out.exit_code == 0, out.output
    assert "missing: [R13 assignment], note:" in path.read_text()
    assert t.load_table(path).rows[0].missing == ("R13 assignment",)


def test_a_failing_explanation_leaves_the_deny_standing(store_url: str, demo, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.decide.engine import Engine
    from service.decide import engine as engine_module

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(engine_module, "explain_denial", broken)
    decision = Engine(shape_table=False).decide(demo["carla"], "access_account", demo["metzgerei"], why_not=True)
    assert not decision.allowed and not decision.error
    assert decision.reasons[0]["denied"] == "no rule allows this"
