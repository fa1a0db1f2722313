"""Kept pages: a page that is a pure function of what it is keyed by is built once and asked again from
memory.

- **Past pages**: a page asked with `?at=` (or a changes page, between two past moments) is a pure
  function of the store (its epoch), the moment (its revision, time and the policy version in force then),
  the history's floor and what was asked (the path's subject and the query string). The history never
  changes below the present revision except by a prune, which moves the floor, so a kept past page is
  never stale: asked again it costs two reads (the store's epoch and the floor).
- **Present pages** of a customer, of a partner and of a rule: a pure function of the store's stamp
  (epoch and revision: every fact write and every activation moves it), the pending invitations expired
  since (time alone moves that count: time_moved.py), the policy version in force and the subject. A customer's and a partner's resources (organizations, products, invoices) have no fact
  that time alone changes (an invitation's expiry does: the user page, which lists invitations, is not
  kept); a rule page lists its rule's pairs, themselves kept per stamp and version (rule_pairs.py), and
  building its ~100,000 rows (R1) again from them was ~150 ms a visit. The key is read in the snapshot
  the page is built in, so a kept page is the page of exactly that state; the next write makes the next
  request build it again. A page still being computed (precompute.Pending) is not kept.

Both are bounded (the last KEPT_PAGES / KEPT_PRESENT answers) and cleared with the background's kept
answers (a store rebound or closed).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, TypeVar

from flask import has_request_context, request

from service.store.fast_sql import fetch_one
from service.store.schema import revision_stamp

from .precompute import keep_cleared
from .time_moved import expired_pending

T = TypeVar("T")
KEPT_PAGES = 64
KEPT_PRESENT = 16  # a partner page of the 10,000-customer world holds ~1,400 matrix cells, R1 ~100,000 rows
PRESENT_KINDS = ("customer", "partner", "rule")  # present pages a pure function of (stamp, version)


class KeptPages:
    """The last `size` answers by key (cleared with the background's kept answers)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        keep_cleared(self)

    def kept(self, full: Hashable, build: Callable[[], T]) -> T:
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

    def __len__(self) -> int:
        return len(self._answers)


class PastPages(KeptPages):
    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        return self.kept((_store_and_floor(), key, _asked()), build)


class PresentPages(KeptPages):
    def get(self, key: Hashable, policy_version: str, build: Callable[[], T]) -> T:
        """The page `key` of the state the caller's snapshot reads, decided by `policy_version`; the pages
        of every other state are dropped (a present page is asked at the newest state only: an older
        one's pages would only hold memory, ~40 MB for R1's on the 10,000-customer world)."""
        stamp = (revision_stamp(), expired_pending())  # time alone expires invitations (time_moved.py)
        with self._lock:
            for old in [full for full in self._answers if full[0] != stamp]:
                del self._answers[old]
        return self.kept((stamp, policy_version, key), build)


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
present_pages: PresentPages = PresentPages(KEPT_PRESENT)
