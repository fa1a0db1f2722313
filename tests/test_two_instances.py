"""Two service instances on one PostgreSQL database, as behind a load balancer.

Each instance is its own gunicorn master on its own port (tests/live_servers.py); they
share only the database: facts, keys, the store revision. Shown here:

- a change made through one instance is seen by the very next decision asked of the
  other, after both were warmed up on the old answers (any cache would hold them);
- 16 concurrent accepts of one invitation, spread over both instances, make exactly one
  partnership (one 200, fifteen 409);
- under six connections of checks on one instance, every check sent after a write through the
  other was acknowledged answers at that write's revision or later, with its effect.

The changes are data (CHANGES): each names the decisions before, the call that changes
them and the decisions after. A policy activation (`authz policy activate`, run against the
shared database as an operator would) is shown apart: the very next decision of either
instance answers under the new version.

PostgreSQL only (two masters on one SQLite file is not a supported deployment); skipped
when TEST_POSTGRES_URL is unset, like every PostgreSQL test.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from conftest import DEMO_WORLD, POSTGRES_URL, activate_repo_policy, fresh_store_url
from live_servers import instances
from live_servers import request as http
from partner_authz_client import AuthzClient
from service.api.auth import create_key
from service.decide.engine import POLICY_DIR
from service.store import database
from service.store import models as m
from service.store.world import load_world, read_world_file

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_POSTGRES_URL (two instances share PostgreSQL)")

ACCEPTS = 16
ROUNDS = 3
FULL = {"access": "full", "payment_mode": "customer"}


@dataclass
class Cluster:
    urls: list[str]
    check_key: str
    write_key: str
    demo: dict[str, str]
    store_url: str

    def client(self, i: int) -> AuthzClient:
        return AuthzClient(self.urls[i], self.check_key, timeout=10)

    def write(self, i: int, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        status, answer = http(self.urls[i], method, path, self.write_key, body)
        assert status in (200, 201), (status, answer)
        return answer


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    url = fresh_store_url("postgres", tmp_path)
    demo = load_world(read_world_file(DEMO_WORLD))
    activate_repo_policy()  # the instances decide with the store's active version
    _, check_key = create_key("instances-check", "check")
    _, write_key = create_key("instances-write", "write")
    database.close()  # the instances open their own connections
    with instances(url, 2) as urls:
        yield Cluster(urls, check_key, write_key, demo, url)
    database.close()  # remove_assignment reads through it


def num(ref: str) -> int:
    return int(ref.split(":")[1])


# -- a change through one instance, the next decision through the other ---------------------------

Question = tuple[str, str, str, bool]   # demo keys: actor, action, resource; and the expected answer


@dataclass
class Change:
    name: str
    before: list[Question]
    apply: Callable[[Cluster, int], Any]   # makes the change through instance i; its answer carries the revision
    after: list[Question]


def end_partnership(c: Cluster, i: int) -> Any:
    return c.write(i, "POST", f"/v1/partnerships/{num(c.demo['webwerk_baeckerei'])}/end",
                   {"acting_user": c.demo["berta"]})


def narrow_access(c: Cluster, i: int) -> Any:
    return c.write(i, "PUT", f"/v1/partnerships/{num(c.demo['webwerk_anwalt'])}/access", {
        "acting_user": c.demo["alma"],
        "granted": {"access": "limited", "products": [{"product": c.demo["anwalt_drive"], "technical": True}]}})


def remove_assignment(c: Cluster, i: int) -> Any:
    assignment = m.Assignment.get(m.Assignment.user == num(c.demo["carla"]),
                                  m.Assignment.customer == num(c.demo["baeckerei"]))
    return c.write(i, "DELETE", f"/v1/assignments/{assignment.id}")


CHANGES = [
    Change("partnership ended (R19)",
           before=[("carla", "access_account", "baeckerei", True), ("anna", "manage_product", "baeckerei_web", True),
                   ("bernd", "review", "webwerk_baeckerei", True)],
           apply=end_partnership,
           after=[("carla", "access_account", "baeckerei", False), ("anna", "manage_product", "baeckerei_web", False),
                  ("bernd", "review", "webwerk_baeckerei", False)]),
    Change("grant changed (R18)",
           before=[("anna", "manage_product", "anwalt_web", True), ("anna", "manage_product", "anwalt_drive", False)],
           apply=narrow_access,
           after=[("anna", "manage_product", "anwalt_web", False), ("anna", "manage_product", "anwalt_drive", True)]),
    Change("assignment removed (R13)",
           before=[("carla", "access_account", "baeckerei", True)],
           apply=remove_assignment,
           after=[("carla", "access_account", "baeckerei", False)]),
]


def answered(client: AuthzClient, actor: str, action: str, resource: str) -> bool:
    """The service's own answer: a deny the client made up (no usable answer) fails the test."""
    decision = client.check(actor, action, resource)
    assert decision.error is None, decision.error
    return decision.allowed


