"""Policy versions for the audit: the one in force at a past revision, its texts, and an engine per version.

The policy in force at a revision is the activation stored for it (policy_store.py). Nothing here
reads the policy files on disk: a store without any activation had no policy in force, and a past
question about such a revision cannot be answered. Texts kept in `policy_snapshot` by earlier
releases (which recorded the files on disk) are still read, so their decisions can be re-made.
"""
from __future__ import annotations

import json
import os
import threading

from service.policy.active import build_engine
from service.decide.engine import Engine
from service.policy.versions import policy_at
from service.store.audit_models import PolicySnapshot
from service.store.models import PolicyVersion
from service.store.moments import NO_POLICY


class UnknownPolicy(LookupError):
    """No texts are stored for this policy version."""


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def version_at(revision: int, recorded: str) -> str:
    """The policy version in force at `revision`: its activation, else the version recorded with it."""
    activated = policy_at(revision)
    return activated.version if activated is not None else recorded


def policy_texts(version: str) -> dict[str, str]:
    """{file name: text} of a stored version (an activation, or an earlier release's snapshot)."""
    if version == NO_POLICY:
        raise UnknownPolicy("no policy version was in force then (none had been activated)")
    for model in (PolicyVersion, PolicySnapshot):
        row = model.select(model.files).where(model.version == version).first()
        if row is not None:
            return json.loads(row.files)
    raise UnknownPolicy(f"the texts of policy version {version} are not stored")


def engine_for(version: str) -> Engine:
    """An engine deciding with policy `version`, built once per process from its stored texts.

    Its decision cache is off: it answers for many past revisions, and the cache keys on the present one.
    """
    with _engines_lock:
        engine = _engines.get(version)
        if engine is None:
            engine = _engines[version] = _build(version, policy_texts(version))
        return engine


def _build(version: str, texts: dict[str, str]) -> Engine:
    files = {os.path.basename(name): text for name, text in texts.items()}
    engine = build_engine(files, cache_size=0, shape_table=False)  # past questions are rare: no boot cost
    if engine.policy_version != version:  # the texts must be exactly those that were hashed
        raise UnknownPolicy(f"stored texts of policy {version} hash to {engine.policy_version}")
    return engine
