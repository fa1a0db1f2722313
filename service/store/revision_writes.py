"""Who wrote each store revision, and which outbox events it wrote: what the console's "what changed"
page names as a write's cause (revision, time, key name, events).

bump_revision() notes every revision here in the write's own transaction: the name of the API key
whose request made it (asked of the source the API registers; None for the CLI: a load, an
activation, a key revocation) and the highest event id then. Writers commit one at a time in
revision order (writes.py), so the events of revision R are exactly those after the previous
revision's `last_event` up to R's.
"""
from __future__ import annotations

from typing import Callable

import peewee as pw

from .models import BaseModel, Event


class RevisionWrite(BaseModel):
    """One revision's writer (an API key's name, or None outside a request) and its last event id."""

    revision = pw.BigIntegerField(primary_key=True)
    key_name = pw.CharField(max_length=100, null=True)
    last_event = pw.BigIntegerField(default=0)


_writer_source: Callable[[], str | None] = lambda: None


def set_writer_source(source: Callable[[], str | None]) -> None:
    """The API registers how to name the key of the request being served (the store knows no requests)."""
    global _writer_source
    _writer_source = source


def note_write(revision: int) -> None:
    """Record `revision`'s writer and last event (call in the write's transaction, after its events)."""
    last = Event.select(pw.fn.MAX(Event.id)).scalar() or 0
    RevisionWrite.insert(revision=revision, key_name=_writer_source(), last_event=last) \
        .on_conflict_ignore().execute()


def writes_between(after: int, through: int) -> dict[int, RevisionWrite]:
    """revision -> its record, for the revisions in (after, through], plus `after` itself (its last event
    bounds the first one's events)."""
    rows = RevisionWrite.select().where((RevisionWrite.revision >= after) & (RevisionWrite.revision <= through))
    return {int(r.revision): r for r in rows}


def events_of(revision: int, writes: dict[int, RevisionWrite]) -> list[Event]:
    """The outbox events `revision` wrote; [] when its or the previous revision's record is missing
    (revisions written before this table existed)."""
    this, previous = writes.get(revision), writes.get(revision - 1)
    if this is None or previous is None or this.last_event <= previous.last_event:
        return []
    return list(Event.select().where((Event.id > previous.last_event) & (Event.id <= this.last_event))
                .order_by(Event.id))


REVISION_WRITE_MODELS: list[type[BaseModel]] = [RevisionWrite]
