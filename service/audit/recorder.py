"""Every decision served, recorded once with its decision_id.

Two destinations: the `decision` table (looked up by GET /v1/decisions/{id}, replayed
by `authz replay`), written in batches by one background thread per process so the
request never waits for it, and optionally the decision log file (decision_log.py),
written before the answer leaves. AUTHZ_DECISION_STORE=off turns the table off
(measured in docs/audit.md); AUTHZ_DECISION_RETENTION_DAYS (default 90, 0 = keep all)
prunes the table.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import logging
import os
import random
import threading
import time
from typing import Any, Callable, Iterator

import pydantic_core

from service.decision_log import DecisionLog
from service.store.audit_models import DecisionRecord
from service.store.db import database, guard_rebind
from service.store.models import utcnow
from service.store.records import records_database


log = logging.getLogger("authz.audit")

FLUSH_SECONDS = 0.2
PRUNE_EVERY_SECONDS = 3600
DEFAULT_RETENTION_DAYS = 90.0


def new_decision_id() -> str:
    """A UUID whose first 48 bits are the time in ms (the layout of UUIDv7): ids recorded one after the
    other land at the end of the table's primary-key index instead of at random places in it."""
    millis = time.time_ns() // 1_000_000
    # random's generator is seeded from os.urandom, again in every forked worker; an id names a record
    # and guards nothing, and a system call per id would hand the GIL to another thread
    rand = random.getrandbits(74)
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & (2**62 - 1))
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _json(value: Any) -> str:
    """JSON text for a table column (pydantic's serializer: a fifth of the json module's time)."""
    return pydantic_core.to_json(value, fallback=str).decode()


def _no_caller() -> int | None:
    return None


