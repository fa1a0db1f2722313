"""/review/{customers,partners,users}/<id>/changes?from=&to=: every access gained and lost between two
moments, each with its cause (changes_diff.py), as HTML, CSV and JSON.

`from` and `to` are RFC 3339 times (or `from_revision` / `to_revision`), resolved as every page's
`?at=` (moment.asked_moment); a missing or malformed one is a 400 naming it, as the console's other errors.
Its rows are a long table (long_tables.changes_table): filtered by `action=`, `rule=`, `resource=` in every
format, paged in HTML.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import current_app, request

from service.audit.past import Moment

from .changes_diff import Difference, changes_between
from .long_tables import changes_table, check_args
from .moment import BadMoment, asked_moment
from .pages import Page, Table, names
from .past_pages import past_pages
from .render import respond
from .views import bp, scoped

COLUMNS = ["change", "user", "name", "action", "resource", "rules", "cause_kind", "cause_revision", "cause_at",
           "cause_by", "cause"]
SUBJECT_REF = {"customer": "organization", "partner": "organization", "user": "user"}


def _moment(args: Mapping[str, str], field: str) -> Moment:
    if not (args.get(field) or "").strip() and not (args.get(f"{field}_revision") or "").strip():
        raise BadMoment(f"{field} is required: an RFC 3339 time such as 2026-11-03T12:00:00Z", field)
    moment = asked_moment(args, at=field, at_revision=f"{field}_revision")
    assert moment is not None
    return moment


def _asked() -> tuple[Moment, Moment]:
    start, end = _moment(request.args, "from"), _moment(request.args, "to")
    if (end.revision, end.at) < (start.revision, start.at):
        raise BadMoment("to must not be before from", "to")
    return start, end


def _exact(moment: Moment) -> str:
    """The moment's time as asked, to the microsecond when it has them (asking it again gives the same revision)."""
    return moment.at.isoformat(timespec="microseconds" if moment.at.microsecond else "seconds") + "Z"


def _row(difference: Difference, users: dict[int, str]) -> dict[str, Any]:
    row = difference.as_dict()
    cause = row.pop("cause")
    return {**row, "name": users.get(int(row["user"].split(":")[1]), ""), "cause_kind": cause["kind"],
            "cause_revision": cause["revision"], "cause_at": cause["at"], "cause_by": cause["by"],
            "cause": cause["summary"]}


def changes_page(kind: str, subject_id: int) -> Page:
    start, end = _asked()
    # between two past moments: built once and kept (past_pages.py; a page's names are read now, below)
    found, compared = past_pages.get(("changes", kind, subject_id, start, end), lambda: changes_between(
        current_app.extensions["authz_engine"], kind, subject_id, start, end))
    users = names("user", [int(d.key[0].split(":")[1]) for d in found])
    rows = [_row(d, users) for d in found]
    causes = {d.cause.revision: d.cause.as_dict() for d in found}
    ref = f"{SUBJECT_REF[kind]}:{subject_id}"
    title_name = names("user" if kind == "user" else "organization", [subject_id]).get(subject_id, ref)
    data = {"subject": ref, "kind": kind, "from": _exact(start), "to": _exact(end), **compared,
            "gained": [d.as_dict() for d in found if d.gained], "lost": [d.as_dict() for d in found if not d.gained],
            "causes": sorted(causes.values(), key=lambda c: (c["revision"] is None, c["revision"] or 0))}
    return Page(f"Changes of {kind} {title_name}", "changes.html", data, {"changes": Table(COLUMNS, rows)},
                {"kind": kind, "subject_id": subject_id, "subject_ref": ref, "subject_name": title_name,
                 "start": start, "end": end})


@bp.route("/customers/<int:org_id>/changes")
@scoped("review")
def customer_changes(org_id: int):
    return _changes("customer", org_id)


@bp.route("/partners/<int:org_id>/changes")
@scoped("review")
def partner_changes(org_id: int):
    return _changes("partner", org_id)


@bp.route("/users/<int:user_id>/changes")
@scoped("review")
def user_changes(user_id: int):
    return _changes("user", user_id)


def _changes(kind: str, subject_id: int):
    check_args(request.args)  # a bad filter or page: 400 before the moments are compared
    return respond(changes_table(changes_page(kind, subject_id), request.args))
