"""One page, three formats: `?format=html` (default), `?format=csv` (`&table=NAME` for another
table of the page) and `?format=json`; the CSV and JSON carry the same rows as the HTML."""
from __future__ import annotations

import csv
import io
import json

from flask import Response, render_template, request, url_for

from .pages import Page

FORMATS = ("html", "csv", "json")


class BadFormat(ValueError):
    """An unknown ?format= or ?table=."""


def respond(page: Page, **context: object) -> Response:
    fmt = request.args.get("format", "html")
    if fmt not in FORMATS:
        raise BadFormat(f"format must be one of {', '.join(FORMATS)}")
    if fmt == "json":
        return Response(json.dumps(page.data, sort_keys=False, indent=1), mimetype="application/json")
    if fmt == "csv":
        name = request.args.get("table", next(iter(page.tables)))
        if name not in page.tables:
            raise BadFormat(f"table must be one of {', '.join(page.tables)}")
        return Response(to_csv(page, name), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{_filename(page, name)}"'})
    return Response(render_template(page.template, page=page, exports=_exports(page), **page.context, **context),
                    mimetype="text/html")


def _exports(page: Page) -> list[tuple[str, str]]:
    """(label, link) of this very page as JSON and as CSV, one CSV per table."""
    def link(**extra: str) -> str:
        return url_for(request.endpoint, **(request.view_args or {}), **{**request.args.to_dict(), **extra})
    names = list(page.tables)
    return [("JSON", link(format="json"))] + [
        (f"CSV ({name})" if len(names) > 1 else "CSV", link(format="csv", table=name) if i else link(format="csv"))
        for i, name in enumerate(names)]


def to_csv(page: Page, name: str) -> str:
    table = page.tables[name]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=table.columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        writer.writerow({key: _cell(row.get(key)) for key in table.columns})
    return out.getvalue()


# a cell a spreadsheet would run as a formula (names come from the store, i.e. from callers)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # shown as text, never evaluated
    return "" if value is None else value


def _filename(page: Page, name: str) -> str:
    stem = "".join(ch if ch.isalnum() else "-" for ch in page.title.lower()).strip("-")
    return f"{stem}-{name}.csv"
