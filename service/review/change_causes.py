"""What one store revision was: a policy activation (version, who, when) or a fact write (time, the
key that wrote it, its outbox events, and every fact row it created, changed or removed).

The rows come from the facts' history (store/history.py: a version valid from R was written at R,
one valid until R was replaced or removed at R); the writer and events from revision_writes.py.
Facts only: nothing here decides who may do what.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.store.audit_models import RevisionMoment
from service.store.db import database
from service.store.fast_sql import fetch_all
from service.store.history import HISTORY_TABLES, history_table
from service.store.models import PolicyVersion
from service.store.revision_writes import RevisionWrite, events_of

from .moment import rfc3339

# columns that say when a row was written, not what it holds: left out of "what changed"
_NOT_SHOWN = {"id", "created_at", "updated_at"}


@dataclass
class Cause:
    """One revision as the cause of a change of access."""

    revision: int | None  # None: no revision, the moment's time passed (an invitation expired)
    kind: str             # "activation", "fact write" or "time"
    at: str
    by: str               # the activating user, or the writing key's name ("" when unknown)
    summary: str          # one line: the version activated, or the facts changed
    changes: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    version: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "kind": self.kind, "at": self.at, "by": self.by,
                "summary": self.summary, "changes": self.changes, "events": self.events, "version": self.version}


def time_passed(at: str) -> Cause:
    return Cause(None, "time", at, "", "no write: time passed between the last revision and `to` "
                 "(an invitation expired)")


def describe_revision(revision: int, writes: dict[int, RevisionWrite]) -> Cause:
    moment = RevisionMoment.get_or_none(RevisionMoment.revision == revision)
    at = rfc3339(moment.at) if moment is not None else ""
    activation = PolicyVersion.select().where(PolicyVersion.revision == revision).order_by(PolicyVersion.id).first()
    if activation is not None:
        return Cause(revision, "activation", at, activation.activated_by,
                     f"policy version {activation.version} activated", version=activation.version)
    write = writes.get(revision)
    changes = fact_changes(revision)
    events = [{"cursor": str(e.id), "kind": e.kind, "subject": e.subject, "actor": e.actor}
              for e in events_of(revision, writes)]
    return Cause(revision, "fact write", at, (write.key_name or "") if write is not None else "",
                 "; ".join(changes) or "no fact row changed", changes, events)


def _columns(table: str) -> list[str]:
    return [c.name for c in database.get_columns(table)]


def fact_changes(revision: int) -> list[str]:
    """Every fact row `revision` created, changed or removed, in words (`assignment:4 removed (...)`)."""
    lines: list[str] = []
    for table in HISTORY_TABLES:
        columns = _columns(table)
        select = f"SELECT {', '.join(columns)} FROM {history_table(table)} WHERE "
        key = columns.index("id")
        born = {r[key]: dict(zip(columns, r)) for r in fetch_all(select + "valid_from = ?", (revision,))}
        ended = {r[key]: dict(zip(columns, r)) for r in fetch_all(select + "valid_to = ?", (revision,))}
        for row_id in sorted(set(born) | set(ended)):
            lines.append(_change_line(table, row_id, ended.get(row_id), born.get(row_id)))
    return lines


def _shown(row: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in row.items() if k not in _NOT_SHOWN and v is not None)


def _change_line(table: str, row_id: int, before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    name = f"{table}:{row_id}"
    if before is None:
        return f"{name} created ({_shown(after or {})})"
    if after is None:
        return f"{name} removed ({_shown(before)})"
    changed = [f"{k} {before[k]} → {after[k]}" for k in after if k not in _NOT_SHOWN and before.get(k) != after[k]]
    return f"{name} changed: {', '.join(changed) or 'no shown column'}"
