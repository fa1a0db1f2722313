"""Every decision served, recorded once with its decision_id.

Two destinations: the `decision` table (looked up by GET /v1/decisions/{id}, replayed by
`authz replay`), written by one background thread per process, and optionally the decision log
file (decision_log.py), written before the answer leaves.

AUTHZ_DECISION_STORE chooses how the table is written:
- `async` (the default): the answer leaves at once and the writer commits every FLUSH_SECONDS; a kill
  loses what was not committed yet. Records that fail to be written are kept and retried, up to
  AUTHZ_DECISION_BACKLOG_MAX records; at the bound new decisions answer 503 `audit_unavailable`.
  The default because it costs a few percent of the check's throughput where durable costs about a third
  (`make bench`, three runs: docs/performance.md).
- `durable` (`on` means the same): a decision route answers only once its records are
  committed. Requests waiting meanwhile share one commit (group commit): the writer takes every
  record enqueued since its last commit and writes them in one transaction. If that commit fails,
  the waiting requests answer 503 `audit_unavailable` and their records are dropped (their ids were
  never handed out).
- `off`: no table record (measured in docs/audit.md).
AUTHZ_DECISION_UNRECORDED=serve keeps deciding when records cannot be written (each one counted
and logged as lost) instead of answering 503 (`refuse`, the default).
AUTHZ_DECISION_RETENTION_DAYS (default 90, 0 = keep all) prunes the table.
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
from service.store.outage import log_interval_seconds
from service.store.records import records_database


log = logging.getLogger("authz.audit")

FLUSH_SECONDS = 0.2  # async mode: how often the writer commits
PROBE_SECONDS = 1.0  # while writes fail and nothing waits: how often the writer tries the store again
PRUNE_EVERY_SECONDS = 3600
DEFAULT_RETENTION_DAYS = 90.0
DEFAULT_BACKLOG_MAX = 50_000
WAIT_SECONDS = 15.0  # durable mode: the longest a request waits for its commit (below the request deadline)

STORE_VAR, BACKLOG_VAR, UNRECORDED_VAR = "AUTHZ_DECISION_STORE", "AUTHZ_DECISION_BACKLOG_MAX", "AUTHZ_DECISION_UNRECORDED"
DEFAULT_MODE = "async"  # chosen from make bench: docs/audit.md
MODES = {"durable": "durable", "on": "durable", "async": "async", "off": "off"}


class AuditUnavailable(Exception):
    """Decision records cannot be written: the decision is refused (503 audit_unavailable, denied)."""


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


def _setting(name: str, default: str, allowed: dict[str, str] | tuple[str, ...]) -> str:
    value = (os.environ.get(name) or default).strip().lower()
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return allowed[value] if isinstance(allowed, dict) else value


def _positive_int(name: str, default: int) -> int:
    text = os.environ.get(name) or str(default)
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name}={text!r}: expected a whole number of records, at least 1")
    return value


class _Batch:
    """Records enqueued between two commits; durable requests wait on `done`, then read `ok`."""
    __slots__ = ("entries", "done", "ok")

    def __init__(self) -> None:
        self.entries: list[tuple[Any, tuple[Any, ...]]] = []  # (store, column values)
        self.done = threading.Event()
        self.ok = False


class DecisionRecorder:
    def __init__(self, decision_log: DecisionLog, *, to_store: bool, retention_days: float,
                 durable: bool = False, backlog_max: int = DEFAULT_BACKLOG_MAX, serve_unrecorded: bool = False) -> None:
        self.decision_log, self.to_store, self.retention_days = decision_log, to_store, retention_days
        self.durable, self.backlog_max, self.serve_unrecorded = durable, backlog_max, serve_unrecorded
        self.caller_key_id: Callable[[], int | None] = _no_caller
        self._open = _Batch()  # where record() appends
        self._backlog: list[tuple[Any, tuple[Any, ...]]] = []  # async: records whose write failed, retried first
        self._lock = threading.Lock()
        self.writing = threading.Lock()  # held while a batch is written (and while the store is rebound)
        self._wake = threading.Event()
        self._thread: tuple[int, threading.Thread] | None = None
        self._tickets = threading.local()  # durable: the batches the current request thread waits for
        self._last_prune = float("-inf")  # the first flush prunes
        self._closed = False
        self.written = self.lost = self.refused = 0
        self.failing_since: float | None = None
        self.last_error = ""
        self._last_failure_log = float("-inf")
        self.log_every = log_interval_seconds()  # while writes fail: one log line per interval with the counts

    @classmethod
    def from_settings(cls, decision_log: str | None = None) -> "DecisionRecorder":
        mode = _setting(STORE_VAR, DEFAULT_MODE, MODES)
        return cls(DecisionLog.from_setting(decision_log), to_store=mode != "off", durable=mode == "durable",
                   retention_days=float(os.environ.get("AUTHZ_DECISION_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)),
                   backlog_max=_positive_int(BACKLOG_VAR, DEFAULT_BACKLOG_MAX),
                   serve_unrecorded=_setting(UNRECORDED_VAR, "refuse", ("refuse", "serve")) == "serve")

    @property
    def mode(self) -> str:
        return "off" if not self.to_store else ("durable" if self.durable else "async")

    def record(self, endpoint: str, decision_id: str, *, actor: Any, action: Any, resource: Any, allowed: bool,
               reasons: Any, policy_version: str, revision: int, latency_ms: float,
               moment: dt.datetime | None = None, **detail: Any) -> None:
        """Record one decision served. Raises AuditUnavailable (async mode, backlog at its bound) when the
        decision must be refused; durable mode waits in await_recorded()."""
        if not self.to_store and not self.decision_log.enabled:
            return  # both destinations off
        now = utcnow()
        row = {"decision_id": decision_id, "decided_at": now, "moment": moment or now,
               "key_id": self.caller_key_id(), "endpoint": endpoint, "actor": actor, "action": action,
               "resource": resource, "allowed": bool(allowed), "reasons": reasons,
               "policy_version": policy_version, "revision": int(revision), "detail": detail}
        if self.to_store:
            # encoded here, not by the writer thread: the writer then holds the GIL only briefly
            self._enqueue((records_database(), _stored(row)))  # the primary when deciding on a standby
        try:
            if self.decision_log.enabled:
                self.decision_log.write(_plain(row, latency_ms))
        except Exception:
            log.exception("decision %s not written to the decision log file", decision_id)

    def _enqueue(self, entry: tuple[Any, tuple[Any, ...]]) -> None:
        with self._lock:
            if self._closed:  # stopped: its last flush may be over, nothing would write this record
                raise AuditUnavailable("the decision recorder is stopped")
            if not self.durable and len(self._backlog) + len(self._open.entries) >= self.backlog_max:
                if not self.serve_unrecorded:
                    raise AuditUnavailable(f"{len(self._backlog) + len(self._open.entries)} decision records "
                                           f"wait to be written ({BACKLOG_VAR}={self.backlog_max})")
                self.lost += 1  # deciding unrecorded, as the setting asks: counted, logged by the writer
                return
            batch = self._open
            batch.entries.append(entry)
        if self.durable:
            tickets = getattr(self._tickets, "batches", None)
            if tickets is None:
                tickets = self._tickets.batches = []
            if not tickets or tickets[-1] is not batch:
                tickets.append(batch)
            self._wake.set()
        self._ensure_writer()

    def forget_waits(self) -> None:
        """Start a request: no batch of an earlier request on this thread is waited for."""
        self._tickets.batches = []

    def await_recorded(self, timeout: float = WAIT_SECONDS) -> bool:
        """Durable mode: wait until the records this thread enqueued are committed; whether they were
        (True in async mode and when nothing was enqueued)."""
        batches = getattr(self._tickets, "batches", None)
        if not batches:
            return True
        self._tickets.batches = []
        deadline = time.monotonic() + timeout
        return all(batch.done.wait(max(deadline - time.monotonic(), 0)) and batch.ok for batch in batches)

    def status(self) -> dict[str, Any]:
        """What readiness and the metrics show."""
        with self._lock:
            waiting = len(self._backlog) + len(self._open.entries)
        return {"mode": self.mode, "writing": self.failing_since is None, "waiting": waiting,
                "written": self.written, "lost": self.lost, "refused": self.refused, "error": self.last_error}

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
            # async: commit every FLUSH_SECONDS; durable: at once when woken by a record (or, while
            # writes fail, every PROBE_SECONDS to find out whether they work again)
            self._wake.wait(PROBE_SECONDS if self.durable else FLUSH_SECONDS)
            self._wake.clear()
            if self._closed:
                break
            try:
                with self.writing:  # a rebind of the store waits for this, and this for a rebind
                    try:
                        self._write_pending()
                    finally:
                        if not database.is_closed():
                            database.close()  # this thread's connection back to the pool
            except Exception:
                pass  # counted and logged by _failed; retried on the next round

    def flush(self) -> int:
        """Write every pending record to the table now; how many (raises if the write fails)."""
        with self.writing:
            return self._write_pending()

    def _write_pending(self) -> int:
        with self._lock:
            batch, self._open = self._open, _Batch()
            rows, self._backlog = self._backlog + batch.entries, []
        try:
            if rows:
                for db, values in _by_database(rows).items():
                    _write_batch(db, values)
            elif self.failing_since is not None:
                _probe()  # nothing waits: find out whether the store takes writes again
        except Exception as exc:
            self._failed(batch, rows, exc)
            batch.done.set()
            raise
        batch.ok = True  # before done: a waiter reads ok once done is set
        batch.done.set()
        self._succeeded(len(rows))
        self._prune_if_due()
        return len(rows)

    def _failed(self, batch: _Batch, rows: list[tuple[Any, tuple[Any, ...]]], exc: Exception) -> None:
        with self._lock:
            if self.durable:
                # the waiting requests answer 503 (or, serving unrecorded, count their records lost)
                if self.serve_unrecorded:
                    self.lost += len(batch.entries)
                else:
                    self.refused += len(batch.entries)
            else:
                self._backlog = rows + self._backlog  # kept for the next try (inserts ignore duplicates)
        now = time.monotonic()
        first = self.failing_since is None
        if first:
            self.failing_since = now
        self.last_error = f"{type(exc).__name__}: {exc}".strip()[:300]
        if first:
            log.error("decision records cannot be written (%s mode); readiness answers 503", self.mode, exc_info=exc)
            self._last_failure_log = now
        elif now - self._last_failure_log >= self.log_every:
            self._last_failure_log = now
            self._log_counts("decision records still cannot be written")

    def _succeeded(self, count: int) -> None:
        self.written += count
        if self.failing_since is not None:
            self._log_counts(f"decision records written again after {time.monotonic() - self.failing_since:.1f} s")
            self.failing_since, self.last_error = None, ""

    def _log_counts(self, what: str) -> None:
        state = self.status()
        log.error("%s: %d waiting, %d lost, %d refused (answered 503) so far; last error: %s", what,
                  state["waiting"], state["lost"], state["refused"], self.last_error or "none")

    def _prune_if_due(self) -> None:
        if not self.to_store or self.retention_days <= 0 or time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return  # records off: the table is not this recorder's (on a standby it cannot even be pruned)
        self._last_prune = time.monotonic()
        prune_decisions(utcnow() - dt.timedelta(days=self.retention_days))

    def close(self) -> None:
        """Stop the writer, wait for a write it has under way, and flush what is pending (at exit, and
        before the store's pool is closed). What cannot be written is counted in one log line."""
        with self._lock:  # a record enqueued before this is written by the flush below; after it, refused
            self._closed = True
        self._wake.set()
        thread = self._thread[1] if self._thread is not None and self._thread[0] == os.getpid() else None
        # a thread another request created but has not started yet sees _closed when it starts, and ends
        if thread is not None and thread is not threading.current_thread() and thread.ident is not None:
            thread.join(timeout=10)
        try:
            self.flush()
        except Exception as exc:
            with self._lock:
                unwritten, self._backlog = len(self._backlog), []
            self.lost += unwritten
            log.error("stopping: %d decision records could not be written and are lost (%d lost, %d refused "
                      "before); %s: %s", unwritten, self.lost - unwritten, self.refused, type(exc).__name__, exc)
        self.decision_log.close()


def _probe() -> None:
    """A write the store must take for records to be written (a row inserted and deleted, one commit)."""
    db = records_database()
    probe_id = "00000000-0000-0000-0000-000000000000"
    with db.atomic():
        _write_rows(db, [(probe_id, str(utcnow()), str(utcnow()), None, "probe", None, None, None, False, "[]",
                          "none", 0, "{}")])
        db.execute_sql(f"DELETE FROM decision WHERE decision_id = {db.param}", [probe_id])


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
    try:
        with db.atomic():  # one commit for the whole batch (group commit)
            _write_rows(db, rows)
    finally:
        if db is not database.obj and not db.is_closed():
            db.close()


def _write_rows(db: Any, rows: list[tuple[Any, ...]]) -> None:
    one_row = f"({', '.join([db.param] * len(COLUMNS))})"
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        db.execute_sql(f"INSERT INTO decision ({', '.join(COLUMNS)}) VALUES {', '.join([one_row] * len(chunk))} "
                       "ON CONFLICT (decision_id) DO NOTHING", [value for row in chunk for value in row])


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


def records_to_store() -> bool:
    """Whether the settings (AUTHZ_DECISION_STORE) write decision records to the store; builds no recorder."""
    return _setting(STORE_VAR, DEFAULT_MODE, MODES) != "off"


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
