"""How `authz` fails: one line on stderr, `error: ` first, and exit code 2, never a traceback.

Exit codes: 0 done (or allowed), 1 a deny or a finding (a failed policy test, a change an
impact report found), 2 an error (bad input, no store, a store that refused the work). An error
never looks like a deny: `authz check` against a store that does not exist exits 2, not 1, and a
malformed reference (`user:x`) is refused before anything is decided or recorded.

Every error line the CLI prints starts with ERROR_PREFIX, click's own usage errors included
(CliGroup.main prints them; click would write `Error:` after a usage block). A closed pipe
(`authz rules | head -1`) ends the command quietly with exit code 141 (128 + SIGPIPE), the way
the Python documentation's "Note on SIGPIPE" does it.
"""
from __future__ import annotations

import errno
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote

import click
import peewee
import psycopg2
import yaml

from service.cli import clock
from service.cli.standby import is_standby_refusal, refusal_line
from service.decide.refs import RefError, parse_ref
from service.store.db import database_url

ERROR_EXIT = 2
PIPE_CLOSED_EXIT = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away
ERROR_PREFIX = "error: "


def echo_error(message: str) -> None:
    """One error line on stderr, with the one prefix every error of the CLI carries. A message of several
    lines (a policy file's parse error and its context) keeps the rest indented under it."""
    first, *rest = str(message).rstrip().splitlines() or [""]
    click.echo(f"{ERROR_PREFIX}{first}", err=True)
    for line in rest:
        if line.strip():
            click.echo(line if line[:1].isspace() else f"  {line}", err=True)


def fail(message: str, code: int = ERROR_EXIT) -> NoReturn:
    """Print one error line and exit (2 unless told)."""
    echo_error(message)
    sys.exit(code)


class StoreMissing(click.ClickException):
    exit_code = ERROR_EXIT


class Reference(click.ParamType):
    """A `type:id` argument (`user:1`, `organization:4`), checked before the command runs: a malformed
    one is a usage error (exit 2, one line naming the argument), never a deny and never recorded.

    kind: the type it must name (None: any known type). bare_id_kind: a bare number `5` means
    `bare_id_kind:5` (`authz partnership show 5`). The value passed on is the reference's text."""

    name = "reference"

    def __init__(self, kind: str | None = None, *, bare_id_kind: str | None = None) -> None:
        self.kind, self.bare_id_kind = kind, bare_id_kind

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str | None:
        return None  # the argument's own name (ACTOR, RESOURCE) stays in the usage line

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if self.bare_id_kind and ":" not in text:
            text = f"{self.bare_id_kind}:{text}"
        try:
            return str(parse_ref(text, expected=self.kind))
        except RefError as exc:
            self.fail(f"{value!r} {exc}", param, ctx)


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
    if is_standby_refusal(exc):  # before the generic driver errors below: a standby is not an outage
        return refusal_line(exc)
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


def click_error_line(exc: click.ClickException) -> str:
    """A click error as one line: its message and, for a usage error, where the help is."""
    message = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        names = exc.ctx.command.get_help_option_names(exc.ctx)
        if names:
            message += f" (see `{exc.ctx.command_path} {max(names, key=len)}`)"
    return message


class PipeClosed(BaseException):
    """stdout's reader went away (EPIPE); not an Exception, so nothing on the way out reports it."""


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner's stdout)
        pass


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    echo_error(str(code))  # sys.exit("message"), as Python would print it
    return 1


class CliGroup(click.Group):
    """The `authz` group: errors of any command become one `error: ` line and exit code 2."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        clock.begin(from_command_line=args is None)
        if not standalone_mode:  # the caller handles errors itself
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        code: int = 0
        try:
            try:
                returned = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                code = returned if isinstance(returned, int) and not isinstance(returned, bool) else 0
            except SystemExit as exc:
                code = _exit_code(exc.code)
            except click.exceptions.NoArgsIsHelpError as exc:  # bare `authz keys`: its help, as click shows it
                exc.show()
                code = exc.exit_code
            except click.ClickException as exc:
                echo_error(click_error_line(exc))
                code = exc.exit_code
            except (click.Abort, EOFError, KeyboardInterrupt):
                click.echo("", err=True)
                echo_error("aborted")
                code = 1
            sys.stdout.flush()  # a closed pipe shows here when the output fitted in the buffer
        except (PipeClosed, BrokenPipeError):
            _quiet_stdout()
            code = PIPE_CLOSED_EXIT
        sys.exit(code)

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
        except BrokenPipeError as exc:
            raise PipeClosed() from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # a closed pipe reported as a plain OSError
                raise PipeClosed() from exc
            echo_error(explain(exc))
            ctx.exit(ERROR_EXIT)
        except Exception as exc:  # the last resort: one line, never a traceback
            echo_error(explain(exc))
            ctx.exit(ERROR_EXIT)
