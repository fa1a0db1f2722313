"""The decision log file: one JSON line per decision, never torn, never interleaved.

Configured by AUTHZ_DECISION_LOG: `off` (default) or a file path. Each record is one
os.write() on a descriptor opened with O_APPEND, so records of concurrent gunicorn
workers land whole and one after the other, however large and however slowly the
file is read. Standard output is refused: a pipe keeps writes whole only up to 4,096
bytes and gunicorn's access log shares it.

Rotation by size: when the file reaches AUTHZ_DECISION_LOG_MAX_BYTES (default 100 MB;
0 = never) the writer renames it to FILE.1 (FILE.1 to FILE.2, ... keeping
AUTHZ_DECISION_LOG_BACKUPS, default 5) under a lock file; every worker notices the
rename within MOVED_CHECK_SECONDS and reopens FILE (it looks at the path at most that often:
a path lookup per record cost more than writing the record). An external tool may move FILE
away the same way (the hand-off): nothing written before or after the move is lost, records
written meanwhile land whole in the moved file.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from typing import Any

ENV_VAR = "AUTHZ_DECISION_LOG"
MAX_BYTES_VAR = "AUTHZ_DECISION_LOG_MAX_BYTES"
BACKUPS_VAR = "AUTHZ_DECISION_LOG_BACKUPS"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_BACKUPS = 5
MOVED_CHECK_SECONDS = 0.2
_encode = json.JSONEncoder(sort_keys=True, default=str).encode  # built once, not per record


class DecisionLogError(ValueError):
    """An unusable AUTHZ_DECISION_LOG setting."""


class DecisionLog:
    def __init__(self, path: str | None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, max(backups, 1)
        self._lock = threading.Lock()
        self._fd: int | None = self._open() if path else None
        self._next_moved_check = 0.0

    @classmethod
    def from_setting(cls, setting: str | None = None) -> "DecisionLog":
        """From an explicit setting, else AUTHZ_DECISION_LOG, else off."""
        value = (setting if setting is not None else os.environ.get(ENV_VAR, "off")).strip()
        if value.lower() in ("off", ""):
            return cls(None)
        if value == "-":
            raise DecisionLogError(f"{ENV_VAR}=- (standard output) cannot keep large records whole next to the "
                                   "access log; give a file path, or off (decisions are kept in the store)")
        return cls(value, max_bytes=int(os.environ.get(MAX_BYTES_VAR, DEFAULT_MAX_BYTES)),
                   backups=int(os.environ.get(BACKUPS_VAR, DEFAULT_BACKUPS)))

    @property
    def enabled(self) -> bool:
        return self._fd is not None

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)  # type: ignore[arg-type]

    def write(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            return
        data = (_encode(record) + "\n").encode("utf-8")
        with self._lock:
            now = time.monotonic()
            if now >= self._next_moved_check:
                self._reopen_if_moved()
                self._next_moved_check = now + MOVED_CHECK_SECONDS
            written = os.write(self._fd, data)  # one write: O_APPEND places it whole at the end
            if written != len(data):  # only on a full disk; the line stays one record, truncated lines fail parsing
                raise OSError(f"decision log: wrote {written} of {len(data)} bytes")
            if self.max_bytes and os.fstat(self._fd).st_size >= self.max_bytes:
                self._rotate()

    def _reopen_if_moved(self) -> None:
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self._fd).st_ino  # type: ignore[arg-type]
        except FileNotFoundError:
            moved = True
        if moved:
            os.close(self._fd)  # type: ignore[arg-type]
            self._fd = self._open()

    def _rotate(self) -> None:
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one worker rotates; the others reopen on their next write
            current = os.stat(self.path)
            if current.st_ino == os.fstat(self._fd).st_ino and current.st_size >= self.max_bytes:  # type: ignore
                for n in range(self.backups - 1, 0, -1):
                    if os.path.exists(f"{self.path}.{n}"):
                        os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
                os.replace(self.path, f"{self.path}.1")
            os.close(self._fd)  # type: ignore[arg-type]
            self._fd = self._open()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
