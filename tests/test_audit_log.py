"""The decision record (issue 11): every decision served is recorded once, found by its id, never torn.

Endpoint tests run in-process on both backends; the slow-pipe test runs gunicorn (2 workers)
with its standard output read by a slow pipe reader and 8 concurrent clients asking for
large `subjects` answers.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import CliRunner

from live_servers import free_port, wait_ready

from service.api.auth import create_key
from service.audit.recorder import get_recorder
from service.cli import main
from service.decision_log import DecisionLog
from service.store import database
from service.store.audit_models import DecisionRecord
from test_api_support import Api, api  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]


def _recorded(api: Api) -> dict[str, dict]:
    get_recorder().flush()
    return {row.decision_id: row for row in DecisionRecord.select()}


def test_every_kind_of_decision_is_recorded_once_and_found_by_its_id(api: Api, demo) -> None:
    anna, dirk, webwerk = demo["anna"], demo["dirk"], demo["webwerk"]
    served = [api.post("/v1/check", {"actor": anna, "action": "add_customer", "resource": webwerk}).json]
    batch = api.post("/v1/check/batch", {"checks": [{"actor": anna, "action": "add_customer", "resource": webwerk},
                                                    {"actor": dirk, "action": "add_customer", "resource": webwerk}]})
    served += batch.json["results"]
    served += [api.post("/v1/list", {"actor": anna, "action": "access_account", "resource_type": "organization"}).json,
               api.post("/v1/subjects", {"action": "access_account", "resource": demo["anwalt"]}).json,
               api.post("/v1/actions", {"actor": anna, "resource": webwerk}).json]
    invitation = api.write("POST", "/v1/invitations", {  # a workflow's deny: 403 carrying its decision_id
        "acting_user": dirk, "partner": webwerk, "customer": demo["tischler"],
        "requested": {"access": "full", "payment_mode": "customer"}})
    membership = api.write("POST", "/v1/memberships", {  # a fact write decided with acting_user
        "user": demo["erik"], "organization": demo["baeckerei"], "role": "administrator", "acting_user": dirk})
    assert invitation.status_code == 403 and membership.status_code == 403
    served += [membership.json]
    records = _recorded(api)
    ids = [answer["decision_id"] for answer in served] + invitation.json["decision_ids"]
    assert len(set(ids)) == len(ids) and set(ids) <= set(records)
    assert len(records) == len(ids)  # nothing recorded twice, nothing besides what was served
    assert {records[i].endpoint for i in ids} == {"check", "batch", "list", "subjects", "actions", "workflow",
                                                  "fact_write"}
    shown = api.get(f"/v1/decisions/{ids[0]}", scope="check")
    assert shown.status_code == 200
    record = shown.json
    assert {"time", "key_id", "actor", "action", "resource", "allowed", "reasons", "policy_version",
            "revision"} <= set(record)
    assert record["actor"] == anna and record["allowed"] is True and record["key_id"] is not None
    assert record["reasons"] == served[0]["reasons"] and record["revision"] == served[0]["revision"]
    denied = api.get(f"/v1/decisions/{invitation.json['decision_ids'][0]}", scope="check").json
    assert denied["allowed"] is False and denied["endpoint"] == "workflow" and denied["reasons"]
    assert api.get(f"/v1/decisions/{ids[0]}", scope=None).status_code == 401
    assert api.get("/v1/decisions/00000000-0000-4000-8000-000000000000", scope="check").status_code == 404
    bad = api.get("/v1/decisions/7077", scope="check")
    assert bad.status_code == 422 and bad.json["error"]["field"] == "decision_id"


def test_authz_check_json_has_a_decision_id_that_show_and_replay_find(store_url, demo, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", store_url)
    runner = CliRunner()
    checked = runner.invoke(main, ["check", demo["anna"], "add_customer", demo["webwerk"], "--json"])
    assert checked.exit_code == 0, checked.output
    decision_id = json.loads(checked.output)["decision_id"]
    shown = runner.invoke(main, ["decisions", "show", decision_id])
    assert shown.exit_code == 0 and json.loads(shown.output)["endpoint"] == "cli"
    replayed = runner.invoke(main, ["replay", decision_id])
    assert replayed.exit_code == 0 and replayed.output.startswith("reproduces")
    assert runner.invoke(main, ["replay", "no-such-id"]).exit_code == 2  # an error (unknown id), not a decision that differs (1)


def test_replay_reports_a_decision_that_does_not_reproduce(api: Api, demo) -> None:
    answer = api.post("/v1/check", {"actor": demo["anna"], "action": "add_customer", "resource": demo["webwerk"]})
    get_recorder().flush()
    with database.atomic():  # a forged record: the audit must notice, not trust it
        DecisionRecord.update(allowed=False).where(DecisionRecord.decision_id == answer.json["decision_id"]).execute()
    from service.audit.replay import replay
    result = replay(answer.json["decision_id"])
    assert not result.reproduces and result.differences() == ["allowed"]


def test_retention_and_history_prune(api: Api, demo, store_url, monkeypatch) -> None:
    loaded = api.post("/v1/check", {"actor": demo["carla"], "action": "access_account",
                                    "resource": demo["anwalt"]}).json["revision"]  # the demo world, activated
    before = api.post("/v1/check", {"actor": demo["carla"], "action": "access_account",
                                    "resource": demo["anwalt"], "at_revision": loaded}).json
    assert before["allowed"] is True
    api.write("DELETE", "/v1/assignments/1")
    monkeypatch.setenv("DATABASE_URL", store_url)
    runner = CliRunner()
    pruned = runner.invoke(main, ["history", "prune", "--before", "2999-01-01"])
    assert pruned.exit_code == 0 and "history now begins at revision" in pruned.output, pruned.output
    gone = api.post("/v1/check", {"actor": demo["carla"], "action": "access_account", "resource": demo["anwalt"],
                                  "at_revision": loaded})
    assert gone.status_code == 422 and gone.json["error"]["field"] == "at_revision"
    assert runner.invoke(main, ["decisions", "prune", "--before", "2999-01-01"]).exit_code == 0
    assert DecisionRecord.select().count() == 0


def test_the_log_file_rotates_by_size_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "decisions.log"
    log = DecisionLog(str(path), max_bytes=10_000, backups=50)
    other = DecisionLog(str(path), max_bytes=10_000, backups=50)  # a second worker on the same file
    for i in range(300):
        (log if i % 2 else other).write({"decision_id": str(i), "reasons": ["x" * 100]})
    log.close(), other.close()
    files = [path, *sorted(tmp_path.glob("decisions.log.*[0-9]"))]
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(files) > 2 and sorted(int(r["decision_id"]) for r in lines) == list(range(300))


def test_threads_of_one_worker_write_whole_records_through_rotations_without_a_lock(tmp_path: Path) -> None:
    """Writes take no lock (service/decision_log.py): threads sharing one DecisionLog, while it
    rotates many times under them (each rotation replacing the descriptor they write to), lose
    no record and tear none, large records included."""
    path = tmp_path / "decisions.log"
    log = DecisionLog(str(path), max_bytes=20_000, backups=500)
    threads, per_thread = 8, 300

    def write(thread: int) -> None:
        for i in range(per_thread):
            size = 5_000 if i % 50 == 0 else 50  # some records far over PIPE_BUF
            log.write({"decision_id": f"{thread}-{i}", "reasons": ["x" * size]})

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(threads)))
    log.close()
    files = [path, *tmp_path.glob("decisions.log.*[0-9]")]
    lines = [line for f in files for line in f.read_text().splitlines()]
    ids = sorted(json.loads(line)["decision_id"] for line in lines)  # a torn line would not parse
    assert ids == sorted(f"{t}-{i}" for t in range(threads) for i in range(per_thread))
    assert len(files) > 10  # it did rotate, many times, under the writing threads


# -- the slow pipe ------------------------------------------------------------------------

def _slow_reader(pipe, sink: list[bytes]) -> None:
    while chunk := pipe.read1(512) if hasattr(pipe, "read1") else pipe.read(512):
        sink.append(chunk)
        time.sleep(0.002)


def _post(port: int, key: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def test_slow_pipe_reader_loses_no_record_and_tears_none(store_url, demo, tmp_path) -> None:
    anwalt = int(demo["anwalt"].split(":")[1])
    with database.atomic():  # 80 administrators of the customer: subjects answers far over 4,096 bytes
        from service.store import bump_revision, models as m
        for i in range(80):
            user = m.User.create(email=f"admin{i}@anwalt.example", name=f"Admin {i}")
            m.Membership.create(user=user, organization=anwalt, role="administrator")
        bump_revision()
    _, key = create_key("slow-pipe", "check")
    log_path, port = tmp_path / "decisions.log", free_port()
    env = {**os.environ, "DATABASE_URL": store_url, "AUTHZ_DECISION_LOG": str(log_path)}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                               "--access-logfile", "-", "service.wsgi:app"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out: list[bytes] = []
    reader = threading.Thread(target=_slow_reader, args=(server.stdout, out), daemon=True)
    reader.start()
    try:
        wait_ready(port, server, time.monotonic() + 60)
        questions = [("/v1/subjects", {"action": "access_account", "resource": demo["anwalt"]}),
                     ("/v1/check", {"actor": demo["anna"], "action": "access_account", "resource": demo["anwalt"]}),
                     ("/v1/check/batch", {"checks": [{"actor": demo["carla"], "action": "access_account",
                                                      "resource": demo["anwalt"]}] * 3})]
        with ThreadPoolExecutor(8) as clients:
            answers = list(clients.map(lambda i: _post(port, key, *questions[i % 3]), range(240)))
    finally:
        server.send_signal(signal.SIGTERM)  # graceful: each worker flushes its pending table records
        server.wait(timeout=60)
    served = [a["decision_id"] for a in answers if "decision_id" in a]
    served += [r["decision_id"] for a in answers for r in a.get("results", [])]
    assert len(served) == 80 * 1 + 80 * 1 + 80 * 3, [a for a in answers if "decision_id" not in a and "results" not in a][:3]
    subjects_sizes = [len(json.dumps(a)) for a in answers if "subjects" in a]
    assert min(subjects_sizes) > 4096
    lines = log_path.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]  # every record parses
    written = sorted(r["decision_id"] for r in records)
    assert written == sorted(served), (len(written), len(set(written)), len(served))  # written == served, once each
    assert all(not line.startswith(b"{") for line in b"".join(out).splitlines())  # none on the access log
    get_recorder().flush()
    in_table = {row.decision_id for row in DecisionRecord.select(DecisionRecord.decision_id)}
    assert in_table >= set(served), (len(set(served) - in_table), server.returncode)


def test_the_retention_setting_prunes_old_records(api: Api, demo, monkeypatch) -> None:
    import datetime as dt
    from service.audit.recorder import DecisionRecorder
    from service.store.models import utcnow
    old = api.post("/v1/check", {"actor": demo["anna"], "action": "add_customer", "resource": demo["webwerk"]})
    get_recorder().flush()
    DecisionRecord.update(decided_at=utcnow() - dt.timedelta(days=2)) \
        .where(DecisionRecord.decision_id == old.json["decision_id"]).execute()
    fresh = api.post("/v1/check", {"actor": demo["anna"], "action": "add_customer", "resource": demo["webwerk"]})
    get_recorder().flush()
    monkeypatch.setenv("AUTHZ_DECISION_RETENTION_DAYS", "1")
    DecisionRecorder.from_settings()._prune_if_due()  # what each worker's writer does hourly
    kept = {row.decision_id for row in DecisionRecord.select(DecisionRecord.decision_id)}
    assert old.json["decision_id"] not in kept and fresh.json["decision_id"] in kept
