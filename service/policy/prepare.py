"""Activation without a stall: every serving worker builds a version before it becomes active.

Building a version's engine costs about 1.3 s (its Oso is quick; the shape table, shapes.py, is
most of it). Built on the first decision after the switch, that was 1.3 s with no answer from the
worker. So an activation has two phases:

1. `stage`: the version's files go to `staged_policy`. Every served worker runs a watcher thread
   (`start_watcher`, from service/wsgi.py) that polls that table, builds what is staged beside the
   engine it decides with, and reports in `engine_worker` (its heartbeat) which staged versions it
   holds.
2. `wait_until_prepared`: the activation waits until every live worker (a heartbeat younger than
   LIVE_SECONDS) reports the version, then switches (versions.record_activation, unchanged: the
   very next decision of every worker uses the new version, now already built).

A worker that does not report within the wait (AUTHZ_ACTIVATION_WAIT seconds) does not block the
switch: the activation goes on, names it, and that worker builds on its next decision as before.
Workers report only while a version is staged (a full or read-only store is written nothing the
rest of the time), so an activation first gives them DISCOVERY_SECONDS to say they saw it.
A worker of an instance on a standby (AUTHZ_PRIMARY_URL set) reads what is staged and reports on the
primary, as its decision records go there (store/records.py): the activation, run on the primary,
waits for it too, and it never waits for the standby's replay to see the version staged. Heartbeats
use each worker's clock: instances on several hosts need synchronized clocks (NTP).
"""
from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import peewee

from service.store.db import database
from service.store.records import records_database
from service.store.rollout_models import EngineWorker, StagedPolicy
from service.store.outage import outage_kind

from service.policy.active import engine_for_version, is_built

log = logging.getLogger("authz.policy")

POLL_SECONDS = 0.2  # how often a worker looks for a staged version
HEARTBEAT_SECONDS = 1.0  # how often a worker reports itself when nothing changes
LIVE_SECONDS = 5.0  # a worker silent for longer is gone (killed, stopped, its host down)
DEFAULT_WAIT_SECONDS = 30.0
DISCOVERY_SECONDS = 3.0  # how long an activation gives the workers to report that they saw it


