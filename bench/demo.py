"""`make bench-demo`: decision and HTTP figures on the demo world (data/demo.yaml).

Prints the median and p99 of in-process decide() (every actor x action x resource
of the demo world, the decision cache off, at least 1,000 calls), of POST
/v1/check over gunicorn (a sequential client), and of POST /v1/list for the demo
world's largest partner (Webwerk's legal representative listing the customer
accounts they may access).
"""
from __future__ import annotations

import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from service.decide.engine import Engine
from service.decide.vocabulary import actions_for
from service.store.world import read_world_file

from . import client, servers
from .run import create_key, load_into, percentile

ROOT = Path(__file__).resolve().parents[1]
MIN_CALLS = 1000
PORT = 8311


def _checks(refs: dict[str, str]) -> list[tuple[str, str, str]]:
    users = [ref for ref in refs.values() if ref.startswith("user:")]
    resources = [ref for ref in refs.values() if not ref.startswith("user:")]
    return [(u, a, r) for u, r in itertools.product(users, resources) for a in actions_for(r.split(":")[0])]


def _stats(label: str, values_us: list[float]) -> str:
    return (f"| {label} | {len(values_us)} | {statistics.median(values_us):.0f} µs | "
            f"{percentile(values_us, 0.99):.0f} µs |")


def main() -> int:
    class _World:  # load_into wants an object with .data
        data = read_world_file(ROOT / "data" / "demo.yaml")

    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp_dir:
        tmp = Path(tmp_dir)
        db_path = tmp / "demo.db"
        refs, _ = load_into(f"sqlite:///{db_path}", _World)
        checks = _checks(refs)
        engine = Engine(cache_size=0, shape_table=True)  # as served (service/wsgi.py)
        rounds = -(-MIN_CALLS // len(checks))
        latencies = []
        allowed = 0
        for _ in range(rounds):
            for check in checks:
                started = time.perf_counter()
                allowed += engine.decide(*check).allowed
                latencies.append((time.perf_counter() - started) * 1e6)
        rows = [_stats("decide() in-process, cache off, shape table on", latencies)]

        key, why = create_key(f"sqlite:///{db_path}")
        if key is None:
            print(f"no API key: {why}", file=sys.stderr)
            return 1
        headers = {"Authorization": f"Bearer {key}"}
        bodies = [json.dumps({"actor": u, "action": a, "resource": r}).encode() for u, a, r in checks]
        list_body = json.dumps({"actor": refs["anna"], "action": "access_account",
                                "resource_type": "organization", "page_size": 1000}).encode()
        env = {"DATABASE_URL": f"sqlite:///{db_path}", "AUTHZ_DECISION_LOG": "off"}
        with servers.gunicorn("service.wsgi:app", PORT, tmp / "service.log", env):
            client.sequential(PORT, "/v1/check", bodies[:100], headers, max_seconds=10)  # warm-up
            timing = client.sequential(PORT, "/v1/check", bodies[:MIN_CALLS], headers, max_seconds=60)
            rows.append(_stats("POST /v1/check, sequential client", timing.latencies_us))
            listing = client.sequential(PORT, "/v1/list", [list_body] * 200, headers, max_seconds=30)
            rows.append(_stats("POST /v1/list, Webwerk's legal representative", listing.latencies_us))
    print(f"demo world: {len(checks)} distinct checks ({allowed * 100 // len(latencies)}% allowed)\n")
    print("| measure | calls | median | p99 |\n|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
