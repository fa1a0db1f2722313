"""docs/rules.md: its generated parts (clauses and table rows per rule) and its consistency checks.

The statements and workflow checks are written by hand; between the markers
`<!-- generated Rn: ... -->` and `<!-- end generated Rn -->` the document lists
what the repository holds: every policy clause citing the rule (file:line, head)
and every decision-table row citing it. `authz rules --write` rewrites those
parts; `authz rules --check` (and tests/test_rules_doc.py) reports drift.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from service.policy.rulebook import RULE_IDS, RULES_DOC, Clause, all_clauses
from service.analysis.tables import DEFAULT_TABLE_DIR, Row, load_tables

ROOT = RULES_DOC.parents[1]
_BLOCK = re.compile(r"(<!-- generated (R\d+): authz rules --write -->\n)(.*?)(<!-- end generated \2 -->)", re.S)
_CLAUSE_REF = re.compile(r"`(policies/[a-z_]+\.polar):(\d+)` `([^`]+)`")
_CODE_REF = re.compile(r"\(`((?:service|tests)/[a-z_/]+\.py)`, ((?:`[A-Za-z_.]+`(?:, )?)+)")
_SECTION = re.compile(r"^## (R\d+)\b", re.M)


def _row_line(row: Row) -> str:
    missing = f" (missing: {', '.join(row.missing)})" if row.missing else ""
    return f"- `{row.file}` {row.actor} {row.action} {row.resource} → {row.expect}{missing}"


def generated_block(rule: str, clauses: list[Clause], rows: list[Row]) -> str:
    lines = ["**Policy clauses.**" + ("" if clauses else " None: this rule is enforced outside the policy."), ""]
    lines += [f"- `{c.where}` `{c.head}` — {c.comment}" for c in clauses]
    allow = sum(r.expect_allowed for r in rows)
    lines += ["", f"**Decision-table rows.** {len(rows)} ({allow} allow, {len(rows) - allow} deny)"
              + ("" if rows else ": none cite this rule."), ""]
    lines += [_row_line(r) for r in rows]
    return "\n".join(lines).rstrip() + "\n"


def render(text: str, policy_dir: Path | None = None, table_dir: Path = DEFAULT_TABLE_DIR) -> str:
    """The document with every generated part rewritten from the current policy and tables."""
    clauses = all_clauses(policy_dir) if policy_dir else all_clauses()
    rows: dict[str, list[Row]] = defaultdict(list)
    for table in load_tables(table_dir):
        for row in table.rows:
            rows[row.rule].append(row)

    def block(match: re.Match) -> str:
        rule = match.group(2)
        body = generated_block(rule, [c for c in clauses if rule in c.rules], rows[rule])
        return f"{match.group(1)}{body}{match.group(4)}"

    return _BLOCK.sub(block, text)


def problems(text: str, policy_dir: Path | None = None, table_dir: Path = DEFAULT_TABLE_DIR) -> list[str]:
    """What makes the document untrue of the repository; [] when it is current."""
    found = []
    clauses = all_clauses(policy_dir) if policy_dir else all_clauses()
    sections = set(_SECTION.findall(text))
    blocks = {m.group(2) for m in _BLOCK.finditer(text)}
    for rule in RULE_IDS:
        if rule not in sections or rule not in blocks:
            found.append(f"{rule}: no section with a generated part")
    for clause in clauses:
        if not clause.rules:
            found.append(f"{clause.where}: the clause cites no R-number in the comment above it")
        for rule in clause.rules:
            if rule not in sections:
                found.append(f"{clause.where}: cites {rule}, which docs/rules.md lacks")
    heads = {(c.file, c.line): c.head for c in clauses}
    for path, line, head in _CLAUSE_REF.findall(text):
        if heads.get((path, int(line))) != head:
            found.append(f"docs/rules.md names {path}:{line} `{head}`, which is not a clause there")
    for path, names in _CODE_REF.findall(text):
        source = ROOT / path
        for name in re.findall(r"`([A-Za-z_.]+)`", names):
            if not source.is_file() or name.split(".")[-1] not in source.read_text(encoding="utf-8"):
                found.append(f"docs/rules.md names {name} in {path}, which does not hold it")
    if render(text, policy_dir, table_dir) != text:
        found.append("docs/rules.md: generated parts are stale (run `authz rules --write`)")
    return found
