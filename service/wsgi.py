"""The WSGI entry point for gunicorn: each worker process builds its own app (and Oso).

A served engine learns the common fact shapes at boot (service/authz/shapes.py), so a
worker's first requests do not each pay a Polar evaluation; AUTHZ_SHAPE_TABLE=0 turns it off.
"""
import os

from service.api import create_app

os.environ.setdefault("AUTHZ_SHAPE_TABLE", "1")
app = create_app()
