"""The auditor's export: every allowed (user, action, resource) of the store, at one state, with a manifest.

An export is opened on one state: the present (the engine of the version in force, the facts read in one
snapshot whose active version is that engine's: queries.in_force.build_in_force) or a past moment (the
version in force then, the facts valid at its revision: past.py). The facts are read into memory when it
is opened; the rows are then computed one resource at a time while they are written out (streamed), by
the engine (analysis/allowed.py), so a store of any size is never held as rows.

The manifest names the state (revision, store epoch, policy version, moment), the number of rows and the
SHA-256 of the rows as written; what bytes are hashed depends on the format and is stated in the
manifest itself (docs/review-console.md, "Export for the auditor", shows how to check it).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterator

from service.analysis.allowed import Progress, allowed_rows
from service.analysis.impact_facts import StoreFacts, load_store_facts
from service.decide.engine import Engine
from service.policy.active import ActiveEngine
from service.queries.in_force import build_in_force
from service.store.models import utcnow
from service.store.schema import revision_stamp

from .past import deciding_at, resolve

COLUMNS = ["user", "action", "resource", "rule", "reason"]
EXPORT_FORMAT = "authz-export/1"
HASHED = {
    "csv": "the bytes of the CSV text as served: its header line and every row, UTF-8, each line ending in LF",
    "json": "for each element of `rows`, in order: json.dumps(row, sort_keys=True, separators=(',', ':'), "
            "ensure_ascii=False) + LF, UTF-8 (the document prints each row exactly so, one per line)",
}


def canonical_json(value: Any) -> str:
    """The one JSON text of a value that the manifest hashes (keys sorted, no spaces, UTF-8 as is)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds") + "Z"


@dataclass
class Export:
    """One state of the store, read, and the engine that decides its rows."""

    engine: Engine
    store: StoreFacts
    revision: int
    epoch: str
    at: dt.datetime | None  # the past moment asked, None for the present

    @property
    def policy_version(self) -> str:
        return self.engine.policy_version

    def rows(self, progress: Progress | None = None) -> Iterator[dict[str, Any]]:
        for allowed in allowed_rows(self.engine, self.store, progress):
            yield {"user": f"user:{allowed.user}", "action": allowed.action, "resource": allowed.resource,
                   "rule": allowed.rule, "reason": allowed.reason}

    @property
    def resources(self) -> int:
        return len(self.store.subjects)

    def manifest(self, fmt: str, count: int, digest: str, **extra: Any) -> dict[str, Any]:
        return {"export": EXPORT_FORMAT, "format": fmt, "generated_at": iso(utcnow()), "at": iso(self.at),
                "revision": self.revision, "store_epoch": self.epoch, "policy_version": self.policy_version,
                "columns": COLUMNS, "rows": count, "sha256": digest, "hashed": HASHED[fmt], **extra}


class Digest:
    """Counts the rows written and hashes their bytes as the manifest defines them."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.rows = 0

    def add(self, text: str, rows: int = 0) -> None:
        self.sha.update(text.encode("utf-8"))
        self.rows += rows

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def open_export(engine: Engine | ActiveEngine, at_revision: int | None = None, at: str | None = None) -> Export:
    """The export of the present state, or of a past moment (`at_revision` or RFC 3339 `at`); raises
    past.PastError on a moment the history cannot answer, in_force.PolicyUnavailable with no version in force."""
    moment = resolve(at_revision, at)
    if moment is None:
        return build_in_force(engine, _present)
    epoch = revision_stamp()[0]  # the past views stand in for store_revision with no epoch of their own
    with deciding_at(moment) as past_engine:
        return Export(past_engine, load_store_facts(), moment.revision, epoch, moment.at)


def _present(engine: Engine) -> Export:
    epoch, revision = revision_stamp()
    return Export(engine, load_store_facts(), revision, epoch, None)
