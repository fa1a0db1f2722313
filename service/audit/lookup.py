"""Reading recorded decisions back: from what is stored, never failing because pending writes fail."""
from __future__ import annotations

import json
import logging
import time
from typing import Any

import peewee

from service.store.audit_models import DecisionRecord
from service.store.records import records_database

from .recorder import FLUSH_SECONDS, AuditUnavailable, DecisionRecorder

log = logging.getLogger("authz.audit")


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
    """The recorded decision, or None. In async mode this process's pending records are written first
    (a failure to write them is logged, not raised: the answer is what is stored) and a record another
    worker has not written yet is waited for once (its writer commits every FLUSH_SECONDS). In durable
    mode every answered decision is committed already: nothing to wait for. Raises AuditUnavailable
    when the store cannot be read."""
    waits = recorder is None or not recorder.durable
    for attempt in range(2 if waits else 1):
        if recorder is not None and not recorder.durable:
            try:
                recorder.flush()
            except Exception as exc:  # the writer counts and logs it
                log.warning("decision lookup: pending records not written (%s); answering from the store", exc)
        try:
            # where records are written: an instance on a standby reads the primary's (no wait for the lag)
            row = DecisionRecord.select().where(DecisionRecord.decision_id == decision_id).get_or_none(records_database())
        except peewee.DatabaseError as exc:
            raise AuditUnavailable(f"decision records cannot be read: {exc}") from None
        if row is not None:
            return as_dict(row)
        if attempt == 0 and waits:
            time.sleep(FLUSH_SECONDS * 2)
    return None
