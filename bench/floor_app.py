"""The floor: a bare Flask JSON endpoint served with the same gunicorn settings as the service.

POST /v1/check parses the JSON body and answers a constant decision-shaped
object, so the difference to the service's /v1/check is the cost of deciding
(and of the service's own request handling), not of Flask, gunicorn or JSON.
"""
from __future__ import annotations

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.post("/v1/check")
    def check():
        body = request.get_json(silent=True) or {}
        return jsonify({"allowed": False, "reasons": [], "actor": body.get("actor")})

    return app


app = create_app()