def ask(c: Cluster, client: AuthzClient, questions: list[Question]) -> list[bool]:
    return [answered(client, c.demo[actor], action, c.demo[resource]) for actor, action, resource, _ in questions]


@pytest.mark.parametrize("through, seen_by", [(0, 1), (1, 0)], ids=["A-to-B", "B-to-A"])
@pytest.mark.parametrize("change", CHANGES, ids=lambda ch: ch.name)
def test_a_change_through_one_instance_is_seen_by_the_next_decision_of_the_other(
        cluster: Cluster, change: Change, through: int, seen_by: int) -> None:
    with cluster.client(0) as a, cluster.client(1) as b:
        for client in (a, b):  # both instances warmed on the old answers
            assert ask(cluster, client, change.before) == [q[3] for q in change.before]
        answer = change.apply(cluster, through)
        assert ask(cluster, (a, b)[seen_by], change.after) == [q[3] for q in change.after]
        assert ask(cluster, (a, b)[through], change.after) == [q[3] for q in change.after]
        for client in (a, b):  # read-your-writes across instances: the write's revision is honoured by both
            client.note_revision(answer)
            assert ask(cluster, client, change.after) == [q[3] for q in change.after]


# -- a policy activation on the shared store, the next decision of both instances -------------------

def reviewed_again(tmp_path: Path) -> Path:
    """policies/ with one comment more: a new version that passes every check and table."""
    folder = tmp_path / "reviewed-again"
    shutil.copytree(POLICY_DIR, folder)
    with open(folder / "main.polar", "a", encoding="utf-8") as fh:
        fh.write("\n# reviewed again\n")
    return folder


def test_an_activation_is_seen_by_the_next_decision_of_both_instances(cluster: Cluster, tmp_path: Path) -> None:
    d = cluster.demo
    with cluster.client(0) as a, cluster.client(1) as b:
        old = {client.check(d["anna"], "add_customer", d["webwerk"]).policy_version for client in (a, b)}
        assert len(old) == 1 and None not in old
        done = subprocess.run([str(Path(sys.executable).parent / "authz"), "policy", "activate",
                               str(reviewed_again(tmp_path))], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "DATABASE_URL": cluster.store_url})
        assert done.returncode == 0, done.stderr
        for client in (a, b):  # no answer under the old version once activate has returned
            decision = client.check(d["anna"], "add_customer", d["webwerk"])
            assert decision.error is None and decision.allowed
            assert decision.policy_version not in old


# -- one invitation, 16 accepts over both instances -----------------------------------------------

def accept_race(c: Cluster, invitation: str) -> list[tuple[int, Any]]:
    """ACCEPTS threads released together, alternating between the instances."""
    barrier = threading.Barrier(ACCEPTS)
    path = f"/v1/invitations/{num(invitation)}/accept"

    def accept(i: int) -> tuple[int, Any]:
        barrier.wait()
        return http(c.urls[i % len(c.urls)], "POST", path, c.write_key, {"acting_user": c.demo["berta"]})

    with ThreadPoolExecutor(ACCEPTS) as pool:
        return list(pool.map(accept, range(ACCEPTS)))


