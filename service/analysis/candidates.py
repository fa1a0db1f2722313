"""A candidate policy folder: read, validated (load, strict checks, decision tables) and activated.

The candidate is read once into {file name: text}; what is validated is exactly what is recorded.
"""
from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any, Iterator

from service.policy.active import build_engine
from service.decide.engine import Engine
from service.decide.checks import PolicyError, manifest_files
from service.policy.prepare import Readiness, stage, unstage, wait_seconds, wait_until_prepared
from service.policy.versions import StoredPolicy, active_policy, record_activation, version_of
from service.analysis.tables import DEFAULT_TABLE_DIR, load_tables, report, run_in_temporary_sqlite


def read_candidate(policy_dir: Path) -> dict[str, str]:
    """The files the folder's manifest names, as {name: text}; PolicyError on a manifest problem."""
    return {path.name: path.read_text(encoding="utf-8") for path in manifest_files(policy_dir)}


def load_candidate(policy_dir: Path) -> tuple[dict[str, str], Engine]:
    """The candidate's files and its engine (strict checks and oso load); PolicyError if invalid."""
    files = read_candidate(policy_dir)
    return files, build_engine(files, cache_size=0)


def check_tables(engine: Engine, table_dir: Path = DEFAULT_TABLE_DIR) -> list[str]:
    """The decision tables under `engine`, on throw-away SQLite stores; PolicyError naming each failure.

    Rebinds the database: the caller opens its store again afterwards.
    """
    tables = load_tables(table_dir)
    lines: list[str] = []
    if not report(run_in_temporary_sqlite(tables, engine), tables, lines.append, coverage=True):
        raise PolicyError("the decision tables fail under the candidate:\n"
                          + "\n".join(line for line in lines if line.startswith("FAIL")))
    return lines


def activator() -> str:
    return os.environ.get("AUTHZ_ACTIVATED_BY") or getpass.getuser()


def activate(files: dict[str, str], by: str, *, if_changed: bool = False,
             wait: float | None = None) -> tuple[StoredPolicy, bool]:
    """Record `files` as the active version (validated by the caller); (active version, whether recorded).

    Two phases (service/policy/prepare.py): the version is staged and every live worker builds it,
    for at most `wait` seconds (AUTHZ_ACTIVATION_WAIT by default), then the switch is recorded."""
    stored, recorded, _ready = activate_prepared(files, by, if_changed=if_changed, wait=wait)
    return stored, recorded


def activate_prepared(files: dict[str, str], by: str, *, if_changed: bool = False, wait: float | None = None
                      ) -> tuple[StoredPolicy, bool, Readiness | None]:
    """activate(), and who of the live workers had built the version when it switched (None: no switch)."""
    current = active_policy()
    version = version_of(files)
    if if_changed and current is not None and current.version == version:
        return current, False, None
    stage(version, files)
    try:
        ready = wait_until_prepared(version, wait_seconds() if wait is None else wait)
        return record_activation(files, by), True, ready
    finally:
        unstage(version)


def read_decision_log(path: Path) -> Iterator[dict[str, Any]]:
    """The replayable questions of a decision log: single and batch checks, in order."""
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc.msg})") from exc
            if record.get("endpoint", "check") in ("check", "batch") and isinstance(record.get("allowed"), bool):
                yield record
