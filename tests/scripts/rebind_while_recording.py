"""Record decisions from one thread while another rebinds the store between two SQLite files, as
tests and tools do in one process; then count the records each store holds. Prints the two counts:
recorded and stored. Run as a script (a crash must not take the test runner down)."""
from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from service.audit.recorder import new_decision_id, record, shutdown  # noqa: E402
from service.store import init_schema, open_database  # noqa: E402
from service.store.db import make_database  # noqa: E402

folder = Path(tempfile.mkdtemp())
urls = [f"sqlite:///{folder / f'store{i}.db'}" for i in range(2)]
for url in urls:
    open_database(url, pooled=True)
    init_schema()
recorded = 0
stop = threading.Event()


def decide_and_record() -> None:
    global recorded
    while not stop.is_set():
        for _ in range(200):
            record("check", new_decision_id(), actor="user:1", action="access_account", resource="organization:1",
                   allowed=False, reasons=[], policy_version="v", revision=1, latency_ms=0.1)
            recorded += 1
        time.sleep(0.001)


writer = threading.Thread(target=decide_and_record)
writer.start()
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 200):
    open_database(urls[i % 2], pooled=True)
    time.sleep(0.005)
stop.set()
writer.join()
shutdown()
stored = 0
for url in urls:
    db = make_database(url)
    stored += db.execute_sql("SELECT count(*) FROM decision").fetchone()[0]
    db.close()
print(recorded, stored)
