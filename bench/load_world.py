"""`make bench-load`: `authz load` of a 48,000-row world against its floor, measured in the same run.

The world is bench/world.py's `generate(20, 200, 3)` (48,206 rows, 3.7 MB of YAML). Three times each,
interleaved: the floor -- a new interpreter that parses the file with libyaml (`yaml.load`,
CSafeLoader) and does nothing else -- and `authz load` of it into a new store (SQLite in a temporary
folder, or `--postgres URL`, whose public schema is WIPED). Prints the medians, their ratio and the
target of issue 23 (the whole command under 10 s on this machine).

    .venv/bin/python -m bench.load_world [--postgres URL]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.world import generate, row_count

ROUNDS = 3
TARGET_SECONDS = 10.0
PARSE_ONLY = "import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8'), Loader=yaml.CSafeLoader)"


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return took


def _fresh_store(folder: Path, n: int, postgres: str | None) -> dict[str, str]:
    url = postgres or f"sqlite:///{folder / f'load{n}.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    if postgres:
        subprocess.run([sys.executable, "-c", "from service.store.db import make_database; "
                        "db = make_database(__import__('os').environ['DATABASE_URL']); "
                        "db.execute_sql('DROP SCHEMA public CASCADE'); db.execute_sql('CREATE SCHEMA public')"],
                       env=env, check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "service.cli", "init-db"], env=env, check=True, capture_output=True,
                   timeout=120)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load_world", description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL", default=None, help="load into this PostgreSQL (WIPED)")
    args = parser.parse_args()
    world = generate(20, 200, 3)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        folder = Path(tmp)
        path = folder / "world.yaml"
        with open(path, "w", encoding="utf-8") as out:
            yaml.dump(world.data, out, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)
        floors, loads = [], []
        for n in range(ROUNDS):
            floors.append(_timed([sys.executable, "-c", PARSE_ONLY, str(path)], dict(os.environ)))
            env = _fresh_store(folder, n, args.postgres)
            loads.append(_timed([sys.executable, "-m", "service.cli", "load", str(path)], env))
        size = path.stat().st_size
    floor, load = statistics.median(floors), statistics.median(loads)
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"world: {row_count(world):,} rows, {size / 1e6:.1f} MB of YAML; {backend}; "
          f"load average at the end {os.getloadavg()[0]:.2f}")
    print(f"floor (a new interpreter parsing the file with libyaml), median of {ROUNDS}: {floor:.2f} s "
          f"({', '.join(f'{t:.2f}' for t in floors)})")
    print(f"authz load, median of {ROUNDS}: {load:.2f} s ({', '.join(f'{t:.2f}' for t in loads)})")
    print(f"ratio to the floor: {load / floor:.2f}; target: the whole command under {TARGET_SECONDS:.0f} s: "
          f"{'met' if load < TARGET_SECONDS else 'NOT met'}")


if __name__ == "__main__":
    main()
