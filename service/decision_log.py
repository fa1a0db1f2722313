"""The decision log file: one JSON line per decision, never torn, never interleaved.

Configured by AUTHZ_DECISION_LOG: `off` (default) or a file path. Each record is one
os.write() on a descriptor opened with O_APPEND, so records of concurrent gunicorn
workers land whole and one after the other, however large and however slowly the
file is read. Standard output is refused: a pipe keeps writes whole only up to 4,096
bytes and gunicorn's access log shares it.

Rotation by size: when the file reaches AUTHZ_DECISION_LOG_MAX_BYTES (default 100 MB;
0 = never) the writer renames it to FILE.1 (FILE.1 to FILE.2, ... keeping
AUTHZ_DECISION_LOG_BACKUPS, default 5) under a lock file; every worker notices the
rename within MOVED_CHECK_SECONDS and reopens FILE. A worker looks at the path and the size
at most that often, or once it has written a tenth of the limit since it last looked (a path
lookup and a size per record cost more than writing the record), so a file may pass the limit
by what the workers write meanwhile. An external tool may move FILE away the same way (the
hand-off): nothing written before or after the move is lost, records written meanwhile land
whole in the moved file. Writes take no lock: threads of a worker each make their one
os.write, and O_APPEND keeps them whole and apart.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
from typing import Any

import pydantic_core

ENV_VAR = "AUTHZ_DECISION_LOG"
MAX_BYTES_VAR = "AUTHZ_DECISION_LOG_MAX_BYTES"
BACKUPS_VAR = "AUTHZ_DECISION_LOG_BACKUPS"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_BACKUPS = 5
MOVED_CHECK_SECONDS = 0.2
RETIRE_SECONDS = 60.0  # how long a replaced descriptor stays open (see _replace_descriptor)


def _encode(record: dict[str, Any]) -> bytes:
    """The record as one JSON line, its fields in the record's order (pydantic's serializer: a fifth of
    the json module's time; anything it does not know is written as its str())."""
    return pydantic_core.to_json(record, fallback=str) + b"\n"


class DecisionLogError(ValueError):
    """An unusable AUTHZ_DECISION_LOG setting."""


class DecisionLog:
    def __init__(self, path: str | None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 backups: int = DEFAULT_BACKUPS) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, max(backups, 1)
        self._lock = threading.Lock()  # taken to look at the file (move, size), never around a write
        self._fd: int | None = self._open() if path else None
        self._next_check = 0.0
        # the file's size is looked at every MOVED_CHECK_SECONDS, and sooner once this process has written
        # a tenth of max_bytes since the last look (other workers write too: a file may overshoot a little)
        self._unchecked_bytes, self._check_bytes = 0, max(max_bytes // 10, 1) if max_bytes else 0
        self._retired: list[tuple[float, int]] = []  # (when, descriptor) replaced by a reopen, closed later

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
        """One record, one os.write on the O_APPEND descriptor: no lock around it (threads of a worker
        queued on one while the write let go of the GIL), the descriptor read once."""
        fd = self._fd
        if fd is None:
            return
        data = _encode(record)
        if time.monotonic() >= self._next_check or (self._check_bytes and self._unchecked_bytes >= self._check_bytes):
            fd = self._look_at_the_file()
        written = os.write(fd, data)  # one write: O_APPEND places it whole at the end
        self._unchecked_bytes += written  # threads may race on this count: it only says when to look
        if written != len(data):  # only on a full disk; the line stays one record, truncated lines fail parsing
            raise OSError(f"decision log: wrote {written} of {len(data)} bytes")

    def _look_at_the_file(self) -> int:
        """Reopen the path if the file was moved away, rotate it if full; the descriptor to write to."""
        with self._lock:
            now = time.monotonic()
            self._next_check, self._unchecked_bytes = now + MOVED_CHECK_SECONDS, 0
            self._reopen_if_moved()
            if self.max_bytes and os.fstat(self._fd).st_size >= self.max_bytes:  # type: ignore[arg-type]
                self._rotate()
            self._close_retired(now)
            return self._fd  # type: ignore[return-value]

    def _replace_descriptor(self) -> None:
        """Open the path anew. The old descriptor is closed only RETIRE_SECONDS later: a thread that read
        it just before may still be about to write to it, and a number closed now could be reused by
        another file meanwhile."""
        self._retired.append((time.monotonic(), self._fd))  # type: ignore[arg-type]
        self._fd = self._open()

    def _close_retired(self, now: float) -> None:
        while self._retired and now - self._retired[0][0] >= RETIRE_SECONDS:
            os.close(self._retired.pop(0)[1])

    def _reopen_if_moved(self) -> None:
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self._fd).st_ino  # type: ignore[arg-type]
        except FileNotFoundError:
            moved = True
        if moved:
            self._replace_descriptor()

    def _rotate(self) -> None:
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one worker rotates; the others reopen on their next write
            current = os.stat(self.path)
            if current.st_ino == os.fstat(self._fd).st_ino and current.st_size >= self.max_bytes:  # type: ignore
                for n in range(self.backups - 1, 0, -1):
                    if os.path.exists(f"{self.path}.{n}"):
                        os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
                os.replace(self.path, f"{self.path}.1")
            self._replace_descriptor()

    def close(self) -> None:
        fd, self._fd = self._fd, None
        for _when, retired in self._retired:
            os.close(retired)
        self._retired = []
        if fd is not None:
            os.close(fd)
