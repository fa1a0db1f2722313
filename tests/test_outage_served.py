"""Issue 19 items 5-6: PostgreSQL stopped and started under load, through `authz serve`.

A cluster of the test's own (tests/own_postgres.py, port 5442: the shared servers are never touched)
serves two instances, one per decision-record mode (durable, async), 2 workers each. Threads check
and write facts against both while the cluster is stopped (`pg_ctl stop -m fast`) for a few seconds
and started again. What must hold:

- every answer is a correct one (the same decision as before the outage) or 503 `store_unavailable`
  with Retry-After and `allowed: false`: never a 500, never an allow that was not one;
- every write acknowledged (201) is found afterwards, none twice; refused writes (503) are counted;
- the log stays small: the traceback of a failure kind once per worker, then one line per interval;
  the decision recorder likewise (one line per interval with its counts, its traceback once);
- the instances recover without a restart (the same worker processes answer again).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import DEMO_WORLD, activate_repo_policy, fresh_store_url, stop_recorder
from live_servers import free_port, wait_ready
from own_postgres import OwnCluster, postgres_bin
from recorder_served import worker_pids
from small_disk import Disk, can_fill_sqlite
from service.api.auth import create_key
from service.store import database, init_schema, open_database
from service.store.world import load_world, read_world_file

OUTAGE_SECONDS = 4.0
LOG_SECONDS = 1.0  # AUTHZ_OUTAGE_LOG_SECONDS: the interval of the outage's count lines (10 s by default)
CHECKERS, WRITERS = 3, 2  # threads per instance
# (actor, action, resource) of the demo world, allowed and denied ones
QUESTIONS = [("paula", "access_account", "pixelhaus"), ("berta", "access_account", "baeckerei"),
             ("paula", "access_account", "baeckerei"), ("berta", "manage_users", "webwerk"),
             ("paula", "manage_product", "baeckerei_web")]

needs_own_cluster = pytest.mark.skipif(postgres_bin() is None,
                                       reason="needs PostgreSQL's binaries (/usr/lib/postgresql/*/bin) for a cluster "
                                              "of the test's own")


def call(port: int, method: str, path: str, key: str, body: Any = None,
         conn: http.client.HTTPConnection | None = None) -> tuple[int, Any, dict[str, str]]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        if own:
            conn.close()


@dataclass
class Instance:
    mode: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Tally:
    """What the load saw, per instance."""

    answers: Counter = field(default_factory=Counter)       # (route, status) -> count
    wrong: list = field(default_factory=list)               # answers that must not happen
    acked: list = field(default_factory=list)               # refs of writes answered 201
    refused: int = 0                                        # writes answered 503
    unknown: int = 0                                        # writes whose answer never came (connection lost)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(scope="module")
def cluster() -> Iterator[OwnCluster]:
    own = OwnCluster()
    try:
        yield own
    finally:
        own.remove()


@pytest.fixture(scope="module")
def world(cluster: OwnCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    stop_recorder()
    open_database(cluster.url)
    init_schema()
    refs = load_world(read_world_file(DEMO_WORLD))
    activate_repo_policy()
    _, check_key = create_key("outage-check", "check")
    _, write_key = create_key("outage-write", "write")
    stop_recorder()
    database.close()  # the instances hold the only connections while the cluster stops
    yield {"refs": refs, "check": check_key, "write": write_key, "dir": tmp_path_factory.mktemp("outage")}


def _serve(url: str, mode: str, directory: Path, *, prefix: list[str] | None = None, workers: int = 2,
           name: str = "") -> Instance:
    """`authz serve` (its own process group) on url; `prefix` runs it inside another command (a namespace)."""
    port = free_port()
    log_path = directory / f"serve-{name or mode}.log"
    env = {**os.environ, "DATABASE_URL": url, "HOME": str(directory), "AUTHZ_THREADS": "6", "AUTHZ_SHAPE_TABLE": "0",
           "AUTHZ_DECISION_LOG": "off", "AUTHZ_DECISION_STORE": mode, "AUTHZ_OUTAGE_LOG_SECONDS": str(LOG_SECONDS)}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*(prefix or []), sys.executable, "-m", "service.cli", "serve", "--port", str(port),
                                 "--workers", str(workers)],
                                env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    wait_ready(port, proc, time.monotonic() + 60)
    return Instance(mode, port, proc, log_path)


def _check_loop(inst: Instance, key: str, questions: list[tuple[dict, bool]], tally: Tally,
                stop: threading.Event, n: int) -> None:
    conn, i = None, n
    while not stop.is_set():
        body, expected = questions[i % len(questions)]
        i += 1
        try:
            conn = conn or http.client.HTTPConnection("127.0.0.1", inst.port, timeout=10)
            status, answer, headers = call(inst.port, "POST", "/v1/check", key, body, conn)
        except (OSError, http.client.HTTPException):
            conn = None
            time.sleep(0.02)
            continue
        with tally.lock:
            tally.answers["check", status if status == 200 else f"{status} {_code(answer)}"] += 1
            if status == 200 and answer["allowed"] != expected:
                tally.wrong.append(("check", body, status, answer))
            elif status != 200 and not _is_outage_answer(status, answer, headers):
                tally.wrong.append(("check", body, status, answer))


def _write_loop(inst: Instance, key: str, tally: Tally, stop: threading.Event, n: int) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        tag = f"{inst.mode}-{n}-{i}"
        try:
            status, answer, headers = call(inst.port, "POST", "/v1/users", key,
                                           {"email": f"outage-{tag}@example.org", "name": f"Outage {tag}"})
        except (OSError, http.client.HTTPException):
            with tally.lock:
                tally.unknown += 1  # sent, its answer lost: neither acknowledged nor refused
            time.sleep(0.02)
            continue
        with tally.lock:
            tally.answers["write", status if status == 201 else f"{status} {_code(answer)}"] += 1
            if status == 201:
                tally.acked.append((answer["id"], f"outage-{tag}@example.org"))
            elif _is_outage_answer(status, answer, headers):
                tally.refused += 1
            else:
                tally.wrong.append(("write", tag, status, answer))
        time.sleep(0.01)  # writes are the smaller share of a real load


# 503 codes an outage may answer: the store's, and (durable mode) a decision made as the store went
# away whose record could then not be committed (docs/audit.md: no decision id, nothing decided)
OUTAGE_CODES = {"store_unavailable", "audit_unavailable"}


def _is_outage_answer(status: int, answer: Any, headers: dict[str, str]) -> bool:
    return (status == 503 and isinstance(answer, dict) and answer.get("error", {}).get("code") in OUTAGE_CODES
            and headers.get("retry-after", "").isdigit() and answer.get("allowed", False) is False
            and "decision_id" not in answer)


def _code(answer: Any) -> str:
    return answer.get("error", {}).get("code", "?") if isinstance(answer, dict) else "?"


def _until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _answers(inst: Instance, key: str) -> bool:
    try:
        return call(inst.port, "POST", "/v1/check", key, {"actor": "user:1", "action": "view",
                                                          "resource": "organization:1"})[0] == 200
    except OSError:
        return False


@needs_own_cluster
def test_postgresql_stopped_and_started_under_load(cluster: OwnCluster, world: dict[str, Any]) -> None:
    refs, check_key, write_key = world["refs"], world["check"], world["write"]
    instances = [_serve(cluster.url, mode, world["dir"]) for mode in ("durable", "async")]
    try:
        first = instances[0]
        questions = []
        for actor, action, resource in QUESTIONS:
            body = {"actor": refs[actor], "action": action, "resource": refs[resource]}
            status, answer, _ = call(first.port, "POST", "/v1/check", check_key, body)
            assert status == 200, answer
            questions.append((body, answer["allowed"]))
        assert {allowed for _, allowed in questions} == {True, False}, questions
        workers = {inst.mode: sorted(worker_pids(inst.proc.pid)) for inst in instances}
        tallies = {inst.mode: Tally() for inst in instances}
        stop = threading.Event()
        threads = [threading.Thread(target=_check_loop, args=(inst, check_key, questions, tallies[inst.mode], stop, n))
                   for inst in instances for n in range(CHECKERS)]
        threads += [threading.Thread(target=_write_loop, args=(inst, write_key, tallies[inst.mode], stop, n))
                    for inst in instances for n in range(WRITERS)]
        log_before = {inst.mode: inst.log_path.stat().st_size for inst in instances}
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)  # load on a healthy store first
            cluster.stop("fast")
            stopped = time.monotonic()
            time.sleep(OUTAGE_SECONDS)
            cluster.start()
            outage = time.monotonic() - stopped
            for inst in instances:
                assert _until(lambda: _answers(inst, check_key), 30), f"{inst.mode}: no recovery"
            recovered = time.monotonic() - stopped - outage
            time.sleep(1.0)  # load on the store again
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        for inst in instances:
            tally = tallies[inst.mode]
            found = _found(inst, write_key, tally.acked)
            grown = inst.log_path.stat().st_size - log_before[inst.mode]
            text = inst.log()
            summary = (f"{inst.mode}: outage {outage:.1f} s, recovered {recovered:.1f} s after the start; answers "
                       f"{dict(tally.answers)}; writes acknowledged {len(tally.acked)}, found "
                       f"{found}, refused (503) {tally.refused}, unanswered {tally.unknown}; log +{grown} bytes, "
                       f"{logged_tracebacks(text)} tracebacks logged")
            print(summary)
            assert not tally.wrong, (summary, [repr(wrong)[:400] for wrong in tally.wrong[:5]])
            assert tally.answers["check", "503 store_unavailable"] > 0 and tally.refused > 0, summary  # the outage was seen
            assert found == len(tally.acked), summary  # 0 acknowledged writes lost
            assert sorted(worker_pids(inst.proc.pid)) == workers[inst.mode], "workers were restarted"
            status, ready, _ = call(inst.port, "GET", "/readyz", check_key)
            assert status == 200 and ready["recorder_writing"] is True, ready
            _assert_small_log(inst.mode, text, grown, outage)
    finally:
        for inst in instances:
            _stop(inst.proc)


def _found(inst: Instance, key: str, acked: list[tuple[str, str]]) -> int:
    """How many of the acknowledged users the store holds, each once, as written."""
    conn = http.client.HTTPConnection("127.0.0.1", inst.port, timeout=10)
    found = 0
    try:
        for ref, email in acked:
            status, answer, _ = call(inst.port, "GET", f"/v1/users/{ref.split(':')[1]}", key, conn=conn)
            found += status == 200 and answer["email"] == email
    finally:
        conn.close()
    return found


def _assert_small_log(mode: str, text: str, grown: int, outage: float) -> None:
    """Per worker (2): the outage's traceback once; per failure kind a first line and one count line
    per interval; the decision recorder likewise; the whole outage in a few KB."""
    lines = text.splitlines()
    intervals = int(outage / LOG_SECONDS) + 2
    per_kind = Counter(re.sub(r"store unavailable \((.*?)(;|\): ).*", r"\1", line)
                       for line in lines if line.startswith("store unavailable ("))
    assert per_kind and max(per_kind.values()) <= 2 * (1 + intervals), (mode, per_kind)
    assert any("requests answered 503 in the last" in line for line in lines), (mode, per_kind)  # counted
    recorder = [line for line in lines if "decision records" in line]
    assert len(recorder) <= 2 * (2 + intervals), (mode, recorder)
    if mode == "async":  # its backlog was retried through the outage: counted once per interval
        assert any(line.startswith("decision records still cannot be written") for line in recorder), recorder
    # per worker: the outage's traceback and the recorder's first failure's (measured: 3 or 4 in all;
    # one more per worker allowed for a store that answers once in between); before: one per kind, 10+
    assert logged_tracebacks(text) <= 2 * 3, (mode, logged_tracebacks(text), text[-3000:])
    assert grown < 60_000, (mode, grown, per_kind, text[-3000:])  # measured 21-31 KB; before: 90 KB


def logged_tracebacks(text: str) -> int:
    """Exceptions logged with their traceback (a chained one counts once)."""
    lines = text.splitlines()
    return sum(1 for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")
               and not any(earlier.startswith(("During handling", "The above exception"))
                           for earlier in lines[max(i - 2, 0):i]))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


# -- SQLite: a full disk, a deleted or replaced file --------------------------------------------------

@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The demo world in a fresh SQLite store at tmp_path/authz.db, with a check and a write key."""
    url = fresh_store_url("sqlite", tmp_path)
    refs = load_world(read_world_file(DEMO_WORLD))
    activate_repo_policy()
    _, check_key = create_key("faults-check", "check")
    _, write_key = create_key("faults-write", "write")
    stop_recorder()
    database.close()  # checkpointed: the file is whole before it is copied or deleted
    yield {"url": url, "path": tmp_path / "authz.db", "refs": refs, "check": check_key, "write": write_key}
    database.connect(reuse_if_open=True)


