"""`make bench` / `make bench-quick`: measure the decision path and print figures beside their targets.

One run: generate a seeded world, load it through load_world() into a fresh
SQLite file under /tmp/bench-*/, time in-process Engine.decide() (cold and
warm), then serve it with gunicorn next to a bare Flask floor app and time
POST /v1/check, /v1/check/batch and /v1/list; finally the same lists on a 10x
world and one worker's resident memory. Prints a markdown table and writes it
to bench/results/<date>.md plus bench/results/latest.json.

A figure whose endpoint is missing or failing is n/a (null in JSON) with the
reason in the notes; the run itself does not fail for it.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from service.store import database, init_schema, open_database
from service.store.world import load_world

from . import client, servers
from .checks import Check, distinct_checks, zipf_sequence
from .world import BenchWorld, generate, row_count

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
PHASE_CAP_S = 120.0  # no single in-process loop runs longer than this


@dataclass(frozen=True)
class Settings:
    name: str
    partners: int
    customers_per_partner: int
    products_per_customer: int
    large_scale: int
    cold: int
    warm_distinct: int
    warm_calls: int
    http_seconds: float
    http_warmup: float
    connections: int
    batch_reps: int
    list_reps: int
    large_check_seconds: float
    sequential_reps: int
    http_rounds: int


FULL = Settings("full", 50, 200, 3, 10, 2000, 500, 5000, 10.0, 1.0, 8, 50, 50, 3.0, 1000, 4)
QUICK = Settings("quick", 5, 200, 3, 2, 500, 200, 2000, 2.0, 0.5, 8, 10, 15, 1.0, 300, 2)

# (key, label, unit, target as text, predicate on (value, figures) -> met?)
Target = Callable[[float, dict[str, Any]], bool]
ROWS: list[tuple[str, str, str, str, Target | None]] = [
    ("decide_cold_median_us", "decide() cold, median", "µs", "≤ 300", lambda v, f: v <= 300),
    ("decide_cold_p99_us", "decide() cold, p99", "µs", "≤ 1000", lambda v, f: v <= 1000),
    ("decide_warm_median_us", "decide() warm Zipf mix, median", "µs", "≤ 30", lambda v, f: v <= 30),
    ("http_check_rps", "POST /v1/check, requests/s", "req/s", "≥ 60% of floor",
     lambda v, f: f.get("http_floor_rps") is not None and v >= 0.6 * f["http_floor_rps"]),
    ("http_floor_rps", "floor (bare Flask), requests/s", "req/s", "", None),
    ("http_check_median_us", "POST /v1/check, median", "µs", "≤ 1.5× floor median",
     lambda v, f: f.get("http_floor_median_us") is not None and v <= 1.5 * f["http_floor_median_us"]),
    ("http_floor_median_us", "floor, median", "µs", "", None),
    ("batch100_median_ms", "POST /v1/check/batch (100 fresh checks), median", "ms", "≤ 15", lambda v, f: v <= 15),
    ("list_admin_ms", "POST /v1/list administrator, median", "ms", "≤ 5", lambda v, f: v <= 5),
    ("list_collaborator_ms", "POST /v1/list collaborator, median", "ms", "≤ 3", lambda v, f: v <= 3),
    ("list_admin_100k_ms", "POST /v1/list administrator, 10× world", "ms", "≤ 7.5 (1.5× of 5)",
     lambda v, f: v <= 7.5),
    ("list_collaborator_100k_ms", "POST /v1/list collaborator, 10× world", "ms", "≤ 4.5 (1.5× of 3)",
     lambda v, f: v <= 4.5),
    ("worker_rss_mb_100k", "one worker's RSS, 10× world", "MB", "≤ 150", lambda v, f: v <= 150),
]
JSON_KEYS = [r[0] for r in ROWS] + ["commit"]


@dataclass
class Report:
    figures: dict[str, float | None] = field(default_factory=lambda: {k: None for k, *_ in ROWS})
    notes: dict[str, str] = field(default_factory=dict)     # figure -> why n/a
    extra: list[tuple[str, str]] = field(default_factory=list)  # (label, value) context rows

    def put(self, key: str, value: float | None, why: str | None = None) -> None:
        self.figures[key] = None if value is None else round(value, 1)
        if value is None:
            self.notes[key] = why or "not measured"

    def fail(self, keys: list[str], why: str) -> None:
        for key in keys:
            if self.figures.get(key) is None and key not in self.notes:
                self.put(key, None, why)

    def add(self, label: str, value: str) -> None:
        self.extra.append((label, value))
        print(f"  {label}: {value}", flush=True)


# -- helpers ---------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def git_commit() -> str:
    try:
        short = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        # the results this command writes itself do not make the tree dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", ":(exclude)bench/results"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return short + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def close_store() -> None:
    if database.obj is not None and not database.is_closed():
        database.close()


def load_into(path: Path, world: BenchWorld) -> tuple[dict[str, str], float]:
    """Load world into a fresh SQLite file through load_world(); (key map, seconds)."""
    close_store()
    open_database(f"sqlite:///{path}")
    database.connect(reuse_if_open=True)
    init_schema()
    started = time.perf_counter()
    refs = load_world(world.data)
    seconds = time.perf_counter() - started
    activate_repository_policy()
    return refs, seconds


def activate_repository_policy() -> None:
    """The served engine decides with the store's active version: policies/, as `make run` does."""
    from service.authz.engine import POLICY_DIR
    from service.authz.policy_candidates import activate, read_candidate
    activate(read_candidate(POLICY_DIR), "bench", if_changed=True)


