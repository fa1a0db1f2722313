"""Policy decision tables: reviewer-readable regression cases for the rules.

A table file (tests/policy/*.yaml) names a world and lists rows

    {actor: user:anna, action: manage_product, resource: product:anwalt_web,
     expect: allow|deny, rule: R15, note: "why this row exists"}

Refs are written with the world's symbolic keys; the runner resolves them
through the key -> "type:id" map that load_world() returns. Three other
spellings exist for default-deny (R20) rows:

- a numeric id (`user:999999`) is passed through as written: a reference to
  something that does not exist;
- anything that is not `type:key` (`anna`, `user:`, `organization:-1`) is
  passed through verbatim: a malformed reference;
- an action outside the vocabulary (`fly_to_moon`) is allowed only in a row
  citing R20 that expects deny; anywhere else it is a typo and the table is
  rejected, so a misspelt action can never pass as a silent deny.

A key that the world does not define, or that names another type, is an
error of the table, never a deny. The runner only compares decisions with
expectations: it encodes no rule of its own.
"""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from service.store.world import load_world, read_world_file

from service.decide.vocabulary import is_known

# Rules that decide something (the others describe data or workflows).
DECISION_RULES = ("R1", "R2", "R3", "R4", "R5", "R7", "R8", "R9", "R10", "R12", "R13",
                  "R14", "R15", "R16", "R17", "R18", "R19", "R20")
# Rules that only ever deny: a row citing them must expect deny.
DENY_ONLY_RULES = frozenset({"R8", "R20"})
MIN_ROWS_PER_OUTCOME = 2

_RULE = re.compile(r"^R([1-9]|1[0-9]|20)$")
_KEYED_REF = re.compile(r"^([a-z_]+):([A-Za-z_][A-Za-z0-9_]*)$")
_LITERAL_REF = re.compile(r"^([a-z_]+):([0-9]+)$")
_ROW_FIELDS = frozenset({"actor", "action", "resource", "expect", "rule", "note"})
_MISSING = re.compile(r"^R([1-9]|1[0-9]|20) [a-z_]+$")


class TableError(ValueError):
    """A table file that is malformed or names something its world lacks."""


@dataclass(frozen=True)
class Row:
    file: str          # the table file's name, e.g. products.yaml
    index: int         # position in the file's rows (0-based)
    actor: str
    action: str
    resource: str
    expect: str        # "allow" | "deny"
    rule: str          # "R15"
    note: str
    missing: tuple[str, ...] = ()   # deny rows: what the explained deny lacks, "R12 active_partnership"

    @property
    def expect_allowed(self) -> bool:
        return self.expect == "allow"

    @property
    def id(self) -> str:
        """A readable test id: products.yaml::carla-manage_product-anwalt_drive->deny[R8]."""
        return (f"{self.file}::{_short(self.actor)}-{self.action or '<empty>'}-{_short(self.resource)}"
                f"->{self.expect}[{self.rule}]")


@dataclass
class Table:
    path: Path
    description: str
    world: Path
    rows: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class RowResult:
    row: Row
    actor: str         # the resolved references that were asked
    resource: str
    allowed: bool
    reasons: tuple[dict[str, Any], ...]
    error: str | None = None   # a resolution problem (the row then fails)

    @property
    def passed(self) -> bool:
        return self.error is None and self.allowed == self.row.expect_allowed and self.citation is None

    @property
    def citation(self) -> str | None:
        return citation_problem(self.row, self.allowed, self.reasons)

    def describe(self) -> str:
        row = self.row
        if self.error:
            return f"{row.id}: {self.error}"
        if self.allowed == row.expect_allowed and self.citation:
            return f"{row.id}: {self.citation}; note: {row.note}; reasons: {list(self.reasons)}"
        got = "allow" if self.allowed else "deny"
        return (f"{row.id}: expected {row.expect}, got {got} "
                f"({row.actor} -> {self.actor}, {row.resource} -> {self.resource}); "
                f"note: {row.note}; reasons: {list(self.reasons)}")


@dataclass(frozen=True)
class RuleSummary:
    rule: str
    rows: int
    allow_rows: int
    deny_rows: int
    passed: int


def citation_problem(row: Row, allowed: bool, reasons: Iterable[dict[str, Any]]) -> str | None:
    """An allowed allow row must cite the rule of one of the decision's reasons: a row that cites
    another rule pins nothing about the rule it names."""
    if not (row.expect_allowed and allowed):
        return None
    rules = sorted({str(reason.get("rule")) for reason in reasons})
    return None if row.rule in rules else f"cites {row.rule}, but the policy allowed it by {', '.join(rules)}"


def _short(ref: str) -> str:
    """`user:anna` -> `anna` in ids; literal and malformed refs stay as written."""
    match = _KEYED_REF.match(ref)
    return match.group(2) if match else (ref or "<empty>")


# -- reading tables -------------------------------------------------------------


