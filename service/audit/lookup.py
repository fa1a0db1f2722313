"""Reading recorded decisions back."""
from __future__ import annotations

import json
import time
from typing import Any

from service.store.audit_models import DecisionRecord
from service.store.records import records_database

from .recorder import FLUSH_SECONDS, DecisionRecorder


def _iso(value: Any) -> str:
    if isinstance(value, str):
        value = DecisionRecord.decided_at.python_value(value)
    return value.isoformat(timespec="microseconds") + "Z"


def as_dict(row: DecisionRecord) -> dict[str, Any]:
    return {"decision_id": row.decision_id, "time": _iso(row.decided_at), "moment": _iso(row.moment),
            "endpoint": row.endpoint, "key_id": row.key_id, "actor": row.actor,
            "action": row.action, "resource": row.resource, "allowed": bool(row.allowed),
            "reasons": json.loads(row.reasons), "policy_version": row.policy_version,
            "revision": int(row.revision), "detail": json.loads(row.detail)}


def find_decision(decision_id: str, recorder: DecisionRecorder | None = None) -> dict[str, Any] | None:
    """The recorded decision; this process's pending records are written first, and a record another
    worker has not written yet is waited for once (its writer flushes every FLUSH_SECONDS)."""
    for attempt in range(2):
        if recorder is not None:
            recorder.flush()
        # where records are written: an instance on a standby reads the primary's (no wait for the lag)
        row = DecisionRecord.select().where(DecisionRecord.decision_id == decision_id).get_or_none(records_database())
        if row is not None:
            return as_dict(row)
        if attempt == 0:
            time.sleep(FLUSH_SECONDS * 2)
    return None
