"""`authz partnership show` and `authz invitations pending`: the reviewer-facing workflow reads.

The CLI is an operator's tool with direct store access; `--as user:N` makes it
answer only what that user may review (the policy decides, as over HTTP).
"""
from __future__ import annotations

import json
import sys
from typing import Any

import click

from service import workflows as wf
from service.cli.errors import ERROR_EXIT, Reference, echo_error
from service.store import open_database
from service.store import models as m


def _fail(exc: wf.WorkflowError) -> None:
    """A refused step: exit 1 when the policy denied it (403, a deny), 2 for every other error."""
    echo_error(f"{exc.message} ({exc.status} {exc.code})")
    for reason in getattr(exc, "reasons", []):
        click.echo(f"  because {json.dumps(reason, sort_keys=True)}", err=True)
    sys.exit(1 if isinstance(exc, wf.Forbidden) else ERROR_EXIT)


def _org_label(ref: str) -> str:
    org = m.Organization.get_or_none(m.Organization.id == int(ref.split(":")[1]))
    return f"{org.name} ({ref})" if org else ref


def _rights(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "-"
    names = [r for r in ("technical", "statistical") if entry.get(r)]
    return "+".join(names) or "-"


def side_by_side(view: dict[str, Any]) -> list[str]:
    """Request and grant in two columns; a `!` marks a line where they differ."""
    requested, granted = view.get("requested"), view["granted"]
    rows: list[tuple[str, str, str]] = [
        ("access", requested["access"] if requested else "(no invitation)", granted["access"]),
        ("payment mode", requested["payment_mode"] if requested else "-", granted["payment_mode"]),
    ]
    req_products = {p["product"]: p for p in (requested or {}).get("products") or []}
    got_products = {p["product"]: p for p in granted.get("products") or []}
    full_request = bool(requested) and requested["access"] == "full"
    full_grant = granted["access"] == "full"
    for product in sorted(set(req_products) | set(got_products), key=lambda r: int(r.split(":")[1])):
        row = m.Product.get_or_none(m.Product.id == int(product.split(":")[1]))
        label = f"{product} {row.name}" if row else product
        req = "all rights (full)" if full_request else _rights(req_products.get(product))
        got = "all rights (full)" if full_grant else _rights(got_products.get(product))
        rows.append((label, req, got))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"  {'':{width}}{'REQUESTED':24}GRANTED"]
    for label, req, got in rows:
        mark = "!" if req != got and requested else " "
        lines.append(f"{mark} {label:{width}}{req:24}{got}")
    return lines


@click.group("partnership")
def partnership() -> None:
    """Partnerships: what was requested and what was granted (R7, R8, R10)."""


@partnership.command("show")
@click.argument("partnership_id", type=Reference("partnership", bare_id_kind="partnership"))
@click.option("--as", "acting_user", default=None, metavar="user:N", type=Reference("user"),
              help="Show only if this user may review the partnership (the policy decides).")
@click.option("--json", "as_json", is_flag=True, help="Print the review as JSON.")
def show(partnership_id: str, acting_user: str | None, as_json: bool) -> None:
    """Show partnership ID (5 or partnership:5): request vs grant side by side."""
    open_database()
    ref = partnership_id
    try:
        view = (wf.review_partnership(acting_user, ref) if acting_user else wf.describe_partnership(ref))
    except wf.WorkflowError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(view, sort_keys=True, indent=2))
        return
    click.echo(f"{view['id']}  {view['status'].upper()}")
    click.echo(f"  partner   {_org_label(view['partner'])}")
    click.echo(f"  customer  {_org_label(view['customer'])}")
    if view.get("invitation"):
        click.echo(f"  from      {view['invitation']}")
    if view.get("ended_at"):
        click.echo(f"  ended     {view['ended_at']} by {view.get('ended_by') or '?'}")
    click.echo("")
    for line in side_by_side(view):
        click.echo(line)
    if view.get("not_granted"):
        click.echo("\n! requested but not granted (R8: gives no access)")


@click.group("invitations")
def invitations() -> None:
    """Invitations (R4-R9)."""


@invitations.command("pending")
@click.option("--organization", default=None, metavar="organization:N",
              type=Reference("organization", bare_id_kind="organization"),
              help="Only invitations naming this organization on either side.")
@click.option("--json", "as_json", is_flag=True, help="Print the invitations as JSON.")
def pending(organization: str | None, as_json: bool) -> None:
    """List pending, unexpired invitations."""
    open_database()
    try:
        found = wf.pending_invitations(organization)
    except wf.WorkflowError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps(found, sort_keys=True, indent=2))
        return
    if not found:
        click.echo("no pending invitations")
    for inv in found:
        by = inv["partner"] if inv["inviting_side"] == "partner" else inv["customer"]
        to = inv["customer"] if inv["inviting_side"] == "partner" else inv["partner"]
        req = inv["requested"]
        what = (f"full, {req['payment_mode']} pays" if req["access"] == "full"
                else "limited: " + ", ".join(f"{p['product']} {_rights(p)}" for p in req["products"]))
        click.echo(f"{inv['id']:16} {_org_label(by)} -> {_org_label(to)}  [{inv['inviting_side']} invites]  "
                   f"{what}  expires {inv['expires_at']}")


COMMANDS = (partnership, invitations)


@invitations.command("expire")
def expire() -> None:
    """Close every overdue pending invitation (status expired, with its event); run it from cron.

    Answering an overdue invitation is refused (409) whether or not this ran; the sweep
    only records the expiry so that a mailer sees the `invitation.expired` event.
    """
    open_database()
    closed = wf.expire_overdue()
    for ref in closed:
        click.echo(ref)
    click.echo(f"{len(closed)} invitation(s) expired", err=True)
