"""`make bench-replicas`: what an instance on a PostgreSQL standby adds, measured (issue 22 item 6).

Starts its own primary and streaming standby (`bash .ci/start-standby 5462 5463`; BENCH_PAIR_PORTS
to change), loads the demo world on the primary (its database authz_standby is WIPED) and serves it
with `authz serve` twice: an instance on the primary, and one on the standby with AUTHZ_PRIMARY_URL.
Each run then measures, in the same run and with the same client load (bench/client.py's processes,
kept-alive connections):
1. `/v1/check` throughput of the instance on the primary alone, then of both instances together
   (the same client processes, half on each), in alternating rounds: the ratio together / alone;
2. the standby's lag under write load: fact writes (POST /v1/users) at a steady rate on the primary
   instance; each write's lag is the time until the standby instance answers a check with
   `min_revision` = the write's revision (not 409 stale_store), and pg_stat_replication's replay_lag
   is sampled on the primary meanwhile.
Three runs by default; prints each run's ratio and lag percentiles. On one host both instances share
its cores: the ratio says what a standby costs or gives there, not what a second host would add.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import queue
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import psycopg2

from . import client
from .authz_serve import ROOT, DemoStore, check_body, demo_store, percentile, served

RESULTS = Path(__file__).resolve().parent / "results"
PAIR_PORTS = tuple(os.environ.get("BENCH_PAIR_PORTS", "5462 5463").split())


@dataclass(frozen=True)
class Pair:
    primary: str
    standby: str
    socket_dir: str  # the clusters' socket directory: pg_stat_replication is read there as postgres


def start_pair() -> Pair:
    done = subprocess.run(["bash", str(ROOT / ".ci" / "start-standby"), *PAIR_PORTS], capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"bench-replicas: .ci/start-standby {' '.join(PAIR_PORTS)} failed:\n{done.stderr[-2000:]}")
    urls = dict(line.split("=", 1) for line in done.stdout.split())
    base = os.environ.get("AUTHZ_STANDBY_DIR", f"/var/tmp/authz-standby-{PAIR_PORTS[0]}")
    return Pair(urls["TEST_POSTGRES_PRIMARY_URL"], urls["TEST_POSTGRES_STANDBY_URL"], base)


def superuser(pair: Pair):  # type: ignore[no-untyped-def]
    """A connection to the primary as postgres over its socket (pg_stat_replication shows lag to it)."""
    conn = psycopg2.connect(host=pair.socket_dir, port=urlparse(pair.primary).port, user="postgres",
                            dbname="postgres")
    conn.autocommit = True
    return conn


def wait_replayed(pair: Pair, timeout: float = 30.0) -> None:
    with superuser(pair) as conn, conn.cursor() as cur:
        ends = time.monotonic() + timeout
        while True:
            cur.execute("SELECT coalesce(bool_and(replay_lsn >= pg_current_wal_lsn()), false) FROM pg_stat_replication")
            if cur.fetchone()[0]:
                return
            if time.monotonic() > ends:
                raise SystemExit("bench-replicas: the standby did not replay within 30 s")
            time.sleep(0.05)


# -- throughput ---------------------------------------------------------------------------------


def throughput(ports: list[int], store: DemoStore, connections: int, seconds: float, warmup: float) -> float:
    """Checks per second answered by the instances on `ports` together: `connections` client processes
    (bench/client.py's), dealt round-robin to the ports, all in the same window."""
    bodies = [check_body(store, actor, action, resource) for actor in ("anna", "bernd", "carla", "alma")
              for action in ("access_account", "add_customer", "manage_product")
              for resource in ("baeckerei", "webwerk", "baeckerei_web")]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {store.check_key}"}
    start_at = time.time() + warmup
    jobs = [(ports[k % len(ports)], "/v1/check", bodies[k::connections] or bodies, headers, start_at,
             start_at + seconds, 1_000_000) for k in range(connections)]
    with mp.get_context("fork").Pool(connections) as pool:
        timings = pool.map_async(client._load_worker, jobs).get(timeout=warmup + seconds + 60)
    merged = client.Timing(seconds=seconds)
    for timing in timings:
        timing.seconds = 0.0  # side by side: the window is common
        merged.merge(timing)
    if merged.failure():
        raise SystemExit(f"bench-replicas: checks failed: {merged.failure()}")
    return merged.ok / seconds


# -- lag ----------------------------------------------------------------------------------------


def _post(conn: http.client.HTTPConnection, path: str, key: str, body: dict) -> tuple[int, dict]:
    conn.request("POST", path, json.dumps(body), {"Authorization": f"Bearer {key}",
                                                  "Content-Type": "application/json"})
    reply = conn.getresponse()
    return reply.status, json.loads(reply.read())


def lag(pair: Pair, store: DemoStore, primary_port: int, standby_port: int, rate: float,
        seconds: float) -> dict[str, list[float]]:
    """Writes at `rate` per second for `seconds` on the primary instance; per write, the ms until the
    standby instance answers at its revision; replay_lag samples (ms) meanwhile."""
    written: queue.Queue = queue.Queue()
    seen_ms: list[float] = []
    replay_ms: list[float] = []
    done = threading.Event()

    def write() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", primary_port, timeout=10)
        started, n = time.monotonic(), 0
        while time.monotonic() - started < seconds:
            status, answer = _post(conn, "/v1/users", store.write_key,
                                   {"email": f"lag-{os.getpid()}-{time.time_ns()}@example.com", "name": "Lag"})
            if status != 201 and status != 200:
                raise SystemExit(f"bench-replicas: a write answered {status}: {answer}")
            written.put((answer["revision"], time.monotonic()))
            n += 1
            time.sleep(max(0.0, started + n / rate - time.monotonic()))  # a steady rate, not as fast as possible
        done.set()

    def follow() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", standby_port, timeout=10)
        while not (done.is_set() and written.empty()):
            try:
                revision, committed = written.get(timeout=0.2)
            except queue.Empty:
                continue
            while _post(conn, "/v1/check", store.check_key,
                        json.loads(check_body(store, min_revision=revision)))[0] == 409:
                time.sleep(0.002)  # stale_store: not replayed yet
            seen_ms.append((time.monotonic() - committed) * 1000)

    def sample() -> None:
        with superuser(pair) as conn, conn.cursor() as cur:
            while not done.is_set():
                cur.execute("SELECT extract(epoch FROM replay_lag) FROM pg_stat_replication")
                row = cur.fetchone()
                if row and row[0] is not None:
                    replay_ms.append(float(row[0]) * 1000)
                time.sleep(0.1)

    threads = [threading.Thread(target=f) for f in (write, follow, follow, sample)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seen_ms": seen_ms, "replay_lag_ms": replay_ms}


# -- the runs -----------------------------------------------------------------------------------


def one_run(pair: Pair, store: DemoStore, ports: tuple[int, int], args: argparse.Namespace) -> dict:
    alone, together = [], []
    for _ in range(args.rounds):  # alternating, so that a drift of the machine's load hits both
        alone.append(throughput([ports[0]], store, args.connections, args.seconds, args.warmup))
        together.append(throughput(list(ports), store, args.connections, args.seconds, args.warmup))
    lags = lag(pair, store, ports[0], ports[1], args.write_rate, args.lag_seconds)
    return {"alone_per_s": statistics.median(alone), "together_per_s": statistics.median(together),
            "ratio": statistics.median(together) / statistics.median(alone), "rounds_alone": alone,
            "rounds_together": together, "load_average": os.getloadavg(), **{
                key: summary(values) for key, values in lags.items()}}


def summary(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    return {"count": len(values), "p50": percentile(values, 0.5), "p90": percentile(values, 0.9),
            "p99": percentile(values, 0.99), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating alone/together rounds per run")
    parser.add_argument("--connections", type=int, default=8, help="client processes (default 8)")
    parser.add_argument("--seconds", type=float, default=5.0, help="each throughput window")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--write-rate", type=float, default=20.0, help="fact writes per second in the lag phase")
    parser.add_argument("--lag-seconds", type=float, default=10.0)
    parser.add_argument("--ports", default="9000,9001", help="the two instances' ports")
    parser.add_argument("--workers", type=int, default=2, help="workers per instance")
    args = parser.parse_args()
    pair = start_pair()
    store = demo_store(pair.primary)
    wait_replayed(pair)
    ports = tuple(int(p) for p in args.ports.split(","))
    logs = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    runs = []
    with served(pair.primary, ports[0], logs / "primary.log", workers=args.workers), \
            served(pair.standby, ports[1], logs / "standby.log", workers=args.workers, AUTHZ_PRIMARY_URL=pair.primary):
        for run in range(args.runs):
            runs.append(one_run(pair, store, ports, args))  # type: ignore[arg-type]
            print(line(run + 1, runs[-1]), flush=True)
    report(runs, args)


def line(number: int, run: dict) -> str:
    seen, replay = run["seen_ms"], run["replay_lag_ms"]
    return (f"run {number}: alone {run['alone_per_s']:,.0f}/s, primary + standby {run['together_per_s']:,.0f}/s, "
            f"ratio {run['ratio']:.2f}; lag seen by the standby instance p50 {seen.get('p50', 0):.1f} ms "
            f"p99 {seen.get('p99', 0):.1f} ms max {seen.get('max', 0):.1f} ms ({seen['count']} writes); "
            f"replay_lag p50 {replay.get('p50', 0):.1f} ms p99 {replay.get('p99', 0):.1f} ms "
            f"({replay['count']} samples); load average {run['load_average'][0]:.1f}")


def report(runs: list[dict], args: argparse.Namespace) -> None:
    print()
    print(f"{args.connections} client processes, {args.workers} workers per instance, {args.seconds:.0f} s windows x "
          f"{args.rounds} rounds; writes at {args.write_rate:.0f}/s for {args.lag_seconds:.0f} s")
    print("| run | alone /s | primary + standby /s | ratio | lag seen p50 ms | p99 ms | max ms | "
          "replay_lag p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for number, run in enumerate(runs, 1):
        seen, replay = run["seen_ms"], run["replay_lag_ms"]
        print(f"| {number} | {run['alone_per_s']:,.0f} | {run['together_per_s']:,.0f} | {run['ratio']:.2f} | "
              f"{seen.get('p50', 0):.1f} | {seen.get('p99', 0):.1f} | {seen.get('max', 0):.1f} | "
              f"{replay.get('p50', 0):.1f} | {replay.get('p99', 0):.1f} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest-replicas.json").write_text(json.dumps({"settings": vars(args), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
