"""Policy versions kept in the store: the active one, the one in force at a revision, activation.

An activation is one row of `policy_version` holding every file's text; the newest row is
the active policy. Activating bumps the store revision in the same transaction, so the
revision stamp every decision reads changes with it, and "the policy in force at revision R"
is the newest version whose `revision` is at most R.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from service.decide.checks import version_of
from service.store import fast_sql
from service.store.db import database
from service.store.audit_models import RevisionMoment
from service.store.models import PolicyVersion
from service.store.schema import bump_revision


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    """One recorded activation."""

    id: int
    version: str
    files: dict[str, str]
    activated_at: dt.datetime
    activated_by: str
    revision: int

    def summary(self) -> dict[str, object]:
        """Everything but the texts: name and hash of each file."""
        return {"version": self.version, "activated_at": self.activated_at.isoformat() + "Z",
                "activated_by": self.activated_by, "revision": self.revision,
                "files": {name: text_hash(text) for name, text in sorted(self.files.items())}}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()




def _stored(row: PolicyVersion) -> StoredPolicy:
    return StoredPolicy(row.id, row.version, json.loads(row.files), row.activated_at,
                        row.activated_by, int(row.revision))


def active_policy() -> StoredPolicy | None:
    """The newest activation, or None when no policy was ever activated on this store."""
    row = PolicyVersion.select().order_by(PolicyVersion.id.desc()).first()
    return _stored(row) if row else None


def policy_at(revision: int) -> StoredPolicy | None:
    """The policy in force at store revision `revision`: the newest activation at or before it."""
    row = (PolicyVersion.select().where(PolicyVersion.revision <= revision)
           .order_by(PolicyVersion.revision.desc(), PolicyVersion.id.desc()).first())
    return _stored(row) if row else None


def stored_files(version: str) -> dict[str, str] | None:
    """The files of a recorded version, or None if it was never activated here."""
    row = PolicyVersion.select(PolicyVersion.files).where(PolicyVersion.version == version).first()
    return json.loads(row.files) if row else None


def history() -> list[StoredPolicy]:
    """Every activation, newest first."""
    return [_stored(row) for row in PolicyVersion.select().order_by(PolicyVersion.id.desc())]


def record_activation(files: dict[str, str], by: str) -> StoredPolicy:
    """Make `files` the active policy; bumps the store revision in the same transaction."""
    with database.atomic():
        revision = bump_revision()
        row = PolicyVersion.create(version=version_of(files), files=json.dumps(files, sort_keys=True),
                                   activated_by=by, revision=revision)
        # the revision's moment was noted before this row existed: it names the version it activates
        RevisionMoment.update(policy_version=row.version).where(RevisionMoment.revision == revision).execute()
    return _stored(row)


def active_version_and_stamp() -> tuple[str | None, tuple[str, int]]:
    """(active policy version or None, (store epoch, revision)) read in one statement.

    Read together, the version and the stamp describe one state: a decision that sees the
    revision of an activation also sees the version it activated.
    """
    row = fast_sql.fetch_one(
        "SELECT (SELECT p.version FROM policy_version p ORDER BY p.id DESC LIMIT 1), r.epoch, r.value "
        "FROM store_revision r WHERE r.id = 1")
    if row is None:
        return None, ("", 0)
    return row[0], (row[1], int(row[2]))