def _new_user(inst: Instance, key: str, tag: str) -> tuple[int, Any, dict[str, str]]:
    return call(inst.port, "POST", "/v1/users", key, {"email": f"{tag}@example.org", "name": tag})


@pytest.mark.skipif(not can_fill_sqlite(), reason="a tmpfs of the server's own needs root (CI runs as root)")
def test_a_full_sqlite_disk_refuses_fact_writes_with_503_keeps_reads_and_recovers(sqlite_world: dict[str, Any],
                                                                                   tmp_path: Path) -> None:
    world, disk = sqlite_world, Disk(sqlite_world["url"], tmp_path)
    # async decision records: a check does not wait for a commit, so it shows that reads still answer
    inst = _serve(disk.url, "async", tmp_path, prefix=disk.prefix(tmp_path), workers=1, name="disk")
    disk.pid = inst.proc.pid
    acked: list[tuple[str, str]] = []
    refused = 0
    try:
        def write(tag: str) -> int:
            nonlocal refused
            status, answer, headers = _new_user(inst, world["write"], tag)
            if status == 201:
                acked.append((answer["id"], f"{tag}@example.org"))
            else:
                assert _is_outage_answer(status, answer, headers), (status, answer)  # never a 500
                assert "disk is full" in answer["error"]["message"], answer
                refused += 1
            return status

        assert write("disk-before") == 201
        disk.fill()
        # SQLite first fills the free pages of its WAL and file: writes until the first 503
        assert _until(lambda: write(f"disk-full-{len(acked)}-{refused}") == 503, 30), f"no 503 after {len(acked)}"
        for i in range(5):
            assert write(f"disk-still-full-{i}") == 503
        # reads keep answering: facts, events, checks
        ref = acked[0][0]
        assert call(inst.port, "GET", f"/v1/users/{ref.split(':')[1]}", world["write"])[0] == 200
        assert call(inst.port, "GET", "/v1/events?after=0&limit=5", world["write"])[0] == 200
        refs = world["refs"]
        status, answer, _ = call(inst.port, "POST", "/v1/check", world["check"],
                                 {"actor": refs["paula"], "action": "access_account", "resource": refs["pixelhaus"]})
        assert status == 200 and answer["allowed"] is True, answer
        disk.free()
        assert _until(lambda: write(f"disk-after-{len(acked)}-{refused}") == 201, 15), "writes did not come back"
        found = _found(inst, world["write"], acked)
        print(f"full SQLite disk: writes acknowledged {len(acked)}, found {found}, refused (503) {refused}")
        assert found == len(acked)  # nothing acknowledged lost
        text = inst.log()
        assert logged_tracebacks(text) <= 2, text[-3000:]  # the outage's, and the recorder's
        assert "sqlite: database or disk is full" in text, text[-3000:]
    finally:
        _stop(inst.proc)


