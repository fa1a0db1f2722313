"""The decision log: one JSON line per decision served, to a stream (not a row in the facts store).

Configured by AUTHZ_DECISION_LOG: `-` (default) for stdout, `off` to disable, or a
file path (appended to; one write per line so gunicorn workers can share the file).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from typing import IO, Any

ENV_VAR = "AUTHZ_DECISION_LOG"


class DecisionLog:
    def __init__(self, stream: IO[str] | None, *, owns_stream: bool = False) -> None:
        self._stream = stream
        self._owns = owns_stream
        self._lock = threading.Lock()

    @classmethod
    def from_setting(cls, setting: str | None = None) -> "DecisionLog":
        """From an explicit setting, else AUTHZ_DECISION_LOG, else stdout."""
        value = (setting if setting is not None else os.environ.get(ENV_VAR, "-")).strip()
        if value.lower() == "off":
            return cls(None)
        if value in ("", "-"):
            return cls(sys.stdout)
        return cls(open(value, "a", encoding="utf-8", buffering=1), owns_stream=True)

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def write(self, *, decision_id: str, key_id: int | None, actor: Any, action: Any, resource: Any,
              allowed: bool, reasons: Any, policy_version: str, revision: int, latency_ms: float,
              **extra: Any) -> None:
        if self._stream is None:
            return
        record = {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
            "decision_id": decision_id, "key_id": key_id, "actor": actor, "action": action,
            "resource": resource, "allowed": allowed, "reasons": reasons,
            "policy_version": policy_version, "revision": revision,
            "latency_ms": round(latency_ms, 3), **extra,
        }
        line = json.dumps(record, sort_keys=True, default=str) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> None:
        if self._owns and self._stream is not None:
            self._stream.close()
        self._stream = None
