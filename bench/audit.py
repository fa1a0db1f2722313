"""`python -m bench.audit`: what the audit costs (issue 11).

1. POST /v1/check throughput with decision recording on (the default: the `decision`
   table written by a background thread per worker) and off (AUTHZ_DECISION_STORE=off),
   the two servers side by side on the quick bench world, in interleaved rounds so load
   from anything else on the machine weighs on both alike.
2. Bytes of history per change: the growth of the history tables (and the revision
   moments) over N changes of one kind, on SQLite (page count) and, with
   DATABASE_URL=postgresql://..., on PostgreSQL (pg_total_relation_size).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

from service.store import bump_revision, database, init_schema, open_database
from service.store import models as m
from service.store.history import HISTORY_TABLES, history_table
from service.store.world import load_world, read_world_file

from . import client, servers
from .checks import distinct_checks, zipf_sequence
from .run import QUICK, check_body, create_key, load_into
from .world import generate

ROOT = Path(__file__).resolve().parents[1]


def throughput(port: int, seconds: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp_dir:
        tmp = Path(tmp_dir)
        db_path = tmp / "base.db"
        world = generate(QUICK.partners, QUICK.customers_per_partner, QUICK.products_per_customer, seed=42)
        refs, _ = load_into(f"sqlite:///{db_path}", world)
        mix = zipf_sequence(distinct_checks(world, refs, 200, seed=7), 5000, seed=13)
        database.close()
        key, why = create_key(f"sqlite:///{db_path}")
        headers = {"Authorization": f"Bearer {key}"}
        bodies = [check_body(c) for c in mix]
        base = {"DATABASE_URL": f"sqlite:///{db_path}", "AUTHZ_DECISION_LOG": "off"}
        with servers.gunicorn("service.wsgi:app", port, tmp / "on.log", base), \
                servers.gunicorn("service.wsgi:app", port + 1, tmp / "off.log",
                                 {**base, "AUTHZ_DECISION_STORE": "off"}):
            timings = {"on": client.Timing(), "off": client.Timing()}
            for r in range(rounds):
                for name in (("on", "off") if r % 2 == 0 else ("off", "on")):
                    timings[name].merge(client.load(port if name == "on" else port + 1, "/v1/check", bodies,
                                                    headers, connections=8, seconds=seconds / rounds,
                                                    warmup=1.0 if r == 0 else 0.2))
        open_database(f"sqlite:///{db_path}")
        recorded = database.execute_sql("SELECT COUNT(*) FROM decision").fetchone()[0]
        database.close()
        print(f"decision records written by the server with recording on: {recorded} "
              f"(its {timings['on'].ok} answers plus warm-up)")
        figures = {}
        for name, timing in timings.items():
            assert not timing.failure(), timing.failure()
            figures[name] = (timing.ok / timing.seconds, statistics.median(timing.latencies_us))
            print(f"recording {name:3}: {figures[name][0]:7.0f} requests/s, median {figures[name][1]:.0f} µs "
                  f"({timing.ok} requests)")
        print(f"on/off throughput: {figures['on'][0] / figures['off'][0]:.3f}")


def in_process(requests: int, rounds: int) -> None:
    """POST /v1/check through Flask's test client on the demo world, one process, recording switched on
    and off on the same app between interleaved rounds: the CPU the recording adds to a request."""
    from service.api import create_app
    from service.api.auth import create_key as new_key
    with tempfile.TemporaryDirectory(prefix="bench-audit-inproc-") as tmp_dir:
        url = f"sqlite:///{tmp_dir}/demo.db"
        open_database(url)
        init_schema()
        refs = load_world(read_world_file(ROOT / "data" / "demo.yaml"))
        app = create_app({"DATABASE_URL": url, "DECISION_LOG": "off"})
        recorder, client_ = app.extensions["decision_recorder"], app.test_client()
        headers = {"Authorization": f"Bearer {new_key('bench', 'check')[1]}"}
        bodies = [{"actor": refs[a], "action": "access_account", "resource": refs[o]}
                  for a in ("anna", "carla", "dirk", "paula") for o in ("baeckerei", "anwalt", "verein", "cafe")]
        rates: dict[bool, list[float]] = {True: [], False: []}
        for r in range(rounds * 2):
            recorder.to_store = r % 2 == 0
            started = time.perf_counter()
            for i in range(requests):
                client_.post("/v1/check", json=bodies[i % len(bodies)], headers=headers)
            rates[recorder.to_store].append(requests / (time.perf_counter() - started))
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        print(f"in-process, recording on: {on:.0f} checks/s, off: {off:.0f} checks/s (medians of {rounds} rounds "
              f"of {requests}); on/off {on / off:.3f}")
        database.close()


def _size() -> int:
    tables = [history_table(t) for t in HISTORY_TABLES] + ["revision_moment"]
    if database.obj.param == "%s":
        return sum(database.execute_sql("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0] for t in tables)
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = database.execute_sql("PRAGMA page_size").fetchone()[0]
    # dbstat needs a compile option; the whole file's growth over history-only writes is the same figure
    return database.execute_sql("PRAGMA page_count").fetchone()[0] * page_size


def _changes() -> dict[str, Callable[[int], None]]:
    def role(i: int) -> None:
        m.Membership.update(billing=not bool(i % 2)).where(m.Membership.id == 3).execute()

    def access(i: int) -> None:
        m.Partnership.update(access="full" if i % 2 else "limited", payment_mode="customer") \
            .where(m.Partnership.id == 3).execute()

    def grant(i: int) -> None:
        m.PartnershipProduct.update(technical=bool(i % 2)).where(m.PartnershipProduct.id == 1).execute()
    return {"membership billing right": role, "partnership access": access, "granted product right": grant}


def history_bytes(url: str, changes: int) -> None:
    open_database(url)
    if database.obj.param == "%s":
        database.execute_sql("DROP SCHEMA public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
    init_schema()
    load_world(read_world_file(ROOT / "data" / "demo.yaml"))
    for label, change in _changes().items():
        before = _size()
        for i in range(changes):
            with database.atomic():
                change(i)
                bump_revision()
        per_change = (_size() - before) / changes
        print(f"{url.split(':')[0]:10} {label:26}: {per_change:6.0f} bytes of history per change ({changes} changes)")
    database.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8321)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--changes", type=int, default=2000)
    args = parser.parse_args()
    in_process(2000, 5)
    throughput(args.port, args.seconds, args.rounds)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp_dir:
        history_bytes(f"sqlite:///{tmp_dir}/history.db", args.changes)
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        history_bytes(os.environ["DATABASE_URL"], args.changes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
