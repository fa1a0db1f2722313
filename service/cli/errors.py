"""How `authz` fails: one clear line on stderr and exit code 2, never a traceback.

Exit codes: 0 done (or allowed), 1 a deny or a finding (a failed policy test, a change an
impact report found), 2 an error (bad input, no store, a store that refused the work). An error
never looks like a deny: `authz check` against a store that does not exist exits 2, not 1.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import click
import peewee
import psycopg2
import yaml

from service.store.db import database_url

ERROR_EXIT = 2


class StoreMissing(click.ClickException):
    exit_code = ERROR_EXIT


def require_existing_store(url: str | None = None) -> None:
    """Refuse (exit 2) when the SQLite store file does not exist, instead of creating an empty one."""
    url = url or database_url()
    if url.startswith("sqlite:///"):
        path = Path(unquote(url[len("sqlite:///"):]))
        if str(path) != ":memory:" and not path.is_file():
            raise StoreMissing(f"no store at {path} (create it with `authz init-db`, or set DATABASE_URL)")


def explain(exc: BaseException) -> str:
    """One line saying what went wrong and, where it is known, what to do."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, peewee.OperationalError) and "no such table" in first:
        return f"the store has no schema yet ({first}); run `authz init-db`"
    if isinstance(exc, peewee.ProgrammingError) and "does not exist" in first:
        return f"the store has no schema yet ({first}); run `authz init-db`"
    if isinstance(exc, (peewee.IntegrityError, sqlite3.IntegrityError, psycopg2.IntegrityError)):
        return f"the store refused the write, nothing was changed: {first} (already loaded? use --if-empty)"
    if isinstance(exc, (peewee.OperationalError, sqlite3.OperationalError, psycopg2.OperationalError)):
        return f"the store cannot be used: {first}"
    if isinstance(exc, yaml.YAMLError):
        return f"not valid YAML: {' '.join(str(exc).split())}"
    if isinstance(exc, (KeyError, TypeError, AttributeError)):
        return f"malformed input ({type(exc).__name__}: {first})"
    return first


class CliGroup(click.Group):
    """The `authz` group: errors of any command become one line and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.ClickException as exc:
            if exc.exit_code == 1:  # click's default: ours is 2, so 1 stays a deny
                exc.exit_code = ERROR_EXIT
            raise
        except (click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # the last resort: one line, never a traceback
            click.echo(f"error: {explain(exc)}", err=True)
            ctx.exit(ERROR_EXIT)
