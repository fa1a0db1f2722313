"""A throwaway PostgreSQL cluster of a test's own, which it may stop and start (the shared servers on
5432/5452/5453 are never touched).

initdb in a temporary directory with Debian's binaries (/usr/lib/postgresql/*/bin): as user postgres
when run as root (CI), as the current user otherwise. It listens on 127.0.0.1 only, with fsync off
(the tests kill it, they do not test its durability) and a role `authz` owning one database.
AUTHZ_OWN_POSTGRES_PORT sets the port (default 5442).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT_PORT = 5442
DATABASE = "authz_outage"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class OwnCluster:
    """initdb'd on creation; start(), stop(), remove(); `url` is the authz role's URL of its database."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or int(os.environ.get("AUTHZ_OWN_POSTGRES_PORT") or DEFAULT_PORT)
        self.bin = postgres_bin()
        assert self.bin is not None, "no PostgreSQL binaries under /usr/lib/postgresql"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self._remove_leftovers()
        # under /var/tmp, not pytest's tmp_path: user postgres cannot enter root's 0700 pytest directory
        self.base = Path(tempfile.mkdtemp(prefix=f"authz-own-pg-{self.port}-", dir="/var/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
        self.data = self.base / "data"
        self.url = f"postgresql://authz:authz@127.0.0.1:{self.port}/{DATABASE}"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.base}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\n")
        self.start()
        self._sql("CREATE ROLE authz LOGIN PASSWORD 'authz' CREATEDB")
        self._sql(f"CREATE DATABASE {DATABASE} OWNER authz")

    def _remove_leftovers(self) -> None:
        """A cluster of an earlier run on this port that was not removed (the run was killed)."""
        for leftover in glob.glob(f"/var/tmp/authz-own-pg-{self.port}-*"):
            self._pg_ctl_stop(Path(leftover) / "data")
            shutil.rmtree(leftover, ignore_errors=True)

    def _pg_ctl_stop(self, data: Path) -> None:
        command = [str(self.bin / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(data)]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, capture_output=True, timeout=60)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> str:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.base)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        return done.stdout

    def _sql(self, statement: str) -> str:
        return self._run("psql", "-w", "-h", str(self.base), "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                         "-tAq", "-v", "ON_ERROR_STOP=1", "-c", statement)

    def start(self) -> None:
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.base / "server.log"))

    def stop(self, mode: str = "fast") -> None:
        """Stop it (`fast`: open connections are terminated, as an operator's restart does)."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data))

    def remove(self) -> None:
        self._pg_ctl_stop(self.data)
        shutil.rmtree(self.base, ignore_errors=True)
