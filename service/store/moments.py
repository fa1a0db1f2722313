"""When each store revision was written, and which revision was current at a given time."""
from __future__ import annotations

import datetime as dt

from .audit_models import RevisionMoment
from .models import utcnow


def _policy_version_in_force() -> str:
    from service.audit.policies import policy_in_force  # the audit layer knows the policy; the store does not
    return policy_in_force().version


def record_moment(revision: int) -> None:
    """Note that `revision` was written now, under the policy in force (call in the write's transaction)."""
    RevisionMoment.insert(revision=revision, at=utcnow(), policy_version=_policy_version_in_force()) \
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
