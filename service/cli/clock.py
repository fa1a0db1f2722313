"""When the running `authz` command started, for the times it reports (`authz load`: "done in X s").

IMPORTED is taken when the package is first imported, before the commands' own imports: a command
run from the command line counts from there (the interpreter's start, ~0.05 s, is all it misses).
A command invoked in-process (a test's CliRunner) counts from its invocation."""
from __future__ import annotations

import time

IMPORTED = time.perf_counter()
_started: float | None = None


def begin(from_command_line: bool) -> None:
    """Called as the command is dispatched (CliGroup.main)."""
    global _started
    _started = IMPORTED if from_command_line and _started is None else time.perf_counter()


def command_started() -> float:
    return _started if _started is not None else time.perf_counter()
