"""The moment a console page answers for: the present, or `?at=<RFC 3339>` / `?at_revision=N`.

A past moment is resolved exactly as `/v1/list` and `/v1/subjects` resolve their `at` and
`at_revision` (audit.past.resolve): the revision current then, and the policy version in force
at that revision. The page is then built by that version's engine on the facts valid at that
revision (history.as_of), so every list on it is the answer the API gives with the same `at`.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Hashable, Mapping, TypeVar

from service.audit.past import Moment, PastError, engine_at, facts_at, resolve
from service.decide.engine import Engine
from service.queries.in_force import build_in_force

from .past_pages import PRESENT_KINDS, past_pages, present_pages

T = TypeVar("T")
MOMENT_ARGS = ("at", "at_revision")


class BadMoment(ValueError):
    """`at` / `at_revision` is malformed, or outside the store's history; `field` names the argument."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _revision(text: str, field: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise BadMoment(f"{field} must be a store revision (a whole number)", field)
    return int(text)


def asked_moment(args: Mapping[str, str], at: str = "at", at_revision: str = "at_revision") -> Moment | None:
    """The moment the query string asks about (None: the present); BadMoment if it cannot be answered."""
    time_text = (args.get(at) or "").strip() or None
    revision_text = (args.get(at_revision) or "").strip()
    try:
        return resolve(_revision(revision_text, at_revision) if revision_text else None, time_text)
    except PastError as exc:
        field = {"at": at, "at_revision": at_revision}.get(exc.field, exc.field)
        raise BadMoment(_as_asked(str(exc), at, at_revision), field) from None


def _as_asked(message: str, at: str, at_revision: str) -> str:
    """audit.past's message with the names the page asked them by (`from`, `to_revision`...), not `at`."""
    if message == "give at_revision or at, not both":
        return f"give {at_revision} or {at}, not both"
    for name, asked in (("at_revision", at_revision), ("at", at)):
        if message.startswith(name + " "):
            return asked + message[len(name):]
    return message


def build_at(engine: Any, moment: Moment | None, build: Callable[[Engine], T], kept: Hashable = None) -> T:
    """build(engine) at `moment`: the present through the version in force now (one snapshot), a past
    moment through the version in force then, on the facts of its revision. `kept`: what the page is
    of (its kind and subject): a past page, and a present one of PRESENT_KINDS, is then built once per
    state and kept (past_pages.py)."""
    if moment is None:
        if kept is not None and kept[0] in PRESENT_KINDS:
            return build_in_force(engine, lambda concrete: present_pages.get(
                kept, concrete.policy_version, lambda: build(concrete)))
        return build_in_force(engine, build)
    if kept is not None:
        return past_pages.get((kept, moment), lambda: build_at(engine, moment, build))
    try:
        past_engine = engine_at(moment)
    except PastError as exc:  # no version was in force then, or its texts are gone
        raise BadMoment(str(exc), "at") from None
    with facts_at(moment):
        return build_in_force(past_engine, build)


def rfc3339(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds") + "Z"


def moment_data(moment: Moment | None) -> dict[str, Any]:
    """What a page's JSON says about its moment: `at` (null: the present) and `at_revision`."""
    if moment is None:
        return {"at": None}
    return {"at": rfc3339(moment.at)}


def moment_query(moment: Moment | None) -> dict[str, str]:
    """The query arguments that ask for this moment again (links between pages): its full-precision time,
    which resolves to the same revision."""
    return {} if moment is None else {"at": moment.at.isoformat(timespec="microseconds") + "Z"}
