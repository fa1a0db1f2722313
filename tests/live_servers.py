"""Real service instances for tests: gunicorn masters on free ports over a given store.

Each instance is its own gunicorn master (no control socket, so several can run side by
side), as in production behind a load balancer. AUTHZ_TEST_PORTS="8500-8599" keeps the
ports in a range (a shared machine); otherwise the kernel picks free ones.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 60


_handed_out: set[int] = set()  # a port is given once per test run: a server may not have bound it yet


def free_port() -> int:
    low, _, high = os.environ.get("AUTHZ_TEST_PORTS", "").partition("-")
    candidates = range(int(low), int(high) + 1) if low and high else [0] * 100
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port" + (f" in AUTHZ_TEST_PORTS={low}-{high}" if low else ""))


def start(store_url: str, port: int, threads: int = 4) -> subprocess.Popen:
    """One gunicorn master with one gthread worker on 127.0.0.1:port serving store_url."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    env = {**os.environ, "DATABASE_URL": store_url, "AUTHZ_DECISION_LOG": "off",
           "AUTHZ_SHAPE_TABLE": "0"}  # the table changes no decision, only start-up time
    return subprocess.Popen([gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", str(threads),
                             "--worker-class", "gthread", "--no-control-socket", "--log-level", "warning",
                             "service.wsgi:app"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_ready(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def instances(store_url: str, count: int) -> Iterator[list[str]]:
    """count separate service instances on store_url; their base URLs."""
    procs: list[subprocess.Popen] = []
    ports: list[int] = []
    try:
        for _ in range(count):
            ports.append(free_port())
            procs.append(start(store_url, ports[-1]))
        deadline = time.monotonic() + START_SECONDS
        for port, proc in zip(ports, procs):
            wait_ready(port, proc, deadline)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        stop(procs)


def request(base_url: str, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, Any]:
    """One plain HTTP call (writes in tests; decisions go through the client under test)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()
