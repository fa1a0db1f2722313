"""/review/reviews: signed-off access reviews (issue 21 item 6); its routes join the console's blueprint.

GET lists the reviews and shows one; every POST (open, decide a row, finish) is refused from another
site (same_origin.py, as sign-in and sign-out are) and answers a browser with a redirect (303) to the
review, a script asking for JSON (`Accept: application/json`) with the JSON of what it wrote. Bad input
is a 4xx naming the field, as HTML for a browser and JSON for a script, and changes nothing.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, g, redirect, render_template, request, url_for

from service.store.review_signoff_models import AccessReview

from .links import table_view
from .error_pages import data_error, naming
from .long_tables import check_args, paged, rows_table
from .render import content_disposition, respond
from .same_origin import cross_site
from .signoff import Refused, decide, find_review, finish, open_review
from .signoff_evidence import FORMATS, evidence
from .signoff_view import review_page, reviews_page, row_data
from .views import bp, scoped

MIME = {"csv": "text/csv", "json": "application/json"}


def _wants_json() -> bool:
    # any ?format= but html asks for data (an unknown one too: its error names `format` in JSON)
    return (request.args.get("format", "html") != "html"
            or request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json")


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, sort_keys=True), status=status, mimetype="application/json")


@bp.errorhandler(Refused)
def _refused(exc: Refused):
    if _wants_json():
        code = "refused" if exc.status == 409 else "bad_request" if exc.status == 400 else "not_found"
        return data_error(exc.status, code, str(exc), exc.field)
    return render_template("message.html", title="Refused", message=naming(str(exc), exc.field)), exc.status


def _same_site_only() -> None:
    why = cross_site(request)
    if why:
        raise Refused(f"a review is changed only from this console ({why})", "origin", 403)


def _done(review: AccessReview, body: dict[str, Any], status: int = 200, anchor: str = "",
          view: dict[str, str] | None = None) -> Response:
    """JSON for a script; for a browser a 303 to the review, in the `view` it was decided from (filters, page)."""
    if _wants_json():
        return _json(body, status)
    return redirect(url_for("review.access_review", review_id=review.id, **(view or {})) + anchor, code=303)


@bp.route("/reviews", methods=["GET"])
@scoped("review")
def access_reviews():
    page = reviews_page()
    # every review in CSV and JSON; the HTML one page of them, with the total
    return respond(page, shown=paged(page.context["reviews"], request.args, "the reviews list"))


@bp.route("/reviews", methods=["POST"])
@scoped("review")
def open_access_review():
    _same_site_only()
    review = open_review(current_app.extensions["authz_engine"], request.form.get("kind"),
                         request.form.get("organization"), g.reviewer)
    page = review_page(review)
    return _done(review, page.data, 201)


@bp.route("/reviews/<int:review_id>")
@scoped("review")
def access_review(review_id: int):
    check_args(request.args)
    # its rows filtered by action= and rule= (every format) and paged in HTML, as the customer page's
    return respond(rows_table(review_page(find_review(review_id)), "rows", "rows", request.args))


@bp.route("/reviews/<int:review_id>/rows/<row>", methods=["POST"])
@scoped("review")
def decide_row(review_id: int, row: str):
    _same_site_only()
    check_args(request.args)  # the view to come back to: a bad one is refused before the decision is written
    decided = decide(review_id, row, request.form.get("decision"), request.form.get("note"), g.reviewer)
    # the row's form carries the page's view in its URL (review.html): the reviewer comes back to the same page
    return _done(decided.review, row_data(decided), anchor=f"#row-{decided.position}",
                 view=table_view())


@bp.route("/reviews/<int:review_id>/finish", methods=["POST"])
@scoped("review")
def finish_review(review_id: int):
    _same_site_only()
    events = finish(review_id, g.reviewer)
    review = find_review(review_id)
    return _done(review, {**review_page(review).data, "events": [str(e) for e in events]})


@bp.route("/reviews/<int:review_id>/export")
@scoped("review")
def review_export(review_id: int):
    review = find_review(review_id)
    fmt = request.args.get("format")
    text, manifest = evidence(review, fmt, g.reviewer)
    manifest_url = url_for("review.review_manifest", review_id=review_id, format=fmt)
    headers = {"Content-Disposition": content_disposition(f"review-{review_id}-evidence.{fmt}"),
               "X-Authz-Revision": str(review.revision), "X-Authz-Policy-Version": review.policy_version,
               "X-Authz-Sha256": manifest["sha256"], "Link": f'<{manifest_url}>; rel="describedby"'}
    return Response(text, mimetype=MIME[fmt], headers=headers)


@bp.route("/reviews/<int:review_id>/manifest")
@scoped("review")
def review_manifest(review_id: int):
    """The manifest of the review's export in `format` (its rows are frozen: the same hash every time)."""
    _, manifest = evidence(find_review(review_id), request.args.get("format"), g.reviewer)
    return _json(manifest)
