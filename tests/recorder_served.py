"""A served instance (gunicorn, 2 workers, its own process group) for the decision recorder's fault
tests, and a load of concurrent checks whose acknowledged decision ids are kept with the time each
answer arrived."""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from live_servers import ROOT, free_port, wait_ready

CHECKS = [("user:1", "access_account", "organization:1"), ("user:2", "add_customer", "organization:1"),
          ("user:3", "manage_product", "product:8"), ("user:13", "access_account", "organization:5")]


def serve(store_url: str, mode: str, *, prefix: list[str] | None = None, cwd: Path = ROOT,
          extra_env: dict[str, str] | None = None, workers: int = 2) -> tuple[subprocess.Popen, int]:
    """gunicorn in a process group of its own (killpg kills master and workers alike); ready to answer."""
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    env = {**os.environ, "DATABASE_URL": store_url, "AUTHZ_DECISION_LOG": "off", "AUTHZ_SHAPE_TABLE": "0",
           "AUTHZ_DECISION_STORE": mode, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    proc = subprocess.Popen([*(prefix or []), gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                             "--threads", "4", "--worker-class", "gthread", "--no-control-socket",
                             "--log-level", "warning", "service.wsgi:app"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    wait_ready(port, proc, time.monotonic() + 60)
    return proc, port


def stop(proc: subprocess.Popen) -> str:
    """Stop the instance (gracefully, then by force); its standard error."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    return err or ""


def call(port: int, method: str, path: str, key: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


class Load:
    """`threads` clients checking in a loop on kept-alive connections; acknowledged ids with their times."""

    def __init__(self, port: int, key: str, threads: int = 6) -> None:
        self.port, self.key, self.acked = port, key, []
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def _run(self, n: int) -> None:
        conn = None
        i = n
        while not self._stop.is_set():
            actor, action, resource = CHECKS[i % len(CHECKS)]
            i += 1
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("POST", "/v1/check", body=json.dumps({"actor": actor, "action": action,
                                                                  "resource": resource}),
                             headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
                resp = conn.getresponse()
                body = json.loads(resp.read())
                at = time.monotonic()
            except (OSError, http.client.HTTPException, ValueError):
                conn = None
                time.sleep(0.02)  # the server is down or restarting
                continue
            with self._lock:
                self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
                if resp.status == 200:
                    self.acked.append((at, body["decision_id"]))


LOOKUP_CONNECTIONS = 4  # lookups of thousands of ids one connection at a time took ~70 s of a suite run


def missing(port: int, key: str, ids: list[str]) -> list[str]:
    """The ids GET /v1/decisions/{id} does not find (any answer but 200 and 404 fails), asked over
    LOOKUP_CONNECTIONS kept-alive connections at once; in the order of `ids`."""
    shares = [ids[i::LOOKUP_CONNECTIONS] for i in range(LOOKUP_CONNECTIONS)]
    with ThreadPoolExecutor(LOOKUP_CONNECTIONS) as pool:
        absent = {found for share in pool.map(lambda share: _missing_on_one(port, key, share), shares)
                  for found in share}
    return [decision_id for decision_id in ids if decision_id in absent]


def _missing_on_one(port: int, key: str, ids: list[str]) -> list[str]:
    absent = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # kept alive: one per lookup costs more
    try:
        for decision_id in ids:
            conn.request("GET", f"/v1/decisions/{decision_id}", headers={"Authorization": f"Bearer {key}"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status in (200, 404), resp.status
            if resp.status == 404:
                absent.append(decision_id)
    finally:
        conn.close()
    return absent


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []
