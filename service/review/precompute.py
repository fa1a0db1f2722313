"""Answers too costly for one request (a rule's pairs, an activation's impact), computed in the background
and kept per the state they are a pure function of (store revision, policy version, moment).

One background thread computes them one at a time (the machine's cores serve requests first); a page
asks for its key and waits at most `wait` seconds: an HTML page a short while (it then says the answer is
being computed and reloads itself), a CSV or JSON until it is there (a script wants the data, not a
notice). A key names the exact state its answer was computed on: a fact write moves the revision and an
activation the version, so a kept answer is never shown for another state. An error while computing is
raised to the page that asked (fail closed: an error page, logged) and is not kept: the next asks again.
"""
from __future__ import annotations

import concurrent.futures as cf
import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

from flask import has_request_context, request

from service.store.db import database

T = TypeVar("T")
HTML_WAIT = 0.25  # s: what an HTML page waits for a background answer (the console's 300 ms budget)

_pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-precompute")


def _close_connection() -> None:
    db = database.obj
    if db is not None and not db.is_closed():
        db.close()


class Pending(RuntimeError):
    """The answer is being computed in the background; ask again shortly."""


def page_wait() -> float | None:
    """How long this request waits for a background answer: HTML briefly, CSV and JSON until it is done."""
    if has_request_context() and request.args.get("format", "html") != "html":
        return None
    return HTML_WAIT


class Kept(Generic[T]):
    """Answers by key, each computed once by the background thread (the last `size` kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._futures: OrderedDict[Hashable, cf.Future] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, key: Hashable, compute: Callable[[], tuple[Hashable, T]]) -> cf.Future:
        """The computation of `key` (started unless kept or under way). `compute` returns (the key of
        the state it actually computed on, the answer): a state that moved meanwhile is kept under its
        own key, never under the one asked."""
        with self._lock:
            future = self._futures.get(key)
            if future is not None and not (future.done() and future.exception() is not None):
                self._futures.move_to_end(key)
                return future
            future = _pool.submit(self._run, key, compute)
            self._futures[key] = future
            while len(self._futures) > self.size:
                self._futures.popitem(last=False)
            return future

    def _run(self, key: Hashable, compute: Callable[[], tuple[Hashable, T]]) -> T | None:
        try:
            actual, value = compute()
        finally:
            _close_connection()  # this thread holds no connection between computations
        if actual == key:
            return value
        done: cf.Future = cf.Future()
        done.set_result(value)
        with self._lock:
            self._futures[actual] = done
        return None  # the asked state is gone: the page asks again with the new one

    def get(self, key: Hashable, compute: Callable[[], tuple[Hashable, T]], wait: float | None) -> T:
        """The answer of `key`, waiting at most `wait` seconds (None: until done); Pending if not there
        yet (or the store moved on while it was computed); the computation's own error if it failed."""
        future = self.start(key, compute)
        try:
            value = future.result(timeout=wait)
        except cf.TimeoutError:
            raise Pending("being computed in the background") from None
        if value is None:
            raise Pending("the store changed while this was computed")
        return value

    def clear(self) -> None:
        with self._lock:
            self._futures.clear()
