"""The /review routes: sign-in and sign-out, then read-only pages (every one needs a session)."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for

from service.authz import Engine

from . import pages
from .render import BadFormat, respond
from . import session as sessions

log = logging.getLogger("authz.review")

bp = Blueprint("review", __name__, url_prefix="/review", template_folder="templates",
               static_folder="static", static_url_path="/static")

OPEN_ENDPOINTS = {"review.sign_in", "review.static"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _engine() -> Engine:
    return current_app.extensions["authz_engine"]


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (never another host) is followed after sign-in."""
    if target and target.startswith("/review/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("review.home")


@bp.before_request
def _require_session() -> Response | None:
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    key = sessions.signed_in_key()
    if key is None:
        return redirect(url_for("review.sign_in", next=request.full_path.rstrip("?")))
    g.reviewer = key[1]
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


@bp.errorhandler(pages.NotFound)
def _not_found(exc: pages.NotFound) -> tuple[str, int]:
    return render_template("message.html", title="Not found", message=f"No such page: {exc}"), 404


@bp.errorhandler(BadFormat)
def _bad_format(exc: BadFormat) -> tuple[str, int]:
    return render_template("message.html", title="Bad request", message=str(exc)), 400


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    error = ""
    if request.method == "POST":
        key_id, error = sessions.review_key(request.form.get("key", ""))
        if key_id is not None:
            sessions.sign_in(key_id)
            return redirect(_safe_next(request.form.get("next")))
    status = 401 if error else 200
    return render_template("signin.html", error=error, next=_safe_next(request.args.get("next")
                                                                         or request.form.get("next"))), status


@bp.route("/sign-out", methods=["POST"])
def sign_out_route():
    sessions.sign_out()
    return redirect(url_for("review.sign_in"))


@bp.route("/")
def home():
    return render_template("home.html", partners=pages.partners_index())


@bp.route("/search")
def search():
    return respond(pages.search_page(request.args.get("q", "")))


@bp.route("/customers/<int:org_id>")
def customer(org_id: int):
    return respond(pages.customer_page(_engine(), org_id))


@bp.route("/partners/<int:org_id>")
def partner(org_id: int):
    return respond(pages.partner_page(_engine(), org_id))


@bp.route("/users/<int:user_id>")
def user(user_id: int):
    return respond(pages.user_page(_engine(), user_id))


@bp.route("/rules/<rule>")
def rule(rule: str):
    return respond(pages.rule_page(_engine(), rule))
