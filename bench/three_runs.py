"""Three full runs side by side: each figure per run, its floors, ratios and how many runs met it.

    make bench && cp bench/results/latest.json /tmp/run1.json   # twice more: run2, run3
    .venv/bin/python -m bench.three_runs sqlite /tmp/run1.json /tmp/run2.json /tmp/run3.json

(`postgres` and latest-postgres.json for PostgreSQL.) A target counts as met only when all three
runs meet it: these machines are noisy.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from .run import rows


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.2f}"


def table(runs: list[dict[str, Any]], postgres: bool) -> str:
    lines = ["| figure | run 1 | run 2 | run 3 | floor (runs) | ratio (runs) | target | met |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows(postgres):
        values = [run.get(row.key) for run in runs]
        if all(value is None for value in values):
            continue
        floors = [row.floor(run) if row.floor else None for run in runs]
        ratios = [v / f if v is not None and f else None for v, f in zip(values, floors)]
        met = ""
        if row.met:
            count = sum(1 for v, run in zip(values, runs) if v is not None and row.met(v, run))
            met = f"yes ({count}/{len(runs)})" if count == len(runs) else f"**no** ({count}/{len(runs)} met)"
        unit = f" ({row.unit})" if row.unit else ""
        lines.append(f"| {row.label}{unit} | " + " | ".join(_number(v) for v in values) + " | "
                     + (" / ".join(_number(f) for f in floors) if row.floor else "") + " | "
                     + (" / ".join(_number(r) for r in ratios) if row.floor else "") + f" | {row.target} | {met} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.three_runs", description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=("sqlite", "postgres"))
    parser.add_argument("runs", nargs=3, help="three copies of latest.json (or latest-postgres.json)")
    args = parser.parse_args()
    runs = [json.loads(open(path, encoding="utf-8").read()) for path in args.runs]
    print("commits: " + ", ".join(run["commit"] for run in runs) + "; load average at start: "
          + "; ".join(" ".join(str(x) for x in run["load_average"]) for run in runs))
    print()
    print(table(runs, args.backend == "postgres"))


if __name__ == "__main__":
    main()
