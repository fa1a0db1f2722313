"""A finished review as evidence: its rows and decisions as CSV or JSON, with a manifest.

The manifest is the auditor export's (audit/export.py): the same fields (time, revision, store epoch,
policy version, columns, row count, SHA-256) hashed by the same rules (HASHED: a CSV's bytes as served;
a JSON's rows as canonical JSON lines), plus who opened and finished the review. The rows are frozen,
so every export of a review has the same hash; only `generated_at` and `exported_by` differ.
"""
from __future__ import annotations

from typing import Any

from service.audit.export import HASHED, Digest, canonical_json, iso
from service.store.models import utcnow
from service.store.review_signoff_models import AccessReview

from .pages import Page, Table
from .render import to_csv
from .signoff import Refused
from .signoff_view import ROW_COLUMNS, review_meta, rows_of

EVIDENCE_FORMAT = "authz-review/1"
FORMATS = ("csv", "json")


def evidence(review: AccessReview, fmt: str | None, exported_by: str) -> tuple[str, dict[str, Any]]:
    """(the text served, its manifest) of a finished review."""
    if fmt not in FORMATS:
        raise Refused(f"format must be one of {', '.join(FORMATS)}", "format")
    if review.finished_at is None:
        raise Refused(f"review:{review.id} is not finished: only a signed-off review is evidence", "review", 409)
    rows = rows_of(review.id)
    digest = Digest()
    if fmt == "csv":
        text = to_csv(Page("evidence", "", {}, {"rows": Table(ROW_COLUMNS, rows)}), "rows")
        digest.add(text, len(rows))
        return text, _manifest(review, fmt, digest, exported_by)
    lines = [canonical_json(row) for row in rows]
    digest.add("".join(line + "\n" for line in lines), len(lines))
    manifest = _manifest(review, fmt, digest, exported_by)
    body = ",\n".join(lines)
    text = (f'{{"export":"{EVIDENCE_FORMAT}","columns":{canonical_json(ROW_COLUMNS)},"rows":[\n{body}\n],\n'
            f'"manifest":{canonical_json(manifest)}}}\n')
    return text, manifest


def _manifest(review: AccessReview, fmt: str, digest: Digest, exported_by: str) -> dict[str, Any]:
    meta = review_meta(review)
    return {"export": EVIDENCE_FORMAT, "format": fmt, "generated_at": iso(utcnow()), "at": meta["opened_at"],
            "revision": review.revision, "store_epoch": review.store_epoch, "policy_version": review.policy_version,
            "columns": ROW_COLUMNS, "rows": digest.rows, "sha256": digest.hexdigest(), "hashed": HASHED[fmt],
            "review": meta, "exported_by": exported_by}
