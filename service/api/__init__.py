"""The HTTP API: create_app(config) builds the Flask app, its engine and its store binding.

How to declare a route (conventions for every blueprint, e.g. service/api/workflows.py):
 1. `bp = Blueprint("workflows", __name__, url_prefix="/v1")`; append `workflows.bp` to BLUEPRINTS below.
 2. Declare each route with `service.api.registry.route`, never `bp.route`:
      @route(bp, "/invitations/<int:invitation_id>/accept", "POST", scope=WRITE, summary="...",
             body=AcceptRequest, response=AcceptAnswer, status=200, errors=(404, 409))
      def accept(body: AcceptRequest, invitation_id: int): ...
    `scope` is auth.CHECK or auth.WRITE (auth.PUBLIC only outside /v1); the whole body is read first (413 past 64 KiB,
    service/api/body.py), the key is checked before the body is parsed.
 3. Body/answer models subclass schemas.Request / schemas.Answer (pydantic v2; Request is strict and
    forbids unknown fields); reuse schemas.Ref/UserRef/OrgRef/ProductRef/Text for ids and names.
    Wrong JSON types or missing fields answer 400, other invalid values 422, naming `field`.
 4. Fail with `raise ApiError(status, code, message, field=...)` (errors.py): 404 unknown reference,
    409 state conflict, 422 invalid; list extra statuses in `errors=` so the OpenAPI spec documents them.
 5. Write in `with database.atomic():` and call `bump_revision()` inside it; return the revision.
The route then appears in /openapi.json automatically; tests/test_api_openapi.py checks both ways.
"""
from __future__ import annotations

from typing import Any

from flask import Flask

from service.policy.active import start_engine
from service.review import register as register_review_console
from service.store import open_database
from service.store.db import release_connection
from service.store.revision_writes import set_writer_source
from service.store.records import check_primary_setting

from . import audit, body, deadline, decisions, docs, facts, ops, recording, standby, strict_input, workflows
from .errors import ApiError, register_error_handlers
from .fast_path import DecisionFastPath
from .strict_input import CanonicalIntConverter

__all__ = ["ApiError", "BLUEPRINTS", "MAX_BODY_BYTES", "create_app"]

MAX_BODY_BYTES = 64 * 1024

BLUEPRINTS = [ops.bp, docs.bp, decisions.bp, facts.bp, workflows.bp, audit.bp]


def create_app(config: dict[str, Any] | None = None, *, fast_path: bool = True) -> Flask:
    """Build the app: bind the store, load the policy once, register blueprints. The decision routes are
    served by the thin path in front of Flask (fast_path.py); fast_path=False leaves them to Flask, for
    the test that compares the two answer by answer and the benchmark that measures the difference."""
    app = Flask(__name__, static_folder=None)  # no static route: every route is declared
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, DATABASE_URL=None, DECISION_LOG=None)
    app.config.update(config or {})
    # pooled: each request checks a connection out and returns it (never across a fork:
    # gunicorn workers build their own app, hence their own pool); must_exist: a SQLite file that is
    # not there is an outage (503), never created empty (only `authz init-db` creates a store)
    open_database(app.config["DATABASE_URL"], pooled=True, must_exist=True)
    # one Oso per process and policy version: gunicorn imports service.wsgi in each worker (no preload);
    # each decision uses the store's active version (service/policy/active.py)
    app.extensions["authz_engine"] = start_engine()
    from service.audit.recorder import configure
    from .auth import caller_key_id, caller_key_name
    recorder = app.extensions["decision_recorder"] = configure(app.config["DECISION_LOG"])
    recorder.caller_key_id = caller_key_id
    set_writer_source(caller_key_name)  # each revision names the key that wrote it (the console's "what changed")
    check_primary_setting(recorder.to_store)  # a standby's records need AUTHZ_PRIMARY_URL
    register_error_handlers(app)
    body.init_app(app)  # first: the whole body is read, and bounded, before anything acts on the request
    strict_input.init_app(app)  # then the path and query: no repeated parameter, no control character
    recording.register(app)  # durable decision records: the answer waits for their commit
    standby.init_app(app)  # writes on a standby: 503 read_only_standby
    deadline.init_app(app)
    app.url_map.converters["int"] = CanonicalIntConverter  # before any route: ids in canonical form only
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    register_review_console(app)  # /review: HTML for reviewers, outside the JSON API (not in /openapi.json)

    # no connection is opened before a request: the first query opens one (peewee autoconnect),
    # so liveness, which never queries, answers while the store is down

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        release_connection()  # kept by this thread for its next request unless left unusable

    if fast_path:
        app.wsgi_app = DecisionFastPath(app)  # type: ignore[method-assign]  (last: it reads the routes)
    return app
