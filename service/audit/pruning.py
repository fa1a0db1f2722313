"""`authz history prune --before DATE`: forget the past before a moment, keeping every answer after it."""
from __future__ import annotations

import datetime as dt

from service.store.db import database
from service.store.history import prune_versions
from service.store.moments import prune_moments, revision_at


def prune_history_before(before: dt.datetime) -> tuple[int | None, int]:
    """Keep what answers for `before` and later: the revision current at `before` becomes the first.
    Returns (that revision, fact versions deleted); (None, 0) when the history begins later."""
    with database.atomic():
        current = revision_at(before)
        if current is None:
            return None, 0
        floor = int(current.revision)
        removed = prune_versions(floor)  # versions that ended at or before the floor answer nothing after it
        prune_moments(floor)
    return floor, removed
