"""Decisions from a PostgreSQL hot standby, through `authz serve`-style instances (issue 22).

One instance on the primary, one on a streaming standby with AUTHZ_PRIMARY_URL (standby_pair.py):
- the same questions get the same answers from both, and every decision either served is found by
  GET /v1/decisions/{id} on both (the standby's records are written to the primary); unknown ids 404;
- write routes on the standby instance answer 503 read_only_standby naming the primary's host (never
  its password) and change nothing; its read routes of scope write still answer;
- with the standby's replay paused, a question with min_revision past it is 409 stale_store (and the
  Python client, retrying with backoff within its deadline, then denies); resumed, the write made
  on the primary is seen by the standby instance, and the client's retries get the new answer.
Skipped without the standby URLs, required in CI (AUTHZ_STANDBY_TESTS=required).
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from live_servers import request as http
from partner_authz_client import AuthzClient
from standby_pair import PRIMARY_URL, ROOT, STANDBY_URL, Pair, needs_pair, pair, scalar, standby_db, wait_replayed

pytestmark = [needs_pair, pytest.mark.shares("standby pair")]  # one pair: these files never overlap

ACTORS = ["anna", "bernd", "carla", "alma", "berta"]
ACTIONS = ["access_account", "manage_product", "add_customer", "review"]
RESOURCES = ["baeckerei", "baeckerei_web", "webwerk", "webwerk_baeckerei", "anwalt_web"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with pair(tmp_path_factory.mktemp("standby")) as both:
        yield both


def decided(answer: dict) -> tuple:
    return answer["allowed"], answer["reasons"], answer["policy_version"], answer["revision"]


def test_the_standby_instance_answers_as_the_primary_one_and_every_record_is_found_on_both(served: Pair) -> None:
    ids = []
    for actor, action, resource in itertools.product(ACTORS, ACTIONS, RESOURCES):
        answers = [served.check(base, actor, action, resource) for base in (served.primary, served.standby)]
        assert [status for status, _ in answers] == [200, 200], answers
        assert decided(answers[0][1]) == decided(answers[1][1]), (actor, action, resource)
        ids += [answer["decision_id"] for _, answer in answers]
    for decision_id, base in itertools.product(ids, (served.standby, served.primary)):
        status, found = http(base, "GET", f"/v1/decisions/{decision_id}", served.check_key)
        assert status == 200, (base, decision_id, found)
        assert found["decision_id"] == decision_id
    unknown = "00000000-0000-7000-8000-000000000000"
    for base in (served.primary, served.standby):
        status, answer = http(base, "GET", f"/v1/decisions/{unknown}", served.check_key)
        assert (status, answer["error"]["code"]) == (404, "not_found")


def test_write_routes_on_the_standby_instance_answer_503_naming_the_primary(served: Pair) -> None:
    d = served.demo
    before = scalar(standby_db(), "SELECT value FROM store_revision")
    writes = [("POST", "/v1/users", {"email": "new@example.com", "name": "New"}),
              ("POST", f"/v1/partnerships/{d['webwerk_baeckerei'].split(':')[1]}/end", {"acting_user": d["berta"]}),
              ("DELETE", f"/v1/users/{d['carla'].split(':')[1]}", None)]
    for method, path, body in writes:
        status, answer = http(served.standby, method, path, served.write_key, body)
        assert status == 503, (path, status, answer)
        assert answer["error"]["code"] == "read_only_standby"
        assert "127.0.0.1:" in answer["primary"] and "127.0.0.1:" in answer["error"]["message"]
        assert "authz:authz" not in str(answer) and "password" not in str(answer)
    status, _ = http(served.standby, "GET", "/v1/events", served.write_key)  # reading with a write key: answered
    assert status == 200
    status, _ = http(served.standby, "GET", f"/v1/users/{d['carla'].split(':')[1]}", served.write_key)
    assert status == 200
    wait_replayed()
    assert scalar(standby_db(), "SELECT value FROM store_revision") == before  # nothing changed anywhere


def test_a_write_on_the_primary_is_stale_below_the_standby_and_seen_once_replayed(served: Pair) -> None:
    d, standby = served, standby_db()  # as the authz role (granted pause/resume by .ci/start-standby)
    question = ("carla", "access_account", "baeckerei")
    wait_replayed()
    assert served.check(served.standby, *question)[1]["allowed"] is True
    scalar(standby, "SELECT pg_wal_replay_pause()")
    try:
        status, ended = http(served.primary, "POST",
                             f"/v1/partnerships/{d.demo['webwerk_baeckerei'].split(':')[1]}/end",
                             served.write_key, {"acting_user": d.demo["berta"]})
        assert status == 200, ended
        revision = ended["revision"]
        status, answer = served.check(served.standby, *question, min_revision=revision)
        assert (status, answer["error"]["code"], answer["allowed"]) == (409, "stale_store", False)
        assert answer["revision"] < revision
        # without min_revision: the standby's state, as with any replica
        assert served.check(served.standby, *question)[1]["allowed"] is True
        with AuthzClient(served.standby, served.check_key, timeout=1, deadline=0.6) as client:
            client.note_revision(ended)
            decision = client.check(served.demo["carla"], "access_account", served.demo["baeckerei"])
            # asked again with backoff until its deadline, then denied with the reason
            assert decision.allowed is False and "stale_store" in decision.error and "attempts" in decision.error
    finally:
        scalar(standby, "SELECT pg_wal_replay_resume()")
    with AuthzClient(served.standby, served.check_key, timeout=2, deadline=10) as client:
        client.note_revision(ended)
        decision = client.check(served.demo["carla"], "access_account", served.demo["baeckerei"])
        assert decision.error is None and decision.allowed is False and decision.revision >= revision
    assert served.check(served.standby, *question)[1]["allowed"] is False
    assert served.check(served.primary, *question)[1]["allowed"] is False


def test_no_instance_on_the_standby_without_a_primary_for_its_records() -> None:
    """A standby with the decision records on and no AUTHZ_PRIMARY_URL: refused at start (every record lost)."""
    done = subprocess.run([sys.executable, "-c", "from service.api import create_app; create_app()"], cwd=ROOT,
                          env={**os.environ, "DATABASE_URL": STANDBY_URL, "AUTHZ_PRIMARY_URL": ""},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "AUTHZ_PRIMARY_URL" in done.stderr, done.stderr[-500:]


def test_an_activation_on_the_primary_waits_for_the_standby_instance_s_worker_too(served: Pair, tmp_path) -> None:
    """The standby instance's worker reports its heartbeat on the primary (AUTHZ_PRIMARY_URL), so the
    activation counts it and switches only once it has built the version (issue 22: no build after the switch)."""
    from service.analysis.candidates import read_candidate
    from service.decide.engine import POLICY_DIR
    folder = tmp_path / "commented"
    folder.mkdir()
    for name, text in read_candidate(POLICY_DIR).items():
        (folder / name).write_text(text + ("\n# reviewed on the standby's behalf\n" if name == "main.polar" else ""))
    (folder / "manifest").write_text((POLICY_DIR / "manifest").read_text())
    authz = str(Path(sys.executable).parent / "authz")
    done = subprocess.run([authz, "policy", "activate", str(folder)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": PRIMARY_URL or "", "AUTHZ_PRIMARY_URL": ""})
    assert done.returncode == 0, done.stderr
    assert "built beforehand by 2 of 2 serving workers" in done.stdout, (done.stdout, done.stderr)
    version = done.stdout.split()[2]
    wait_replayed()
    answers = [served.check(base, "anna", "add_customer", "webwerk") for base in (served.primary, served.standby)]
    assert [(status, answer["policy_version"]) for status, answer in answers] == [(200, version)] * 2, answers
