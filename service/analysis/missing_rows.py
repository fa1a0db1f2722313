"""Filling in `missing` on deny rows that lack it (a table written before explained denials).

For each such row the engine is asked with why_not (on a throw-away SQLite store of the
table's world) and the answer is written into the row, so a reviewer reads it and
commits it like any other expectation. Rows are the one-line flow mappings the tables
use (`- {actor: ..., note: "..."}`); other rows are left alone and reported.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from service.analysis import tables as t

_ROW_LINE = re.compile(r"^(\s*- \{actor: .*)(, note: .*\})\s*$")
PLACEHOLDER = ["R20 relation"]


def _placeholder_table(path: Path) -> tuple[t.Table, set[int]]:
    """The table with a placeholder `missing` on the deny rows that lack one; their indexes."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    lacking = {i for i, raw in enumerate(data["rows"]) if raw.get("expect") == "deny" and "missing" not in raw}
    rows = [t._row(path, i, {**raw, "missing": PLACEHOLDER} if i in lacking else raw)
            for i, raw in enumerate(data["rows"])]
    return t.Table(path.resolve(), str(data["description"]), (path.parent / str(data["world"])).resolve(), rows), lacking


def fill(path: Path, engine: Any) -> list[str]:
    """Write `missing` into the deny rows of one table file that lack it; what was done, line by line."""
    table, lacking = _placeholder_table(path)
    if not lacking:
        return []
    results = t.run_in_temporary_sqlite([table], engine)
    found = {r.row.index: sorted({f"{x.get('rule')} {x.get('missing')}" for x in r.reasons})
             for r in results if r.row.index in lacking and not r.allowed}
    lines = path.read_text(encoding="utf-8").split("\n")
    index, report = -1, []
    for number, line in enumerate(lines):
        match = _ROW_LINE.match(line)
        if not line.lstrip().startswith("- {actor:"):
            continue
        index += 1
        if index not in lacking:
            continue
        if index not in found or not match:
            report.append(f"{path.name}: rows[{index}] left as is (not a one-line row, or not denied)")
            continue
        lines[number] = f"{match.group(1)}, missing: [{', '.join(found[index])}]{match.group(2)}"
        report.append(f"{path.name}: rows[{index}] missing: [{', '.join(found[index])}]")
    path.write_text("\n".join(lines), encoding="utf-8")
    return report