def wait_seconds() -> float:
    """AUTHZ_ACTIVATION_WAIT: how long an activation waits for the workers to build the version."""
    raw = os.environ.get("AUTHZ_ACTIVATION_WAIT", "")
    try:
        value = float(raw) if raw else DEFAULT_WAIT_SECONDS
    except ValueError:
        raise ValueError(f"AUTHZ_ACTIVATION_WAIT must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"AUTHZ_ACTIVATION_WAIT must be 0 or more seconds, not {raw!r}")
    return value


# -- the activating side ------------------------------------------------------------------


def stage(version: str, files: dict[str, str]) -> None:
    """Offer `version` to the workers to build (idempotent)."""
    with database.atomic():
        StagedPolicy.insert(version=version, files=json.dumps(files, sort_keys=True)).on_conflict(
            conflict_target=[StagedPolicy.version], update={StagedPolicy.files: json.dumps(files, sort_keys=True)}
        ).execute()


def unstage(version: str) -> None:
    """The version is active (or abandoned): nothing more to build; forget workers long gone."""
    with database.atomic():
        StagedPolicy.delete().where(StagedPolicy.version == version).execute()
        EngineWorker.delete().where(EngineWorker.seen_at < time.time() - 60 * LIVE_SECONDS).execute()


@dataclass(frozen=True)
class Readiness:
    """Who of the live workers holds a staged version."""

    prepared: list[str]
    waiting: list[str]

    @property
    def complete(self) -> bool:
        return not self.waiting


def readiness(version: str) -> Readiness:
    prepared: list[str] = []
    waiting: list[str] = []
    for row in EngineWorker.select().where(EngineWorker.seen_at >= time.time() - LIVE_SECONDS):
        (prepared if version in json.loads(row.prepared) else waiting).append(row.worker)
    return Readiness(sorted(prepared), sorted(waiting))


def wait_until_prepared(version: str, timeout: float) -> Readiness:
    """Wait until every live worker holds `version`, or `timeout` seconds; the last readiness seen."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        seen = readiness(version)
        # workers report only while something is staged: give each time to see it and say so first
        discovered = time.monotonic() - started >= DISCOVERY_SECONDS
        if (seen.complete and discovered) or time.monotonic() >= deadline:
            return seen
        time.sleep(POLL_SECONDS / 2)


# -- the serving side: one watcher thread per worker process ---------------------------------


class Watcher:
    """Builds the staged versions in this worker process and reports them in its heartbeat."""

    def __init__(self) -> None:
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.reported: tuple[float, list[str]] | None = None  # (when, prepared) last written
        self.failing = False
        self.staged: list[str] = []  # the versions staged when this worker last looked
        self.stopped = threading.Event()

    def run(self) -> None:
        """Poll and build here; report from a thread of its own, so a long build never looks like death."""
        threading.Thread(target=self._heartbeat, name="policy-rollout-heartbeat", daemon=True).start()
        while not self.stopped.wait(POLL_SECONDS):
            self._guarded(self.build_staged)

    def _heartbeat(self) -> None:
        while not self.stopped.wait(POLL_SECONDS):
            self._guarded(self.report_if_due)

    def _guarded(self, step: Callable[[peewee.Database], None]) -> None:
        try:
            with database.connection_context(), contextlib.ExitStack() as stack:
                target = rollout_database()
                if target is not database.obj:
                    stack.enter_context(target.connection_context())
                step(target)
            if self.failing:
                log.info("policy rollout watcher: the store answers again")
            self.failing = False
        except Exception as exc:
            if not self.failing:  # once per outage, not five lines a second
                kind = outage_kind(exc)  # an outage's traceback is the request path's to log (once)
                if kind is None:
                    log.exception("policy rollout watcher: cannot reach the store (retrying)")
                else:
                    log.error("policy rollout watcher: cannot reach the store (%s; retrying)", kind)
            self.failing = True

    def build_staged(self, db: peewee.Database) -> None:
        """Build what is staged (in db, the rollout's database) and not built in this process yet."""
        staged = [row.version for row in StagedPolicy.select(StagedPolicy.version).execute(db)]
        self.staged = staged  # seen: the heartbeat reports this worker as building them from now on
        for version in staged:
            if not is_built(version):
                row = next(iter(StagedPolicy.select().where(StagedPolicy.version == version).execute(db)), None)
                if row is not None:
                    self._build(version, json.loads(row.files))
        self.staged = staged

    def report_if_due(self, db: peewee.Database) -> None:
        """Report the staged versions built here when they change, and at least every HEARTBEAT_SECONDS."""
        if not self.staged:
            return  # nothing staged: a worker writes nothing (a full or read-only store is not touched)
        prepared = sorted(version for version in self.staged if is_built(version))
        now = time.time()
        last = self.reported
        if last is None or last[1] != prepared or now - last[0] >= HEARTBEAT_SECONDS:
            self._report(db, now, prepared)

    @staticmethod
    def _build(version: str, files: dict[str, str]) -> None:
        started = time.perf_counter()
        try:
            engine_for_version(version, files)
        except Exception as exc:  # a version that cannot load is kept as its error: reported, refused at the switch
            log.warning("staged policy version %s cannot be built here: %s", version, exc)
            return
        log.info("staged policy version %s built in %.2f s", version, time.perf_counter() - started)

    def _report(self, db: peewee.Database, now: float, prepared: list[str]) -> None:
        with db.atomic():
            EngineWorker.insert(worker=self.worker, seen_at=now, prepared=json.dumps(prepared)).on_conflict(
                conflict_target=[EngineWorker.worker],
                update={EngineWorker.seen_at: now, EngineWorker.prepared: json.dumps(prepared)}).execute(db)
        self.reported = (now, prepared)

    def leave(self) -> None:
        """On a clean exit: stop, and take this worker out of the live ones at once."""
        self.stopped.set()
        try:
            with database.connection_context():
                db = rollout_database()
                with db.connection_context():
                    EngineWorker.delete().where(EngineWorker.worker == self.worker).execute(db)
        except Exception:
            log.warning("policy rollout watcher: could not remove worker %s (it ages out)", self.worker)


def rollout_database() -> peewee.Database:
    """Where a worker reads the staged versions and reports: the bound store, or its primary when the
    store is a standby (the same database the decision records go to)."""
    return records_database()


_watcher: tuple[int, Watcher] | None = None


def start_watcher() -> Watcher:
    """The watcher of this worker process, started once per process (threads do not survive fork)."""
    global _watcher
    if _watcher is None or _watcher[0] != os.getpid():
        watcher = Watcher()
        threading.Thread(target=watcher.run, name="policy-rollout", daemon=True).start()
        atexit.register(watcher.leave)
        _watcher = (os.getpid(), watcher)
    return _watcher[1]
