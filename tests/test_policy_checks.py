"""Strict validation (`authz validate` and every load), the manifest, and `authz test --policies`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from service.decide import checks as policy_checks
from service.decide.engine import POLICY_DIR, Engine, PolicyError
from service.cli import main as cli

TABLE_DIR = Path(__file__).resolve().parent / "policy"


def _folder(tmp_path: Path, extra: str = "", file: str = "customers.polar") -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, folder)
    if extra:
        with open(folder / file, "a", encoding="utf-8") as fh:
            fh.write(extra)
    return folder


def _validate(folder: Path):
    return CliRunner().invoke(cli, ["validate", "--policies", str(folder)])


def _line_of(folder: Path, file: str, needle: str) -> int:
    lines = (folder / file).read_text().splitlines()
    return max(i for i, line in enumerate(lines, start=1) if needle in line)  # the rule appended last


def test_the_repository_policy_passes_every_strict_check() -> None:
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 0 and "policy ok" in result.output


@pytest.mark.parametrize("rule, needle, message", [
    ('# R4: a test grant\ngrant(user: User, "add_custmer", org: Organization, why) if\n'
     '  user.role_in(org) = "legal_representative" and why = {rule: "R4"};\n',
     '"add_custmer"', "action 'add_custmer' is not in the vocabulary of Organization"),
    ('# R16: a test grant\ngrant(user: User, "view_invoice", invoice: Invoice, why) if\n'
     '  user.role_in(invoice.organisation) = "administrator" and why = {rule: "R16"};\n',
     "invoice.organisation", "Invoice has no attribute or method 'organisation'"),
    ('# R4: a test grant\ngrant(user: User, "add_customer", org: Organization, why) if\n'
     '  user.has_role(org) and why = {rule: "R4"};\n',
     "user.has_role", "User has no attribute or method 'has_role'"),
    ('# R4: a test grant\ngrant(user: User, "add_customer", org: Organization, why) if\n'
     '  [org.id, "legal_representative"] in user.roles and why = {rule: "R4"};\n',
     "user.roles", "read the user through its methods"),
    ('# R15: a test grant\ngrant(user: User, "manage_product", product: Product, why) if\n'
     '  p in product.partnerships and p.granted.tecnical = true and reaches(user, p, why);\n',
     "p.granted.tecnical", "no registered class or dictionary of the facts has 'tecnical'"),
    ('# R16: a test grant\ngrant(_user: User, "view_invoice", _invoice: Invoice, why) if why = {rule: "R16"};\n',
     "grant(_user", "grant puts no condition on its user"),
    ('# R16: a test grant\ngrant(user: User, "view_invoice", invoice: Invoice, why) if\n'
     '  invoice.id = invoice.id and why = {rule: "R16", user: 1};\n',
     "grant(user", "grant puts no condition on its user"),
])
def test_a_strict_check_refuses_with_file_and_line(tmp_path: Path, rule: str, needle: str, message: str) -> None:
    folder = _folder(tmp_path, "\n" + rule)
    result = _validate(folder)
    assert result.exit_code == 1
    assert f"customers.polar:{_line_of(folder, 'customers.polar', needle)}: " in result.output
    assert message in result.output
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Engine(folder)  # every load runs the same checks


def test_a_grant_open_to_every_user_loads_when_marked_deliberate(tmp_path: Path) -> None:
    folder = _folder(tmp_path, '\n# R16: every user sees every invoice (deliberate: a test)\n'
                               'grant(_user: User, "view_invoice", invoice: Invoice, why) if '
                               'why = {rule: "R16", invoice: invoice.id};\n')
    assert _validate(folder).exit_code == 0


def test_helper_rules_beside_the_grants_are_checked_but_accepted(tmp_path: Path) -> None:
    """Issue 9's why_not rules read the same classes: they pass when they read what exists."""
    folder = _folder(tmp_path, '\n# R4: why a user may not add a customer: not a partner\n'
                               'why_not(_user: User, "add_customer", org: Organization, missing) if\n'
                               '  not org.is_partner and missing = {rule: "R4", organization: org.id};\n')
    assert _validate(folder).exit_code == 0
    typo = _folder(tmp_path / "typo", '\n# R4: a typo in a helper rule\n'
                                      'why_not(_user: User, "add_customer", org: Organization, missing) if\n'
                                      '  not org.is_partnr and missing = {rule: "R4"};\n')
    assert "Organization has no attribute or method 'is_partnr'" in _validate(typo).output


def test_a_stray_polar_file_is_an_error_until_the_manifest_names_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    shutil.copy(folder / "customers.polar", folder / "customers.bak.polar")
    result = _validate(folder)
    assert result.exit_code == 1 and "customers.bak.polar:1: not named in manifest" in result.output
    (folder / "manifest").write_text((folder / "manifest").read_text() + "gone.polar\n")
    (folder / "customers.bak.polar").unlink()
    result = _validate(folder)
    assert result.exit_code == 1 and "manifest:9: names gone.polar, which does not exist" in result.output


def test_a_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "manifest").unlink()
    assert "no manifest" in _validate(folder).output


def test_check_texts_reads_rules_strings_and_comments() -> None:
    rules = policy_checks.parse_rules('# "a" comment; with grant(x)\nresource R { permissions = ["a;b"]; }\n'
                                      'grant(u: User, "a;b", o: Organization, why) if u.role_in(o) = "x;y";\n')
    assert [(r.name, r.line, len(r.params)) for r in rules] == [("grant", 3, 4)]


# -- `authz test --policies` and the runner's new checks -----------------------------------------


def test_tables_run_against_a_candidate_folder(tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, ["test", "--policies", str(POLICY_DIR)]).exit_code == 0
    from policy_edits import candidate
    result = CliRunner().invoke(cli, ["test", "--policies", str(candidate(tmp_path, "r4_nobody"))])
    assert result.exit_code == 1 and "FAIL customers.yaml::" in result.output and "expected allow, got deny" in result.output
    broken = _folder(tmp_path / "broken", "\nthis is not polar (\n")
    assert CliRunner().invoke(cli, ["test", "--policies", str(broken)]).exit_code == 2


def _single_table(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"description": "d", "world": str(TABLE_DIR / "../../data/demo.yaml"),
                                    "rows": rows}))
    return path


def test_an_allow_row_citing_another_rule_fails(tmp_path: Path) -> None:
    row = {"actor": "user:anna", "action": "manage_product", "resource": "product:baeckerei_web",
           "expect": "allow", "note": "full access"}
    assert CliRunner().invoke(cli, ["test", str(_single_table(tmp_path, [{**row, "rule": "R14"}]))]).exit_code == 0
    result = CliRunner().invoke(cli, ["test", str(_single_table(tmp_path, [{**row, "rule": "R15"}]))])
    assert result.exit_code == 1 and "cites R15, but the policy allowed it by R14" in result.output


def test_coverage_below_the_required_rows_fails_the_run(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    for path in TABLE_DIR.glob("*.yaml"):  # the suite without its R16 allow rows
        table = yaml.safe_load(path.read_text())
        table["world"] = str((TABLE_DIR / table["world"]).resolve())
        table["rows"] = [row for row in table["rows"] if (row["rule"], row["expect"]) != ("R16", "allow")]
        (suite / path.name).write_text(yaml.safe_dump(table))
    result = CliRunner().invoke(cli, ["test", str(suite)])
    assert result.exit_code == 1, result.output
    assert "FAIL coverage" in result.output and "R16: 0 allow rows (need 2)" in result.output
