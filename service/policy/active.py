"""Deciding with the store's active policy version, in every worker of every instance.

The served engine reads no policy file: each decision reads the store's revision stamp and, when
the stamp is new to this process, the active version with it (one statement,
policy_store.active_version_and_stamp), and asks the engine built for that version. An activation
bumps the revision in its own transaction, so the very next decision of every worker sees a new
stamp and reads the new version; an engine is built once per version and process (one Oso per
process) and kept, with its own decision cache, pattern memo and shape table.

A version that cannot be built (its text no longer loads with this code) denies every decision
with a clear error and makes the worker report not ready; it never raises out of a worker.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from service.store.outage import reraise_outage
from service.store.schema import revision_stamp

from service.decide.engine import Decision, Engine
from service.decide.checks import MANIFEST, PolicyError, manifest_text
from service.policy.versions import active_version_and_stamp, policy_at, stored_files

log = logging.getLogger("authz.policy")

ENGINES_KEPT = 8  # versions whose engine a process keeps built (the active one and recent ones)


def build_engine(files: dict[str, str], **options: Any) -> Engine:
    """An engine for a policy given as {file name: text}: written with its manifest to a temporary
    folder and loaded from there (so oso's and the strict checks' messages name the real files)."""
    with tempfile.TemporaryDirectory(prefix="authz-policy-") as tmp:
        folder = Path(tmp)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        (folder / MANIFEST).write_text(manifest_text(list(files)), encoding="utf-8")
        return Engine(folder, **options)


class _VersionCache:
    """Per process: version -> its built engine, or the PolicyError it failed with.

    Two locks: `lock` guards the dict only (a decision asking for a built version never waits for a
    build), `building` serializes the builds (oso initialisation is not thread-safe, osohq/oso#1665),
    so the rollout watcher can build a staged version while the threads go on deciding."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.built: OrderedDict[str, Engine | PolicyError] = OrderedDict()
        self.lock = threading.Lock()
        self.building = threading.Lock()

    def _kept(self, version: str) -> Engine | PolicyError | None:
        with self.lock:
            found = self.built.get(version)
            if found is not None:
                self.built.move_to_end(version)
            return found

    def _keep(self, version: str, built: Engine | PolicyError) -> None:
        with self.lock:
            self.built[version] = built
            self.built.move_to_end(version)
            while len(self.built) > ENGINES_KEPT:
                self.built.popitem(last=False)

    def has(self, version: str) -> bool:
        return self._kept(version) is not None

    def get(self, version: str, files: dict[str, str] | None = None) -> Engine:
        """The engine of `version`, built now if need be (from `files`, else from the store's copy)."""
        found = self._kept(version)
        if found is None:
            with self.building:
                found = self._kept(version)  # built by another thread while this one waited
                if found is None:
                    found = self._build(version, files)
                    self._keep(version, found)
        if isinstance(found, PolicyError):
            raise found
        return found

    @staticmethod
    def _build(version: str, files: dict[str, str] | None) -> Engine | PolicyError:
        files = files if files is not None else stored_files(version)
        if files is None:
            return PolicyError(f"policy version {version} is not in the store")
        try:
            engine = build_engine(files)
        except PolicyError as exc:
            log.error("policy version %s cannot be loaded: %s", version, exc)
            return PolicyError(f"policy version {version} cannot be loaded: {exc}")
        log.info("policy version %s loaded", version)
        return engine


_cache: _VersionCache | None = None


def _process_cache() -> _VersionCache:
    global _cache
    if _cache is None or _cache.pid != os.getpid():  # a forked child builds its own Oso
        _cache = _VersionCache()
    return _cache


def engine_for_version(version: str, files: dict[str, str] | None = None) -> Engine:
    """The (cached) engine of a policy version, built from `files` or the store's copy; PolicyError
    if it cannot be built."""
    return _process_cache().get(version, files)


def is_built(version: str) -> bool:
    """Whether this process holds the engine of `version` (or its load error) already."""
    return _process_cache().has(version)


def _refused(reason: str, version: str, revision: int, **details: Any) -> Decision:
    return Decision(False, [{"rule": "R20", "denied": reason, **details}], version, revision, error=True)


class ActiveEngine:
    """The served engine: Engine's interface, each decision taken with the store's active version."""

    RETRIES = 3

    def __init__(self) -> None:
        self.last: Engine | None = None  # the engine of this process's latest decision
        self.seen: tuple[tuple[str, int], str | None] | None = None  # (stamp, active version) last read

    @property
    def policy_version(self) -> str:
        return self.last.policy_version if self.last else "none"

    @property
    def files(self) -> list[Path]:
        return self.last.files if self.last else []

    def _active_version(self, stamp: tuple[str, int] | None = None) -> tuple[str | None, tuple[str, int]]:
        """The active version and the store's stamp (`stamp`: just read by the caller). An activation
        bumps the revision in its own transaction, so a stamp names one active version: while the
        stamp is the one this process last saw, the version read with it still holds and only the
        stamp is read (one plain statement per cached decision); a new stamp reads both again, together."""
        stamp = stamp or revision_stamp()
        seen = self.seen
        if seen is not None and seen[0] == stamp:
            return seen[1], stamp
        version, stamp = active_version_and_stamp()
        self.seen = (stamp, version)  # one assignment: threads see the old pair or the new one
        return version, stamp

    def current(self, stamp: tuple[str, int] | None = None) -> tuple[Engine | None, Decision | None, tuple[str, int]]:
        """The engine of the active version, or the denial to answer instead; and the stamp read with it."""
        try:
            version, stamp = self._active_version(stamp)
        except Exception as exc:
            reraise_outage(exc)  # the store is down: answered 503 store_unavailable, not decided here
            log.exception("cannot read the active policy version (denied)")
            return None, _refused("internal error while deciding", "none", -1), ("", -1)
        if version is None:
            return None, _refused("no active policy", "none", stamp[1],
                                  detail="activate one with `authz policy activate`"), stamp
        last = self.last
        if last is not None and last.policy_version == version:
            return last, None, stamp  # the version of this process's latest decision: no lookup, no lock
        try:
            engine = engine_for_version(version)
        except PolicyError as exc:
            return None, _refused("active policy cannot be loaded", version, stamp[1],
                                  detail=str(exc).splitlines()[0]), stamp
        except Exception as exc:  # reading the version's files failed: deny, never raise out of a worker
            reraise_outage(exc)
            log.exception("cannot build policy version %s (denied)", version)
            return None, _refused("internal error while deciding", version, stamp[1]), stamp
        self.last = engine
        return engine, None, stamp

    def readiness(self) -> tuple[bool, str]:
        """Whether this process can decide with the active version, and why not."""
        engine, refused, _ = self.current()
        if engine is None:
            return False, f"{refused.reasons[0]['denied']}: {refused.reasons[0].get('detail', '')}".rstrip(": ")
        return True, engine.policy_version

    def _consistent(self, engine: Engine, stamp: tuple[str, int], revision: int) -> bool:
        """True when `engine` is the version in force at the revision the decision's snapshot saw
        (a write committed between reading the version and the snapshot may be an activation)."""
        if revision <= stamp[1]:
            return True
        stored = policy_at(revision)
        return stored is not None and stored.version == engine.policy_version

    def decide(self, actor: str, action: str, resource: str, *, explain: bool = False,
               why_not: bool = False, stamp: tuple[str, int] | None = None) -> Decision:
        """Engine.decide with the active version; `stamp`: the store's stamp, if the caller has just
        read it (a request reads it once, service/api/request_stamp.py)."""
        if stamp is None and not explain and not why_not:
            decided = self._decide_new(actor, action, resource)
            if decided is not None:
                return decided
        for attempt in range(self.RETRIES):
            engine, refused, stamp = self.current(stamp if attempt == 0 else None)  # a retry reads afresh
            if engine is None:
                return refused  # type: ignore[return-value]
            # the stamp read with the version answers the cache lookup: one statement per cached decision
            decision = engine.decide(actor, action, resource, explain=explain, why_not=why_not, stamp=stamp)
            if decision.error or self._consistent(engine, stamp, decision.revision):
                return decision
        return _refused("policy changed while deciding", self.policy_version, stamp[1])

    def _decide_new(self, actor: str, action: str, resource: str) -> Decision | None:
        """A question new to this process's latest engine, decided in one statement: the facts' statement
        also reads the store's stamp and the version active in that state, so the answer stands when
        that version is this engine's (exactly what reading the version first would have chosen);
        None otherwise, and the question is asked the usual way."""
        engine = self.last
        decided = engine.decide_new(actor, action, resource) if engine is not None else None
        if decided is None or decided[1] != engine.policy_version:  # type: ignore[union-attr]
            return None
        return decided[0]

    def decide_many(self, checks: list[tuple[str, str, str]],
                    past_deadline: Callable[[], bool] = lambda: False) -> list[Decision]:
        for _ in range(self.RETRIES):
            engine, refused, stamp = self.current()
            if engine is None:
                return [refused for _check in checks]  # type: ignore[misc]
            decisions = engine.decide_many(checks, past_deadline)
            revision = max((d.revision for d in decisions), default=-1)
            if any(d.error for d in decisions) or self._consistent(engine, stamp, revision):
                return decisions
        return [_refused("policy changed while deciding", self.policy_version, stamp[1]) for _check in checks]



def start_engine() -> ActiveEngine:
    """A worker's engine, with the active version built now so that first requests need not; a
    version that cannot be built (or no store) leaves the worker up and not ready, never crashes it."""
    from service.store import database
    engine = ActiveEngine()
    try:
        with database.connection_context():
            ready, why = engine.readiness()
        if not ready:
            log.error("worker not ready: %s", why)
    except Exception:
        log.exception("worker not ready: the active policy could not be read")
    return engine


# The process's engine and the pid that built it: a forked child builds its own (one Oso per process).
_process_engine: tuple[int, ActiveEngine] | None = None


def get_engine() -> ActiveEngine:
    """The process's engine: decides with the store's active policy version; built on first use, one
    per process (not shared across forks)."""
    global _process_engine
    if _process_engine is None or _process_engine[0] != os.getpid():
        _process_engine = (os.getpid(), ActiveEngine())
    return _process_engine[1]


def decide(actor: str, action: str, resource: str, *, explain: bool = False, why_not: bool = False) -> Decision:
    return get_engine().decide(actor, action, resource, explain=explain, why_not=why_not)
