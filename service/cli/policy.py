"""`authz impact` and `authz policy activate|show`: preview a policy change on today's data, then switch
every worker to it (docs/policy-changes.md)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from service.cli.errors import fail
from service.decide.engine import POLICY_DIR
from service.store import database, init_schema, open_database
from service.store.db import read_snapshot

FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


def _invalid(message: str) -> NoReturn:
    fail(f"candidate invalid: {message}")


@click.command("impact")
@click.option("--policies", type=FOLDER, required=True, help="The candidate policy folder.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--replay-log", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Also re-decide every check of this decision log under the candidate.")
@click.option("--max-changes", type=click.IntRange(min=0), default=0, show_default=True,
              help="Exit 0 while the changes found are at most this many.")
def impact(policies: Path, output: str, replay_log: Path | None, max_changes: int) -> None:
    """Every (actor, action, resource) of the store whose decision the candidate changes.

    Exit 0: no change (or at most --max-changes); 1: changes; 2: the candidate is invalid.
    """
    from service.policy.active import engine_for_version
    from service.analysis.impact import compare, text_lines
    from service.analysis.impact_facts import load_store_facts
    from service.analysis.candidates import load_candidate
    from service.decide.checks import PolicyError
    from service.policy.versions import active_policy
    try:
        _files, candidate = load_candidate(policies)
    except PolicyError as exc:
        _invalid(str(exc))
    open_database()
    init_schema()
    stored = active_policy()
    if stored is None:
        _invalid("the store has no active policy to compare with (run `authz policy activate` first)")
    baseline = engine_for_version(stored.version)
    with read_snapshot():
        store = load_store_facts()
    result = compare(baseline, candidate, store)
    flips = _replay(replay_log, candidate, baseline) if replay_log else None
    if output == "json":
        answer: dict[str, Any] = result.as_dict()
        if flips is not None:
            answer["replay"] = flips
        click.echo(json.dumps(answer, sort_keys=True))
    else:
        for line in text_lines(result) + _replay_lines(flips):
            click.echo(line)
    changes = result.changes + (len(flips["flipped"]) if flips else 0)
    sys.exit(0 if changes <= max_changes else 1)


def _replay(path: Path, candidate: Any, baseline: Any) -> dict[str, Any]:
    """Each logged check re-decided on today's store under the candidate; those that would flip."""
    from service.analysis.candidates import read_decision_log
    questions, flipped = 0, []
    try:
        records = list(read_decision_log(path))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for record in records:
        questions += 1
        question = (str(record.get("actor")), str(record.get("action")), str(record.get("resource")))
        decision = candidate.decide(*question, explain=True)
        if decision.allowed != record["allowed"]:
            flipped.append({"decision_id": record.get("decision_id"), "actor": question[0],
                            "action": question[1], "resource": question[2], "logged": record["allowed"],
                            "candidate": decision.allowed, "reasons": decision.reasons,
                            "active_now": baseline.decide(*question).allowed})
    return {"log": str(path), "questions": questions, "flipped": flipped}


def _replay_lines(flips: dict[str, Any] | None) -> list[str]:
    if flips is None:
        return []
    lines = [f"replayed {flips['questions']} logged checks from {flips['log']}: {len(flips['flipped'])} would flip"]
    for flip in flips["flipped"]:
        was, now = ("allow" if flip["logged"] else "deny"), ("allow" if flip["candidate"] else "deny")
        drift = "" if flip["active_now"] == flip["logged"] else " (the active policy also answers differently today)"
        lines.append(f"  {flip['decision_id']}: {flip['actor']} {flip['action']} {flip['resource']}: "
                     f"logged {was}, candidate {now}{drift}")
    return lines


@click.group("policy")
def policy() -> None:
    """The active policy version: activate a folder, show the history."""


@policy.command("activate")
@click.argument("folder", required=False, type=FOLDER)
@click.option("--if-changed", is_flag=True, help="Record nothing when the folder is the active version already.")
@click.option("--wait", "wait", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="How long the serving workers may take to build the version before the switch "
                   "(default AUTHZ_ACTIVATION_WAIT, else 30).")
def activate_command(folder: Path | None, if_changed: bool, wait: float | None) -> None:
    """Validate FOLDER (default policies/: load, strict checks, decision tables) and make it the active version.

    A candidate that fails any check is refused (exit 2) and changes nothing.
    """
    from service.analysis.candidates import activate_prepared, activator, check_tables, load_candidate
    from service.decide.checks import PolicyError
    try:
        files, engine = load_candidate(folder or POLICY_DIR)
        check_tables(engine)
    except PolicyError as exc:
        fail(f"refused: {exc}")
    finally:
        if database.obj is not None and not database.is_closed():
            database.close()
    open_database()
    init_schema()
    try:
        stored, recorded, ready = activate_prepared(files, activator(), if_changed=if_changed, wait=wait)
    except ValueError as exc:  # AUTHZ_ACTIVATION_WAIT malformed
        fail(str(exc))
    if recorded:
        click.echo(f"activated policy {stored.version} at store revision {stored.revision} "
                   f"({len(files)} files, by {stored.activated_by}){_prepared_line(ready)}")
        if ready is not None and ready.waiting:
            click.echo(f"warning: {len(ready.waiting)} worker(s) had not built it in time and build it on their "
                       f"next decision: {', '.join(ready.waiting)}", err=True)
    else:
        click.echo(f"policy {stored.version} is already active (since revision {stored.revision})")


def _prepared_line(ready: Any) -> str:
    if ready is None or not (ready.prepared or ready.waiting):
        return ""  # no serving worker: nothing to build beforehand
    return f"; built beforehand by {len(ready.prepared)} of {len(ready.prepared) + len(ready.waiting)} serving workers"


@policy.command("show")
def show() -> None:
    """The active version and the history of activations, newest first."""
    from service.policy.versions import history
    open_database()
    init_schema()
    versions = history()
    if not versions:
        click.echo("no active policy (run `authz policy activate`)")
    for index, stored in enumerate(versions):
        mark = "active " if index == 0 else "       "
        click.echo(f"{mark}{stored.version}  revision {stored.revision}  {stored.activated_at:%Y-%m-%d %H:%M:%S}Z"
                   f"  by {stored.activated_by}  ({len(stored.files)} files)")


COMMANDS = [impact, policy]