def create_key(db_path: Path) -> tuple[str | None, str | None]:
    """A check-scoped API key from `authz keys create` (its last line), or (None, why)."""
    authz = Path(sys.executable).parent / "authz"
    cmd = [str(authz)] if authz.exists() else [sys.executable, "-m", "service.cli"]
    cmd += ["keys", "create", "--name", "bench", "--scope", "check"]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}"}
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"`authz keys create` failed: {exc}"
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"`authz keys create` exited {done.returncode}: {last}"
    return lines[-1].strip(), None


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def check_body(check: Check) -> bytes:
    actor, action, resource = check
    return body({"actor": actor, "action": action, "resource": resource})


def result_count(payload: Any) -> int | None:
    """How many items a /v1/list answer holds (the first list found in it)."""
    try:
        data = json.loads(payload) if isinstance(payload, (bytes, str)) else payload
    except ValueError:
        return None
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        for key in ("ids", "items", "results", "resources", "data"):
            if isinstance(data.get(key), list):
                return len(data[key])
        for value in data.values():
            if isinstance(value, list):
                return len(value)
    return None


def ms(us: float) -> float:
    return us / 1000.0


# -- phases ----------------------------------------------------------------------

def timed_decides(engine: Any, checks: list[Check]) -> tuple[list[float], int]:
    """µs per decide() and how many were allowed (bounded by PHASE_CAP_S)."""
    out: list[float] = []
    allowed = 0
    deadline = time.perf_counter() + PHASE_CAP_S
    clock = time.perf_counter_ns
    for actor, action, resource in checks:
        t0 = clock()
        decision = engine.decide(actor, action, resource)
        out.append((clock() - t0) / 1000.0)
        allowed += bool(decision.allowed)
        if time.perf_counter() > deadline:
            break
    return out, allowed


def decide_phase(report: Report, cold: list[Check], warm: list[Check], profile: list[Check]) -> None:
    from service.authz.engine import Engine

    # First without the shape table, for the cost of first sights (context, not a target) ...
    first_sight = Engine(shape_table=False)
    # As service/wsgi.py does after start-up: long-lived objects (here also the bench's own world)
    # leave the collector's generations, so full collections do not walk them during the timing.
    gc.freeze()
    cold_us, _ = timed_decides(first_sight, cold)
    learnt = len(first_sight.patterns.entries) if first_sight.patterns else 0
    report.add("cold sample without the shape table (AUTHZ_SHAPE_TABLE=0)",
               f"median {statistics.median(cold_us):.0f} µs, p99 {percentile(cold_us, 0.99):.0f} µs, "
               f"{learnt} first sights evaluated by Polar")
    # ... then the engine as served (service/wsgi.py turns the table on): the figures.
    started = time.perf_counter()
    engine = Engine(shape_table=True)
    report.add("Engine() start-up with the shape table", f"{(time.perf_counter() - started) * 1000:.0f} ms "
               f"({len(engine.patterns.table) if engine.patterns else 0} shapes)")
    gc.freeze()
    cold_us, cold_allowed = timed_decides(engine, cold)
    report.put("decide_cold_median_us", statistics.median(cold_us))
    report.put("decide_cold_p99_us", percentile(cold_us, 0.99))
    learnt = len(engine.patterns.entries) if engine.patterns else 0
    report.add("cold sample", f"{len(cold_us)} distinct checks, {100 * cold_allowed / len(cold_us):.0f}% allowed, "
                              f"{learnt} shapes outside the table evaluated by Polar")
    warm_us, warm_allowed = timed_decides(engine, warm)
    report.put("decide_warm_median_us", statistics.median(warm_us))
    report.add("warm sample", f"{len(warm_us)} calls over {len(set(warm))} distinct checks (Zipf s=1.1), "
                              f"{100 * warm_allowed / len(warm_us):.0f}% allowed, p99 {percentile(warm_us, 0.99):.0f} µs")
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        timed_decides(engine, profile)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        text.write(f"cProfile of {len(profile)} cold decide() calls (fresh checks), by own time:\n")
        stats.sort_stats("tottime").print_stats(20)
        text.write("by cumulative time:\n")
        stats.sort_stats("cumulative").print_stats(25)
        print(text.getvalue(), flush=True)


