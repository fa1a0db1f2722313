"""Rebinding the store (tests, `authz impact`, the decision tables' throw-away stores) while decisions
are being recorded closes no connection under the recorder's writer thread, and loses no record:
the recorder finishes its writes before the store it writes to is closed (store.db.before_rebind)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "scripts" / "rebind_while_recording.py"


def test_rebinding_while_recording_loses_nothing() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "300"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "closed database" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    recorded, stored = (int(n) for n in done.stdout.split())
    assert recorded > 1000 and stored == recorded, (recorded, stored)
