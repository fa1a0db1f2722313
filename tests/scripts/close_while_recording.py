"""Record decisions from four threads (durable and async recorders in turn) while the main thread stops
the recorder and closes the pool, again and again; prints recorded and stored counts."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from service.audit import recorder as recording  # noqa: E402
from service.store import init_schema, open_database  # noqa: E402
from service.store.db import make_database  # noqa: E402

url = f"sqlite:///{Path(sys.argv[1]) / 'store.db'}"
rounds = int(sys.argv[2])
db = open_database(url, pooled=True)
init_schema()
recorded, lock, stop = 0, threading.Lock(), threading.Event()


def decide_and_record() -> None:
    global recorded
    while not stop.is_set():
        try:
            recording.record("check", recording.new_decision_id(), actor="user:1", action="access_account",
                             resource="organization:1", allowed=False, reasons=[], policy_version="v", revision=1,
                             latency_ms=0.1)
        except recording.AuditUnavailable:
            continue
        ok = recording.get_recorder().await_recorded()
        with lock:
            recorded += 1 if ok else 0
        time.sleep(0.001)


threads = [threading.Thread(target=decide_and_record) for _ in range(4)]
for thread in threads:
    thread.start()
for i in range(rounds):
    os.environ["AUTHZ_DECISION_STORE"] = "durable" if i % 2 else "async"
    time.sleep(0.01)
    recording.shutdown()  # the recorder first: its writer joined, its records written
    db.close_all()  # then the pool, as a stop or a rebind does
stop.set()
for thread in threads:
    thread.join()
recording.shutdown()
db.close_all()
check = make_database(url)
print(recorded, check.execute_sql("SELECT count(*) FROM decision").fetchone()[0])
