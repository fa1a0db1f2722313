"""`make bench` / `make bench-quick` / `make bench-postgres`: the decision path beside its floors and targets.

One run: generate a seeded world, load it through load_world() into a fresh
SQLite file under /tmp/bench-*/ (or, with --postgres URL, into that database,
whose public schema is wiped), time the data floor (bench/data_floor.py: one
indexed query per check) and in-process decide() (cold, warm) and lists on the
same checks, then serve the store with gunicorn next to a bare Flask floor app
(the same gunicorn config: keep-alive gthread workers) and time POST /v1/check,
/v1/check/batch and /v1/list, the check figures also with the decision log on;
finally the lists on a 10x world and one worker's resident memory. Prints a
markdown table (figure, floor, ratio, target) and writes it to
bench/results/<date>[-postgres][-quick].md plus latest[-postgres][-quick].json.

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

from . import client, decision_cost, servers
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

Figures = dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, the floor it is compared with (if any) and its target."""

    key: str
    label: str
    unit: str
    target: str = ""
    met: Callable[[float, Figures], bool] | None = None
    floor: Callable[[Figures], float | None] | None = None  # the value the ratio divides by


def _get(key: str, factor: float = 1.0) -> Callable[[Figures], float | None]:
    return lambda f: None if f.get(key) is None else f[key] * factor


def _at_most(floor: Callable[[Figures], float | None], times: float, also: float | None = None):
    """Met when value ≤ times × floor (and ≤ `also`, a target kept from the first speed issue)."""
    def met(v: float, f: Figures) -> bool:
        base = floor(f)
        return base is not None and v <= times * base and (also is None or v <= also)
    return met


def _at_least(floor: Callable[[Figures], float | None], times: float):
    def met(v: float, f: Figures) -> bool:
        base = floor(f)
        return base is not None and v >= times * base
    return met


def _batch_floor(f: Figures) -> float | None:
    """100 data-floor queries plus one floor request (sequential client), in ms."""
    if f.get("floor_check_median_us") is None or f.get("http_floor_seq_median_us") is None:
        return None
    return (100 * f["floor_check_median_us"] + f["http_floor_seq_median_us"]) / 1000.0


