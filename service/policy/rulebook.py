"""The rules as a reviewer reads them: statements (docs/rules.md) and the policy clauses citing them.

Every clause of policies/*.polar is preceded by a one-line comment citing its
R-numbers; this module indexes them (file, line, head, rules, comment, source)
so that docs/rules.md, `authz rules` and the /review console show the very
clauses that are loaded. Nothing here decides anything.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from service.decide.engine import POLICY_DIR, policy_files

RULES_DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
RULE_IDS = tuple(f"R{n}" for n in range(1, 21))

_R_NUMBER = re.compile(r"\bR([1-9]|1[0-9]|20)\b")
_CLAUSE_START = re.compile(r"^[a-z_]+\(")
_STATEMENT = re.compile(r"^## (R\d+)\s+(.*)$")


@dataclass(frozen=True)
class Clause:
    file: str        # policies/customers.polar
    line: int        # 1-based line of the clause's head
    head: str        # the head up to `if` (or the whole fact), e.g. grant(user: User, "add_customer", org: Organization, why)
    rules: tuple[str, ...]
    comment: str     # the one-line comment above it
    source: str      # comment and clause, as written

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _head(text: str) -> str:
    head = text.split(" if", 1)[0].strip()
    return head[:-1] if head.endswith(";") else head


def clauses_in(text: str, where: str) -> list[Clause]:
    """The clauses of one policy file's text; `where` names the file as the clauses cite it."""
    lines = text.splitlines()
    found: list[Clause] = []
    index = 0
    while index < len(lines):
        if not _CLAUSE_START.match(lines[index]):
            index += 1
            continue
        start = index
        while not lines[index].rstrip().endswith(";"):
            index += 1
        comment = lines[start - 1] if start > 0 and lines[start - 1].startswith("#") else ""
        rules = tuple(f"R{n}" for n in _R_NUMBER.findall(comment))
        source = "\n".join(([comment] if comment else []) + lines[start:index + 1])
        found.append(Clause(where, start + 1, _head(lines[start]), rules, comment.lstrip("# ").strip(), source))
        index += 1
    return found


def version_clauses(texts: dict[str, str]) -> list[Clause]:
    """Every clause of a policy version given as {file name: text} (an engine's, a stored activation's),
    cited as policies/<name>."""
    return [clause for name in sorted(texts) for clause in clauses_in(texts[name], f"policies/{name}")]


def all_clauses(policy_dir: Path = POLICY_DIR) -> list[Clause]:
    """Every clause of a policy folder (the docs and `authz rules` read the repository's)."""
    root = policy_dir.parent
    return [clause for path in policy_files(policy_dir)
            for clause in clauses_in(path.read_text(encoding="utf-8"), str(path.relative_to(root)))]


def statements(doc: Path = RULES_DOC) -> dict[str, tuple[str, str]]:
    """R-number -> (title, statement) from docs/rules.md: a `## R12 title` heading, then a `> statement` quote."""
    found: dict[str, tuple[str, str]] = {}
    current: tuple[str, str] | None = None
    quote: list[str] = []
    for line in doc.read_text(encoding="utf-8").splitlines() + [""]:
        heading = _STATEMENT.match(line)
        if heading:
            current, quote = (heading.group(1), heading.group(2).strip(" —-")), []
        elif current and line.startswith(">"):
            quote.append(line.lstrip("> ").strip())
        elif current and quote:
            found[current[0]] = (current[1], " ".join(quote))
            current, quote = None, []
    return found
