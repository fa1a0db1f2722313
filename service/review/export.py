"""/review/export: the auditor's export of every allowed (user, action, resource), streamed, with its manifest.

`?format=csv|json` streams the rows (`&at=` RFC 3339 or `&at_revision=` for a past state); without a
format, an HTML page explains the export and lists the exports given out. Each export's manifest is
kept in the store (export_record) when its last row is written: the JSON carries it at its end, a CSV
names its URL in a `Link` header (/review/export/manifests/<token>).
"""
from __future__ import annotations

import json
import secrets
from typing import Any

from flask import Response, current_app, g, render_template, request, stream_with_context, url_for

from service.audit.export import Export, open_export
from service.audit.past import PastError
from service.store.review_models import ExportRecord

from .error_pages import data_error
from .export_stream import FORMATS, ExportStream
from .long_tables import paged
from .pages import NotFound
from .views import bp, scoped

MIME = {"csv": "text/csv", "json": "application/json"}


def bad_request(message: str, field: str) -> Response:
    """A clear 400 naming the field, as the API answers bad input (nothing was exported)."""
    return data_error(400, "bad_request", message, field)


def moment_args() -> tuple[int | None, str | None]:
    """(at_revision, at) of the query string; PastError naming a malformed one."""
    at_revision, at = request.args.get("at_revision"), request.args.get("at")
    if at_revision is not None and not (at_revision.isascii() and at_revision.isdigit()):
        raise PastError("at_revision must be a store revision (a whole number)", "at_revision")
    return (int(at_revision) if at_revision is not None else None), (at or None)


@bp.route("/export")
@scoped("review")
def export():
    fmt = request.args.get("format")
    if fmt is None:
        return _exports_given_out()
    if fmt not in FORMATS:
        return bad_request(f"format must be one of {', '.join(FORMATS)}", "format")
    try:
        opened = open_export(current_app.extensions["authz_engine"], *moment_args())
    except PastError as exc:
        return bad_request(str(exc), exc.field)
    return _streamed(opened, fmt)


def _exports_given_out() -> str:
    """The page explaining the export, with the exports given out, newest first, one page of them."""
    # paged by position (a row's number stands for it), then only that page's manifests are read
    shown = paged(range(ExportRecord.select().count()), request.args, "the exports given out")
    recent = (ExportRecord.select().order_by(ExportRecord.id.desc())
              .offset(max(shown.pager.first - 1, 0)).limit(max(len(shown.rows), 1)))
    return render_template("export.html", title="Export for the auditor", shown=shown,
                           exports=[{**json.loads(r.manifest), "by": r.exported_by} for r in recent][:len(shown.rows)])


def _streamed(opened: Export, fmt: str) -> Response:
    token = secrets.token_hex(16)
    reviewer = g.reviewer

    def keep(manifest: dict[str, Any]) -> dict[str, Any]:
        manifest = {**manifest, "exported_by": reviewer, "manifest_url": url_for("review.export_manifest", token=token)}
        ExportRecord.create(token=token, manifest=json.dumps(manifest, sort_keys=True), exported_by=reviewer)
        return manifest

    stream = ExportStream(opened, fmt, on_manifest=keep)
    stamp = opened.at.strftime("%Y%m%dT%H%M%SZ") if opened.at else f"r{opened.revision}"
    headers = {"Content-Disposition": f'attachment; filename="authz-export-{stamp}.{fmt}"',
               "X-Authz-Revision": str(opened.revision), "X-Authz-Policy-Version": opened.policy_version,
               "Link": f'<{url_for("review.export_manifest", token=token)}>; rel="describedby"'}
    return Response(stream_with_context(iter(stream)), mimetype=MIME[fmt], headers=headers)


@bp.route("/export/manifests/<token>")
@scoped("review")
def export_manifest(token: str):
    row = ExportRecord.get_or_none(ExportRecord.token == token)
    if row is None:
        raise NotFound(f"export manifest {token} (written once the export's last row is)")
    return Response(row.manifest, mimetype="application/json")
