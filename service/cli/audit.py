"""`authz decisions show|prune`, `authz replay`, `authz history prune`: the audit from the command line."""
from __future__ import annotations

import datetime as dt
import json
import sys

import click

from service.store import open_database


def _open() -> None:
    open_database()  # no init_schema(): reading the audit must not take the write lock of a serving store


def _utc(value: dt.datetime) -> dt.datetime:
    """A --before date as naive UTC (a date without offset is taken as UTC)."""
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value


@click.group("decisions")
def decisions() -> None:
    """Recorded decisions."""


@decisions.command("show")
@click.argument("decision_id")
def show(decision_id: str) -> None:
    """Print the recorded decision DECISION_ID as JSON; exit 1 if none is recorded."""
    from service.audit.lookup import find_decision
    _open()
    found = find_decision(decision_id)
    if found is None:
        raise click.ClickException(f"no decision {decision_id} is recorded")
    click.echo(json.dumps(found, indent=2, sort_keys=True))


@decisions.command("prune")
@click.option("--before", "before", required=True, type=click.DateTime(), help="Delete records older than this.")
def prune_decisions(before: dt.datetime) -> None:
    """Delete decision records made before DATE (AUTHZ_DECISION_RETENTION_DAYS does it continuously)."""
    from service.audit.recorder import prune_decisions as prune
    _open()
    click.echo(f"{prune(_utc(before))} decision records deleted")


@click.command("replay")
@click.argument("decision_id")
@click.option("--json", "as_json", is_flag=True, help="Print recorded and replayed answers as JSON.")
def replay(decision_id: str, as_json: bool) -> None:
    """Decide DECISION_ID again as of its revision with its policy version; exit 1 if it does not reproduce."""
    from service.audit.past import PastError
    from service.audit.replay import NotRecorded, replay as replay_decision
    _open()
    try:
        result = replay_decision(decision_id)
    except (NotRecorded, PastError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({"decision_id": decision_id, "reproduces": result.reproduces,
                               "recorded": result.recorded, "replayed": result.replayed}, sort_keys=True))
    elif result.reproduces:
        click.echo(f"reproduces: {decision_id} ({'allowed' if result.recorded['allowed'] else 'denied'}, "
                   f"policy {result.recorded['policy_version']}, same reasons)")
    else:
        click.echo(f"DIFFERS: {decision_id} in {', '.join(result.differences())}")
        for key in result.differences():
            click.echo(f"  recorded {key}: {json.dumps(result.recorded[key], sort_keys=True)}")
            click.echo(f"  replayed {key}: {json.dumps(result.replayed[key], sort_keys=True)}")
    sys.exit(0 if result.reproduces else 1)


@click.group("history")
def history() -> None:
    """The history of facts and policy versions (answers as of a past moment)."""


@history.command("prune")
@click.option("--before", "before", required=True, type=click.DateTime(),
              help="Forget what is needed only to answer for moments before this (UTC unless an offset is given).")
def prune_history(before: dt.datetime) -> None:
    """Delete the fact versions no longer valid at DATE; questions about earlier moments then answer 422."""
    from service.audit.pruning import prune_history_before
    _open()
    revision, versions = prune_history_before(_utc(before))
    if revision is None:
        click.echo("nothing to prune: the history begins after that date")
    else:
        click.echo(f"history now begins at revision {revision}; {versions} fact versions deleted")


COMMANDS = [decisions, replay, history]