def _backup(path: Path, to: Path) -> None:
    """A consistent copy of the store (the SQLite backup API), as a restore would bring back."""
    source, target = sqlite3.connect(path), sqlite3.connect(to)
    with target:
        source.backup(target)
    source.close()
    target.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f"{path.name}*"))


def test_a_store_file_deleted_then_replaced_while_serving_is_503_and_never_recreated(sqlite_world: dict[str, Any],
                                                                                     tmp_path: Path) -> None:
    world, path = sqlite_world, sqlite_world["path"]
    inst = _serve(world["url"], "durable", tmp_path, name="deleted")
    refs = world["refs"]
    check = {"actor": refs["paula"], "action": "access_account", "resource": refs["pixelhaus"]}
    try:
        status, answer, _ = _new_user(inst, world["write"], "before-delete")
        assert status == 201, answer
        written = answer["id"].split(":")[1]
        assert call(inst.port, "POST", "/v1/check", world["check"], check)[0] == 200
        _backup(path, tmp_path / "restore.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

        def refused_everywhere(tag: str) -> None:
            for _ in range(4):  # both workers, several threads
                status, answer, headers = call(inst.port, "POST", "/v1/check", world["check"], check)
                assert _is_outage_answer(status, answer, headers), (tag, status, answer)
                status, answer, headers = _new_user(inst, world["write"], f"{tag}-write")
                assert _is_outage_answer(status, answer, headers), (tag, status, answer)
                status, answer, headers = call(inst.port, "GET", "/v1/users/1", world["write"])
                assert _is_outage_answer(status, answer, headers), (tag, status, answer)
                status, ready, _ = call(inst.port, "GET", "/readyz", world["check"])
                assert status == 503 and ready["ready"] is False and ready["store_reachable"] is False, ready

        refused_everywhere("deleted")
        assert _store_files(path) == [], "the service created a new store file"
        # a restore copied into place: another file than the one the service opened, still refused
        shutil.copyfile(tmp_path / "restore.db", path)
        restored = _digest(path)
        refused_everywhere("replaced")
        # opening the restore may make its (empty) -wal and -shm; nothing is written into it
        assert _digest(path) == restored, "the service wrote into the restore"
        assert set(_store_files(path)) <= {"authz.db", "authz.db-wal", "authz.db-shm"}, _store_files(path)
        assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
        assert "deleted or replaced" in inst.log()
        assert logged_tracebacks(inst.log()) <= 2 * 2, inst.log()[-3000:]
    finally:
        _stop(inst.proc)
    # a restart serves the restored file (the write made before the backup is in it)
    again = _serve(world["url"], "durable", tmp_path, name="restarted")
    try:
        status, answer, _ = call(again.port, "GET", f"/v1/users/{written}", world["write"])
        assert status == 200 and answer["email"] == "before-delete@example.org", answer
        assert call(again.port, "POST", "/v1/check", world["check"], check)[0] == 200
    finally:
        _stop(again.proc)
