"""The service with its decision routes left to Flask (no thin path), for `make bench` only.

Served beside `service.wsgi:app` in the same interleaved rounds, its throughput against the served
service's is what the thin path (service/api/fast_path.py) gains under gunicorn. Started as
service/wsgi.py starts a worker; never served in production.
"""
import gc
import os

from service.api import create_app
from service.policy.prepare import start_watcher

os.environ.setdefault("AUTHZ_SHAPE_TABLE", "1")
app = create_app(fast_path=False)
start_watcher()
gc.freeze()
