"""How the console answers an error: an HTML page (base.html, the status and a plain message) for a
browser, JSON for a URL that asks for data (`?format=json|csv`, `/review/export...`), as the API would.

Used by the console's own handlers (views.py) and, for a path under /review that no route matches or
a wrong method (errors raised before any blueprint is chosen), by the app's handler (api/errors.py).
"""
from __future__ import annotations

import json
import re

from flask import Response, render_template, request
from werkzeug.exceptions import HTTPException

DATA_PATHS = ("/review/export",)  # streamed exports and their manifests: always data
TITLES = {400: "Bad request", 403: "Refused", 404: "Not found", 405: "Method not allowed", 409: "Refused",
          500: "Error", 503: "Unavailable"}


def under_console(path: str) -> bool:
    return path == "/review" or path.startswith("/review/")


def wants_data() -> bool:
    if request.path.rstrip("/") == "/review/export":  # the page that explains the export, unless a format is asked
        return "format" in request.args
    return request.args.get("format") in ("json", "csv") or request.path.startswith(DATA_PATHS)


def data_error(status: int, code: str, message: str, field: str | None = None,
               headers: dict[str, str] | None = None) -> Response:
    """The error as JSON, in the API's shape (docs/api.md): `{"error": {"code", "message"[, "field"]}}`."""
    error = {"code": code, "message": message, **({"field": field} if field else {})}
    return Response(json.dumps({"error": error}), status=status, mimetype="application/json", headers=headers)


def answer(status: int, message: str, field: str | None = None, code: str | None = None) -> Response:
    """The error as JSON (a data URL) or as the console's HTML message page."""
    if wants_data():
        return data_error(status, code or TITLES.get(status, "error").lower().replace(" ", "_"), message, field)
    title = TITLES.get(status, "Error")
    return Response(render_template("message.html", title=title, message=naming(message, field), status=status),
                    status=status, mimetype="text/html")


def naming(message: str, field: str | None) -> str:
    """The message as a page shows it: naming its parameter once. Messages name it already ("page must be a
    page number from 1"); one that does not is prefixed with it ("at_revision: revision 9 was never written")."""
    if not field or re.search(rf"(?<![\w-]){re.escape(field)}(?![\w-])", message):
        return message
    return f"{field}: {message}"


def http_error(exc: HTTPException) -> Response:
    """A werkzeug error under /review (no such path, a wrong method, a malformed request)."""
    status = exc.code or 500
    messages = {404: f"No page of the review console answers {request.path}.",
                405: f"{request.method} is not how this page is asked for."}
    response = answer(status, messages.get(status, exc.description or exc.name))
    allowed = getattr(exc, "valid_methods", None)
    if status == 405 and allowed:
        response.headers["Allow"] = ", ".join(sorted(allowed))
    return response