def rows(postgres: bool) -> list[Row]:
    cold = 3 if postgres else 4
    floor_us, floor_list = _get("floor_check_median_us"), _get("floor_list_ms")
    floor_list_100k, floor_list_20k = _get("floor_list_100k_ms"), _get("floor_list_20k_ms")
    http_floor_list = _get("http_floor_list_ms")
    lists = "≤ 6× floor list (18× least accepted)"
    http_rps, http_med = _get("http_floor_rps"), _get("http_floor_median_us")
    return [
        Row("floor_check_median_us", "data floor: one indexed query per check, median", "µs"),
        Row("floor_check_p99_us", "data floor, p99", "µs"),
        Row("decide_cold_median_us", "decide() cold (decision cache off), median", "µs", f"≤ {cold}× data floor (and ≤ 300 µs)",
            _at_most(floor_us, cold, 300), floor_us),
        Row("decide_cold_p99_us", "decide() cold (decision cache off), p99", "µs", "≤ 12× data floor median (and ≤ 1000 µs)",
            _at_most(floor_us, 12, 1000), floor_us),
        Row("decide_warm_median_us", "decide() warm (exact cache), median", "µs", "≤ 1× data floor",
            _at_most(floor_us, 1), floor_us),
        Row("decide_zipf_median_us", "decide() warm Zipf mix, median", "µs", "≤ 30", lambda v, f: v <= 30),
        Row("floor_list_ms", "data floor list: one SELECT of a partner's active customers", "ms"),
        Row("list_admin_inproc_ms", "in-process list, administrator (whole)", "ms", lists,
            _at_most(floor_list, 6), floor_list),
        Row("list_admin_page_inproc_ms", "in-process list, administrator, first page of 100", "ms", lists,
            _at_most(floor_list, 6), floor_list),
        Row("list_collaborator_inproc_ms", "in-process list, collaborator (whole)", "ms", lists,
            _at_most(floor_list, 6), floor_list),
        Row("floor_list_100k_ms", "data floor list, 10× world", "ms"),
        Row("list_admin_inproc_100k_ms", "in-process list, administrator, 10× world", "ms", lists,
            _at_most(floor_list_100k, 6), floor_list_100k),
        Row("list_admin_page_inproc_100k_ms", "in-process list, administrator, first page, 10× world", "ms", lists,
            _at_most(floor_list_100k, 6), floor_list_100k),
        Row("list_collaborator_inproc_100k_ms", "in-process list, collaborator, 10× world", "ms", lists,
            _at_most(floor_list_100k, 6), floor_list_100k),
        Row("floor_list_20k_ms", "data floor list, a 20,000-customer partner", "ms"),
        Row("list_admin_inproc_20k_ms", "in-process list, its administrator (whole)", "ms", lists,
            _at_most(floor_list_20k, 6), floor_list_20k),
        Row("list_admin_page_inproc_20k_ms", "in-process list, its administrator, first page of 100", "ms", lists,
            _at_most(floor_list_20k, 6), floor_list_20k),
        Row("http_floor_list_ms", "floor app: POST /v1/list of a page of 100 (one SELECT), sequential", "ms"),
        Row("http_list_page_ms", "POST /v1/list, administrator, page of 100, sequential", "ms",
            "≤ 1.5× floor app", _at_most(http_floor_list, 1.5), http_floor_list),
        Row("http_check_rps", "POST /v1/check, requests/s (8 keep-alive connections)", "req/s",
            "≥ 0.85× floor app", _at_least(http_rps, 0.85), http_rps),
        Row("http_floor_rps", "floor app (bare Flask, same server), requests/s", "req/s"),
        Row("http_check_median_us", "POST /v1/check, median, same load", "µs", "≤ 1.25× floor app",
            _at_most(http_med, 1.25), http_med),
        Row("http_floor_median_us", "floor app, median", "µs"),
        Row("http_check_rps_flask", "POST /v1/check through Flask's request machinery (no thin path), requests/s",
            "req/s", "ratio to the floor app (issue 22: what the thin path gains)", None, http_rps),
        Row("http_check_median_us_flask", "POST /v1/check through Flask's request machinery, median", "µs",
            "ratio to the floor app's median", None, http_med),
        Row("http_floor_seq_median_us", "floor app, one request (sequential client), median", "µs"),
        Row("batch100_median_ms", "POST /v1/check/batch (100 never-asked checks), median", "ms",
            "≤ 100× data floor + 1 floor request (and ≤ 15 ms)", _at_most(_batch_floor, 1, 15), _batch_floor),
        Row("http_check_rps_logged", "POST /v1/check, requests/s, decision log to a file + recording", "req/s",
            "≥ 0.9× log off", _at_least(_get("http_check_rps"), 0.9), _get("http_check_rps")),
        Row("http_check_median_us_logged", "POST /v1/check, median, decision log to a file + recording", "µs",
            "≤ 1.1× log off", _at_most(_get("http_check_median_us"), 1.1), _get("http_check_median_us")),
        Row("http_check_rps_durable", "POST /v1/check, requests/s, records durable (committed before the answer)",
            "req/s", "ratio to the floor app (issue 19: chooses the default)", None, http_rps),
        Row("http_check_p99_us_durable", "POST /v1/check, p99, records durable", "µs", "ratio to the floor app's p99",
            None, _get("http_floor_p99_us")),
        Row("http_check_rps_async", "POST /v1/check, requests/s, records async (committed within 0.2 s)", "req/s",
            "ratio to the floor app", None, http_rps),
        Row("http_check_p99_us_async", "POST /v1/check, p99, records async", "µs", "ratio to the floor app's p99",
            None, _get("http_floor_p99_us")),
        Row("http_floor_p99_us", "floor app, p99", "µs"),
        Row("statements_cold", "statements per uncached decision (measured)", ""),
        Row("statements_warm", "statements per cached decision (measured)", ""),
        Row("rows_cold", "rows read per uncached decision (PostgreSQL's count)", ""),
        Row("rows_warm", "rows read per cached decision (PostgreSQL's count)", ""),
        Row("pg_cpu_cold_us", "PostgreSQL server CPU per uncached decision", "µs"),
        Row("pg_cpu_warm_us", "PostgreSQL server CPU per cached decision", "µs"),
        Row("list_admin_ms", "POST /v1/list administrator, median", "ms", "≤ 5", lambda v, f: v <= 5),
        Row("list_collaborator_ms", "POST /v1/list collaborator, median", "ms", "≤ 3", lambda v, f: v <= 3),
        Row("list_admin_100k_ms", "POST /v1/list administrator, 10× world", "ms", "≤ 7.5 (1.5× of 5)",
            lambda v, f: v <= 7.5),
        Row("list_collaborator_100k_ms", "POST /v1/list collaborator, 10× world", "ms", "≤ 4.5 (1.5× of 3)",
            lambda v, f: v <= 4.5),
        Row("worker_rss_mb_100k", "one worker's RSS, 10× world", "MB", "≤ 150", lambda v, f: v <= 150),
    ]


ROWS = rows(False)
JSON_KEYS = [r.key for r in ROWS]


