"""Answers too costly for one request (a rule's pairs, an activation's impact), computed in the background
and kept per the state they are a pure function of (store revision, policy version, moment).

One background thread computes them one at a time, and only while this process serves no console request
(pace(): a long computation pauses between two of its steps while a page is being built, so a reviewer's
page never shares the interpreter with a walk of the store -- under the GIL every statement a page ran let
the walk take over for a switch interval, 5 ms); a page
asks for its key and waits at most `wait` seconds: an HTML page a short while (it then says the answer is
being computed and reloads itself until it is there), a CSV or JSON until it is there (a script wants the
data, not a notice). A key names the exact state its answer was computed on: a fact write moves the
revision and an activation the version, so a kept answer is never shown for another state. An error while
computing is raised to the page that asked (fail closed: an error page, logged) and is not kept: the next
asks again.

The thread lives no longer than the store it reads: rebinding the store (open_database: a new app, a
test's fresh store) or stop_background() stops it first -- queued work cancelled, the computation under
way told to stop and waited for, every kept answer dropped -- so no work runs against a closed pool and
no thread outlives the store it was started for. The next ask starts a new thread.
"""
from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import queue
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, Iterator, TypeVar

from flask import g, has_request_context, request

from service.store.db import database, guard_rebind

T = TypeVar("T")
HTML_WAIT = 0.25  # s: what an HTML page waits for a background answer (the console's 300 ms budget)
REFRESH_SECONDS = 2  # how soon a "being computed" page asks again (Refresh header: the console runs no script)
THREAD_NAME = "review-precompute"


class Pending(RuntimeError):
    """The answer is being computed in the background; ask again shortly."""


class Stopped(RuntimeError):
    """The background work was stopped (the store it read is being closed or rebound)."""


def _close_connection() -> None:
    db = database.obj
    if db is not None and not db.is_closed():
        db.close()


Job = tuple[cf.Future, Callable[[], object]]


class _Worker:
    """One thread running the submitted computations in order, started on the first submit after a stop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self.gate = threading.Lock()  # held by a computation, and by the store while it is rebound
        self.local = threading.local()  # the running computation's stop event (stopping())

    def submit(self, compute: Callable[[], object]) -> cf.Future:
        future: cf.Future = cf.Future()
        with self._lock:
            if self._thread is None:
                self._jobs, self._stopping = queue.SimpleQueue(), threading.Event()
                self._thread = threading.Thread(target=self._serve, args=(self._jobs, self._stopping),
                                                name=THREAD_NAME, daemon=True)
                self._thread.start()
            self._jobs.put((future, compute))
        return future

    def _serve(self, jobs: queue.SimpleQueue[Job | None], stopping: threading.Event) -> None:
        self.local.stopping = stopping
        while (job := jobs.get()) is not None:
            future, compute = job
            if stopping.is_set():
                future.cancel()  # queued before the stop: never started
                continue
            if not future.set_running_or_notify_cancel():
                continue
            with self.gate:
                try:
                    future.set_result(compute())
                except BaseException as exc:  # handed to the page that waits for it (fail closed there)
                    future.set_exception(exc)

    def stop(self) -> None:
        """Cancel what is queued, tell the computation under way to stop, and join the thread."""
        with self._lock:
            thread, jobs, stopping = self._thread, self._jobs, self._stopping
            self._thread = None
        if thread is None:
            return
        stopping.set()
        _serving.wake()  # a computation pausing for the requests (pace()) hears it now
        jobs.put(None)
        if thread is not threading.current_thread():
            thread.join()


_worker = _Worker()


class _Serving:
    """How many console requests this process is building now (a page waiting for a background answer is
    not counted while it waits: the background must run for it)."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def change(self, by: int) -> None:
        with self._idle:
            self._count += by
            if self._count <= 0:
                self._idle.notify_all()

    def wait_idle(self, at_most: float, stop: threading.Event) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._count <= 0 or stop.is_set(), at_most)

    def wake(self) -> None:
        with self._idle:
            self._idle.notify_all()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        self.change(-1)
        try:
            yield
        finally:
            self.change(+1)


