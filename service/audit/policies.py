"""Policy versions for the audit: the one in force now, their texts, and an engine per version.

The policy in force at a revision is the activation stored for it (policy_store.py);
for a store with no activation it is the files on disk, whose version is recorded with
each revision, and whose texts are kept in `policy_snapshot` the first time a process
sees them, so a past decision can be re-made with the policy that made it.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.authz.active_policy import build_engine
from service.authz.engine import POLICY_DIR, Engine, policy_files, policy_version_of
from service.authz.policy_store import policy_at
from service.store.audit_models import PolicySnapshot
from service.store.models import PolicyVersion


@dataclass(frozen=True)
class PolicyTexts:
    version: str
    files: dict[str, str]  # file name -> text


class UnknownPolicy(LookupError):
    """No texts are stored for this policy version."""


_in_force: PolicyTexts | None = None
_remembered: set[tuple[str, int]] = set()
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def texts_of(files: list[Path]) -> PolicyTexts:
    return PolicyTexts(policy_version_of(files), {f.name: f.read_bytes().decode("utf-8") for f in files})


def policy_in_force() -> PolicyTexts:
    """The policy on disk, read once per process (like the engine, which loads it once)."""
    global _in_force
    if _in_force is None:
        _in_force = texts_of(policy_files(POLICY_DIR))
    return _in_force


def remember(policy: PolicyTexts, db: Any) -> None:
    """Store the texts of `policy` in store `db` unless this process already did."""
    if (policy.version, id(db)) in _remembered:
        return
    PolicySnapshot.insert(version=policy.version, files=json.dumps(policy.files, sort_keys=True)) \
        .on_conflict_ignore().as_rowcount().execute(db)  # no RETURNING: peewee picks it by the store bound now
    _remembered.add((policy.version, id(db)))


def version_at(revision: int, recorded: str) -> str:
    """The policy version in force at `revision`: its activation, else the version recorded with it."""
    activated = policy_at(revision)
    return activated.version if activated is not None else recorded


def policy_texts(version: str) -> PolicyTexts:
    for model in (PolicyVersion, PolicySnapshot):
        row = model.select(model.files).where(model.version == version).first()
        if row is not None:
            return PolicyTexts(version, json.loads(row.files))
    if version == policy_in_force().version:
        return policy_in_force()
    raise UnknownPolicy(f"the texts of policy version {version} are not stored")


def engine_for(version: str) -> Engine:
    """An engine deciding with policy `version`, built once per process from its stored texts.

    Its decision cache is off: it answers for many past revisions, and the cache keys on the present one.
    """
    with _engines_lock:
        engine = _engines.get(version)
        if engine is None:
            engine = _engines[version] = _build(policy_texts(version))
        return engine


def _build(policy: PolicyTexts) -> Engine:
    files = {os.path.basename(name): text for name, text in policy.files.items()}
    engine = build_engine(files, cache_size=0, shape_table=False)  # past questions are rare: no boot cost
    if engine.policy_version != policy.version:  # the texts must be exactly those that were hashed
        raise UnknownPolicy(f"stored texts of policy {policy.version} hash to {engine.policy_version}")
    return engine
