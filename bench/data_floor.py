"""The data floor: what the benchmark's questions cost when answered by one indexed query, no policy.

For each check, one `SELECT EXISTS (...)` over the same store answers "is the actor a member of the
resource's organization, or of a partner with an active partnership with it" — the two indexed
reads every decision makes, without roles, grants, the revision stamp or any Python objects. For a
list, one `SELECT` of a partner's active customers. Both run on the driver's own cursor (sqlite3 or
psycopg2), not through peewee, and on PostgreSQL as prepared statements (planned once, as the
service's own statements are): the floor is the database's cost plus the thinnest Python around it.

The answers are not the policy's (no roles, no grants): the floor prices the reads, not the rules.
"""
from __future__ import annotations

import itertools
import time
from typing import Any, Callable

from service.store import database

from .checks import Check

# the owning organization of each resource type the benchmark asks about, as a join from `x`
_OWNER = {
    "organization": ("organization", "x.id"),
    "product": ("product", "x.organization_id"),
    "invoice": ("invoice", "x.organization_id"),
}


def _check_sql(resource_type: str, param: str) -> str:
    table, owner = _OWNER[resource_type]
    return (f"SELECT EXISTS (SELECT 1 FROM {table} x JOIN membership m ON m.organization_id = {owner} "
            f"WHERE x.id = {param} AND m.user_id = {param}) "
            f"OR EXISTS (SELECT 1 FROM {table} x JOIN partnership p ON p.customer_id = {owner} "
            f"AND p.status = 'active' JOIN membership m ON m.organization_id = p.partner_id "
            f"WHERE x.id = {param} AND m.user_id = {param})")


def _list_sql(param: str) -> str:
    return f"SELECT customer_id FROM partnership WHERE partner_id = {param} AND status = 'active'"


_instances = itertools.count()


def _ident(ref: str) -> int:
    return int(ref.split(":", 1)[1])


class DataFloor:
    """Timed floor queries on the bound store's raw driver connection."""

    def __init__(self) -> None:
        self.postgres = database.obj.param != "?"
        self.cursor = database.connection().cursor()
        self.check_sql = {kind: self._statement(f"floor_{kind}", _check_sql(kind, "?"), 4) for kind in _OWNER}
        self.list_sql = self._statement("floor_list", _list_sql("?"), 1)

    def _statement(self, name: str, sql: str, params: int) -> str:
        """What to execute for `sql`: itself (SQLite), or a statement prepared now (PostgreSQL)."""
        if not self.postgres:
            return sql
        numbered = "".join(f"${i}{part}" if i else part for i, part in enumerate(sql.split("?")))
        name = f"{name}_{next(_instances)}"  # unique on the connection, beside earlier DataFloors'
        self.cursor.execute(f"PREPARE {name} AS {numbered}")
        return f"EXECUTE {name}({', '.join(['%s'] * params)})"

    def check(self, actor: str, resource: str) -> bool:
        kind = resource.split(":", 1)[0]
        user, ident = _ident(actor), _ident(resource)
        self.cursor.execute(self.check_sql[kind], (ident, user, ident, user))
        return bool(self.cursor.fetchone()[0])

    def customers(self, partner_id: int) -> list[int]:
        self.cursor.execute(self.list_sql, (partner_id,))
        return [row[0] for row in self.cursor.fetchall()]

    def time_checks(self, checks: list[Check]) -> list[float]:
        """µs per floor query, one per check, timed like decide() is."""
        return _timed([(lambda a=actor, r=resource: self.check(a, r)) for actor, _action, resource in checks])

    def time_list(self, partner_id: int, reps: int) -> list[float]:
        return _timed([lambda: self.customers(partner_id)] * reps)


def _timed(calls: list[Callable[[], Any]]) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    for call in calls:
        t0 = clock()
        call()
        out.append((clock() - t0) / 1000.0)
    return out