def _row(path: Path, index: int, raw: Any) -> Row:
    where = f"{path.name}: rows[{index}]"
    if not isinstance(raw, dict):
        raise TableError(f"{where}: a row is a mapping")
    unknown = set(raw) - _ROW_FIELDS - {"missing"}
    missing = _ROW_FIELDS - set(raw)
    if unknown or missing:
        raise TableError(f"{where}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
    for name in ("actor", "action", "resource", "note"):
        if not isinstance(raw[name], str):
            raise TableError(f"{where}: {name} must be a string")
    if not raw["note"].strip():
        raise TableError(f"{where}: note must say why the row exists")
    expect, rule = raw["expect"], raw["rule"]
    if expect not in ("allow", "deny"):
        raise TableError(f"{where}: expect must be allow or deny, not {expect!r}")
    if not isinstance(rule, str) or not _RULE.match(rule):
        raise TableError(f"{where}: rule must be an R-number of docs/rules.md (R1..R20), not {rule!r}")
    if rule in DENY_ONLY_RULES and expect != "deny":
        raise TableError(f"{where}: {rule} rows only ever expect deny")
    row = Row(path.name, index, raw["actor"], raw["action"], raw["resource"], expect, rule, raw["note"],
              _expected_missing(where, raw))
    if not _action_is_in_vocabulary(row) and not (rule == "R20" and expect == "deny"):
        raise TableError(f"{where}: action {row.action!r} is not in the vocabulary for "
                         f"{row.resource!r} (only an R20 deny row may name an unknown action)")
    return row


def _expected_missing(where: str, raw: dict[str, Any]) -> tuple[str, ...]:
    """A deny row's `missing`: the "R-number condition" pairs its explained deny must list (allow rows: none)."""
    missing = raw.get("missing")
    if raw["expect"] == "allow":
        if missing is not None:
            raise TableError(f"{where}: an allow row has no missing")
        return ()
    if not isinstance(missing, list) or not missing or not all(isinstance(m, str) and _MISSING.match(m)
                                                               for m in missing):
        raise TableError(f"{where}: a deny row states missing: a list like [R12 active_partnership]")
    return tuple(sorted(set(missing)))


def missing_mismatch(row: Row, reasons: Iterable[dict[str, Any]]) -> str | None:
    """None when a deny's explanation lists exactly the row's `missing`; else what differs."""
    if row.expect_allowed:
        return None
    got = tuple(sorted({f"{r.get('rule')} {r.get('missing')}" for r in reasons}))
    return None if got == row.missing else f"expected missing {list(row.missing)}, got {list(got)}"


def _action_is_in_vocabulary(row: Row) -> bool:
    match = _KEYED_REF.match(row.resource) or _LITERAL_REF.match(row.resource)
    return bool(match) and is_known(match.group(1), row.action)


def load_table(path: str | Path) -> Table:
    path = Path(path)
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise TableError(f"{path.name}: a table is a mapping with description, world and rows")
    for name in ("description", "world", "rows"):
        if name not in data:
            raise TableError(f"{path.name}: missing {name!r}")
    world = (path.parent / str(data["world"])).resolve()
    if not world.is_file():
        raise TableError(f"{path.name}: world file {data['world']!r} not found")
    if not isinstance(data["rows"], list) or not data["rows"]:
        raise TableError(f"{path.name}: rows must be a non-empty list")
    rows = [_row(path, i, raw) for i, raw in enumerate(data["rows"])]
    seen: dict[tuple[str, str, str], int] = {}
    for row in rows:
        triple = (row.actor, row.action, row.resource)
        if triple in seen:
            raise TableError(f"{path.name}: rows[{row.index}] repeats rows[{seen[triple]}] "
                             f"({row.actor} {row.action} {row.resource})")
        seen[triple] = row.index
    return Table(path.resolve(), str(data["description"]), world, rows)


def load_tables(path: str | Path) -> list[Table]:
    """One table file, or every *.yaml directly in a folder (fixture worlds live in a subfolder)."""
    path = Path(path)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise TableError(f"no table files (*.yaml) in {path}")
    return [load_table(f) for f in files]


# -- evaluating rows ----------------------------------------------------------------


def resolve_ref(text: str, refs: dict[str, str]) -> str:
    """`type:key` -> the world's `type:id`; literal ids and malformed refs are returned unchanged."""
    if _LITERAL_REF.match(text):
        return text
    match = _KEYED_REF.match(text)
    if not match:
        return text
    kind, key = match.groups()
    if key not in refs:
        raise TableError(f"key {key!r} is not defined in the world")
    resolved = refs[key]
    if not resolved.startswith(kind + ":"):
        raise TableError(f"key {key!r} names {resolved.split(':')[0]}, not {kind}")
    return resolved


def load_table_world(table: Table) -> dict[str, str]:
    """Load the table's world into the currently bound (empty) store; its key -> ref map."""
    return load_world(read_world_file(table.world))


def check_row(engine: Any, row: Row, refs: dict[str, str]) -> RowResult:
    """Ask the engine one row's question; the reasons are kept to explain a failure.

    explain=True also bypasses the engine's decision cache, which is keyed by store
    revision only: two fresh stores (one per world) both sit at revision 1.
    """
    try:
        actor, resource = resolve_ref(row.actor, refs), resolve_ref(row.resource, refs)
    except TableError as exc:
        return RowResult(row, row.actor, row.resource, False, (), error=str(exc))
    decision = engine.decide(actor, row.action, resource, explain=True, why_not=True)
    wrong_missing = None if decision.allowed else missing_mismatch(row, decision.reasons)
    return RowResult(row, actor, resource, decision.allowed, tuple(decision.reasons), error=wrong_missing)


def run_tables(tables: Iterable[Table], engine: Any, fresh_store: Callable[[], None]) -> list[RowResult]:
    """Evaluate every row; each distinct world is loaded once into a store from fresh_store()."""
    by_world: dict[Path, list[Table]] = defaultdict(list)
    for table in tables:
        by_world[table.world].append(table)
    results: list[RowResult] = []
    for world, group in by_world.items():
        fresh_store()
        refs = load_world(read_world_file(world))
        for table in group:
            results.extend(check_row(engine, row, refs) for row in table.rows)
    return results


def summarize(results: Iterable[RowResult]) -> list[RuleSummary]:
    """Per R-number: how many rows, how many expect allow / deny, how many passed (R1, R2, ... order)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for result in results:
        c = counts[result.row.rule]
        c[0] += 1
        c[1 if result.row.expect_allowed else 2] += 1
        c[3] += result.passed
    return [RuleSummary(rule, *counts[rule]) for rule in sorted(counts, key=lambda r: int(r[1:]))]


def coverage_gaps(tables: Iterable[Table]) -> list[str]:
    """Decision rules with fewer than MIN_ROWS_PER_OUTCOME allow or deny rows (deny-only rules: deny)."""
    allow: dict[str, int] = defaultdict(int)
    deny: dict[str, int] = defaultdict(int)
    for table in tables:
        for row in table.rows:
            (allow if row.expect_allowed else deny)[row.rule] += 1
    gaps = []
    for rule in DECISION_RULES:
        if rule not in DENY_ONLY_RULES and allow[rule] < MIN_ROWS_PER_OUTCOME:
            gaps.append(f"{rule}: {allow[rule]} allow rows (need {MIN_ROWS_PER_OUTCOME})")
        if deny[rule] < MIN_ROWS_PER_OUTCOME:
            gaps.append(f"{rule}: {deny[rule]} deny rows (need {MIN_ROWS_PER_OUTCOME})")
    return gaps


def format_summary(summaries: list[RuleSummary]) -> list[str]:
    lines = [f"{'rule':<6}{'rows':>6}{'allow':>7}{'deny':>6}{'passed':>8}"]
    for s in summaries:
        mark = "" if s.passed == s.rows else "  FAIL"
        lines.append(f"{s.rule:<6}{s.rows:>6}{s.allow_rows:>7}{s.deny_rows:>6}{s.passed:>8}{mark}")
    total = sum(s.rows for s in summaries)
    lines.append(f"{'total':<6}{total:>6}{sum(s.allow_rows for s in summaries):>7}"
                 f"{sum(s.deny_rows for s in summaries):>6}{sum(s.passed for s in summaries):>8}")
    return lines


# -- running from the command line ----------------------------------------------------

DEFAULT_TABLE_DIR = Path(__file__).resolve().parents[2] / "tests" / "policy"


def run_in_temporary_sqlite(tables: list[Table], engine: Any) -> list[RowResult]:
    """Evaluate tables against throw-away SQLite files (one per world), never the configured store."""
    import tempfile

    from service.store import database, init_schema, open_database

    with tempfile.TemporaryDirectory(prefix="authz-tables-") as tmp:
        counter = itertools.count()

        def fresh_store() -> None:
            if database.obj is not None and not database.is_closed():
                database.close()
            open_database(f"sqlite:///{Path(tmp) / f'world-{next(counter)}.db'}")
            init_schema()

        try:
            return run_tables(tables, engine, fresh_store)
        finally:
            if database.obj is not None and not database.is_closed():
                database.close()


def report(results: list[RowResult], tables: list[Table], echo: Callable[[str], None], *,
           coverage: bool = True) -> bool:
    """Print every failure, then the per-rule table (and coverage gaps); True when every row passed."""
    failures = [r for r in results if not r.passed]
    for failure in failures:
        echo(f"FAIL {failure.describe()}")
    if failures:
        echo("")
    for line in format_summary(summarize(results)):
        echo(line)
    gaps = coverage_gaps(tables) if coverage else []
    files = len(tables)
    echo(f"{len(results) - len(failures)} of {len(results)} rows passed in {files} table file(s)"
         + (f"; {len(failures)} FAILED" if failures else ""))
    return not failures and coverage_ok(gaps, echo)


def coverage_ok(gaps: list[str], echo: Callable[[str], None]) -> bool:
    """A rule with fewer rows than required fails the run: its rows could all be deleted unnoticed."""
    if gaps:
        echo("FAIL coverage (fewer than %d allow/deny rows): %s" % (MIN_ROWS_PER_OUTCOME, "; ".join(gaps)))
    return not gaps
