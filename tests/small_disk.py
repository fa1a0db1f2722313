"""A store's disk that a test fills and frees, under a served instance.

SQLite: the store on a small tmpfs mounted in a mount namespace of the server's own (root only, as in
CI: `unshare --mount`), then a file filling it. PostgreSQL: a shared server's disk cannot be filled by
a test; a trigger raises PostgreSQL's own `disk_full` error (SQLSTATE 53100) for every write to the
decision table. Used by tests/test_recorder_disk.py (decision records) and tests/test_outage_served.py
(fact writes).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from service.store import database

SIZE = "24m"


def can_fill_sqlite() -> bool:
    return os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("nsenter") is not None


FULL = ("CREATE FUNCTION authz_test_disk_full() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
        "'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER decision_disk_full BEFORE INSERT ON decision FOR EACH ROW EXECUTE FUNCTION authz_test_disk_full()")
FREE = ("DROP TRIGGER decision_disk_full ON decision", "DROP FUNCTION authz_test_disk_full()")


class Disk:
    """The served store's disk: fill() and free()."""

    def __init__(self, store_url: str, tmp_path: Path) -> None:
        self.sqlite = store_url.startswith("sqlite")
        self.mount = tmp_path / "small-disk"
        self.url = f"sqlite:///{self.mount / 'authz.db'}" if self.sqlite else store_url
        self.pid = 0

    def prefix(self, source: Path) -> list[str]:
        if not self.sqlite:
            return []
        self.mount.mkdir()
        script = (f"mount -t tmpfs -o size={SIZE} tmpfs {self.mount} && cp {source}/authz.db* {self.mount}/ "
                  '&& exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]

    def _in_namespace(self, command: str) -> None:
        subprocess.run(["nsenter", "-t", str(self.pid), "-m", "sh", "-c", command], capture_output=True, timeout=30)

    def fill(self) -> None:
        if self.sqlite:
            self._in_namespace(f"head -c 64M /dev/zero > {self.mount}/filler")
        else:
            for statement in FULL:
                database.execute_sql(statement)

    def free(self) -> None:
        if self.sqlite:
            self._in_namespace(f"rm -f {self.mount}/filler")
        else:
            for statement in FREE:
                database.execute_sql(statement)


