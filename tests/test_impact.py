"""`authz impact`: exhaustive over the store, checked against brute force over every (user, action, resource)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.world import generate
from conftest import activate_repo_policy
from policy_edits import EDITS, candidate
from service.decide.engine import POLICY_DIR, Engine
from service.decide.vocabulary import actions_for
from service.cli import main as cli
from service.store import models as m
from service.store.world import load_world

RESOURCES = {"organization": m.Organization, "product": m.Product, "invoice": m.Invoice,
             "invitation": m.Invitation, "partnership": m.Partnership}


def brute_force(baseline: Engine, candidate_engine: Engine) -> tuple[set[tuple], set[tuple], int]:
    """(gained, lost, pairs allowed by either) over every user x resource x action, through decide()."""
    users = [f"user:{row.id}" for row in m.User.select(m.User.id)]
    gained, lost, allowed = set(), set(), 0
    for kind, model in RESOURCES.items():
        for row in model.select(model.id):
            resource = f"{kind}:{row.id}"
            for action in actions_for(kind):
                for user in users:
                    before = baseline.decide(user, action, resource).allowed
                    after = candidate_engine.decide(user, action, resource).allowed
                    allowed += before or after
                    if before != after:
                        (gained if after else lost).add((user, action, resource))
    return gained, lost, allowed


def run_impact(monkeypatch: pytest.MonkeyPatch, store_url: str, folder: Path, *extra: str):
    monkeypatch.setenv("DATABASE_URL", store_url)
    result = CliRunner().invoke(cli, ["impact", "--policies", str(folder), "--format", "json", *extra])
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


def _pairs(changes: list[dict]) -> set[tuple]:
    return {(c["actor"], c["action"], c["resource"]) for c in changes}


def _check_against_brute_force(monkeypatch, store_url: str, folder: Path) -> dict:
    result, answer = run_impact(monkeypatch, store_url, folder)
    assert answer is not None, result.output
    gained, lost, allowed = brute_force(Engine(POLICY_DIR, cache_size=0), Engine(folder, cache_size=0))
    assert _pairs(answer["gained"]) == gained and _pairs(answer["lost"]) == lost
    assert answer["compared"] >= allowed  # every pair either policy allows was compared
    assert result.exit_code == (1 if gained or lost else 0)
    return answer


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_impact_of_each_real_edit_on_the_demo_world_is_the_brute_force_answer(
        edit: str, demo, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = _check_against_brute_force(monkeypatch, store_url, candidate(tmp_path, edit))
    assert answer["gained"] or answer["lost"], "the edit changes something on the demo world"
    changed = answer["gained"] + answer["lost"]
    assert all(change["reasons"] for change in changed)  # each with the reasons of the policy that allows it
    expected_rule = {"r13_all_collaborators": "R13", "r16_partner_sees_invoices": "R16", "r4_nobody": "R4"}[edit]
    assert expected_rule in answer["by_rule"]


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_impact_on_a_generated_world_is_the_brute_force_answer(
        edit: str, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_world(generate(2, 6, 2, seed=11).data)
    activate_repo_policy()
    _check_against_brute_force(monkeypatch, store_url, candidate(tmp_path, edit))


def test_a_deliberately_open_grant_makes_every_user_a_candidate(
        demo, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = candidate(tmp_path, "r4_nobody")
    with open(folder / "billing.polar", "a", encoding="utf-8") as fh:
        fh.write('\n# R16 (deliberate, a test): every user sees every invoice.\n'
                 'grant(_user: User, "view_invoice", invoice: Invoice, why) if why = {rule: "R16", invoice: invoice.id};\n')
    answer = _check_against_brute_force(monkeypatch, store_url, folder)
    strangers = {c["actor"] for c in answer["gained"] if c["action"] == "view_invoice"}
    assert len(strangers) == m.User.select().count()


def test_no_change_exits_0_and_max_changes_tolerates(demo, store_url: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    same, answer = run_impact(monkeypatch, store_url, POLICY_DIR)
    assert same.exit_code == 0 and answer["gained"] == [] and answer["lost"] == [] and answer["compared"] > 0
    assert answer["baseline"] == answer["candidate"]
    folder = candidate(tmp_path, "r4_nobody")
    _, changed = run_impact(monkeypatch, store_url, folder)
    count = len(changed["lost"])
    assert run_impact(monkeypatch, store_url, folder, "--max-changes", str(count))[0].exit_code == 0
    assert run_impact(monkeypatch, store_url, folder, "--max-changes", str(count - 1))[0].exit_code == 1
    text = CliRunner().invoke(cli, ["impact", "--policies", str(folder)])
    assert text.exit_code == 1 and f"gained 0, lost {count}" in text.output and "by rule:" in text.output
    assert "- user:" in text.output and "add_customer" in text.output


def test_an_invalid_candidate_exits_2(demo, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = candidate(tmp_path, "r4_nobody")
    (folder / "customers.polar").write_text("this is not polar (\n")
    result, answer = run_impact(monkeypatch, store_url, folder)
    assert result.exit_code == 2 and answer is None and "candidate invalid" in result.stderr


def test_replay_log_lists_the_logged_checks_that_would_flip(demo, store_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "decisions.log"
    questions = [(demo["anna"], "add_customer", demo["webwerk"], True),
                 (demo["dirk"], "add_customer", demo["webwerk"], False),
                 (demo["anna"], "manage_users", demo["webwerk"], True)]
    log.write_text("".join(json.dumps({"decision_id": f"d{i}", "endpoint": "check", "actor": a, "action": act,
                                       "resource": r, "allowed": allowed}) + "\n"
                           for i, (a, act, r, allowed) in enumerate(questions))
                   + json.dumps({"decision_id": "l", "endpoint": "list", "actor": demo["anna"], "action": "x",
                                 "resource": "organization", "allowed": True}) + "\n")
    result, answer = run_impact(monkeypatch, store_url, candidate(tmp_path, "r4_nobody"), "--replay-log", str(log))
    assert result.exit_code == 1
    assert answer["replay"]["questions"] == 3
    assert [(f["decision_id"], f["logged"], f["candidate"], f["active_now"]) for f in answer["replay"]["flipped"]] \
        == [("d0", True, False, True)]
