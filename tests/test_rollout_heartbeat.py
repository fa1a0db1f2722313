"""A worker's heartbeat keeps its time to the second on every backend (issue 22, the rollout watcher).

engine_worker.seen_at was a REAL on PostgreSQL: today's UNIX times rounded to 128 s, so an activation
saw a worker that had just reported as dead (or one long gone as live) at random. A store made so is
given double precision by init_schema.
"""
from __future__ import annotations

import time

from service.store import database, init_schema
from service.store.db import is_postgres
from service.store.rollout_models import EngineWorker


def test_a_heartbeat_keeps_its_time_to_the_millisecond(store_url: str) -> None:
    now = time.time()
    EngineWorker.insert(worker="host:1:abc", seen_at=now, prepared="[]").execute()
    assert abs(EngineWorker.get_by_id("host:1:abc").seen_at - now) < 0.001


def test_init_schema_widens_a_coarse_heartbeat_column(store_url: str) -> None:
    if is_postgres():  # as v8 first made it
        database.execute_sql("ALTER TABLE engine_worker ALTER COLUMN seen_at TYPE real")
    init_schema()
    now = time.time()
    EngineWorker.insert(worker="host:2:def", seen_at=now, prepared="[]").execute()
    assert abs(EngineWorker.get_by_id("host:2:def").seen_at - now) < 0.001
