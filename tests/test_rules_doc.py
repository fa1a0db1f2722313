"""docs/rules.md stays true of the repository: every R-number a policy comment cites has a section,
every clause and workflow function it names exists, its generated parts are current; and nothing
in the project points outside the repository for the rules."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from click.testing import CliRunner

from service.decide.engine import POLICY_DIR
from service.policy.rulebook import RULES_DOC, statements
from service.cli import main as cli
from service.rules_doc import problems

ROOT = Path(__file__).resolve().parents[1]
TEXT = RULES_DOC.read_text(encoding="utf-8")


def test_the_document_is_current() -> None:
    out = CliRunner().invoke(cli, ["rules", "--check"])
    assert out.exit_code == 0, out.output
    assert problems(TEXT) == []


def test_every_rule_has_a_statement() -> None:
    found = statements()
    assert sorted(found, key=lambda r: int(r[1:])) == [f"R{n}" for n in range(1, 21)]
    assert found["R12"][1].startswith("Legal representatives and administrators of a partner may access")


def test_a_policy_comment_citing_a_rule_the_document_lacks_fails() -> None:
    start = TEXT.index("## R17")
    end = TEXT.index("## R18")
    found = problems(TEXT[:start] + TEXT[end:])
    assert any("cites R17, which docs/rules.md lacks" in p for p in found), found


def test_a_clause_that_no_longer_exists_fails() -> None:
    line = next(l for l in TEXT.splitlines() if l.startswith("- `policies/billing.polar:"))
    moved = line.replace("billing.polar:", "billing.polar:9", 1)
    found = problems(TEXT.replace(line, moved, 1))
    assert any("which is not a clause there" in p for p in found), found


def test_a_workflow_function_that_no_longer_exists_fails() -> None:
    found = problems(TEXT.replace("`_guard_last_legal_representative`", "`_guard_gone`", 1))
    assert any("_guard_gone" in p for p in found), found


def test_a_changed_policy_makes_the_generated_parts_stale(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, policies)
    with open(policies / "billing.polar", "a", encoding="utf-8") as fh:
        fh.write('\n# R16: a second, hypothetical clause.\ngrant(_user: User, "view_invoice", _invoice: Invoice, _why) if false;\n')
    found = problems(TEXT, policies)
    assert any("stale" in p for p in found), found


# the team workspace beside the repository and its two documents, spelt in parts so that this
# file, which looks for them, does not itself contain them
OUTSIDE = ("../" + "shared", "DOMAIN" + ".md", "DESIGN" + ".md")


def test_nothing_in_the_project_points_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = [path for path in tracked if (ROOT / path).is_file() and path.endswith((".md", ".py", ".polar", ".yaml", ".toml", ".cfg", ".txt"))
                 and any(outside in (ROOT / path).read_text(encoding="utf-8", errors="replace")
                         for outside in OUTSIDE)]
    assert offenders == []
