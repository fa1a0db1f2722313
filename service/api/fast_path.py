"""The thin path: the decision routes served without Flask's per-request machinery (issue 22).

`POST /v1/check`, `/v1/check/batch`, `/v1/actions`, `/v1/list` and `/v1/subjects` (every route declared
with `decision=True`) are what callers send most, each answer a few µs of work once cached; Flask's
request context (a Request object, URL matching, the session interface, hook dispatch, a Response
object) cost more than the service's own work around them. This WSGI callable sits in front of the
Flask app (`app.wsgi_app`): a POST to exactly one of those paths, without a query string, is served
here; everything else, whatever its method or path, goes to Flask unchanged.

Nothing of the contract is written twice. A request served here runs the very functions the app's
hooks run, in the same order (tests/test_fast_check.py fails when the app gains a hook this path does
not know):

- before: the whole body read and bounded (`body.read_whole_body`, 413), the path checked
  (`strict_input.check_query_and_path`: a query string is left to Flask), the durable waits reset
  (`recording.begin_request`), the deadline's clock started (`deadline.start_clock`);
- the route: `registry.answer` (key, scope, strict JSON, pydantic validation, the handler) and
  `registry.rendered` (the answer's bytes), inside an app context (`current_app`, `g`) as Flask's;
- an exception: the handler the app registered for it (`error_answers.handler_for`: the app's own table
  of its handlers, the closest class of the exception's MRO as Flask picks one), so every error answer
  is the app's own;
- after: `recording.once_recorded` (durable mode: 503 audit_unavailable) then `errors.note_recovery`
  (Flask runs after_request hooks in reverse order of registration; the review console's headers
  hook only touches /review); teardown: `release_connection`.

create_app(fast_path=False) builds the app without it, for tests/test_fast_check.py (which compares the
two answer by answer) and bench/request_cost.py; a served worker always has it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from flask import Flask, Response, g
from werkzeug.utils import get_content_type

from service.store.db import release_connection

from .body import read_whole_body
from .deadline import start_clock
from .error_answers import handler_for
from .errors import note_recovery
from .recording import begin_request, once_recorded
from .registry import JSON, Operation, answer, rendered
from .strict_input import check_query_and_path

StartResponse = Callable[..., Any]
_NO_QUERY: dict[str, Any] = {}  # a request with a query string is Flask's

# The app's own hooks, by qualified name, that this path runs the bodies of (see the docstring).
KNOWN_HOOKS = {
    "before_request": ("init_app.<locals>._read_whole_body", "init_app.<locals>._canonical_query_and_path",
                       "register.<locals>._fresh_waits", "init_app.<locals>._start_clock"),
    "after_request": ("register_error_handlers.<locals>._recovered", "register.<locals>._answer_once_recorded",
                      "add_headers"),
    "teardown_request": ("create_app.<locals>._release",),
}


@dataclass(frozen=True)
class FastRoute:
    """A declared route this path serves: its declaration, its handler and its blueprint (which registers
    no hook nor error handler of its own: tests/test_fast_check.py)."""

    op: Operation
    handler: Callable[..., Any]
    blueprints: tuple[str, ...]


def decision_routes(app: Flask) -> dict[str, FastRoute]:
    """Path -> route for every POST decision route without path arguments."""
    routes = {}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        op: Operation | None = getattr(view, "authz_operation", None)
        if op is None or not op.decision or op.method != "POST" or rule.arguments:
            continue
        blueprint = rule.endpoint.rpartition(".")[0]
        routes[rule.rule] = FastRoute(op, view.authz_handler, (blueprint,) if blueprint else ())  # type: ignore[union-attr]
    return routes


@functools.lru_cache(maxsize=None)
def _status_line(status: int) -> str:
    return Response(status=status).status  # werkzeug's own wording ("200 OK")


_CONTENT_TYPE = get_content_type(JSON, "utf-8")  # what Response(mimetype=JSON) sends


class DecisionFastPath:
    """WSGI middleware: the decision routes served here, every other request by the Flask app."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.flask_wsgi = app.wsgi_app
        self.routes = decision_routes(app)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        if route is None or environ.get("QUERY_STRING"):
            return self.flask_wsgi(environ, start_response)
        with self.app.app_context():  # current_app and g, as under Flask; a fresh g for every request
            try:
                return self._serve(route, environ, start_response)
            finally:
                release_connection()  # the app's teardown_request

    def _serve(self, route: FastRoute, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        g.decision_request = route.op.decision  # what errors.is_decision_request would find by routing
        try:
            out = self._answer(route, environ)
        except Exception as exc:
            out = self._error_answer(exc)
        status = out.status_code if isinstance(out, Response) else out[1]
        refused = once_recorded(status)
        if refused is not None:
            out, status = refused, refused.status_code
        note_recovery(status)
        if isinstance(out, Response):
            return out(environ, start_response)
        data = out[0]
        start_response(_status_line(status), [("Content-Type", _CONTENT_TYPE), ("Content-Length", str(len(data)))])
        return [data]

    def _answer(self, route: FastRoute, environ: dict[str, Any]) -> Response | tuple[bytes, int]:
        raw = read_whole_body(environ, self.app.config["MAX_CONTENT_LENGTH"])
        check_query_and_path(_NO_QUERY, environ["PATH_INFO"])
        begin_request()
        start_clock()
        result = answer(route.op, route.handler, environ.get("HTTP_AUTHORIZATION", ""), lambda: raw, {})
        return rendered(result, route.op)

    def _error_answer(self, exc: Exception) -> Response:
        """The answer of the error handler the app registered for `exc` (every Exception has one: errors.py)."""
        handler = handler_for(self.app, exc)
        if handler is None:
            raise exc
        return self.app.make_response(handler(exc))
