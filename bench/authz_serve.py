"""What the replica and activation benchmarks serve: a demo store and `authz serve` instances on it.

`demo_store(url)` fills a store (a SQLite file, or a PostgreSQL database whose public schema is WIPED)
with the demo world, the repository's policy active and a check key; `served(...)` runs `authz serve`
as an operator does (its start checks, then gunicorn) and always stops it.
"""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .servers import until_ready

ROOT = Path(__file__).resolve().parents[1]
DEMO_WORLD = ROOT / "data" / "demo.yaml"
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class DemoStore:
    url: str
    check_key: str
    write_key: str
    refs: dict[str, str]  # demo key -> "type:id"


def demo_store(url: str) -> DemoStore:
    """The demo world in a fresh store at url, policies/ active, one check and one write key."""
    from service.analysis.candidates import activate, read_candidate
    from service.api.auth import create_key
    from service.decide.engine import POLICY_DIR
    from service.store import database, init_schema, open_database
    from service.store.world import load_world, read_world_file
    db = open_database(url)
    if url.startswith("postgres"):
        db.connect(reuse_if_open=True)
        db.execute_sql("DROP SCHEMA public CASCADE")
        db.execute_sql("CREATE SCHEMA public")
    init_schema()
    refs = load_world(read_world_file(DEMO_WORLD))
    activate(read_candidate(POLICY_DIR), "bench", if_changed=True)
    _, check_key = create_key("bench-check", "check")
    _, write_key = create_key("bench-write", "write")
    database.close()
    return DemoStore(url, check_key, write_key, refs)


def authz_bin() -> str:
    return str(Path(sys.executable).parent / "authz")


@contextmanager
def served(store_url: str, port: int, log_path: Path, *, workers: int = 2, **env: str) -> Iterator[int]:
    """`authz serve --port PORT --workers N` on store_url until the block ends; yields the master's pid."""
    settings = {"DATABASE_URL": store_url, "AUTHZ_DECISION_LOG": "off", **env}
    args = [authz_bin(), "serve", "--port", str(port), "--workers", str(workers)]
    with until_ready(args, port, log_path, settings, workers=workers, label="authz serve",
                     ready_path="/readyz", timeout_s=START_TIMEOUT_S) as pid:
        yield pid


def check_body(store: DemoStore, actor: str = "anna", action: str = "add_customer",
               resource: str = "webwerk", **extra: object) -> bytes:
    return json.dumps({"actor": store.refs[actor], "action": action, "resource": store.refs[resource],
                       **extra}).encode()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of values (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.5)) - 1))]