@dataclass
class Report:
    figures: dict[str, float | None] = field(default_factory=lambda: {k: None for k in JSON_KEYS})
    notes: dict[str, str] = field(default_factory=dict)     # figure -> why n/a
    extra: list[tuple[str, str]] = field(default_factory=list)  # (label, value) context rows

    def put(self, key: str, value: float | None, why: str | None = None) -> None:
        # three significant digits at least: a floor list of 0.06 ms rounded to 2 decimals moved its ratios by 10%
        self.figures[key] = None if value is None else round(value, 4 if value < 1 else 2 if value < 100 else 1)
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


@dataclass(frozen=True)
class Store:
    """Where the worlds are loaded: fresh SQLite files under tmp, or one PostgreSQL database (wiped)."""

    tmp: Path
    postgres_url: str | None = None

    def url(self, name: str) -> str:
        return self.postgres_url or f"sqlite:///{self.tmp / name}.db"

    @property
    def backend(self) -> str:
        return "PostgreSQL" if self.postgres_url else "SQLite"


def load_into(url: str, world: BenchWorld) -> tuple[dict[str, str], float]:
    """Load world into a fresh store through load_world(); (key map, seconds)."""
    close_store()
    open_database(url)
    database.connect(reuse_if_open=True)
    if url.startswith("postgres"):
        database.execute_sql("DROP SCHEMA public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
    init_schema()
    started = time.perf_counter()
    refs = load_world(world.data)
    seconds = time.perf_counter() - started
    if url.startswith("postgres"):
        database.execute_sql("ANALYZE")  # as a store that has served a while: planner statistics exist
    activate_repository_policy()
    return refs, seconds


def activate_repository_policy() -> None:
    """The served engine decides with the store's active version: policies/, as `make run` does."""
    from service.decide.engine import POLICY_DIR
    from service.analysis.candidates import activate, read_candidate
    activate(read_candidate(POLICY_DIR), "bench", if_changed=True)


def create_key(url: str) -> tuple[str | None, str | None]:
    """A check-scoped API key from `authz keys create` (its last line), or (None, why)."""
    authz = Path(sys.executable).parent / "authz"
    cmd = [str(authz)] if authz.exists() else [sys.executable, "-m", "service.cli"]
    cmd += ["keys", "create", "--name", "bench", "--scope", "check"]
    env = {**os.environ, "DATABASE_URL": url}
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


CHUNK = 100  # decide() and the data floor alternate in chunks of this many checks
# The service as measured unless a figure says otherwise: no decision log, no recorded decisions
# (AUTHZ_DECISION_STORE is the audit recording's switch; the logged service turns both on)
QUIET = {"AUTHZ_DECISION_LOG": "off", "AUTHZ_DECISION_STORE": "off"}
RECORDING = {"AUTHZ_DECISION_STORE": "async"}  # the default mode: every decision written to the decision table (docs/audit.md)


def decide_phase(report: Report, cold: list[Check], cached_cold: list[Check], warm: list[Check],
                 profile: list[Check], costed: list[Check]) -> None:
    from service.policy.active import ActiveEngine
    from service.decide.engine import Engine

    from .data_floor import DataFloor

    # First without the shape table, for the cost of first sights (context, not a target) ...
    first_sight = Engine(shape_table=False)
    # As service/wsgi.py does after start-up: long-lived objects (here also the bench's own world)
    # leave the collector's generations, so full collections do not walk them during the timing.
    gc.freeze()
    cold_us, _ = timed_decides(first_sight, cold)
    learnt = len(first_sight.patterns.entries) if first_sight.patterns else 0
    report.add("cold sample without the shape table (AUTHZ_SHAPE_TABLE=0, plain Engine)",
               f"median {statistics.median(cold_us):.0f} µs, p99 {percentile(cold_us, 0.99):.0f} µs, "
               f"{learnt} first sights evaluated by Polar")
    # ... then the engine as served: the store's active version (service/wsgi.py turns the shape table on)
    os.environ["AUTHZ_SHAPE_TABLE"] = "1"
    started = time.perf_counter()
    engine = ActiveEngine()
    engine.readiness()  # builds the active version's engine, as start_engine() does in a worker
    built = engine.last
    report.add("engine start-up with the shape table", f"{(time.perf_counter() - started) * 1000:.0f} ms "
               f"({len(built.patterns.table) if built and built.patterns else 0} shapes)")
    gc.freeze()
    floor = DataFloor()
    cold_us, cached_us, floor_us, cold_allowed = [], [], [], 0
    cache = built.cache  # type: ignore[union-attr]
    size = cache.size
    for i in range(0, len(cold), CHUNK):  # alternate, so that other load weighs on all alike
        floor_us += floor.time_checks(cold[i:i + CHUNK])
        cache.size = 0  # cold as the issue defines it: the decision cache off (memo and shape table on)
        times, allowed = timed_decides(engine, cold[i:i + CHUNK])
        cache.size = size
        cold_us += times
        cold_allowed += allowed
        cached_us += timed_decides(engine, cached_cold[i:i + CHUNK])[0]  # other checks, the cache on: kept
    report.put("floor_check_median_us", statistics.median(floor_us))
    report.put("floor_check_p99_us", percentile(floor_us, 0.99))
    report.put("decide_cold_median_us", statistics.median(cold_us))
    report.put("decide_cold_p99_us", percentile(cold_us, 0.99))
    learnt = len(built.patterns.entries) if built and built.patterns else 0
    report.add("cold sample", f"{len(cold_us)} distinct checks, {100 * cold_allowed / len(cold_us):.0f}% allowed, "
                              f"{learnt} shapes outside the table evaluated by Polar")
    report.add("cold with the decision cache on (each check asked once, its answer kept)",
               f"median {statistics.median(cached_us):.1f} µs, p99 {percentile(cached_us, 0.99):.1f} µs "
               f"({len(cached_us)} other distinct checks, timed alternately with the cold ones)")
    exact_us, _ = timed_decides(engine, cached_cold)  # the same checks again: every one answered by the cache
    report.put("decide_warm_median_us", statistics.median(exact_us))
    report.add("warm (exact cache) p99", f"{percentile(exact_us, 0.99):.1f} µs")
    warm_us, warm_allowed = timed_decides(engine, warm)
    report.put("decide_zipf_median_us", statistics.median(warm_us))
    report.add("warm Zipf sample", f"{len(warm_us)} calls over {len(set(warm))} distinct checks (Zipf s=1.1), "
                                   f"{100 * warm_allowed / len(warm_us):.0f}% allowed, "
                                   f"p99 {percentile(warm_us, 0.99):.0f} µs")
    for name, measured in (("cold", decision_cost.measure(engine, costed)),  # never asked: uncached
                           ("warm", decision_cost.measure(engine, costed))):  # the same again: cached
        report.put(f"statements_{name}", measured.statements)
        report.put(f"rows_{name}", measured.rows, "SQLite: not counted")
        report.put(f"pg_cpu_{name}_us", measured.server_cpu_us, "SQLite, or PostgreSQL not on this host")
        report.add(f"database cost, {name}", measured.text())
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


def inproc_list_phase(report: Report, world: BenchWorld, refs: dict[str, str], partner_index: int,
                      reps: int, suffix: str = "") -> None:
    """In-process lists (what POST /v1/list runs: the revision read and the list confirmed by the engine
    of the active version) beside the floor list."""
    from service.policy.active import get_engine
    from service.queries.lists import list_ids
    from service.store.schema import current_revision

    from .data_floor import DataFloor

    floor = DataFloor()
    engine = get_engine()
    partner = world.partners[partner_index]
    partner_id = int(refs[partner.org].split(":")[1])
    actors = {"admin": partner.admin, "collaborator": partner.collaborators[0]}
    runs = {**{name: (actor, 10**9) for name, actor in actors.items()}, "admin_page": (partner.admin, 101)}
    floor_ms, times = [], {name: [] for name in runs}
    sizes = {}
    for _ in range(reps):  # alternate floor and lists rep by rep
        floor_ms += [us / 1000 for us in floor.time_list(partner_id, 1)]
        for name, (actor, limit) in runs.items():
            user_id = int(refs[actor].split(":")[1])
            t0 = time.perf_counter_ns()
            current_revision()
            found = list_ids(engine, user_id, "access_account", "organization", limit=limit)
            times[name].append((time.perf_counter_ns() - t0) / 1e6)
            sizes[name] = len(found)
    report.put(f"floor_list{suffix}_ms", statistics.median(floor_ms))
    for name in runs:
        report.put(f"list_{name}_inproc{suffix}_ms", statistics.median(times[name]))
    report.add(f"in-process lists{suffix or ''}", f"administrator {sizes['admin']} and collaborator "
               f"{sizes['collaborator']} results; floor list {len(floor.customers(partner_id))} rows")


def huge_partner_phase(report: Report, s: Settings, store: Store) -> None:
    """A partner with 20,000 customers: its administrator's whole list and first page, in process."""
    keys = ["floor_list_20k_ms", "list_admin_inproc_20k_ms", "list_admin_page_inproc_20k_ms"]
    world = generate(1, 20_000, 1, seed=44)
    url = store.url("huge")
    refs, seconds = load_into(url, world)
    report.add("20,000-customer partner", f"{world.customer_count:,} customers, load_world {seconds:.1f} s")
    from service.policy.active import get_engine
    from service.queries.lists import list_ids
    from .data_floor import DataFloor
    floor, engine = DataFloor(), get_engine()
    partner = world.partners[0]
    partner_id, admin = int(refs[partner.org].split(":")[1]), int(refs[partner.admin].split(":")[1])
    floor_ms, whole, page = [], [], []
    for _ in range(max(3, s.list_reps // 5)):
        floor_ms += [us / 1000 for us in floor.time_list(partner_id, 1)]
        for limit, out in ((10**9, whole), (101, page)):
            t0 = time.perf_counter_ns()
            found = list_ids(engine, admin, "access_account", "organization", limit=limit)
            out.append((time.perf_counter_ns() - t0) / 1e6)
    report.put("floor_list_20k_ms", statistics.median(floor_ms))
    report.put("list_admin_inproc_20k_ms", statistics.median(whole))
    report.put("list_admin_page_inproc_20k_ms", statistics.median(page))
    report.add("20,000-customer partner's list", f"{len(list_ids(engine, admin, 'access_account', 'organization', limit=10**9)):,} "
               f"results; floor list {len(floor.customers(partner_id)):,} rows")
    close_store()
    report.fail(keys, "not measured")


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


def list_page_phase(report: Report, s: Settings, ports: list[int], headers: dict[str, str],
                    refs: dict[str, str], partner: Any) -> None:
    """POST /v1/list of the administrator's first page of 100 beside the floor app's answer of the same
    page (one SELECT of the partner's customers), one request at a time, in interleaved rounds."""
    service = body({"actor": refs[partner.admin], "action": "access_account", "resource_type": "organization",
                    "page_size": 100})
    floor = body({"partner_id": int(refs[partner.org].split(":")[1]), "page_size": 100})
    latencies: dict[str, list[float]] = {"service": [], "floor": []}
    for _ in range(4):
        for name, port, payload, hdrs in (("service", ports[0], service, headers), ("floor", ports[1], floor, {})):
            timing = client.sequential(port, "/v1/list", [payload] * max(10, s.list_reps // 4), hdrs, max_seconds=20)
            if timing.failure():
                report.fail(["http_list_page_ms", "http_floor_list_ms"], f"POST /v1/list on {name}: "
                            f"{timing.failure()} {_short(timing.last_body)}")
                return
            latencies[name] += timing.latencies_us
    report.put("http_list_page_ms", ms(statistics.median(latencies["service"])))
    report.put("http_floor_list_ms", ms(statistics.median(latencies["floor"])))


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def _count_decision_rows(url: str) -> str:
    """How many decisions the recording wrote to the decision table so far (context for the logged figures)."""
    from service.store.db import make_database
    time.sleep(2 * 0.2)  # the recorder writes every 0.2 s (service/audit/recorder.py)
    db = make_database(url)
    try:
        return f"{db.execute_sql('SELECT count(*) FROM decision').fetchone()[0]:,}"
    except Exception as exc:  # context only: never fail the run for it
        return f"not counted ({type(exc).__name__})"
    finally:
        db.close()


def _short(payload: Any) -> str:
    """A short excerpt of an error answer for the n/a note."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", "replace")
    text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
    return f"({' '.join(text.split())[:160]})" if payload else ""


def http_phase(report: Report, s: Settings, url: str, tmp: Path, world: BenchWorld, refs: dict[str, str],
               mix: list[Check], batch_pool: list[Check], ports: list[int], recording: dict[str, str]) -> None:
    key, why = create_key(url)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if why:
        report.add("API key", f"none ({why}); requests sent without Authorization")
    env = {"DATABASE_URL": url, **QUIET}
    # the same service with the decision log to a file and the audit recording on (plus any settings given)
    logged_env = {**env, "AUTHZ_DECISION_LOG": str(tmp / "decisions.log"), **RECORDING, **recording}
    # the decision table alone, in each of its modes (docs/audit.md): durable against async, same rounds
    durable_env, async_env = {**env, "AUTHZ_DECISION_STORE": "durable"}, {**env, "AUTHZ_DECISION_STORE": "async"}
    with servers.gunicorn("service.wsgi:app", ports[0], tmp / "service.log", env) as master, \
            servers.gunicorn("bench.floor_app:app", ports[1], tmp / "floor.log", env) as floor_master, \
            servers.gunicorn("service.wsgi:app", ports[3], tmp / "logged.log", logged_env) as logged_master, \
            servers.gunicorn("service.wsgi:app", ports[4], tmp / "durable.log", durable_env), \
            servers.gunicorn("service.wsgi:app", ports[5], tmp / "async.log", async_env), \
            servers.gunicorn("bench.flask_path_app:app", ports[6], tmp / "flask.log", env) as flask_master:
        bodies = [check_body(c) for c in mix]
        figures = {}
        # Interleave short rounds (check, floor, logged, floor, check, ...) so that load from anything else
        # on the machine weighs on every side of the ratios alike.
        names = ("check", "floor", "logged", "durable", "async", "flask")
        timings = {name: client.Timing() for name in names}
        targets = {"check": (ports[0], headers), "floor": (ports[1], {}), "logged": (ports[3], headers),
                   "durable": (ports[4], headers), "async": (ports[5], headers), "flask": (ports[6], headers)}
        for r in range(s.http_rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                port, hdrs = targets[name]
                timings[name].merge(client.load(
                    port, "/v1/check", bodies, hdrs, connections=s.connections,
                    seconds=s.http_seconds / s.http_rounds, warmup=s.http_warmup if r == 0 else 0.2))
        keys = {"check": ("http_check_rps", "http_check_median_us"),
                "floor": ("http_floor_rps", "http_floor_median_us"),
                "logged": ("http_check_rps_logged", "http_check_median_us_logged"),
                "durable": ("http_check_rps_durable", None), "async": ("http_check_rps_async", None),
                "flask": ("http_check_rps_flask", "http_check_median_us_flask")}
        p99_keys = {"floor": "http_floor_p99_us", "durable": "http_check_p99_us_durable",
                    "async": "http_check_p99_us_async"}
        for name, timing in timings.items():
            failure = timing.failure()
            if failure:
                report.fail([k for k in (*keys[name], p99_keys.get(name)) if k], f"POST /v1/check on {name}: {failure}")
                continue
            rps, median, p99 = _summ(timing)
            figures[name] = (rps, median, p99)
            report.put(keys[name][0], rps)
            if keys[name][1]:
                report.put(keys[name][1], median)
            if name in p99_keys:
                report.put(p99_keys[name], p99)
            report.add(f"{name} p99", f"{p99:.0f} µs ({timing.ok} requests in {timing.seconds:.0f} s, "
                                      f"{s.connections} connections, {s.http_rounds} interleaved rounds)")
        # where the time goes: the workers' CPU per request, each server alone under the same load
        for name, server in (("check", master), ("floor", floor_master), ("logged", logged_master),
                             ("flask", flask_master)):
            port, hdrs = targets[name]
            pids = servers.worker_pids(server)
            before = servers.cpu_seconds(pids)
            timing = client.load(port, "/v1/check", bodies, hdrs, connections=s.connections, seconds=2.0, warmup=0)
            used = servers.cpu_seconds(pids) - before
            report.add(f"{name} server CPU per request", f"{used / max(timing.ok, 1) * 1e6:.0f} µs (its workers' "
                       f"user + system time over {timing.ok} requests, {s.connections} connections)")
        log_lines = _count_lines(tmp / "decisions.log")
        report.add("decision log written by the logged service", f"{log_lines} lines"
                   + f"; decision table rows: {_count_decision_rows(url)}")
        # one request at a time: the "1 floor request" of the batch target, and context for the service
        for name, port in (("check", ports[0]), ("floor", ports[1])):
            timing = client.sequential(port, "/v1/check", bodies[:s.sequential_reps],
                                       headers if name == "check" else {}, max_seconds=20)
            if timing.failure():
                report.fail(["http_floor_seq_median_us"] if name == "floor" else [], timing.failure() or "")
                continue
            median = statistics.median(timing.latencies_us)
            if name == "floor":
                report.put("http_floor_seq_median_us", median)
            report.add(f"{name} median, sequential client", f"{median:.0f} µs ({timing.ok} requests, 1 connection)")
        if "check" in figures and "floor" in figures:
            (c_rps, c_med, _), (f_rps, f_med, _) = figures["check"], figures["floor"]
            report.add("ratio check/floor requests/s", f"{c_rps / f_rps:.2f} (target ≥ 0.85)")
            report.add("ratio check/floor median", f"{c_med / f_med:.2f} (target ≤ 1.25)")
        if "flask" in figures and "floor" in figures:  # issue 22: what the thin path gains, same rounds
            (k_rps, k_med, _), (f_rps, f_med, _) = figures["flask"], figures["floor"]
            report.add("ratio through-Flask/floor requests/s", f"{k_rps / f_rps:.2f}, median {k_med / f_med:.2f} "
                       "(the decision routes left to Flask's request machinery: bench/flask_path_app.py)")

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
        list_page_phase(report, s, ports, headers, refs, partner)
        for key_name, actor in (("list_admin_ms", partner.admin), ("list_collaborator_ms", partner.collaborators[0])):
            value, info = list_median(ports[0], headers, refs[actor], s.list_reps)
            report.put(key_name, value, info)
            if value is not None:
                report.add(f"{key_name} result", info)
        rss = [servers.rss_mb(pid) for pid in servers.worker_pids(master)]
        report.add("worker RSS, base world", ", ".join(f"{r:.0f} MB" for r in rss if r is not None))


def large_phase(report: Report, s: Settings, store: Store, port: int) -> None:
    keys = ["list_admin_100k_ms", "list_collaborator_100k_ms", "worker_rss_mb_100k", "list_admin_page_inproc_100k_ms",
            "floor_list_100k_ms", "list_admin_inproc_100k_ms", "list_collaborator_inproc_100k_ms"]
    started = time.perf_counter()
    world = generate(s.partners, s.customers_per_partner, s.products_per_customer, scale=s.large_scale, seed=43)
    generated = time.perf_counter() - started
    url = store.url("large")
    refs, seconds = load_into(url, world)
    report.add("10× world", f"{world.customer_count:,} customers, {row_count(world):,} rows: generated in "
                            f"{generated:.1f} s, load_world {seconds:.1f} s")
    partner_index = len(world.partners) // 2
    inproc_list_phase(report, world, refs, partner_index, s.list_reps, "_100k")
    close_store()
    key, why = create_key(url)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    env = {"DATABASE_URL": url, **QUIET}
    with servers.gunicorn("service.wsgi:app", port, store.tmp / "large.log", env) as master:
        partner = world.partners[partner_index]
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

def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"
    return f"{text} {unit}".rstrip()


def render(report: Report, s: Settings, store: Store, commit: str, date: str, elapsed: float) -> str:
    f = report.figures
    lines = [f"# Benchmark {date} ({s.name}, {store.backend}), commit `{commit}`", "",
             "| figure | value | floor | ratio | target | met |", "|---|---|---|---|---|---|"]
    for row in rows(store.postgres_url is not None):
        value = f.get(row.key)
        floor = row.floor(f) if row.floor else None
        ratio = f"{value / floor:.2f}" if value is not None and floor else ""
        met = "" if row.met is None or value is None else ("yes" if row.met(value, f) else "**no**")
        lines.append(f"| {row.label} | {_number(value, row.unit)} | {_number(floor) if row.floor else ''} | "
                     f"{ratio} | {row.target} | {met} |")
    for label, value in report.extra:
        lines.append(f"| {label} | {value} | | | | |")
    lines += ["", f"Run time {elapsed:.0f} s; machine: {os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
              f"store: {store.backend}. HTTP: the service and the floor app under the same gunicorn config "
              f"(service/gunicorn_conf.py: {servers.WORKERS} gthread workers x {servers.threads()} threads, "
              "keep-alive, no access log), 127.0.0.1, AUTHZ_DECISION_LOG=off unless stated; client: "
              f"{s.connections} processes with http.client, one kept-alive connection each; service, floor "
              f"and logged service measured in {s.http_rounds} interleaved rounds; check mix: Zipf over "
              f"{s.warm_distinct} distinct checks. In-process figures: one thread, the served engine (store's "
              "active version, shape table on); cold = each check asked once with the decision cache off (as "
              "the issue defines it; the same with the cache on is a context line), warm = checks the cache "
              f"holds asked again; data floor and decide() alternate in chunks of {CHUNK} checks."]
    if report.notes:
        lines += ["", "n/a figures:"]
        lines += [f"- `{k}`: {why}" for k, why in report.notes.items()]
    lines.append("")
    target = "bench-quick" if s.name == "quick" else "bench"
    lines.append(f"Reproduce: `make {target}`" + (" with `--postgres URL` (`make bench-postgres`)."
                                                   if store.postgres_url else "."))
    return "\n".join(lines) + "\n"


def write_results(report: Report, s: Settings, store: Store, commit: str, elapsed: float) -> str:
    date = dt.date.today().isoformat()
    text = render(report, s, store, commit, date, elapsed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = ("-postgres" if store.postgres_url else "") + ("" if s.name == "full" else f"-{s.name}")
    (RESULTS / f"{date}{suffix}.md").write_text(text, encoding="utf-8")
    data: dict[str, Any] = {key: report.figures.get(key) for key in JSON_KEYS}
    data.update(commit=commit, store=store.backend, settings=s.name,
                load_average=[round(x, 2) for x in os.getloadavg()])
    (RESULTS / f"latest{suffix}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return text


def _recording_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--recording-env wants NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced run (under a minute)")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="load the worlds into this PostgreSQL database (its public schema is WIPED)")
    parser.add_argument("--port", type=int, default=8301, help="first of the 7 ports used (default 8301)")
    parser.add_argument("--recording-env", action="append", default=[], metavar="NAME=VALUE",
                        help="more settings for the logged service (repeatable); it always has the "
                             "decision log and AUTHZ_DECISION_STORE=on")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print a cProfile of N fresh cold decide() calls")
    parser.add_argument("--keep", action="store_true", help="keep the temporary SQLite files and server logs")
    args = parser.parse_args(argv)
    s = QUICK if args.quick else FULL
    commit = git_commit()
    started = time.perf_counter()
    store = Store(Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp")), args.postgres or None)
    report = Report()
    print(f"bench ({s.name}, {store.backend}) on {commit}, files in {store.tmp}", flush=True)
    report.add("load average at start (1/5/15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    try:
        t0 = time.perf_counter()
        world = generate(s.partners, s.customers_per_partner, s.products_per_customer, seed=42)
        generated = time.perf_counter() - t0
        url = store.url("base")
        refs, seconds = load_into(url, world)
        report.add("base world", f"{world.customer_count:,} customers, {row_count(world):,} rows: generated in "
                                 f"{generated:.1f} s, load_world {seconds:.1f} s")
        fresh_count = s.batch_reps * 100  # checks asked only once, in the cold batches
        costed_count = s.cold // 2  # fresh checks whose database cost is counted (bench/decision_cost.py)
        sample = distinct_checks(world, refs, 2 * s.cold + s.warm_distinct + args.profile + costed_count
                                 + 500 + fresh_count, seed=7)
        cold, cached_cold = sample[:s.cold], sample[s.cold:2 * s.cold]
        warm_items = sample[2 * s.cold:2 * s.cold + s.warm_distinct]
        profile = sample[2 * s.cold + s.warm_distinct:2 * s.cold + s.warm_distinct + args.profile]
        costed = sample[len(sample) - (500 + fresh_count) - costed_count:len(sample) - (500 + fresh_count)]
        batch_pool = sample[-(500 + fresh_count):]  # the first 500 overlap between batches; the rest are fresh
        try:
            decide_phase(report, cold, cached_cold, zipf_sequence(warm_items, s.warm_calls), profile, costed)
            inproc_list_phase(report, world, refs, 0, s.list_reps)
        except Exception as exc:  # report what failed and go on to the HTTP figures
            report.fail(["floor_check_median_us", "floor_check_p99_us", "decide_cold_median_us",
                         "decide_cold_p99_us", "decide_warm_median_us", "decide_zipf_median_us", "floor_list_ms",
                         "list_admin_inproc_ms", "list_admin_page_inproc_ms", "list_collaborator_inproc_ms"],
                        f"in-process phase failed: {type(exc).__name__}: {exc}")
        close_store()
        mix = zipf_sequence(warm_items, 5000, seed=13)
        ports = [args.port + i for i in range(7)]
        try:
            http_phase(report, s, url, store.tmp, world, refs, mix, batch_pool, ports,
                       _recording_env(args.recording_env))
        except (servers.ServerError, OSError, TimeoutError) as exc:
            report.fail(["http_check_rps", "http_floor_rps", "http_check_median_us", "http_floor_median_us",
                         "http_floor_seq_median_us", "http_check_rps_logged", "http_check_median_us_logged",
                         "batch100_median_ms", "list_admin_ms", "list_collaborator_ms"],
                        f"HTTP phase failed: {type(exc).__name__}: {str(exc)[:400]}")
        try:
            large_phase(report, s, store, ports[2])
        except (servers.ServerError, OSError, TimeoutError) as exc:
            report.fail(["list_admin_100k_ms", "list_collaborator_100k_ms", "worker_rss_mb_100k",
                         "floor_list_100k_ms", "list_admin_inproc_100k_ms", "list_collaborator_inproc_100k_ms"],
                        f"10× world phase failed: {type(exc).__name__}: {str(exc)[:400]}")
        try:
            huge_partner_phase(report, s, store)
        except Exception as exc:  # report what failed; the table is still written
            report.fail(["floor_list_20k_ms", "list_admin_inproc_20k_ms", "list_admin_page_inproc_20k_ms"],
                        f"20,000-customer phase failed: {type(exc).__name__}: {str(exc)[:400]}")
    finally:
        close_store()
        if args.keep:
            print(f"kept {store.tmp}")
        else:
            shutil.rmtree(store.tmp, ignore_errors=True)
    text = write_results(report, s, store, commit, time.perf_counter() - started)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
