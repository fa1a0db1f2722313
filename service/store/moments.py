"""When each store revision was written, and which revision was current at a given time."""
from __future__ import annotations

import datetime as dt

from .audit_models import RevisionMoment
from .models import PolicyVersion, utcnow

NO_POLICY = "none"  # the version recorded for a revision written while no policy was ever activated


def _active_version() -> str:
    """The version active in this transaction's state: the newest activation stored (never the files on
    disk: what decides is what was activated)."""
    row = PolicyVersion.select(PolicyVersion.version).order_by(PolicyVersion.id.desc()).first()
    return row.version if row is not None else NO_POLICY


def record_moment(revision: int) -> None:
    """Note that `revision` was written now, under the active policy version (call in the write's
    transaction; an activation records its own version, stored just before)."""
    RevisionMoment.insert(revision=revision, at=utcnow(), policy_version=_active_version()) \
        .on_conflict_ignore().execute()


def moment_of(revision: int) -> RevisionMoment | None:
    return RevisionMoment.get_or_none(RevisionMoment.revision == revision)


def revision_at(when: dt.datetime) -> RevisionMoment | None:
    """The revision current at `when` (UTC, naive): the last one written at or before it."""
    return (RevisionMoment.select().where(RevisionMoment.at <= when)
            .order_by(RevisionMoment.revision.desc()).first())


def first_moment() -> RevisionMoment | None:
    """The oldest revision the history can answer for (the store's creation, or the last prune)."""
    return RevisionMoment.select().order_by(RevisionMoment.revision).first()


def prune_moments(before_revision: int) -> int:
    return RevisionMoment.delete().where(RevisionMoment.revision < before_revision).execute()
