"""The /review routes: sign-in and sign-out, then read-only pages (every one needs a session)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from flask import Blueprint, Response, current_app, g, redirect, render_template, request, send_file, url_for

from service.decide.engine import Engine
from service.queries.in_force import PolicyUnavailable

from . import pages
from . import error_pages, long_tables
from .whynot_page import why_not_page
from .moment import BadMoment, asked_moment
from .paging import BadArgument, page_number, page_size
from .precompute import REFRESH_SECONDS, Pending, request_began, request_ended
from .warm import warm_up
from . import session as sessions
from .render import BadFormat, respond
from .same_origin import cross_site

bp = Blueprint("review", __name__, url_prefix="/review", template_folder="templates")

log = logging.getLogger("authz.review")
STATIC = Path(__file__).resolve().parent / "static"
OPEN_ENDPOINTS = {"review.sign_in", "review.stylesheet"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def scoped(scope: str) -> Callable:
    """Mark a view with who may open it, like the API's routes: `review` (a session) or `public`."""
    def mark(view: Callable) -> Callable:
        view.authz_scope = scope  # type: ignore[attr-defined]
        return view
    return mark


def _engine() -> Engine:
    return current_app.extensions["authz_engine"]


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text)


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (never another host, never a header break) is followed after sign-in."""
    if (target and target.startswith("/review/") and not target.startswith("//") and not _has_control(target)
            and not urlsplit(target).netloc):
        return target
    return url_for("review.home")


def _refused(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template("message.html", title=title, message=message), status


# first of the hooks: while a page is built the background computations pause (precompute.pace)
bp.before_request(request_began)
bp.teardown_request(request_ended)


@bp.before_request
def _require_session() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    key = sessions.signed_in_key()
    if key is None and request.args.get("format") in ("json", "csv"):
        # an export fetched by a script: a clear 401, not the HTML sign-in form
        return error_pages.data_error(401, "session_required",
                                      "sign in to the review console (the session is missing or expired)")
    if key is None:
        return redirect(url_for("review.sign_in", next=request.full_path.rstrip("?")))
    g.reviewer = key[1]
    return None


def add_headers(response: Response) -> Response:
    """Every answer under /review (pages, exports, redirects, errors, even a path no route matches) is
    never framed, never cached and runs no script: registered on the app, since a 404 of an unmatched
    path under /review belongs to no blueprint."""
    if request.path == "/review" or request.path.startswith("/review/"):
        response.headers.update(HEADERS)
    return response


@bp.errorhandler(pages.NotFound)
def _not_found(exc: pages.NotFound) -> Response:
    return error_pages.answer(404, f"No such page: {exc}")


@bp.errorhandler(PolicyUnavailable)
def _policy_unavailable(exc: PolicyUnavailable) -> Response:
    # no page is drawn without the policy: an empty or partial page would read as "nobody may"
    return error_pages.answer(503, f"This page cannot be answered: {exc}. Nothing was decided.",
                              code="policy_unavailable")


@bp.errorhandler(Exception)
def _failed(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return error_pages.http_error(exc)
    log.exception("a console page failed (nothing shown)")
    return error_pages.answer(500, "This page could not be built; nothing is shown rather than part of it.",
                              code="internal_error")


@bp.errorhandler(Pending)
def _pending(exc: Pending):
    # a costly answer (a rule's pairs, an activation's impact) not ready within the page's budget: said so,
    # and the browser asks again (a Refresh header: the console runs no script)
    if request.args.get("format", "html") != "html":
        return error_pages.data_error(503, "pending", f"{exc}; ask again shortly", headers={"Retry-After": "2"})
    html = render_template("message.html", title="Being computed",
                           message=f"This page's answer is {exc}; it reloads itself in a few seconds.")
    return Response(html, status=503, headers={"Retry-After": "2", "Refresh": str(REFRESH_SECONDS)})


@bp.errorhandler(BadMoment)
@bp.errorhandler(BadArgument)
def _bad_argument(exc: BadMoment | BadArgument) -> Response:
    return error_pages.answer(400, str(exc), exc.field, code="bad_request")


@bp.errorhandler(BadFormat)
@bp.errorhandler(pages.BadQuery)
def _bad_format(exc: ValueError) -> Response:
    return error_pages.answer(400, str(exc), code="bad_request")


@bp.route("/sign-in", methods=["GET", "POST"])
@scoped("public")
def sign_in():
    error = ""
    if request.method == "POST":
        # refused before the key is even read: nothing is set for a cross-site post or a broken next
        why = cross_site(request)
        if why:
            return _refused("Sign-in refused", f"A sign-in from another site is refused ({why}).", 403)
        if _has_control(request.form.get("next", "")):
            return _refused("Bad request", "next must not hold control characters (CR, LF, ...).", 400)
        key_id, error = sessions.review_key(request.form.get("key", ""))
        if key_id is not None:
            sessions.sign_in(key_id)
            return redirect(_safe_next(request.form.get("next")))
    status = 401 if error else 200
    return render_template("signin.html", error=error, next=_safe_next(request.args.get("next")
                                                                         or request.form.get("next"))), status


@bp.route("/sign-out", methods=["POST"])
@scoped("review")
def sign_out_route():
    why = cross_site(request)
    if why:
        return _refused("Sign-out refused", f"A sign-out from another site is refused ({why}).", 403)
    sessions.sign_out()
    return redirect(url_for("review.sign_in"))


@bp.route("/")
@scoped("review")
def home():
    shown = long_tables.paged(pages.partners_index(), request.args, "the partners")  # a bad page: 400 first
    warm_up(_engine())  # the costly answers of the present start computing: the next rule page is ready
    return render_template("home.html", partners=shown.rows, shown=shown)


@bp.route("/search")
@scoped("review")
def search():
    return respond(pages.search_page(request.args.get("q", ""), page_number(request.args), asked_moment(request.args),
                                     page_size(request.args)))


@bp.route("/customers/<int:org_id>")
@scoped("review")
def customer(org_id: int):
    long_tables.check_args(request.args)
    page = pages.customer_page(_engine(), org_id, asked_moment(request.args))
    return respond(long_tables.rows_table(page, "access", "access", request.args))


@bp.route("/partners/<int:org_id>")
@scoped("review")
def partner(org_id: int):
    long_tables.check_args(request.args)
    page = pages.partner_page(_engine(), org_id, asked_moment(request.args))
    return respond(long_tables.partner_table(page, request.args))


@bp.route("/users/<int:user_id>")
@scoped("review")
def user(user_id: int):
    long_tables.check_args(request.args)
    page = pages.user_page(_engine(), user_id, asked_moment(request.args))
    return respond(long_tables.rows_table(page, "may", "may", request.args))


@bp.route("/rules/<rule>")
@scoped("review")
def rule(rule: str):
    long_tables.check_args(request.args)
    page = pages.rule_page(_engine(), rule, asked_moment(request.args))
    return respond(long_tables.granted_table(page, request.args))


@bp.route("/why-not")
@scoped("review")
def why_not():
    args = request.args
    return respond(why_not_page(_engine(), args.get("actor", ""), args.get("action", ""), args.get("resource", ""),
                                asked_moment(args)))


@bp.route("/style.css")
@scoped("public")
def stylesheet():
    return send_file(STATIC / "review.css", mimetype="text/css", max_age=3600)
