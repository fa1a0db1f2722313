"""What the service's own work costs per `POST /v1/check`, beside the floor app, without a server.

Both Flask apps are called through WSGI in this process (no sockets, no gunicorn), on the demo
world in a temporary SQLite store, with every answer cached (the decision is a cache hit): the
difference is the service's request work — the key check with the store's stamp, strict parsing
and validation, the decision, metrics, the answer. The service is measured as served (the decision
routes on the thin path, service/api/fast_path.py) and with them left to Flask (`fast_path=False`). Under gunicorn with 8 client processes on two
cores every µs of it costs more (caches, context switches), so the HTTP ratios of `make bench`
follow this difference. With 4 threads (as a gthread worker serves), locks and GIL hand-offs show.

    .venv/bin/python -m bench.request_cost [--postgres URL]   (that database's public schema is WIPED)

With --postgres the store is that database: the service's figure then holds the stamp's round trip
(a cached check's one statement) and the floor app's none, and the CPU time beside the wall time says
how much of the round trip is the worker's own work and how much is waiting for the server.
"""
from __future__ import annotations

import io
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from werkzeug.test import EnvironBuilder

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [{"actor": f"user:{u}", "action": "access_account", "resource": f"organization:{o}"}
             for u in range(1, 6) for o in range(1, 8)]


def _environs(headers: dict[str, str]) -> list[tuple[dict[str, Any], bytes]]:
    out = []
    for question in QUESTIONS:
        raw = json.dumps(question).encode()
        environ = EnvironBuilder(path="/v1/check", method="POST", data=raw,
                                 headers={**headers, "Content-Type": "application/json"}).get_environ()
        out.append((environ, raw))
    return out


def _per_request_us(app: Callable, environs: list[tuple[dict[str, Any], bytes]], count: int) -> float:
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        statuses.append(status)

    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(count):
        environ, raw = environs[i % len(environs)]
        environ = dict(environ, **{"wsgi.input": io.BytesIO(raw)})
        for _ in app(environ, start_response):
            pass
    elapsed = time.perf_counter() - started
    if not statuses[-1].startswith("200"):
        raise SystemExit(f"POST /v1/check answered {statuses[-1]}")
    _cpu_us.append((time.process_time() - cpu_started) / count * 1e6)
    return elapsed / count * 1e6


_cpu_us: list[float] = []  # this process's CPU per request of each _per_request_us run (one thread: its own)


def _threaded_us(app: Callable, environs: list[tuple[dict[str, Any], bytes]], count: int, threads: int) -> float:
    from service.store import database

    def work() -> None:
        try:
            _per_request_us(app, environs, count)
        finally:
            if not database.is_closed():
                database.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.perf_counter() - started) / (count * threads) * 1e6


def _store_url(postgres: str | None) -> str:
    if not postgres:
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='request-cost-')) / 'authz.db'}"
    from service.store.db import make_database
    db = make_database(postgres)
    db.execute_sql("DROP SCHEMA public CASCADE")
    db.execute_sql("CREATE SCHEMA public")
    db.close()
    return postgres


def main() -> None:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m bench.request_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", default=None, help="this PostgreSQL as the store (WIPED)")
    args = parser.parse_args()
    os.environ.setdefault("AUTHZ_DECISION_LOG", "off")
    os.environ.setdefault("AUTHZ_DECISION_STORE", "off")
    from service.api import create_app
    from service.api.auth import create_key
    from service.store import init_schema, open_database
    from service.store.world import load_world, read_world_file

    from .floor_app import create_app as create_floor_app
    from .run import activate_repository_policy

    url = _store_url(args.postgres)
    open_database(url)
    init_schema()
    load_world(read_world_file(ROOT / "data" / "demo.yaml"))
    activate_repository_policy()
    _row, key = create_key("request-cost", "check")
    through_flask = create_app({"DATABASE_URL": url}, fast_path=False)  # the decision routes left to Flask
    service = create_app({"DATABASE_URL": url})  # as a worker starts: on a prepared store
    floor = create_floor_app()
    keyed = _environs({"Authorization": f"Bearer {key}"})
    apps = {"service": (service.wsgi_app, keyed), "service through Flask": (through_flask.wsgi_app, keyed),
            "floor app": (floor.wsgi_app, _environs({}))}
    for app, environs in apps.values():
        _per_request_us(app, environs, 1000)  # warm: every answer cached, every code path loaded
    for threads in (1, 4):
        figures: dict[str, list[float]] = {name: [] for name in apps}
        cpu: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(5):  # alternate, so that other load weighs on both alike
            for name, (app, environs) in apps.items():
                figures[name].append(_threaded_us(app, environs, 2000, threads) if threads > 1
                                     else _per_request_us(app, environs, 2000))
                cpu[name].append(_cpu_us[-1])
        service_us, flask_us, floor_us = (statistics.median(figures[name]) for name in apps)
        if threads == 1:
            print("1 thread, CPU per request: " + ", ".join(f"{name} {statistics.median(cpu[name]):.0f} µs"
                                                             for name in apps))
        print(f"{threads} thread{'s' if threads > 1 else ''}: service {service_us:.0f} µs per request "
              f"({flask_us:.0f} µs through Flask's request machinery), floor app {floor_us:.0f} µs; "
              f"the service's own work {service_us - floor_us:.0f} µs ({flask_us - floor_us:.0f} through Flask), "
              f"floor ÷ service {floor_us / service_us:.2f} ({floor_us / flask_us:.2f} through Flask)")


if __name__ == "__main__":
    main()
