"""What one decision costs the database, measured: statements, rows read, and (PostgreSQL on this
machine) the server process's CPU time. The basis of docs/scaling.md's capacity figures.

- statements: every statement the engine runs (service/store/fast_sql.StatementCounter);
- rows read (PostgreSQL): the change of pg_stat_user_tables' idx_tup_fetch + seq_tup_read over the
  decisions, as PostgreSQL itself counts them (pg_stat_force_next_flush, PostgreSQL 15+);
- server CPU (PostgreSQL on 127.0.0.1): user+system time of this connection's backend process
  (/proc/<pg_backend_pid()>/schedstat, nanoseconds on a CPU) over the decisions; PostgreSQL on
  another host: not measured.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.store import database, is_postgres
from service.store.fast_sql import StatementCounter

from .checks import Check

_ROWS_READ = "SELECT coalesce(sum(coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0)), 0) FROM pg_stat_user_tables"


@dataclass
class Cost:
    decisions: int
    statements: float
    rows: float | None = None
    server_cpu_us: float | None = None

    def text(self) -> str:
        parts = [f"{self.statements:.2f} statements"]
        if self.rows is not None:
            parts.append(f"{self.rows:.2f} rows read")
        if self.server_cpu_us is not None:
            parts.append(f"{self.server_cpu_us:.0f} µs PostgreSQL CPU")
        return ", ".join(parts) + f" per decision ({self.decisions} decisions)"


def _rows_read() -> int | None:
    if not is_postgres():
        return None
    database.execute_sql("SELECT pg_stat_force_next_flush()")
    database.execute_sql("SELECT pg_stat_clear_snapshot()")
    return int(database.execute_sql(_ROWS_READ).fetchone()[0])


def _backend_cpu_ns() -> int | None:
    if not is_postgres():
        return None
    pid = database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])  # ns on a CPU
    except (OSError, ValueError, IndexError):
        return None  # PostgreSQL on another host (or not readable): not measured


def measure(engine: Any, checks: list[Check]) -> Cost:
    """Decide every check once on `engine`, counting what the database did for them."""
    rows_before, cpu_before = _rows_read(), _backend_cpu_ns()
    with StatementCounter() as counted:
        for actor, action, resource in checks:
            engine.decide(actor, action, resource)
    rows_after, cpu_after = _rows_read(), _backend_cpu_ns()
    n = len(checks)
    cost = Cost(n, counted.count / n)
    if rows_before is not None and rows_after is not None:
        # the statements that read the counters are not decisions: pg_stat_user_tables is a view over
        # catalog tables, which pg_stat_user_tables itself does not count
        cost.rows = (rows_after - rows_before) / n
    if cpu_before is not None and cpu_after is not None:
        cost.server_cpu_us = (cpu_after - cpu_before) / 1000 / n
    return cost
