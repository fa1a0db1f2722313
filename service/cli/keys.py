"""`authz keys create|list|revoke`: API keys for callers (stored hashed; the plaintext is printed once)."""
from __future__ import annotations

import click

from service.store import init_schema, open_database
from service.store.models import API_KEY_SCOPES, ApiKey


@click.group("keys")
def keys() -> None:
    """Create, list and revoke API keys (scope check, write or review)."""


@keys.command("create")
@click.option("--name", required=True, help="Who uses the key (e.g. billing-service).")
@click.option("--scope", required=True, type=click.Choice(API_KEY_SCOPES),
              help="check: decisions and lists; write: facts and workflows; review: the /review console.")
def create(name: str, scope: str) -> None:
    """Create a key and print it, alone, on the last line (it is shown only once)."""
    from service.api.auth import create_key
    open_database()
    init_schema()
    row, plaintext = create_key(name, scope)
    click.echo(f"created key {row.id} ({name}, scope {scope}); store it now, it is not shown again:")
    click.echo(plaintext)


@keys.command("list")
def list_keys() -> None:
    """List keys (never their secrets)."""
    open_database()
    init_schema()
    for row in ApiKey.select().order_by(ApiKey.id):
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.id:>5}  {row.scope:<6} {state:<24} {row.name}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def revoke(key_id: int) -> None:
    """Revoke the key KEY_ID (see `authz keys list`); effective on the next request."""
    from service.api.auth import revoke_key
    open_database()
    init_schema()
    if not revoke_key(key_id):
        raise click.ClickException(f"no active key {key_id}")
    click.echo(f"revoked key {key_id}")


DEV_KEY_NAME = "dev"


@keys.command("dev")
def dev_keys() -> None:
    """Development only (`make run`): revoke the previous 'dev' keys, create and print new ones."""
    from service.api.auth import create_key, revoke_keys_where
    open_database()
    init_schema()
    revoke_keys_where((ApiKey.name == DEV_KEY_NAME) & ApiKey.revoked_at.is_null())
    _row, check_key = create_key(DEV_KEY_NAME, "check")
    _wrow, write_key = create_key(DEV_KEY_NAME, "write")
    click.echo(f"development keys (name '{DEV_KEY_NAME}'; never use them in production):\n"
               f"  check: {check_key}\n  write: {write_key}", err=True)