def test_concurrent_accepts_over_both_instances_make_exactly_one_partnership(cluster: Cluster) -> None:
    d = cluster.demo
    pair = (m.Partnership.partner == num(d["pixelhaus"])) & (m.Partnership.customer == num(d["baeckerei"]))
    database.connect(reuse_if_open=True)
    try:
        with cluster.client(0) as a, cluster.client(1) as b:
            for round_ in range(ROUNDS):
                invitation = cluster.write(round_ % 2, "POST", "/v1/invitations", {
                    "acting_user": d["paula"], "partner": d["pixelhaus"], "customer": d["baeckerei"],
                    "requested": FULL})["id"]
                results = accept_race(cluster, invitation)
                assert sorted(status for status, _ in results) == [200] + [409] * (ACCEPTS - 1), results
                [won] = [body for status, body in results if status == 200]
                assert m.Partnership.select().where(pair & (m.Partnership.status == "active")).count() == 1
                accepted = m.Event.select().where(m.Event.kind == "invitation.accepted",
                                                  m.Event.subject == invitation).count()
                assert accepted == 1
                for client in (a, b):  # R12: both instances see the new partnership at once
                    assert answered(client, d["peter"], "access_account", d["baeckerei"])
                cluster.write(1 - round_ % 2, "POST", f"/v1/partnerships/{num(won['partnership'])}/end",
                              {"acting_user": d["paula"]})
                for client in (a, b):
                    assert not answered(client, d["peter"], "access_account", d["baeckerei"])
        assert m.Partnership.select().where(pair).count() == ROUNDS
    finally:
        database.close()


# -- under concurrent checks, each answer follows every write acknowledged before it was asked -------

CHECKERS = 6
TOGGLES = 12


def _checker(base_url: str, key: str, body: str, stop: threading.Event,
             answers: list[tuple[float, int, bool]]) -> None:
    """Checks on one kept-alive connection until `stop`: (sent at, revision, allowed) each."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    while not stop.is_set():
        sent = time.monotonic()
        conn.request("POST", "/v1/check", body, headers)
        reply = conn.getresponse()
        data = json.loads(reply.read())
        answers.append((sent, data["revision"], data["allowed"]) if reply.status == 200 else (sent, -1, data))
    conn.close()


def test_concurrent_checks_each_follow_every_write_acknowledged_before_they_were_asked(cluster: Cluster) -> None:
    """R20 under load: while six connections keep asking one instance (every answer cached between
    writes), a check sent after a write through the other instance was acknowledged answers at that
    write's revision or later, with that write's effect; and each answer's effect is its revision's."""
    d = cluster.demo
    body = json.dumps({"actor": d["carla"], "action": "access_account", "resource": d["baeckerei"]})
    assignment = {"partner": d["webwerk"], "user": d["carla"], "customer": d["baeckerei"]}
    existing = m.Assignment.get(m.Assignment.user == num(d["carla"]), m.Assignment.customer == num(d["baeckerei"]))
    database.close()
    acknowledged: list[tuple[float, int, bool]] = []  # (acknowledged at, revision, carla may access)
    answers: list[tuple[float, int, bool]] = []
    stop = threading.Event()
    checkers = [threading.Thread(target=_checker, args=(cluster.urls[1], cluster.check_key, body, stop, answers))
                for _ in range(CHECKERS)]
    for checker in checkers:
        checker.start()
    try:
        assignment_id = existing.id
        for _ in range(TOGGLES):
            time.sleep(0.05)
            answer = cluster.write(0, "DELETE", f"/v1/assignments/{assignment_id}")
            acknowledged.append((time.monotonic(), answer["revision"], False))
            time.sleep(0.05)
            answer = cluster.write(0, "POST", "/v1/assignments", assignment)
            acknowledged.append((time.monotonic(), answer["revision"], True))
            assignment_id = num(answer["id"]) if isinstance(answer["id"], str) else answer["id"]
        time.sleep(0.05)
    finally:
        stop.set()
        for checker in checkers:
            checker.join()
    assert [a for a in answers if a[1] == -1] == [] and len(answers) > 10 * len(acknowledged)
    for sent, revision, allowed in answers:
        before = [(rev, state) for at, rev, state in acknowledged if at < sent]
        if before:
            seen_revision, state = max(before)
            assert revision >= seen_revision, (sent, revision, seen_revision)
        # the answer's own revision says which write it saw; its answer is that write's
        at_or_before = [(rev, state) for _at, rev, state in acknowledged if rev <= revision]
        if at_or_before:
            assert allowed == max(at_or_before)[1], (revision, allowed)
