"""One page, three formats: `?format=html` (default), `?format=csv` (`&table=NAME` for another
table of the page) and `?format=json`; the CSV and JSON carry the same rows as the HTML."""
from __future__ import annotations

import csv
import io
import json
import unicodedata
from urllib.parse import quote

from flask import Response, render_template, request, url_for

from .pages import Page

FORMATS = ("html", "csv", "json")
# the query parameters a page's export links carry over (anything else, e.g. `org_id` or url_for's own
# `_method`/`_scheme`, is dropped rather than handed to url_for); a page taking a new parameter adds it here
PAGE_PARAMS = ("q", "actor", "at", "at_revision", "from", "to", "from_revision", "to_revision", "action", "resource",
               "rule", "page", "page_size")


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
                        headers={"Content-Disposition": content_disposition(_filename(page, name))})
    return Response(render_template(page.template, page=page, exports=_exports(page), **page.context, **context),
                    mimetype="text/html")


def _exports(page: Page) -> list[tuple[str, str]]:
    """(label, link) of this very page as JSON and as CSV, one CSV per table."""
    path_args = request.view_args or {}  # a path's own argument (the rule page's `rule`) is never overridden
    kept = {name: request.args[name] for name in PAGE_PARAMS if name in request.args and name not in path_args}

    def link(**extra: str) -> str:
        return url_for(request.endpoint, **path_args, **{**kept, **extra})
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
_FORMULA_SIGNS = ("=", "+", "-", "@")
_CONTROL_START = ("\t", "\r", "\n")


def looks_like_formula(text: str) -> bool:
    """True for a cell a spreadsheet could evaluate: beginning with =, +, -, @, tab, CR or LF, also after
    leading spaces, and in their fullwidth or small forms (＝, ﹢, ...), which NFKC folds into the ASCII sign."""
    if text.startswith(_CONTROL_START):
        return True
    rest = text.lstrip()  # spaces, tabs and line breaks before the sign
    return bool(rest) and unicodedata.normalize("NFKC", rest[0]).startswith(_FORMULA_SIGNS)


def _cell(value: object) -> object:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and looks_like_formula(value):
        return "'" + value  # shown as text, never evaluated
    return "" if value is None else value


def _filename(page: Page, name: str) -> str:
    stem = "".join(ch if ch.isalnum() else "-" for ch in page.title.lower()).strip("-")
    return f"{stem}-{name}.csv"


def _ascii_name(filename: str) -> str:
    """Accents dropped (Bäckerei: Backerei), any other letter a "-", runs of "-" as one."""
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", filename) if not unicodedata.combining(ch))
    dashed = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "-" for ch in plain)
    return "-".join(part for part in dashed.split("-") if part) or "export"


def content_disposition(filename: str) -> str:
    """An attachment header any server and browser accept: an ASCII `filename` (_ascii_name)
    and, when the name has more, RFC 6266's `filename*` with the whole name in UTF-8."""
    fallback = _ascii_name(filename)
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header
