"""The floor: a bare Flask JSON endpoint served with the same gunicorn settings as the service.

POST /v1/check parses the JSON body and answers a constant decision-shaped
object, so the difference to the service's /v1/check is the cost of deciding
(and of the service's own request handling), not of Flask, gunicorn or JSON.
POST /v1/list answers a page of a partner's active customers read by the data
floor's one list query (bench/data_floor.py) on the store at DATABASE_URL: the
service's /v1/list of the same page costs that plus the policy's confirmations.
"""
from __future__ import annotations

import os
import threading

from flask import Flask, jsonify, request

_floors = threading.local()
_opened = threading.Lock()


def _floor():
    """This thread's DataFloor on the store (bound once per process)."""
    floor = getattr(_floors, "floor", None)
    if floor is None:
        from service.store import database, open_database
        from .data_floor import DataFloor
        with _opened:
            if database.obj is None:
                open_database(os.environ["DATABASE_URL"])
        floor = _floors.floor = DataFloor()
    return floor


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.post("/v1/check")
    def check():
        body = request.get_json(silent=True) or {}
        return jsonify({"allowed": False, "reasons": [], "actor": body.get("actor")})

    @app.post("/v1/list")
    def list_page():
        body = request.get_json(silent=True) or {}
        page_size = int(body.get("page_size", 100))
        ids = sorted(_floor().customers(int(body["partner_id"])))
        page = ids[:page_size]
        return jsonify({"ids": [f"organization:{i}" for i in page], "policy_version": "floor", "revision": 0,
                        "next_cursor": str(page[-1]) if len(ids) > page_size else None})

    return app


app = create_app()
