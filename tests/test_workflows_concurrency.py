"""Reliability of the workflows on SQLite and PostgreSQL.

- Race: 8 threads accept the same invitation at once, 20 times: exactly one
  partnership and one acceptance event each time, every other answer a 409.
- The same over HTTP against 2 server processes (gunicorn, 4 threads each).
- Freshness: a change or an end made through one server process is seen by the
  very first decision asked of the other.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from live_servers import free_port, request, stop, wait_ready as _wait_ready
from service import workflows as wf
from service.api.auth import create_key
from service.policy.active import get_engine
from service.store import database
from service.store import models as m

ROUNDS = 20
THREADS = 8
PORTS = (free_port(), free_port())  # not fixed: test runs side by side must not answer each other
ROOT = Path(__file__).resolve().parents[1]
FULL = {"access": "full", "payment_mode": "customer"}


def num(ref: str) -> int:
    return int(ref.split(":")[1])


def race(n: int, fn: Callable[[], Any]) -> list[Any]:
    """Run fn in n threads released together; each result is a value or the exception raised."""
    barrier = threading.Barrier(n)

    def one() -> Any:
        barrier.wait()
        try:
            return fn()
        except Exception as exc:  # the outcome under test, not an error of the test
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: one(), range(n)))


def acceptance_counts(inv: str) -> tuple[int, int]:
    partnerships = m.Invitation.get_by_id(num(inv)).partnership_id
    linked = m.Partnership.select().where(m.Partnership.id == partnerships).count() if partnerships else 0
    accepted = m.Event.select().where(m.Event.kind == "invitation.accepted", m.Event.subject == inv).count()
    return linked, accepted


def test_concurrent_accepts_in_threads_make_exactly_one_partnership(demo: dict[str, str]) -> None:
    d = demo
    get_engine()  # build the process's Oso before the threads start (its initialisation is not thread-safe)

    def accept(inv: str) -> Callable[[], Any]:
        def run() -> Any:
            database.connect(reuse_if_open=True)  # peewee connections are per thread
            try:
                return wf.accept_invitation(d["berta"], inv)
            finally:
                database.close()
        return run

    for _ in range(ROUNDS):
        inv = wf.create_invitation(d["paula"], d["pixelhaus"], d["baeckerei"], FULL)["id"]
        results = race(THREADS, accept(inv))
        wins = [r for r in results if isinstance(r, dict)]
        assert len(wins) == 1, results
        assert all(isinstance(r, wf.Conflict) for r in results if not isinstance(r, dict)), \
            [repr(r) for r in results if not isinstance(r, (dict, wf.Conflict))]
        assert acceptance_counts(inv) == (1, 1)
        active = m.Partnership.select().where(m.Partnership.partner == num(d["pixelhaus"]),
                                              m.Partnership.customer == num(d["baeckerei"]),
                                              m.Partnership.status == "active").count()
        assert active == 1
        wf.end_partnership(d["paula"], wins[0]["partnership"])  # so the next round may invite again
    assert m.Partnership.select().where(m.Partnership.partner == num(d["pixelhaus"]),
                                        m.Partnership.customer == num(d["baeckerei"])).count() == ROUNDS


# -- two server processes -------------------------------------------------------------------------

def _request(port: int, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, Any]:
    return request(f"http://127.0.0.1:{port}", method, path, key, body)


@pytest.fixture
def servers(store_url: str, demo: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Two gunicorn server processes (1 worker, 4 threads each) on the test store; their keys."""
    _, write_key = create_key("race-writer", "write")
    _, check_key = create_key("race-checker", "check")
    database.close()  # the servers open their own connections; ours is not carried across
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    env = {**os.environ, "DATABASE_URL": store_url}
    procs = [subprocess.Popen([gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
                               "--worker-class", "gthread", "--log-level", "warning", "service.wsgi:app"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for port in PORTS]
    try:
        deadline = time.monotonic() + 30
        for port, proc in zip(PORTS, procs):
            _wait_ready(port, proc, deadline)
        database.connect(reuse_if_open=True)
        yield {"write": write_key, "check": check_key, "demo": demo}
    finally:
        stop(procs)


def test_concurrent_accepts_across_two_server_processes(servers: dict[str, Any]) -> None:
    d, key = servers["demo"], servers["write"]
    for _ in range(ROUNDS):
        status, inv = _request(PORTS[0], "POST", "/v1/invitations", key, {
            "acting_user": d["paula"], "partner": d["pixelhaus"], "customer": d["baeckerei"], "requested": FULL})
        assert status == 201, inv
        path = f"/v1/invitations/{num(inv['id'])}/accept"
        calls = iter(range(THREADS))
        lock = threading.Lock()

        def accept() -> tuple[int, Any]:
            with lock:
                i = next(calls)
            return _request(PORTS[i % len(PORTS)], "POST", path, key, {"acting_user": d["berta"]})

        results = race(THREADS, accept)
        statuses = sorted(r[0] for r in results)
        assert statuses == [200] + [409] * (THREADS - 1), results
        assert acceptance_counts(inv["id"]) == (1, 1)
        [won] = [body for status, body in results if status == 200]
        status, _ = _request(PORTS[1], "POST", f"/v1/partnerships/{num(won['partnership'])}/end", key,
                             {"acting_user": d["paula"]})
        assert status == 200


def _check(port: int, key: str, actor: str, action: str, resource: str) -> bool:
    status, body = _request(port, "POST", "/v1/check", key, {"actor": actor, "action": action,
                                                             "resource": resource})
    assert status == 200, body
    return body["allowed"]


def test_a_change_through_one_process_is_seen_by_the_next_decision_of_the_other(servers: dict[str, Any]) -> None:
    d, write, check = servers["demo"], servers["write"], servers["check"]
    a, b = PORTS
    anwalt = num(d["webwerk_anwalt"])
    # warm both processes up on the decisions under test (any cache would now hold the old answers)
    for port in PORTS:
        assert _check(port, check, d["anna"], "manage_product", d["anwalt_web"])
        assert not _check(port, check, d["anna"], "manage_product", d["anwalt_drive"])
    status, _ = _request(a, "PUT", f"/v1/partnerships/{anwalt}/access", write, {
        "acting_user": d["alma"],
        "granted": {"access": "limited", "products": [{"product": d["anwalt_drive"], "technical": True}]}})
    assert status == 200
    assert _check(b, check, d["anna"], "manage_product", d["anwalt_drive"])
    assert not _check(b, check, d["anna"], "manage_product", d["anwalt_web"])

    for port in PORTS:
        assert _check(port, check, d["carla"], "access_account", d["baeckerei"])
        assert _check(port, check, d["bernd"], "review", d["webwerk_baeckerei"])
    status, _ = _request(b, "POST", f"/v1/partnerships/{num(d['webwerk_baeckerei'])}/end", write,
                         {"acting_user": d["berta"]})
    assert status == 200
    assert not _check(a, check, d["carla"], "access_account", d["baeckerei"])
    assert not _check(a, check, d["anna"], "manage_product", d["baeckerei_web"])

    assert not _check(a, check, d["bernd"], "review", d["webwerk_baeckerei"])   # R10: active only


def test_fact_writes_through_one_process_are_seen_by_the_next_decision_of_the_other(
        servers: dict[str, Any]) -> None:
    """Issue 5: memberships and assignments written through A are reflected by B's very next decision."""
    d, write, check = servers["demo"], servers["write"], servers["check"]
    a, b = PORTS
    for port in PORTS:  # warm both processes on the decisions under test
        assert not _check(port, check, d["dirk"], "access_account", d["baeckerei"])
        assert not _check(port, check, d["dirk"], "manage_users", d["webwerk"])

    # a new membership (R12: an administrator of the partner reaches every active customer)
    status, user = _request(a, "POST", "/v1/users", write, {"email": "neu@webwerk.example", "name": "Neu"})
    assert status == 201, user
    assert not _check(b, check, user["id"], "access_account", d["baeckerei"])
    status, membership = _request(a, "POST", "/v1/memberships", write, {
        "user": user["id"], "organization": d["webwerk"], "role": "administrator"})
    assert status == 201, membership
    assert _check(b, check, user["id"], "access_account", d["baeckerei"])
    status, _ = _request(a, "DELETE", f"/v1/memberships/{num(membership['id'])}", write)
    assert status == 200
    assert not _check(b, check, user["id"], "access_account", d["baeckerei"])

    # an assignment (R13: a collaborator reaches only assigned customers)
    status, assignment = _request(b, "POST", "/v1/assignments", write, {
        "partner": d["webwerk"], "user": d["dirk"], "customer": d["baeckerei"]})
    assert status == 201, assignment
    assert _check(a, check, d["dirk"], "access_account", d["baeckerei"])
    status, _ = _request(b, "DELETE", f"/v1/assignments/{num(assignment['id'])}", write)
    assert status == 200
    assert not _check(a, check, d["dirk"], "access_account", d["baeckerei"])