_serving = _Serving()
PAUSE_AT_MOST = 0.5  # s: a step of the background is taken at least this often, whatever the requests


def request_began() -> None:
    """A console request is being built (views.py's first hook); the background pauses meanwhile."""
    if not getattr(g, "review_counted", False):
        g.review_counted = True
        _serving.change(+1)


def request_ended(_exc: BaseException | None = None) -> None:
    if getattr(g, "review_counted", False):
        g.review_counted = False
        _serving.change(-1)


def _waiting_for_background() -> contextlib.AbstractContextManager:
    """While a request waits for a background answer it is not counted (else the two would wait on each other)."""
    return _serving.waiting() if has_request_context() and getattr(g, "review_counted", False) \
        else contextlib.nullcontext()


_kept_answers: "weakref.WeakSet[Any]" = weakref.WeakSet()  # what stop_background() empties


def stopping() -> bool:
    """Whether the computation running on this thread was told to stop (a long walk checks it and raises
    Stopped); False on any other thread."""
    event = getattr(_worker.local, "stopping", None)
    return event is not None and event.is_set()


def check_stopping() -> None:
    if stopping():
        raise Stopped("the store is being closed")


def pace() -> None:
    """Between two steps of a background computation: wait (at most PAUSE_AT_MOST) while a console request
    is being built, then raise Stopped if the computation was told to stop. On any other thread: nothing."""
    event = getattr(_worker.local, "stopping", None)
    if event is None:
        return
    _serving.wait_idle(PAUSE_AT_MOST, event)
    check_stopping()


class Paced(list):
    """A list whose iteration paces the background (pace() before each item): the steps of a walk written
    elsewhere (analysis.impact.compare walks its store's subjects)."""

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            pace()
            yield item


def keep_cleared(kept: object) -> None:
    """Register `kept` (anything with clear()) to be emptied with the background's kept answers."""
    _kept_answers.add(kept)


def stop_background() -> None:
    """Stop the background thread (joined) and drop every kept answer; the next ask starts afresh."""
    _worker.stop()
    for kept in list(_kept_answers):
        kept.clear()


def background_threads() -> list[threading.Thread]:
    """The background threads alive now (at most one)."""
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


@guard_rebind
@contextlib.contextmanager
def _stopped_while_rebound() -> Iterator[None]:
    """While the store is rebound: no computation runs (the one under way stopped and joined first), and
    one asked meanwhile waits for the new store."""
    stop_background()
    with _worker.gate:
        yield


atexit.register(stop_background)


def page_wait() -> float | None:
    """How long this request waits for a background answer: HTML briefly, CSV and JSON until it is done."""
    if has_request_context() and request.args.get("format", "html") != "html":
        return None
    return HTML_WAIT


def _failed(future: cf.Future) -> bool:
    return future.done() and (future.cancelled() or future.exception() is not None)


class Kept(Generic[T]):
    """Answers by key, each computed once by the background thread (the last `size` kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._futures: OrderedDict[Hashable, cf.Future] = OrderedDict()
        self._lock = threading.Lock()
        keep_cleared(self)

    def start(self, key: Hashable, compute: Callable[[], tuple[Hashable, T]]) -> cf.Future:
        """The computation of `key` (started unless kept or under way). `compute` returns (the key of
        the state it actually computed on, the answer): a state that moved meanwhile is kept under its
        own key, never under the one asked."""
        with self._lock:
            future = self._futures.get(key)
            if future is not None and not _failed(future):
                self._futures.move_to_end(key)
                return future
            future = _worker.submit(lambda: self._run(key, compute))
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
        yet (or the store moved on while it was computed, or the work was stopped); the computation's own
        error if it failed."""
        future = self.start(key, compute)
        try:
            with _waiting_for_background():
                value = future.result(timeout=wait)
        except cf.TimeoutError:
            raise Pending("being computed in the background") from None
        except (cf.CancelledError, Stopped):
            raise Pending("stopped while the store was rebound") from None
        if value is None:
            raise Pending("the store changed while this was computed")
        return value

    def clear(self) -> None:
        with self._lock:
            self._futures.clear()
