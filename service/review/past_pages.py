"""Pages of a past moment, kept: a page asked with `?at=` (or a changes page, between two past moments)
is a pure function of the store (its epoch), the moment (its revision, time and the policy version in
force then), the history's floor and what was asked (the path's subject and the query string). The
history never changes below the present revision except by a prune, which moves the floor, so a kept
past page is never stale: it is built once per key and process, and asked again it costs two reads
(the store's epoch and the floor). Present pages are not kept here: their facts move with every write.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, TypeVar

from flask import has_request_context, request

from service.store.fast_sql import fetch_one

from .precompute import keep_cleared

T = TypeVar("T")
KEPT_PAGES = 64


class PastPages:
    """The last KEPT_PAGES past answers by key (cleared with the background's kept answers)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        keep_cleared(self)

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        full = (_store_and_floor(), key, _asked())
        with self._lock:
            if full in self._answers:
                self._answers.move_to_end(full)
                return self._answers[full]
        value = build()  # two requests may build the same page at once: the same answer, kept once
        with self._lock:
            self._answers[full] = value
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


def _store_and_floor() -> tuple[str, int]:
    """The store's epoch and the first revision its history answers for (a prune moves it)."""
    row = fetch_one("SELECT (SELECT epoch FROM store_revision WHERE id = 1), (SELECT MIN(revision) FROM revision_moment)")
    return (str(row[0]), int(row[1]) if row and row[1] is not None else -1) if row else ("", -1)


def _asked() -> tuple:
    """What the request asked besides the path: every query argument but the output's format."""
    if not has_request_context():
        return ()
    return (request.path, tuple(sorted((k, v) for k, v in request.args.items(multi=True)
                                       if k not in ("format", "table"))))


past_pages: PastPages = PastPages(KEPT_PAGES)
