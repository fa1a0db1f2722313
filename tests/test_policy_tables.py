"""The policy decision tables (tests/policy/*.yaml): one test per row, on SQLite and PostgreSQL.

Each table file's world is loaded once per backend (rows are generated backend
by backend, file by file, so the cache below reloads only when the file
changes). The rest of the file checks the runner itself: a wrong row must
fail, a typo must be an error and never a silent deny, and `authz test`
exits 1 on a failure.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from conftest import BACKENDS, DEMO_WORLD, fresh_store_url
from service.analysis import tables as t
from service.cli import main as cli
from service.store import database
from service.store.world import load_world, read_world_file

TABLE_DIR = Path(__file__).resolve().parent / "policy"
TABLES = t.load_tables(TABLE_DIR)  # a malformed table is a collection error, so it fails loudly
CASES = [(backend, table, row) for backend in BACKENDS for table in TABLES for row in table.rows]


@dataclass
class _Loaded:
    key: tuple[str, Path]
    db: Any
    refs: dict[str, str]


class WorldCache:
    """The world of the table file being run, loaded into a fresh store of the row's backend.

    Reloads when the backend or table file changes, or when another test has
    rebound the database in between (its store may have been reset).
    """

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self.loaded: _Loaded | None = None
        self.loads = 0

    def refs(self, backend: str, table: t.Table) -> dict[str, str]:
        key = (backend, table.path)
        if self.loaded and self.loaded.key == key and database.obj is self.loaded.db:
            return self.loaded.refs
        if database.obj is not None and not database.is_closed():
            database.close()
        self.loads += 1
        tmp = self.tmp_root / f"{backend}-{table.path.stem}-{self.loads}"
        tmp.mkdir()
        fresh_store_url(backend, tmp)
        self.loaded = _Loaded(key, database.obj, t.load_table_world(table))
        return self.loaded.refs


@pytest.fixture(scope="session")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldCache]:
    cache = WorldCache(tmp_path_factory.mktemp("policy-tables"))
    yield cache
    if database.obj is not None and not database.is_closed():
        database.close()


@pytest.mark.parametrize("backend, table, row", CASES,
                         ids=[f"{backend}:{row.id}" for backend, _, row in CASES])
def test_row(backend: str, table: t.Table, row: t.Row, worlds: WorldCache, engine) -> None:
    result = t.check_row(engine, row, worlds.refs(backend, table))
    assert result.passed, result.describe()


# -- what the tables cover -------------------------------------------------------------


def test_tables_cover_every_decision_rule_both_ways() -> None:
    assert sum(len(table.rows) for table in TABLES) >= 150
    assert t.coverage_gaps(TABLES) == []


def _requested_not_granted(world: dict) -> list[tuple[str, str, set[tuple[str, str]]]]:
    """(partner, customer, {(product key, action)}) for each partnership granted less than requested."""
    products_of: dict[str, list[str]] = {}
    for product in world.get("products", []):
        products_of.setdefault(product["organization"], []).append(product["key"])

    def rights(spec: dict, customer: str) -> set[tuple[str, str]]:
        if spec["access"] == "full":
            return {(p, a) for p in products_of.get(customer, []) for a in ("manage_product", "view_statistics")}
        out = set()
        for p in spec.get("products") or []:
            if p.get("technical"):
                out.add((p["product"], "manage_product"))
            if p.get("statistical"):
                out.add((p["product"], "view_statistics"))
        return out

    found = []
    for ps in world.get("partnerships", []):
        if ps.get("requested") and ps.get("status", "active") == "active":
            missing = rights(ps["requested"], ps["customer"]) - rights(ps, ps["customer"])
            if missing:
                found.append((ps["partner"], ps["customer"], missing))
    return found


@pytest.mark.parametrize("world_path", sorted({table.world for table in TABLES}), ids=lambda p: p.name)
def test_r8_rows_deny_every_requested_but_not_granted_right_to_every_reacher(
        world_path: Path, store_url: str, engine) -> None:
    """For each narrower grant, each partner-side user who reaches the customer has a written R8 deny row."""
    world = read_world_file(world_path)
    refs = load_world(world)
    written = {(row.actor, row.action, row.resource) for table in TABLES if table.world == world_path
               for row in table.rows if row.rule == "R8" and row.expect == "deny"}
    gaps = _requested_not_granted(world)
    if world_path == DEMO_WORLD.resolve():
        assert len(gaps) == 2  # webwerk_anwalt and pixelhaus_verein: the guard itself must see them
    for partner, customer, missing in gaps:
        members = {m["user"] for m in world["memberships"] if m["organization"] == partner}
        reachers = {u for u in members
                    if engine.decide(refs[u], "access_account", refs[customer], explain=True).allowed}
        assert reachers, f"nobody of {partner} reaches {customer}: the R8 rows would be vacuous"
        for user in sorted(reachers):
            for product, action in sorted(missing):
                assert (f"user:{user}", action, f"product:{product}") in written, \
                    f"missing R8 deny row: user:{user} {action} product:{product}"


# -- the runner itself ---------------------------------------------------------------


def _table_file(tmp_path: Path, rows: list[dict], world: Path = DEMO_WORLD) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"description": "d", "world": str(world), "rows": rows}))
    return path


def _row(actor: str, action: str, resource: str, expect: str, rule: str, missing: str = "R1 role") -> dict:
    row = {"actor": actor, "action": action, "resource": resource, "expect": expect, "rule": rule, "note": "n"}
    return row if expect != "deny" else {**row, "missing": [missing]}


def _fresh_sqlite(tmp_path: Path):
    counter = iter(range(100))

    def fresh() -> None:
        if database.obj is not None and not database.is_closed():
            database.close()
        d = tmp_path / f"s{next(counter)}"
        d.mkdir()
        fresh_store_url("sqlite", d)
    return fresh


def test_a_wrong_row_is_reported_as_a_failure(tmp_path: Path, engine) -> None:
    table = t.load_table(_table_file(tmp_path, [
        _row("user:anna", "manage_users", "organization:baeckerei", "allow", "R1"),   # wrong: partners never manage users
        _row("user:anna", "manage_users", "organization:webwerk", "allow", "R1"),
    ]))
    results = t.run_tables([table], engine, _fresh_sqlite(tmp_path))
    assert [r.passed for r in results] == [False, True]
    assert "expected allow, got deny" in results[0].describe()
    summary = t.summarize(results)
    assert summary == [t.RuleSummary("R1", rows=2, allow_rows=2, deny_rows=0, passed=1)]


def test_a_key_missing_from_the_world_fails_the_row_instead_of_denying(tmp_path: Path, engine) -> None:
    table = t.load_table(_table_file(tmp_path, [_row("user:anan", "manage_users", "organization:webwerk", "deny", "R1")]))
    [result] = t.run_tables([table], engine, _fresh_sqlite(tmp_path))
    assert not result.passed and "not defined in the world" in (result.error or "")


def test_resolve_ref_spellings() -> None:
    refs = {"anna": "user:7", "webwerk": "organization:3"}
    assert t.resolve_ref("user:anna", refs) == "user:7"
    assert t.resolve_ref("user:999999", refs) == "user:999999"        # literal id: as written
    assert t.resolve_ref("organization: 1", refs) == "organization: 1"  # malformed: verbatim
    with pytest.raises(t.TableError, match="names organization, not user"):
        t.resolve_ref("user:webwerk", refs)


@pytest.mark.parametrize("rows, message", [
    ([_row("user:anna", "manage_userz", "organization:webwerk", "deny", "R1")], "not in the vocabulary"),
    ([_row("user:anna", "manage_product", "organization:webwerk", "deny", "R1")], "not in the vocabulary"),
    ([_row("user:anna", "fly_to_moon", "organization:webwerk", "allow", "R20")], "only ever expect deny"),
    ([_row("user:anna", "manage_product", "product:anwalt_drive", "allow", "R8")], "only ever expect deny"),
    ([_row("user:anna", "manage_users", "organization:webwerk", "maybe", "R1")], "expect must be"),
    ([_row("user:anna", "manage_users", "organization:webwerk", "deny", "R21")], "R-number"),
    ([{"actor": "user:anna", "action": "manage_users", "resource": "organization:webwerk",
       "expect": "allow", "rule": "R1"}], "missing fields"),
    ([_row("user:anna", "manage_users", "organization:webwerk", "allow", "R1")] * 2, "repeats"),
])
def test_malformed_tables_are_rejected(tmp_path: Path, rows: list[dict], message: str) -> None:
    with pytest.raises(t.TableError, match=message):
        t.load_table(_table_file(tmp_path, rows))


def test_unknown_actions_are_accepted_only_in_r20_deny_rows(tmp_path: Path) -> None:
    table = t.load_table(_table_file(tmp_path, [_row("user:anna", "fly_to_moon", "organization:webwerk", "deny", "R20")]))
    assert table.rows[0].id == "t.yaml::anna-fly_to_moon-webwerk->deny[R20]"


def test_coverage_gaps_name_rules_without_enough_rows(tmp_path: Path) -> None:
    table = t.load_table(_table_file(tmp_path, [_row("user:anna", "manage_users", "organization:webwerk", "allow", "R1")]))
    gaps = t.coverage_gaps([table])
    assert "R1: 1 allow rows (need 2)" in gaps and "R1: 0 deny rows (need 2)" in gaps
    assert any(g.startswith("R20: 0 deny rows") for g in gaps)


# -- `authz test` ----------------------------------------------------------------------


def test_cli_runs_the_tables_and_prints_the_rule_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    never = tmp_path / "never" / "authz.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{never}")  # the configured store must stay untouched
    result = CliRunner().invoke(cli, ["test", str(TABLE_DIR)])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    header = result.output.splitlines()[0].split()
    assert header == ["rule", "rows", "allow", "deny", "passed"]
    total = sum(len(table.rows) for table in TABLES)
    assert f"{total} of {total} rows passed" in result.output
    assert not never.exists()


def test_cli_exits_1_and_prints_each_failure(tmp_path: Path) -> None:
    path = _table_file(tmp_path, [
        _row("user:carla", "manage_product", "product:anwalt_drive", "allow", "R15"),  # wrong on purpose
        _row("user:carla", "manage_product", "product:anwalt_web", "allow", "R15"),
    ])
    result = CliRunner().invoke(cli, ["test", str(path)])
    assert result.exit_code == 1, result.output
    assert "FAIL t.yaml::carla-manage_product-anwalt_drive->allow[R15]: expected allow, got deny" in result.output
    assert "1 of 2 rows passed" in result.output
    assert ["R15", "2", "2", "0", "1", "FAIL"] in [line.split() for line in result.output.splitlines()]
    assert "coverage" not in result.output  # a single file is not expected to cover every rule


def test_cli_rejects_a_malformed_table(tmp_path: Path) -> None:
    path = _table_file(tmp_path, [_row("user:anna", "manage_userz", "organization:webwerk", "deny", "R1")])
    result = CliRunner().invoke(cli, ["test", str(path)])
    assert result.exit_code == 2 and "not in the vocabulary" in result.output  # an error, not a failed row

