"""What the review pages show, as plain data (pages.Page: the same rows feed HTML, CSV and JSON).

A review's page lists its frozen rows with their decisions and, when the subject had a finished
review before this one was opened, what changed since: each row's previous decision (or `new`),
and the rows that review had and this one no longer has. Both reviews are frozen, so the comparison
is the same whenever it is asked.
"""
from __future__ import annotations

import json
from typing import Any

from peewee import fn

from service.store.review_signoff_models import AccessReview, AccessReviewRow
from service.workflows.records import iso

from .pages import Page, Table
from .signoff_rows import SHOWN_COLUMNS

KEY = ("user", "action", "resource")
ROW_COLUMNS = ["row", *KEY, *SHOWN_COLUMNS, "decision", "note", "decided_by", "decided_at"]
CHANGE_COLUMNS = ["row", *KEY, "name", "resource_name", "decision", "note"]


def review_meta(review: AccessReview) -> dict[str, Any]:
    """Who opened and finished the review, when, and the state it was made against."""
    return {"review": f"review:{review.id}", "id": review.id, "kind": review.kind, "subject": review.subject,
            "subject_name": review.subject_name, "opened_by": review.opened_by, "opened_at": iso(review.opened_at),
            "revision": review.revision, "store_epoch": review.store_epoch, "policy_version": review.policy_version,
            "previous": f"review:{review.previous}" if review.previous else None,
            "status": "finished" if review.finished_at else "open",
            "finished_by": review.finished_by, "finished_at": iso(review.finished_at)}


def row_data(row: AccessReviewRow) -> dict[str, Any]:
    shown = json.loads(row.shown)
    return {"row": row.position, "user": row.user, "action": row.action, "resource": row.resource,
            **{column: shown.get(column, "") for column in SHOWN_COLUMNS},
            "decision": row.decision, "note": row.note, "decided_by": row.decided_by,
            "decided_at": iso(row.decided_at)}


def rows_of(review_id: int) -> list[dict[str, Any]]:
    rows = AccessReviewRow.select().where(AccessReviewRow.review == review_id).order_by(AccessReviewRow.position)
    return [row_data(row) for row in rows]


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["user"], row["action"], row["resource"]


def changes_since(review: AccessReview, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Against the subject's previous finished review: added rows, removed rows, previous decisions."""
    if not review.previous:
        return {"since": None, "added": [], "removed": [], "previous": {}}
    before = {_key(row): row for row in rows_of(review.previous)}
    now = {_key(row) for row in rows}
    return {"since": f"review:{review.previous}",
            "added": [row["row"] for row in rows if _key(row) not in before],
            "removed": [{column: row[column] for column in CHANGE_COLUMNS}
                        for key, row in before.items() if key not in now],
            "previous": {row["row"]: {"decision": before[_key(row)]["decision"], "note": before[_key(row)]["note"]}
                         for row in rows if _key(row) in before}}


def review_page(review: AccessReview) -> Page:
    rows = rows_of(review.id)
    changes = changes_since(review, rows)
    meta = review_meta(review)
    decided = sum(1 for row in rows if row["decision"])
    shown = [{**row, "previous": _previous(changes, row["row"])} for row in rows]
    return Page(f"Review {review.id} of {review.subject_name}", "review.html",
                {"review": {**meta, "rows": len(rows), "decided": decided}, "rows": rows, "changes": changes},
                {"rows": Table(ROW_COLUMNS + ["previous"], shown),
                 "removed": Table(CHANGE_COLUMNS, changes["removed"])},
                {"meta": meta, "shown": shown, "decided": decided, "changes": changes})


def _previous(changes: dict[str, Any], position: int) -> str:
    """The row's decision in the previous review ("new": it had no such row; "": no previous review)."""
    if changes["since"] is None:
        return ""
    before = changes["previous"].get(position)
    return "new" if before is None else (before["decision"] or "")


def reviews_page() -> Page:
    """Every review, newest first, with how far each has come (the HTML pages them: reviews.py)."""
    reviews = list(AccessReview.select().order_by(AccessReview.id.desc()))
    counts = _decided_counts([r.id for r in reviews])
    listed = [{**review_meta(r), "rows": counts.get(r.id, (0, 0))[0], "decided": counts.get(r.id, (0, 0))[1]}
              for r in reviews]
    columns = ["review", "kind", "subject", "subject_name", "status", "rows", "decided", "opened_by", "opened_at",
               "revision", "policy_version", "finished_by", "finished_at", "previous"]
    return Page("Access reviews", "reviews.html", {"reviews": listed}, {"reviews": Table(columns, listed)},
                {"reviews": listed})


def _decided_counts(review_ids: list[int]) -> dict[int, tuple[int, int]]:
    """review id -> (rows, rows decided)."""
    if not review_ids:
        return {}
    query = (AccessReviewRow.select(AccessReviewRow.review, fn.COUNT(AccessReviewRow.id),
                                    fn.COUNT(AccessReviewRow.decision))
             .where(AccessReviewRow.review.in_(review_ids)).group_by(AccessReviewRow.review).tuples())
    return {review: (total, decided) for review, total, decided in query}
