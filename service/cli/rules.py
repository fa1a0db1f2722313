"""`authz rules --check|--write`: keep docs/rules.md true of the policy and the decision tables."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("rules")
@click.option("--write", "write", is_flag=True, help="Rewrite the generated parts of docs/rules.md.")
@click.option("--check", "check", is_flag=True, help="Exit 1 if docs/rules.md is stale or names what does not exist.")
def rules(write: bool, check: bool) -> None:
    """Check (default) or rewrite docs/rules.md: clauses and table rows per R-number."""
    from service.policy.rulebook import RULES_DOC
    from service.rules_doc import problems, render
    text = RULES_DOC.read_text(encoding="utf-8")
    if write:
        RULES_DOC.write_text(render(text), encoding="utf-8")
        text = RULES_DOC.read_text(encoding="utf-8")
        click.echo(f"wrote {RULES_DOC}")
    found = problems(text)
    for problem in found:
        click.echo(f"STALE {problem}")
    if found:
        raise SystemExit(1)
    click.echo("docs/rules.md is current: every rule, clause and table row")


@click.command("fill-missing")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
def fill_missing(path: Path | None) -> None:
    """Write the engine's explained `missing` into deny rows of tests/policy/*.yaml (or PATH) lacking it."""
    from service.decide.engine import Engine  # the repository's policies/, as `authz test` runs the tables
    from service.analysis.missing_rows import fill
    from service.analysis.tables import DEFAULT_TABLE_DIR
    target = path or DEFAULT_TABLE_DIR
    files = sorted(target.glob("*.yaml")) if target.is_dir() else [target]
    engine = Engine(cache_size=0)
    for file in files:
        for line in fill(file, engine):
            click.echo(line)
