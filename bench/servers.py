"""Starting and stopping the gunicorn servers the benchmark measures (always stopped: use as a context)."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 2
START_TIMEOUT_S = 60.0
# the service's own gunicorn settings (worker class, threads, timeouts), for the floor app as well
CONFIG = "python:service.gunicorn_conf"


def threads() -> int:
    """Threads per worker, as service/gunicorn_conf.py sets them."""
    from service.gunicorn_conf import threads as configured
    return configured


class ServerError(RuntimeError):
    pass


def _ready(port: int, path: str = "/healthz") -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # as gunicorn does: connections of a previous run in TIME_WAIT do not make the port busy
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers: the master's child processes."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (/proc/<pid>/stat), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process (VmRSS of /proc/<pid>/status) in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


@contextmanager
def gunicorn(app: str, port: int, log_path: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    """Serve `app` (module:variable) on 127.0.0.1:port with WORKERS workers under the service's gunicorn
    config (keep-alive gthread workers); yields the master pid."""
    args = [sys.executable, "-m", "gunicorn", "--config", CONFIG, "--bind", f"127.0.0.1:{port}",
            "--workers", str(WORKERS),
            "--log-level", "warning", app]
    with until_ready(args, port, log_path, env, workers=WORKERS, label=app) as pid:
        yield pid


@contextmanager
def until_ready(args: list[str], port: int, log_path: Path, env: dict[str, str] | None = None, *,
                workers: int, label: str, ready_path: str = "/healthz",
                timeout_s: float = START_TIMEOUT_S) -> Iterator[int]:
    """Run a preforking server (args) in its own session until the block ends: waits until
    GET ready_path answers 200 on port and the master has `workers` children; yields the master's pid;
    always stops it (SIGTERM, then SIGKILL to the session)."""
    if _ready(port, ready_path) or not _port_free(port):
        raise ServerError(f"port {port} is already in use")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not _ready(port, ready_path) or len(worker_pids(proc.pid)) < workers:
            if proc.poll() is not None:
                raise ServerError(f"{label} exited with {proc.returncode}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise ServerError(f"{label} not ready on port {port} after {timeout_s:.0f} s:\n{_tail(log_path)}")
            time.sleep(0.1)
        yield proc.pid
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we started (start_new_session)
            proc.wait(timeout=5)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
