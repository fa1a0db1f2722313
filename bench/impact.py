"""`python -m bench.impact`: `authz impact` on the 10,000-customer benchmark world, for the R13 edit.

Generates the benchmark world (bench/world.py defaults, seed 42 as bench/run.py), loads it into a
fresh SQLite file, activates policies/, writes the R13 edit (every collaborator of a partner reaches
all of its customers) as a candidate folder and times the `authz impact --format json` command as a
reviewer runs it. Prints the wall time, the decisions compared and the size of the output.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from service.decide.engine import POLICY_DIR

from .run import close_store, load_into
from .world import generate

R13_OLD = '''reaches_as(user: User, p, "collaborator", reach) if
  user.is_assigned(p.partner_id, p.customer_id) and
'''
R13_NEW = '''reaches_as(_user: User, p, "collaborator", reach) if
'''


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-impact-") as tmp:
        db_path, candidate = Path(tmp) / "authz.db", Path(tmp) / "candidate"
        world = generate(seed=42)
        _refs, seconds = load_into(f"sqlite:///{db_path}", world)
        close_store()
        print(f"world: {world.customer_count:,} customers loaded in {seconds:.1f} s")
        shutil.copytree(POLICY_DIR, candidate)
        main_polar = candidate / "main.polar"
        main_polar.write_text(main_polar.read_text(encoding="utf-8").replace(R13_OLD, R13_NEW), encoding="utf-8")
        authz = str(Path(sys.executable).parent / "authz")
        for output in ("json", "text"):
            started, cpu = time.perf_counter(), _children_cpu()
            done = subprocess.run([authz, "impact", "--policies", str(candidate), "--format", output],
                                  capture_output=True, text=True, env={**os.environ, "DATABASE_URL": f"sqlite:///{db_path}"})
            wall, cpu = time.perf_counter() - started, _children_cpu() - cpu
            print(f"authz impact --format {output}: exit {done.returncode}, {wall:.1f} s wall ({cpu:.1f} s CPU), "
                  f"{len(done.stdout.encode()):,} bytes of output, {len(done.stdout.splitlines()):,} lines")
            if output == "json" and done.stdout.startswith("{"):
                answer = json.loads(done.stdout)
                print(f"  compared {answer['compared']:,}, gained {len(answer['gained']):,}, "
                      f"lost {len(answer['lost']):,}, by_rule {answer['by_rule']}")
            elif output == "text":
                print("\n".join(done.stdout.splitlines()[:12]))
            if done.returncode not in (0, 1):
                print(done.stderr[-2000:])


if __name__ == "__main__":
    main()