class DecisionRecorder:
    def __init__(self, decision_log: DecisionLog, *, to_store: bool, retention_days: float) -> None:
        self.decision_log, self.to_store, self.retention_days = decision_log, to_store, retention_days
        self.caller_key_id: Callable[[], int | None] = _no_caller
        self._pending: list[tuple[Any, tuple[Any, ...]]] = []  # (store, column values)
        self._lock = threading.Lock()
        self.writing = threading.Lock()  # held while a batch is written (and while the store is rebound)
        self._wake = threading.Event()
        self._thread: tuple[int, threading.Thread] | None = None
        self._last_prune = float("-inf")  # the first flush prunes
        self._closed = False

    @classmethod
    def from_settings(cls, decision_log: str | None = None) -> "DecisionRecorder":
        return cls(DecisionLog.from_setting(decision_log),
                   to_store=os.environ.get("AUTHZ_DECISION_STORE", "on").strip().lower() != "off",
                   retention_days=float(os.environ.get("AUTHZ_DECISION_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)))

    def record(self, endpoint: str, decision_id: str, *, actor: Any, action: Any, resource: Any, allowed: bool,
               reasons: Any, policy_version: str, revision: int, latency_ms: float,
               moment: dt.datetime | None = None, **detail: Any) -> None:
        """Record one decision served (never raises: a lost audit record must not turn into a 500)."""
        if not self.to_store and not self.decision_log.enabled:
            return  # both destinations off
        now = utcnow()
        row = {"decision_id": decision_id, "decided_at": now, "moment": moment or now,
               "key_id": self.caller_key_id(), "endpoint": endpoint, "actor": actor, "action": action,
               "resource": resource, "allowed": bool(allowed), "reasons": reasons,
               "policy_version": policy_version, "revision": int(revision), "detail": detail}
        try:
            if self.decision_log.enabled:
                self.decision_log.write(_plain(row, latency_ms))
        except Exception:
            log.exception("decision %s not written to the decision log file", decision_id)
        if self.to_store:
            # encoded here, not by the writer thread: the writer then holds the GIL only briefly
            entry = (records_database(), _stored(row))  # the primary when deciding on a standby
            with self._lock:
                self._pending.append(entry)
            self._ensure_writer()

    # -- the table writer -------------------------------------------------------

    def _ensure_writer(self) -> None:
        if self._thread is not None and self._thread[0] == os.getpid():
            return
        with self._lock:  # a forked worker starts its own thread (threads do not survive fork)
            if self._thread is None or self._thread[0] != os.getpid():
                thread = threading.Thread(target=self._run, name="decision-writer", daemon=True)
                self._thread = (os.getpid(), thread)
                thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            try:
                with self.writing:  # a rebind of the store waits for this, and this for a rebind
                    try:
                        self._flush()
                        self._prune_if_due()
                    finally:
                        if not database.is_closed():
                            database.close()  # this thread's connection back to the pool
            except Exception:
                log.exception("decision records not written yet; retrying")

    def flush(self) -> int:
        """Write every pending record to the table now; how many."""
        with self.writing:
            return self._flush()

    def _flush(self) -> int:
        with self._lock:
            rows, self._pending = self._pending, []
        try:
            for db, batch in _by_database(rows).items():
                _write_batch(db, batch)
        except Exception:
            with self._lock:
                self._pending = rows + self._pending  # kept for the next try (inserts ignore duplicates)
            raise
        return len(rows)

    def _prune_if_due(self) -> None:
        if self.retention_days <= 0 or time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        prune_decisions(utcnow() - dt.timedelta(days=self.retention_days))

    def close(self) -> None:
        """Stop the writer, wait for a write it has under way, and flush what is pending (at exit)."""
        self._closed = True
        self._wake.set()
        thread = self._thread[1] if self._thread is not None and self._thread[0] == os.getpid() else None
        # a thread another request created but has not started yet sees _closed when it starts, and ends
        if thread is not None and thread is not threading.current_thread() and thread.ident is not None:
            thread.join(timeout=5)
        try:
            self.flush()
        except Exception:
            log.exception("decision records lost at exit")
        self.decision_log.close()


def _by_database(entries: list[tuple[Any, tuple[Any, ...]]]) -> dict[Any, list[tuple[Any, ...]]]:
    """Each record goes to the store it was decided on (tests and tools rebind the store)."""
    grouped: dict[Any, list[tuple[Any, ...]]] = {}
    for db, values in entries:
        grouped.setdefault(db, []).append(values)
    return grouped


# One plain multi-row INSERT per chunk: building peewee model inserts cost more than the insert itself, and
# executemany() would hand the GIL back and forth with the request thread once per row.
COLUMNS = ("decision_id", "decided_at", "moment", "key_id", "endpoint", "actor", "action", "resource", "allowed",
           "reasons", "policy_version", "revision", "detail")
CHUNK_ROWS = 500  # 6,500 parameters: under SQLite's limit of 32,766


def _write_batch(db: Any, rows: list[tuple[Any, ...]]) -> None:
    one_row = f"({', '.join([db.param] * len(COLUMNS))})"
    with db.atomic():
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start:start + CHUNK_ROWS]
            db.execute_sql(f"INSERT INTO decision ({', '.join(COLUMNS)}) VALUES {', '.join([one_row] * len(chunk))} "
                           "ON CONFLICT (decision_id) DO NOTHING", [value for row in chunk for value in row])
    if db is not database.obj and not db.is_closed():
        db.close()


def prune_decisions(before: dt.datetime) -> int:
    return DecisionRecord.delete().where(DecisionRecord.decided_at < before).execute(records_database())


def _stored(row: dict[str, Any]) -> tuple[Any, ...]:
    """The row's column values, as the table stores them (times as peewee writes them, JSON as text)."""
    decided_at = str(row["decided_at"])
    moment = decided_at if row["moment"] is row["decided_at"] else str(row["moment"])  # a present decision's
    return (row["decision_id"], decided_at, moment, row["key_id"], row["endpoint"],
            _text(row["actor"]), _text(row["action"]), _text(row["resource"]), bool(row["allowed"]),
            _json(row["reasons"]), row["policy_version"], row["revision"], _json(row["detail"]) if row["detail"] else "{}")


def _text(value: Any) -> str | None:
    return value if value is None else str(value)


def _plain(row: dict[str, Any], latency_ms: float) -> dict[str, Any]:
    """The record as the log file shows it, its fields in the documented order (docs/api.md), times
    in RFC 3339."""
    decided_at = row["decided_at"]
    time_text = decided_at.isoformat(timespec="milliseconds") + "Z"
    moment = row["moment"]
    return {"time": time_text,
            "moment": time_text if moment is decided_at else moment.isoformat(timespec="milliseconds") + "Z",
            **{key: row[key] for key in _LOGGED}, "latency_ms": round(latency_ms, 3), **row["detail"]}


_LOGGED = ("decision_id", "key_id", "endpoint", "actor", "action", "resource", "allowed", "reasons",
           "policy_version", "revision")


_recorder: DecisionRecorder | None = None


def get_recorder() -> DecisionRecorder:
    """The process's recorder (from the environment unless configure() set one)."""
    if _recorder is None:
        configure()
    return _recorder  # type: ignore[return-value]


def configure(decision_log: str | None = None) -> DecisionRecorder:
    """Replace the process's recorder (flushing the previous one)."""
    global _recorder
    if _recorder is not None:
        _recorder.close()
    _recorder = DecisionRecorder.from_settings(decision_log)
    return _recorder


def shutdown() -> None:
    """Close the process's recorder (its writer thread stopped, its records written); the next
    record makes a new one from the settings."""
    global _recorder
    if _recorder is not None:
        _recorder.close()
    _recorder = None


@guard_rebind
@contextlib.contextmanager
def _no_write_under_way() -> Iterator[None]:
    """While the store is rebound: no batch of records is being written (records of the old store are
    written to it later, on a connection of their own)."""
    recorder = _recorder
    if recorder is None:
        yield
        return
    with recorder.writing:
        yield


@atexit.register
def _flush_at_exit() -> None:
    if _recorder is not None:
        _recorder.close()


def record(endpoint: str, decision_id: str, **fields: Any) -> None:
    get_recorder().record(endpoint, decision_id, **fields)


def record_decision(endpoint: str, actor: str, action: str, resource: str, decision: Any,
                    started: float, **detail: Any) -> str:
    """Record an engine Decision made for `endpoint`; its new decision_id."""
    decision_id = new_decision_id()
    record(endpoint, decision_id, actor=actor, action=action, resource=resource, allowed=decision.allowed,
           reasons=decision.reasons, policy_version=decision.policy_version, revision=decision.revision,
           latency_ms=(time.perf_counter() - started) * 1000, **({"error": True} if decision.error else {}),
           **detail)
    return decision_id
