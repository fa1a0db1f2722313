"""Questions about a past moment: which revision and policy answer `at_revision` or `at`, and
deciding with them (the facts of that revision through history.as_of, the policy in force then)."""
from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Iterator

from service.decide.engine import Engine
from service.store.history import as_of
from service.store.models import utcnow
from service.store.moments import first_moment, moment_of, revision_at
from service.store.schema import current_revision

from .policies import UnknownPolicy, engine_for, version_at


class PastError(ValueError):
    """A moment the history cannot answer for; `field` names the request field at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Moment:
    revision: int
    at: dt.datetime  # UTC, naive: the time the facts are read as of (invitations expire by it)
    policy_version: str


def parse_time(text: str, field: str = "at") -> dt.datetime:
    """An RFC 3339 time with its offset, as naive UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except (ValueError, AttributeError):
        raise PastError(f"{field} must be an RFC 3339 time such as 2026-11-03T12:00:00Z", field) from None
    if value.tzinfo is None:
        raise PastError(f"{field} must name its UTC offset (e.g. Z or +01:00)", field)
    try:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    except OverflowError:  # year 1 at a positive offset
        raise PastError(f"{field} is before the store's history begins", field) from None


def resolve(at_revision: int | None, at: str | None) -> Moment | None:
    """The past moment a request asks about; None for the present."""
    if at_revision is not None and at is not None:
        raise PastError("give at_revision or at, not both", "at")
    if at_revision is not None:
        return _at_revision(at_revision)
    if at is not None:
        return _at_time(parse_time(at))
    return None


def _at_revision(revision: int) -> Moment:
    first = first_moment()
    if first is None or revision < first.revision:
        raise PastError(f"at_revision {revision} is before the store's history begins "
                        f"(revision {first.revision if first else 0})", "at_revision")
    if revision > current_revision():
        raise PastError(f"at_revision {revision} is in the future (the store is at {current_revision()})",
                        "at_revision")
    row = moment_of(revision)
    if row is None:
        raise PastError(f"revision {revision} was never written", "at_revision")
    return Moment(revision, row.at, version_at(revision, row.policy_version))


def _at_time(when: dt.datetime) -> Moment:
    if when > utcnow():
        raise PastError("at is in the future", "at")
    row = revision_at(when)
    first = first_moment()
    if row is None or first is None or row.revision < first.revision:
        begins = first.at.isoformat(timespec="milliseconds") + "Z" if first else "now"
        raise PastError(f"at is before the store's history begins ({begins})", "at")
    return Moment(int(row.revision), when, version_at(int(row.revision), row.policy_version))


def engine_at(moment: Moment) -> Engine:
    """The engine of the policy version in force at `moment`; PastError when none was, or its texts are gone."""
    try:
        return engine_for(moment.policy_version)
    except UnknownPolicy as exc:
        raise PastError(str(exc), "at_revision") from None


@contextlib.contextmanager
def facts_at(moment: Moment) -> Iterator[None]:
    """The store's facts as they were at `moment`'s revision (and its time, for expiries)."""
    with as_of(moment.revision, moment.at):
        yield


@contextlib.contextmanager
def deciding_at(moment: Moment) -> Iterator[Engine]:
    """An engine deciding with `moment`'s policy version, on the facts valid at its revision."""
    engine = engine_at(moment)
    with facts_at(moment):
        yield engine
