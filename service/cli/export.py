"""`authz export`: the auditor's export (service/audit/export.py) from the command line, with progress on stderr."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

import click

from service.cli.errors import fail, require_existing_store
from service.store import open_database


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--at", default=None, help="A past moment (RFC 3339, e.g. 2026-11-03T12:00:00Z).")
@click.option("--at-revision", type=click.IntRange(min=0), default=None, help="A past store revision.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the rows here (default: stdout).")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the manifest here (default: OUTPUT.manifest.json, or stderr with stdout).")
@click.option("--progress-every", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds between progress lines on stderr (rows, resources, elapsed).")
def export(fmt: str, at: str | None, at_revision: int | None, output: Path | None, manifest: Path | None,
           progress_every: float) -> None:
    """Every allowed (user, action, resource) of the store with its rule and reason, and its manifest."""
    from service.audit.export import open_export
    from service.audit.past import PastError
    from service.policy.active import get_engine
    from service.queries.in_force import PolicyUnavailable
    from service.review.export_stream import ExportStream
    require_existing_store()
    open_database()
    try:
        opened = open_export(get_engine(), at_revision, at)
    except (PastError, PolicyUnavailable) as exc:
        fail(f"{exc}; nothing was exported")
    started = time.monotonic()
    stream = ExportStream(opened, fmt)
    stream.progress = _reporter(lambda: stream.digest.rows, started, progress_every)
    target = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        for chunk in stream:
            target.write(chunk)
    finally:
        if output:
            target.close()
    click.echo(f"export: {stream.digest.rows:,} rows, {opened.resources:,} of {opened.resources:,} resources, "
               f"{time.monotonic() - started:.1f} s: done", err=True)
    text = json.dumps(stream.manifest, sort_keys=True, indent=1)
    where = manifest or (output.with_name(output.name + ".manifest.json") if output else None)
    if where is None:
        click.echo(text, err=True)
    else:
        where.write_text(text + "\n", encoding="utf-8")
        click.echo(f"export: {stream.manifest['rows']:,} rows to {output or 'stdout'}, manifest {where}", err=True)


def _reporter(rows: Callable[[], int], started: float, every: float) -> Callable[[int, int], None]:
    """A progress callback printing a line to stderr every `every` seconds: the rows written so far, the
    resources walked and the time since the export began (a log-friendly line, not a bar: stderr is often
    a file or a pipe, and stdout carries nothing but the data)."""
    last = [started]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            click.echo(f"export: {rows():,} rows, {done:,} of {total:,} resources, {now - started:.1f} s", err=True)
    return progress
