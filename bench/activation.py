"""`make bench-activation`: /v1/check latency under load across 10 `authz policy activate` (issue 22 item 4).

One `authz serve` instance (2 workers) on a demo store (a fresh SQLite file under /tmp, or with
--postgres URL that database, its public schema WIPED). Client threads check continuously on kept-alive
connections while the CLI activates, one after the other, 10 times:
- `alternating`: two versions in turn (A, B, A, ...): only the first two are new to the workers;
- `distinct`: 10 versions never seen (every activation needs a build: the case that stalled before).
First the floor, `steady`: the same load for STEADY_S seconds with no activation, in the same run.
For each: p50/p99/max latency of the checks sent from the first activation until 0.5 s after the last,
the largest gap with no answer from any thread, errors (non-200 or no answer), answers carrying an
older version although sent after activate returned, how long each activate took, and the p99 as a
ratio to the steady p99 (what an activation costs the callers, beyond the load itself).
Figures on a shared machine are provisional; bench/results/latest-activation.json keeps the last run.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .authz_serve import DemoStore, authz_bin, check_body, demo_store, percentile, served

RESULTS = Path(__file__).resolve().parent / "results"
TAIL_S = 0.5  # measured past the last activation
PAUSE_S = 0.5  # between two activations
STEADY_S = 15.0  # the floor: the same load, no activation


@dataclass
class Answer:
    sent: float
    done: float
    status: int  # 0: no answer (connection error, timeout)
    version: str | None


@dataclass
class Activation:
    started: float
    returned: float
    version: str
    line: str


@dataclass
class Load:
    """Client threads checking until stopped; every answer kept."""

    port: int
    body: bytes
    key: str
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set():
            sent = time.monotonic()
            try:
                conn.request("POST", "/v1/check", self.body, headers)
                reply = conn.getresponse()
                data = json.loads(reply.read())
                self.answers.append(Answer(sent, time.monotonic(), reply.status, data.get("policy_version")))
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()
                self.answers.append(Answer(sent, time.monotonic(), 0, None))
        conn.close()


def version_folder(root: Path, tag: str) -> Path:
    """policies/ with one comment more: a version of its own that passes every check and table."""
    from service.analysis.candidates import read_candidate
    from service.decide.engine import POLICY_DIR
    folder = root / f"policy-{tag}"
    if not folder.exists():
        folder.mkdir()
        for name, text in read_candidate(POLICY_DIR).items():
            (folder / name).write_text(text + (f"\n# bench version {tag}\n" if name == "main.polar" else ""))
        (folder / "manifest").write_text((POLICY_DIR / "manifest").read_text())
    return folder


def activate(store_url: str, folder: Path) -> Activation:
    started = time.monotonic()
    done = subprocess.run([authz_bin(), "policy", "activate", str(folder)], capture_output=True, text=True,
                          env={**os.environ, "DATABASE_URL": store_url}, timeout=180)
    returned = time.monotonic()
    if done.returncode != 0:
        raise RuntimeError(f"authz policy activate failed: {done.stderr.strip()}")
    line = done.stdout.strip().splitlines()[0]
    return Activation(started, returned, line.split()[2], line)


def phase(store: DemoStore, port: int, folders: list[Path], threads: int) -> dict:
    """Activate each folder in turn under the load of `threads` client threads (none: the steady floor)."""
    load = Load(port, check_body(store), store.check_key)
    clients = [threading.Thread(target=load.run, daemon=True) for _ in range(threads)]
    for client in clients:
        client.start()
    activations: list[Activation] = []
    try:
        time.sleep(1.0)  # the load is steady before the first activation
        if not folders:
            started = time.monotonic()
            time.sleep(STEADY_S)
            activations.append(Activation(started, time.monotonic() - TAIL_S, "", "no activation"))
        for folder in folders:
            activations.append(activate(store.url, folder))
            time.sleep(PAUSE_S)
        time.sleep(TAIL_S)
    finally:
        load.stop.set()
        for client in clients:
            client.join(timeout=10)
    return figures(load.answers, activations)


def figures(answers: list[Answer], activations: list[Activation]) -> dict:
    begin, end = activations[0].started, activations[-1].returned + TAIL_S
    window = [a for a in answers if begin <= a.sent <= end]
    ok = [a for a in window if a.status == 200]
    latencies_ms = [(a.done - a.sent) * 1000 for a in ok]
    finished = sorted(a.done for a in answers if a.status == 200 and begin <= a.done <= end)
    gaps = [later - earlier for earlier, later in zip([begin] + finished, finished + [end])]
    stale = 0
    for index, act in enumerate(a for a in activations if a.version):  # sent after activate returned: its version (or a later one's)
        until = activations[index + 1].returned if index + 1 < len(activations) else end
        allowed = {act.version} | ({activations[index + 1].version} if index + 1 < len(activations) else set())
        stale += sum(1 for a in ok if act.returned <= a.sent < until and a.version not in allowed)
    return {"checks": len(window), "p50_ms": statistics.median(latencies_ms), "p99_ms": percentile(latencies_ms, 0.99),
            "max_ms": max(latencies_ms), "largest_gap_ms": max(gaps) * 1000,
            "errors": len(window) - len(ok), "old_version_after_return": stale,
            "activate_s": [round(a.returned - a.started, 2) for a in activations],
            "prepared": sorted({a.line.split("; ", 1)[1] if "; " in a.line else "no worker counted"
                                for a in activations})}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.activation", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use (its public schema is WIPED)")
    parser.add_argument("--port", type=int, default=9010)
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--activations", type=int, default=10)
    parser.add_argument("--modes", default="alternating,distinct", help="alternating, distinct or both (default)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-activation-"))
    url = args.postgres or f"sqlite:///{root / 'authz.db'}"
    store = demo_store(url)
    results: dict[str, dict] = {}
    with served(url, args.port, root / "serve.log", workers=2):
        warm(store, args.port)
        results["steady"] = phase(store, args.port, [], args.threads)
        for mode in args.modes.split(","):
            if mode == "alternating":
                folders = [version_folder(root, "ab"[n % 2]) for n in range(args.activations)]
            else:
                folders = [version_folder(root, f"{mode}-{n}") for n in range(args.activations)]
            results[mode] = phase(store, args.port, folders, args.threads)
    report(results, args, url)


def warm(store: DemoStore, port: int) -> None:
    """A few seconds of checks: both workers have built their shape tables and answer at their pace."""
    headers = {"Authorization": f"Bearer {store.check_key}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ends = time.monotonic() + 3.0
    while time.monotonic() < ends:
        conn.request("POST", "/v1/check", check_body(store), headers)
        conn.getresponse().read()
    conn.close()


def report(results: dict[str, dict], args: argparse.Namespace, url: str) -> None:
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"activation under load: authz serve, 2 workers, {backend}, {args.threads} client threads, "
          f"{args.activations} activations per mode; load average {os.getloadavg()[0]:.2f}")
    print("| mode | checks | p50 ms | p99 ms | max ms | largest gap ms | errors | old version after return | "
          "activate s (median, max) | p99 ÷ steady p99 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    floor = results["steady"]["p99_ms"]
    for mode, f in results.items():
        took = (f"{statistics.median(f['activate_s']):.1f}, {max(f['activate_s']):.1f}"
                if mode != "steady" else "none")
        print(f"| {mode} | {f['checks']} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {f['max_ms']:.1f} | "
              f"{f['largest_gap_ms']:.0f} | {f['errors']} | {f['old_version_after_return']} | {took} | "
              f"{f['p99_ms'] / floor:.2f} |")
    for mode, f in results.items():
        if mode == "steady":
            continue
        print(f"{mode}: {'; '.join(f['prepared'])}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest-activation.json").write_text(json.dumps(
        {"backend": backend, "threads": args.threads, "activations": args.activations,
         "load_average": os.getloadavg(), "modes": results}, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
