"""Issue 22 item 5: closing the store (its whole pool) while the recorder's writer commits crashes
nothing: shutdown() stops the recorder first (tests/conftest.py and a rebind do the same)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "scripts" / "close_while_recording.py"


def test_closing_the_pool_while_recording_does_not_crash(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "60"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    recorded, stored = (int(n) for n in done.stdout.split())
    assert recorded > 100 and stored == recorded, (recorded, stored)
