"""`authz`: the same functions as the HTTP API, from the command line."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from service.cli import clock
from service.cli.errors import CliGroup, Reference, echo_error, fail, require_existing_store
from service.store import init_schema, open_database
from service.store.world import WorldError, load_world, read_world_file, store_is_empty


def _open_store(*, must_exist: bool = False) -> None:
    if must_exist:  # a read must not create an empty store and then deny as if it had looked
        require_existing_store()
    open_database()


@click.group("authz", cls=CliGroup)  # errors: one line, exit 2 (errors.py)
def main() -> None:
    """partner-authz: policy-as-code authorization for the partner program."""


@main.command("init-db")
def init_db() -> None:
    """Create the schema (idempotent) in DATABASE_URL or data/authz.db."""
    _open_store()
    init_schema()
    click.echo("schema ready")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _TerminalLike:
    """stderr as click.progressbar sees it with --progress: drawn even when it is not a terminal."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def isatty(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


# The share of a load's time that parsing takes (the rest: building and writing the rows), measured on
# a 48,000-row world (docs/operations.md): the progress bar moves at about one speed across both.
PARSE_SHARE = 0.65
BAR_STEPS = 1_000


@main.command("load")
@click.argument("world_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--if-empty", is_flag=True, help="Load only when the store holds no organization yet.")
@click.option("--print-ids", is_flag=True, help="Print each key of the world with the id it received.")
@click.option("--ids-file", type=click.File("w", encoding="utf-8", lazy=False), default=None,
              help="Write each key with the id it received into this file (one `key type:id` a line).")
@click.option("--progress/--no-progress", default=None,
              help="Draw a progress bar on stderr (default: only when stderr is a terminal).")