def _summ(timing: client.Timing) -> tuple[float, float, float]:
    """(requests/s, median µs, p99 µs)."""
    return timing.ok / timing.seconds, statistics.median(timing.latencies_us), percentile(timing.latencies_us, 0.99)


def list_median(port: int, headers: dict[str, str], actor: str, reps: int) -> tuple[float | None, str]:
    """Median ms of POST /v1/list for actor's customers, and the result size (or why n/a)."""
    payload = body({"actor": actor, "action": "access_account", "resource_type": "organization",
                    "page_size": 1000})
    timing = client.sequential(port, "/v1/list", [payload] * reps, headers, max_seconds=30)
    why = timing.failure()
    if why:
        return None, f"POST /v1/list: {why} {_short(timing.last_body)}"
    count = result_count(timing.last_body)
    return ms(statistics.median(timing.latencies_us)), f"{count if count is not None else '?'} results"


def _short(payload: Any) -> str:
    """A short excerpt of an error answer for the n/a note."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", "replace")
    text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    return f"({' '.join(text.split())[:160]})" if payload else ""


def http_phase(report: Report, s: Settings, db_path: Path, tmp: Path, world: BenchWorld,
               refs: dict[str, str], mix: list[Check], batch_pool: list[Check], ports: list[int]) -> None:
    key, why = create_key(db_path)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if why:
        report.add("API key", f"none ({why}); requests sent without Authorization")
    env = {"DATABASE_URL": f"sqlite:///{db_path}", "AUTHZ_DECISION_LOG": "off"}
    with servers.gunicorn("service.wsgi:app", ports[0], tmp / "service.log", env) as master, \
            servers.gunicorn("bench.floor_app:app", ports[1], tmp / "floor.log", env):
        bodies = [check_body(c) for c in mix]
        figures = {}
        # Interleave short rounds (check, floor, floor, check, ...) so that load from anything else on
        # the machine weighs on both sides of the ratio alike.
        timings = {"check": client.Timing(), "floor": client.Timing()}
        targets = {"check": (ports[0], headers), "floor": (ports[1], {})}
        for r in range(s.http_rounds):
            for name in (("check", "floor") if r % 2 == 0 else ("floor", "check")):
                port, hdrs = targets[name]
                timings[name].merge(client.load(
                    port, "/v1/check", bodies, hdrs, connections=s.connections,
                    seconds=s.http_seconds / s.http_rounds, warmup=s.http_warmup if r == 0 else 0.2))
        for name, timing in timings.items():
            failure = timing.failure()
            if failure:
                report.fail([f"http_{name}_rps", f"http_{name}_median_us"], f"POST /v1/check on {name}: {failure}")
                continue
            rps, median, p99 = _summ(timing)
            figures[name] = (rps, median, p99)
            report.put(f"http_{name}_rps", rps)
            report.put(f"http_{name}_median_us", median)
            report.add(f"{name} p99", f"{p99:.0f} µs ({timing.ok} requests in {timing.seconds:.0f} s, "
                                      f"{s.connections} connections, {s.http_rounds} interleaved rounds)")
        # the floor figure (~0.5 ms) is for a sequential client: show that too, as context
        for name, port in (("check", ports[0]), ("floor", ports[1])):
            timing = client.sequential(port, "/v1/check", bodies[:s.sequential_reps],
                                       headers if name == "check" else {}, max_seconds=20)
            if not timing.failure():
                report.add(f"{name} median, sequential client", f"{statistics.median(timing.latencies_us):.0f} µs "
                                                               f"({timing.ok} requests, 1 connection)")
        if "check" in figures and "floor" in figures:
            (c_rps, c_med, _), (f_rps, f_med, _) = figures["check"], figures["floor"]
            report.add("ratio check/floor requests/s", f"{c_rps / f_rps:.2f} (target ≥ 0.60)")
            report.add("ratio check/floor median", f"{c_med / f_med:.2f} (target ≤ 1.5)")

        def batch_body(checks: list[Check]) -> bytes:
            return body({"checks": [dict(zip(("actor", "action", "resource"), c)) for c in checks]})

        # The figure: batches of 100 checks never asked before (every decision cold, none cached).
        overlapping, fresh = batch_pool[:500], batch_pool[500:]
        cold_batches = [batch_body(fresh[i * 100:(i + 1) * 100]) for i in range(s.batch_reps)]
        timing = client.sequential(ports[0], "/v1/check/batch", cold_batches, headers, max_seconds=60)
        failure = timing.failure()
        if failure:
            report.put("batch100_median_ms", None, f"POST /v1/check/batch: {failure} {_short(timing.last_body)}")
        else:
            report.put("batch100_median_ms", ms(statistics.median(timing.latencies_us)))
        # Context: batches sliding over a pool of 500 checks, so that later batches repeat earlier checks
        # (as callers that ask about the same users and customers do) and the decision cache answers a share.
        ring = overlapping * 2
        warm_batches = [batch_body(ring[(i * 37) % len(overlapping):][:100]) for i in range(s.batch_reps)]
        timing = client.sequential(ports[0], "/v1/check/batch", warm_batches, headers, max_seconds=60)
        if not timing.failure():
            report.add("batch of 100, overlapping checks (partly cached)",
                       f"median {ms(statistics.median(timing.latencies_us)):.1f} ms")

        partner = world.partners[0]
        for key_name, actor in (("list_admin_ms", partner.admin), ("list_collaborator_ms", partner.collaborators[0])):
            value, info = list_median(ports[0], headers, refs[actor], s.list_reps)
            report.put(key_name, value, info)
            if value is not None:
                report.add(f"{key_name} result", info)
        rss = [servers.rss_mb(pid) for pid in servers.worker_pids(master)]
        report.add("worker RSS, base world", ", ".join(f"{r:.0f} MB" for r in rss if r is not None))


def large_phase(report: Report, s: Settings, tmp: Path, port: int) -> None:
    keys = ["list_admin_100k_ms", "list_collaborator_100k_ms", "worker_rss_mb_100k"]
    started = time.perf_counter()
    world = generate(s.partners, s.customers_per_partner, s.products_per_customer, scale=s.large_scale, seed=43)
    generated = time.perf_counter() - started
    db_path = tmp / "large.db"
    refs, seconds = load_into(db_path, world)
    report.add("10× world", f"{world.customer_count:,} customers, {row_count(world):,} rows: generated in "
                            f"{generated:.1f} s, load_world {seconds:.1f} s")
    close_store()
    key, why = create_key(db_path)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    env = {"DATABASE_URL": f"sqlite:///{db_path}", "AUTHZ_DECISION_LOG": "off"}
    with servers.gunicorn("service.wsgi:app", port, tmp / "large.log", env) as master:
        partner = world.partners[len(world.partners) // 2]
        for key_name, actor in (("list_admin_100k_ms", partner.admin),
                                ("list_collaborator_100k_ms", partner.collaborators[0])):
            value, info = list_median(port, headers, refs[actor], s.list_reps)
            report.put(key_name, value, info)
            if value is not None:
                report.add(f"{key_name} result", info)
        mix = zipf_sequence(distinct_checks(world, refs, 500, seed=17), 5000, seed=19)
        timing = client.load(port, "/v1/check", [check_body(c) for c in mix], headers,
                             connections=s.connections, seconds=s.large_check_seconds, warmup=0.3)
        if timing.failure():
            report.add("10× world checks", f"failed: {timing.failure()}")
        else:
            rps, median, _ = _summ(timing)
            report.add("10× world POST /v1/check", f"{rps:.0f} req/s, median {median:.0f} µs")
        rss = [r for r in (servers.rss_mb(pid) for pid in servers.worker_pids(master)) if r is not None]
        if rss:
            report.put("worker_rss_mb_100k", max(rss))
            report.add("worker RSS, 10× world", ", ".join(f"{r:.0f} MB" for r in rss) + " (figure: the larger)")
        else:
            report.put("worker_rss_mb_100k", None, "no worker process found under the gunicorn master")
    report.fail(keys, "not measured")


# -- output ----------------------------------------------------------------------

def render(report: Report, s: Settings, commit: str, date: str, elapsed: float) -> str:
    f = report.figures
    lines = [f"# Benchmark {date} ({s.name}), commit `{commit}`", "",
             "| figure | value | target | met |", "|---|---|---|---|"]
    for key, label, unit, target, ok in ROWS:
        value = f[key]
        shown = "n/a" if value is None else f"{value:,.1f} {unit}"
        met = "" if ok is None or value is None else ("yes" if ok(value, f) else "**no**")
        lines.append(f"| {label} | {shown} | {target} | {met} |")
    for label, value in report.extra:
        lines.append(f"| {label} | {value} | | |")
    lines += ["", f"Run time {elapsed:.0f} s; machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}. "
              "HTTP: gunicorn sync workers (2, no access log), 127.0.0.1, AUTHZ_DECISION_LOG=off; client: "
              f"{s.connections} processes with http.client (sync workers close each connection, "
              "so the client reconnects per request against both servers); check and floor measured in "
              f"{s.http_rounds} interleaved rounds; check mix: Zipf over {s.warm_distinct} distinct checks."]
    if report.notes:
        lines += ["", "n/a figures:"]
        lines += [f"- `{k}`: {why}" for k, why in report.notes.items()]
    lines.append("")
    lines.append(f"Reproduce: `make {'bench-quick' if s.name == 'quick' else 'bench'}`.")
    return "\n".join(lines) + "\n"


def write_results(report: Report, s: Settings, commit: str, elapsed: float) -> str:
    date = dt.date.today().isoformat()
    text = render(report, s, commit, date, elapsed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"{date}.md" if s.name == "full" else f"{date}-{s.name}.md"
    (RESULTS / name).write_text(text, encoding="utf-8")
    data = {key: report.figures.get(key) for key in JSON_KEYS if key != "commit"}
    data["commit"] = commit
    (RESULTS / "latest.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced run (under a minute)")
    parser.add_argument("--port", type=int, default=8301, help="first of the 3 ports used (default 8301)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print a cProfile of N fresh cold decide() calls")
    parser.add_argument("--keep", action="store_true", help="keep the temporary SQLite files and server logs")
    args = parser.parse_args(argv)
    s = QUICK if args.quick else FULL
    commit = git_commit()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    report = Report()
    print(f"bench ({s.name}) on {commit}, files in {tmp}", flush=True)
    report.add("load average at start (1/5/15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    try:
        t0 = time.perf_counter()
        world = generate(s.partners, s.customers_per_partner, s.products_per_customer, seed=42)
        generated = time.perf_counter() - t0
        db_path = tmp / "base.db"
        refs, seconds = load_into(db_path, world)
        report.add("base world", f"{world.customer_count:,} customers, {row_count(world):,} rows: generated in "
                                 f"{generated:.1f} s, load_world {seconds:.1f} s")
        fresh_count = s.batch_reps * 100  # checks asked only once, in the cold batches
        sample = distinct_checks(world, refs, s.cold + s.warm_distinct + args.profile + 500 + fresh_count, seed=7)
        cold = sample[:s.cold]
        warm_items = sample[s.cold:s.cold + s.warm_distinct]
        profile = sample[s.cold + s.warm_distinct:s.cold + s.warm_distinct + args.profile]
        batch_pool = sample[-(500 + fresh_count):]  # the first 500 overlap between batches; the rest are fresh
        try:
            decide_phase(report, cold, zipf_sequence(warm_items, s.warm_calls), profile)
        except Exception as exc:  # report what failed and go on to the HTTP figures
            report.fail(["decide_cold_median_us", "decide_cold_p99_us", "decide_warm_median_us"],
                        f"in-process decide() failed: {type(exc).__name__}: {exc}")
        close_store()
        mix = zipf_sequence(warm_items, 5000, seed=13)
        ports = [args.port, args.port + 1, args.port + 2]
        try:
            http_phase(report, s, db_path, tmp, world, refs, mix, batch_pool, ports)
        except (servers.ServerError, OSError, TimeoutError) as exc:
            report.fail(["http_check_rps", "http_floor_rps", "http_check_median_us", "http_floor_median_us",
                         "batch100_median_ms", "list_admin_ms", "list_collaborator_ms"],
                        f"HTTP phase failed: {type(exc).__name__}: {str(exc)[:400]}")
        try:
            large_phase(report, s, tmp, ports[2])
        except (servers.ServerError, OSError, TimeoutError) as exc:
            report.fail(["list_admin_100k_ms", "list_collaborator_100k_ms", "worker_rss_mb_100k"],
                        f"10× world phase failed: {type(exc).__name__}: {str(exc)[:400]}")
    finally:
        close_store()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    text = write_results(report, s, commit, time.perf_counter() - started)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
