"""The WSGI entry point for gunicorn: each worker process builds its own app (and Oso).

A served engine learns the common fact shapes at boot (service/decide/shapes.py), so a
worker's first requests do not each pay a Polar evaluation; AUTHZ_SHAPE_TABLE=0 turns it off.
Each worker also runs the policy rollout watcher (service/policy/prepare.py): a version about to
be activated is built here before the switch, so no decision waits for a build.
"""
import gc
import os

from service.api import create_app
from service.policy.prepare import start_watcher

os.environ.setdefault("AUTHZ_SHAPE_TABLE", "1")
app = create_app()
start_watcher()
# What start-up built (the policy, the shape table, pydantic schemas, the app) lives as long as
# the worker: moved out of the collector's generations, it is not walked again by every full
# collection, which otherwise cost about a third of a batch's time.
gc.freeze()
