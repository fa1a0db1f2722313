"""A bounded HTTP client: sequential timings and a concurrent load of N processes.

Only the standard library (http.client), so the client's cost is the same for
the service and for the floor app. Processes rather than threads: with threads
the client's own GIL would cap the rate it can offer on a 2-core machine.
Connections are kept alive when the server allows it (gunicorn's sync workers
close after each response; http.client then reconnects transparently).
"""
from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_S = 10.0


@dataclass
class Timing:
    """Latencies in µs of the requests that succeeded, and what the others answered."""

    latencies_us: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)   # non-2xx status -> count
    errors: list[str] = field(default_factory=list)          # connection errors (first few)
    seconds: float = 0.0
    last_body: Any = None

    def merge(self, other: "Timing") -> None:
        """Add another run's requests (and its duration) to this one."""
        self.latencies_us.extend(other.latencies_us)
        self.errors.extend(other.errors[:1])
        for code, n in other.statuses.items():
            self.statuses[code] = self.statuses.get(code, 0) + n
        self.seconds += other.seconds

    @property
    def ok(self) -> int:
        return len(self.latencies_us)

    def failure(self) -> str | None:
        """Why the figure is n/a (most requests failed), or None."""
        failed = sum(self.statuses.values()) + len(self.errors)
        if self.ok and failed <= self.ok // 10:
            return None
        parts = [f"HTTP {code} x{n}" for code, n in sorted(self.statuses.items())]
        parts += self.errors[:2]
        if 404 in self.statuses or 405 in self.statuses:
            parts.append("the endpoint is not there (yet)")
        return "; ".join(parts) or "no request completed"


class Client:
    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            self.conn.request("POST", path, body=body, headers=self.headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # a fresh connection next time
            raise

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def sequential(port: int, path: str, bodies: list[bytes], headers: dict[str, str], *,
               max_seconds: float) -> Timing:
    """Send each body once, in order, one at a time (stops early after max_seconds)."""
    timing = Timing()
    client = Client(port, headers)
    deadline = time.perf_counter() + max_seconds
    started = time.perf_counter()
    try:
        for body in bodies:
            if time.perf_counter() > deadline:
                break
            _timed(client, path, body, timing)
    finally:
        client.close()
        timing.seconds = time.perf_counter() - started
    return timing


def _timed(client: Client, path: str, body: bytes, timing: Timing, record: bool = True) -> None:
    t0 = time.perf_counter()
    try:
        status, payload = client.post(path, body)
    except (http.client.HTTPException, OSError) as exc:
        if len(timing.errors) < 5:
            timing.errors.append(f"{type(exc).__name__}: {exc}")
        return
    elapsed = (time.perf_counter() - t0) * 1e6
    if not record:
        return
    if 200 <= status < 300:
        timing.latencies_us.append(elapsed)
        timing.last_body = payload
    else:
        timing.statuses[status] = timing.statuses.get(status, 0) + 1
        try:
            timing.last_body = json.loads(payload)
        except ValueError:
            timing.last_body = payload[:200]


def _load_worker(args: tuple) -> Timing:
    port, path, bodies, headers, start_at, stop_at, max_requests = args
    timing = Timing()
    client = Client(port, headers)
    i = 0
    try:
        # warm-up until the common start time (not recorded), then measure until stop_at
        while time.time() < start_at and i < max_requests:
            _timed(client, path, bodies[i % len(bodies)], timing, record=False)
            i += 1
        timing.errors.clear()
        n = 0
        while time.time() < stop_at and n < max_requests:
            _timed(client, path, bodies[(i + n) % len(bodies)], timing)
            n += 1
    finally:
        client.close()
    timing.last_body = None  # keep what crosses the process boundary small
    return timing


def load(port: int, path: str, bodies: list[bytes], headers: dict[str, str], *, connections: int,
         seconds: float, warmup: float, max_requests: int = 1_000_000) -> Timing:
    """`connections` processes hammer path for `seconds` after a common warm-up; merged timings."""
    ctx = mp.get_context("fork")
    start_at = time.time() + warmup
    stop_at = start_at + seconds
    jobs = [(port, path, bodies[k::connections] or bodies, headers, start_at, stop_at, max_requests)
            for k in range(connections)]
    merged = Timing(seconds=seconds)
    with ctx.Pool(connections) as pool:
        results = pool.map_async(_load_worker, jobs).get(timeout=warmup + seconds + 60)
    for t in results:
        t.seconds = 0.0  # the processes ran side by side: the duration is the common window
        merged.merge(t)
    return merged
