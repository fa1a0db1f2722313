"""The HTTP API: create_app(config) builds the Flask app, its engine and its store binding."""
from __future__ import annotations

from typing import Any

from flask import Flask

from service.authz import Engine
from service.store import database, open_database

from . import decisions, ops
from .errors import register_error_handlers

MAX_BODY_BYTES = 64 * 1024

BLUEPRINTS = [ops.bp, decisions.bp]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: bind the store, load the policy once, register blueprints."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, DATABASE_URL=None)
    app.config.update(config or {})
    open_database(app.config["DATABASE_URL"])
    app.extensions["authz_engine"] = Engine()
    register_error_handlers(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    @app.before_request
    def _connect() -> None:
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        if not database.is_closed():
            database.close()

    return app
