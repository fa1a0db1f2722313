"""The tables of a two-phase activation: a version staged for the workers to build, and each worker's
heartbeat naming the staged versions it has built (service/policy/prepare.py).

Neither table holds a fact or decides anything: they only let `authz policy activate` wait until every
live worker is ready for the new version before it switches.
"""
from __future__ import annotations

import peewee as pw

from .models import BaseModel, utcnow


class StagedPolicy(BaseModel):
    """A version about to be activated: its files, for the workers to build before the switch."""

    version = pw.CharField(max_length=16, primary_key=True)
    files = pw.TextField()  # JSON {file name: text}, as in policy_version
    staged_at = pw.DateTimeField(default=utcnow)


class EngineWorker(BaseModel):
    """One serving worker process, as it last reported itself."""

    worker = pw.CharField(max_length=200, primary_key=True)  # host:pid:boot id
    # the worker's clock (UNIX seconds): a heartbeat older than LIVE_SECONDS is gone. Double precision:
    # PostgreSQL's REAL (a FloatField) rounds today's times to 128 s, so a worker looked dead or alive at random
    seen_at = pw.DoubleField()
    prepared = pw.TextField(default="[]")  # JSON list of the staged versions this worker has built


ROLLOUT_MODELS: list[type[BaseModel]] = [StagedPolicy, EngineWorker]


def ensure_heartbeat_precision(db: pw.Database) -> None:
    """A PostgreSQL store made with seen_at REAL (schema v8 as first shipped) gets double precision;
    idempotent, run by every init_schema (SQLite's REAL is already a double)."""
    if not isinstance(db, pw.PostgresqlDatabase):
        return
    found = db.execute_sql("SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
                           "AND table_name = 'engine_worker' AND column_name = 'seen_at'").fetchone()
    if found and found[0] == "real":
        db.execute_sql("ALTER TABLE engine_worker ALTER COLUMN seen_at TYPE double precision")