def load(world_file: Path, if_empty: bool, print_ids: bool, ids_file: Any, progress: bool | None) -> None:
    """Load a world file (e.g. data/demo.yaml) in one transaction; say how many rows it wrote and how long it took.

    The ids its keys received are printed only with --print-ids (stdout) or written with --ids-file."""
    _open_store()
    init_schema()
    if if_empty and not store_is_empty():
        click.echo("store not empty; nothing loaded")
        return
    stderr = sys.stderr
    draw = _isatty(stderr) if progress is None else progress
    size = max(world_file.stat().st_size, 1)
    parse_steps = int(BAR_STEPS * PARSE_SHARE)
    rows = 0
    with click.progressbar(length=BAR_STEPS, label="load: parsing", file=stderr if _isatty(stderr) else
                           _TerminalLike(stderr), hidden=not draw, show_eta=True, show_percent=True) as bar:
        def advance(to: int) -> None:
            if to > bar.pos:
                bar.update(to - bar.pos)

        def parsed_bytes(done: int) -> None:
            advance(min(parse_steps, parse_steps * done // size))

        def written_rows(done: int, total: int) -> None:
            nonlocal rows
            rows = total
            bar.label = "load: writing"
            advance(parse_steps + (BAR_STEPS - parse_steps) * done // max(total, 1))

        try:
            world = read_world_file(world_file, on_bytes=parsed_bytes)
            advance(parse_steps)
            bar.label = "load: building rows"
            refs = load_world(world, on_rows=written_rows)
        except WorldError as exc:
            raise click.ClickException(str(exc)) from exc
        advance(BAR_STEPS)
    if ids_file is not None:  # opened before loading: a path that cannot be written fails first (exit 2)
        ids_file.writelines(f"{key:32} {ref}\n" for key, ref in refs.items())
        ids_file.close()
    click.echo(f"load: {world_file}: {rows:,} rows, {len(refs):,} keys; done in "
               f"{time.perf_counter() - clock.command_started():.1f} s", err=True)
    if print_ids:  # after the summary: stdout may be a pipe closed early (`| head`), the load is committed
        for key, ref in refs.items():
            click.echo(f"{key:32} {ref}")


@main.command("check")
@click.argument("actor", type=Reference("user"))
@click.argument("action")
@click.argument("resource", type=Reference())
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option("--explain", is_flag=True, help="On a deny, say what each rule that could have allowed it lacks.")
def check(actor: str, action: str, resource: str, as_json: bool, explain: bool) -> None:
    """Decide ACTOR ACTION RESOURCE (e.g. user:1 add_customer organization:1); exit 1 on deny, 2 on error."""
    import time
    from service.audit.recorder import record_decision, records_to_store, shutdown
    from service.policy.active import decide
    from service.store.records import check_primary_setting
    _open_store(must_exist=True)
    check_primary_setting(records_to_store())  # on a standby: refused before deciding, not a lost record
    started = time.perf_counter()
    decision = decide(actor, action, resource, explain=True, why_not=explain)
    decision_id = record_decision("cli", actor, action, resource, decision, started, explain=True, why_not=explain)
    shutdown()  # written before the command answers (a later command in this process makes a new recorder)
    if as_json:
        click.echo(json.dumps({**decision.as_dict(), "decision_id": decision_id}, sort_keys=True))
    else:
        click.echo(f"{'ALLOW' if decision.allowed else 'DENY'}  {actor} {action} {resource}")
        for reason in decision.reasons:
            if "missing" in reason:  # an explained deny (--explain)
                click.echo(f"  missing {reason['text']}  {json.dumps(reason, sort_keys=True)}")
            else:
                click.echo(f"  because {json.dumps(reason, sort_keys=True)}")
        click.echo(f"  policy {decision.policy_version}, store revision {decision.revision}, decision {decision_id}")
    if decision.error:  # the decision could not be made: denied, but an error (2), not a deny (1)
        echo_error("the decision could not be made (see the log); denied")
        sys.exit(2)
    sys.exit(0 if decision.allowed else 1)


@main.command("actions")
@click.argument("actor", type=Reference("user"))
@click.argument("resource", type=Reference())
def actions(actor: str, resource: str) -> None:
    """List the actions ACTOR may take on RESOURCE, as the active policy version decides them."""
    from service.policy.active import get_engine
    from service.queries.actions import allowed_actions
    from service.queries.in_force import PolicyUnavailable
    _open_store(must_exist=True)
    try:
        found = allowed_actions(get_engine(), actor, resource)
    except PolicyUnavailable as exc:
        echo_error(f"{exc}; nothing was decided")
        sys.exit(2)
    for action in found.allowed:
        click.echo(action)


@main.command("validate")
@click.option("--policies", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Policy folder (default: policies/).")
def validate(policies: Path | None) -> None:
    """Load the policy strictly; exit 1 with the error on a broken file or any warning."""
    from service.decide.engine import POLICY_DIR, Engine, PolicyError
    try:
        engine = Engine(policies or POLICY_DIR)
    except PolicyError as exc:
        echo_error(f"policy invalid: {exc}")
        sys.exit(1)
    click.echo(f"policy ok: version {engine.policy_version}, {len(engine.files)} files")
    for path in engine.files:
        click.echo(f"  {path.name}")


@main.command("test")
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--policies", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Run the tables against this policy folder (default: policies/).")
def test_tables(path: Path | None, policies: Path | None) -> None:
    """Run the policy decision tables in PATH (default tests/policy/) on a temporary SQLite store; exit 1 on any failure."""
    from service.decide.engine import POLICY_DIR, Engine, PolicyError
    from service.analysis.tables import DEFAULT_TABLE_DIR, TableError, load_tables, report, run_in_temporary_sqlite
    try:
        tables = load_tables(path or DEFAULT_TABLE_DIR)
        engine = Engine(policies or POLICY_DIR, cache_size=0)
    except (TableError, WorldError) as exc:
        raise click.ClickException(str(exc)) from exc
    except PolicyError as exc:
        echo_error(f"policy invalid: {exc}")
        sys.exit(2)
    results = run_in_temporary_sqlite(tables, engine)
    whole_suite = path is None or path.is_dir()  # coverage gaps mean something only for a whole suite
    sys.exit(0 if report(results, tables, click.echo, coverage=whole_suite) else 1)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default="8000", show_default=True, envvar="PORT")
@click.option("--workers", default="2", show_default=True, envvar="WORKERS",
              help="gunicorn worker processes; each builds its own policy engine.")
def serve(host: str, port: str, workers: str) -> None:
    """Serve the HTTP API with gunicorn (worker processes, no preload: one Oso per worker).

    Refuses to start (one line naming the setting, exit 2) on a setting that would make requests
    fail later, a store that does not exist or cannot be reached among them (start_checks.py).
    Creates no store and no API keys (`authz init-db`, `authz keys create`; `make run` makes both)."""
    import os
    import shutil

    from service.cli.start_checks import first_problem
    problem = first_problem(workers, port)
    if problem:
        fail(problem)
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    args = [gunicorn, "--config", "python:service.gunicorn_conf", "--bind", f"{host}:{int(port)}",
            "--workers", str(int(workers)), "--access-logfile", "-", "service.wsgi:app"]
    click.echo(f"serving on http://{host}:{int(port)} with {int(workers)} workers", err=True)
    os.execv(gunicorn, args)


from service.cli.keys import keys as _keys  # noqa: E402  (keys commands live in their own module)
main.add_command(_keys)
from service.cli.workflows import COMMANDS as _workflow_commands  # noqa: E402
for _command in _workflow_commands: main.add_command(_command)  # partnership show, invitations pending
from service.cli.rules import fill_missing as _fill_missing, rules as _rules  # noqa: E402
main.add_command(_rules)  # authz rules --check|--write (docs/rules.md)
main.add_command(_fill_missing)  # authz fill-missing: the explained `missing` of deny rows lacking it
from service.cli.policy import COMMANDS as _policy_commands  # noqa: E402
for _command in _policy_commands: main.add_command(_command)  # impact, policy activate|show
from service.cli.audit import COMMANDS as _audit_commands  # noqa: E402
for _command in _audit_commands: main.add_command(_command)  # decisions show|prune, replay, history prune

from service.cli.export import export as _export  # noqa: E402
main.add_command(_export)  # authz export: the auditor's export (docs/review-console.md)


if __name__ == "__main__":
    main()
