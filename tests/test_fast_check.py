"""Issue 22 item 6: the decision routes' thin path (service/api/fast_path.py) answers exactly as Flask does.

Every request of the table is sent through the app as served (the thin path in front of Flask) and
through the same app built without it (`create_app(fast_path=False)`), on the same store: status, JSON
body (but the decision ids), every header, the decision record written and the metrics counted must be
equal. Then the failures the table cannot make in passing (an engine failure, an unexpected error, the
recorder stopped, durable records that cannot be committed, the store gone), a real server's answers
against Flask's (chunked bodies over a socket), and the guard that the thin path knows every hook of
the app.
"""
from __future__ import annotations

import io
import json
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request_started
from werkzeug.exceptions import HTTPException
from werkzeug.test import EnvironBuilder, run_wsgi_app

from service.api import create_app
from service.api.auth import create_key
from service.api import fast_path
from service.api.error_answers import registered
from service.api.fast_path import KNOWN_HOOKS, DecisionFastPath, decision_routes
from service.api.metrics import REGISTRY
from service.store import database
from service.store.schema import current_revision

import live_servers

BIG = 65 * 1024


@dataclass(frozen=True)
class Req:
    name: str
    path: str = "/v1/check"
    body: Any = None                # a dict (sent as JSON) or bytes as they are
    key: str | None = "check"       # "check", "write", a literal token, or None (no header)
    method: str = "POST"
    chunked: bool = False
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    deadline: float | None = None   # REQUEST_DEADLINE_SECONDS for this request (both apps)


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: Any
    record: list[dict[str, Any]]
    counted: dict[tuple[str, tuple], float]


@dataclass
class Pair:
    fast: Flask
    plain: Flask
    keys: dict[str, str]
    log_path: Path
    demo: dict[str, str]
    url: str = ""


def _pair(store_url: str, tmp_path: Path, demo: dict[str, str]) -> Pair:
    log_path = tmp_path / "decisions.log"
    config = {"DATABASE_URL": store_url, "DECISION_LOG": str(log_path)}
    plain = create_app(config, fast_path=False)
    fast = create_app(config)  # the recorder is the process's: both apps record with this one
    keys = {scope: create_key(f"fast-{scope}", scope)[1] for scope in ("check", "write")}
    return Pair(fast, plain, keys, log_path, demo, store_url)


@pytest.fixture
def pair(store_url: str, demo: dict[str, str], tmp_path: Path) -> Pair:
    """Both apps on the demo world (~3 s: activating the policy is most of it)."""
    return _pair(store_url, tmp_path, demo)


@pytest.fixture
def bare(store_url: str, tmp_path: Path) -> Pair:
    """Both apps on an empty store (no world, no policy): for what needs no decision."""
    return _pair(store_url, tmp_path, {})


def _environ(req: Req, keys: dict[str, str]) -> dict[str, Any]:
    raw = req.body if isinstance(req.body, bytes) else b"" if req.body is None else json.dumps(req.body).encode()
    headers = {"Content-Type": "application/json", **req.headers}
    if req.key is not None:
        headers["Authorization"] = req.headers.get("Authorization") or f"Bearer {keys.get(req.key, req.key)}"
    if req.chunked:
        builder = EnvironBuilder(path=req.path, method=req.method, query_string=req.query or None,
                                 input_stream=io.BytesIO(raw), headers={**headers, "Transfer-Encoding": "chunked"})
        environ = builder.get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
        return environ
    environ = EnvironBuilder(path=req.path, method=req.method, query_string=req.query or None, data=raw,
                             headers=headers).get_environ()
    if "Content-Length" in req.headers:  # as sent, not as the builder counts it
        environ["CONTENT_LENGTH"] = req.headers["Content-Length"]
    return environ


def _counters() -> dict[tuple[str, tuple], float]:
    """Every counted sample of the process's metrics, but what timing or the writer thread decides."""
    found = {}
    for metric in REGISTRY.collect():
        if metric.name.startswith("authz_decision_record"):
            continue  # the writer thread's counts move on their own
        for sample in metric.samples:
            if sample.name.endswith(("_bucket", "_sum", "_created")):
                continue  # latencies
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in ("decision_id", "time", "moment", "latency_ms")}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def _send(app: Flask, pair: Pair, req: Req) -> Answer:
    if req.deadline is not None:
        app.config["REQUEST_DEADLINE_SECONDS"] = req.deadline
    lines_before = len(pair.log_path.read_text().splitlines()) if pair.log_path.exists() else 0
    counted_before = _counters()
    try:
        app_iter, status, headers = run_wsgi_app(app, _environ(req, pair.keys), buffered=True)
        raw = b"".join(app_iter)
    finally:
        app.config["REQUEST_DEADLINE_SECONDS"] = 20.0
    lines = pair.log_path.read_text().splitlines()[lines_before:] if pair.log_path.exists() else []
    after = _counters()
    counted = {k: v - counted_before.get(k, 0) for k, v in after.items() if v != counted_before.get(k, 0)}
    try:
        body = _without_ids(json.loads(raw))
    except ValueError:
        body = raw
    return Answer(status, list(headers.items()), body, [_without_ids(json.loads(line)) for line in lines], counted)


def assert_same(pair: Pair, req: Req) -> Answer:
    through_flask = _send(pair.plain, pair, req)
    fast = _send(pair.fast, pair, req)
    assert fast.status == through_flask.status, (req.name, fast.body, through_flask.body)
    assert fast.body == through_flask.body, req.name
    assert fast.headers == through_flask.headers, req.name
    assert fast.record == through_flask.record, req.name
    assert fast.counted == through_flask.counted, req.name
    return fast


def _table(d: dict[str, str], revision: int) -> list[tuple[Req, str]]:
    """(request, the status both must answer): the second value keeps the table honest."""
    ok = {"actor": d["carla"], "action": "access_account", "resource": d["baeckerei"]}
    item = {"actor": d["anna"], "action": "manage_users", "resource": d["webwerk"]}
    padded = json.dumps(ok).encode() + b" " * BIG
    return [
        (Req("allowed", body=ok), "200 OK"),
        (Req("denied", body={**ok, "actor": d["dirk"]}), "200 OK"),
        (Req("explained deny", body={**ok, "actor": d["dirk"], "explain": True}), "200 OK"),
        (Req("unknown action", body={**ok, "action": "fly"}), "200 OK"),
        (Req("unknown type", body={**ok, "resource": "spaceship:1"}), "200 OK"),
        (Req("fresh enough", body={**ok, "min_revision": 1}), "200 OK"),
        (Req("stale_store", body={**ok, "min_revision": 2**40}), "409 CONFLICT"),
        (Req("past revision", body={**ok, "at_revision": revision}), "200 OK"),
        (Req("outside history", body={**ok, "at_revision": 2**40}), "422 UNPROCESSABLE ENTITY"),
        (Req("past and fresh", body={**ok, "at_revision": 1, "min_revision": 1}), "422 UNPROCESSABLE ENTITY"),
        (Req("no key", body=ok, key=None), "401 UNAUTHORIZED"),
        (Req("unknown key", body=ok, key="azk_nobody"), "401 UNAUTHORIZED"),
        (Req("basic auth", body=ok, headers={"Authorization": "Basic eDp5"}), "401 UNAUTHORIZED"),
        (Req("write key", body=ok, key="write"), "403 FORBIDDEN"),
        (Req("no key, garbage body", body=b"{{{", key=None), "401 UNAUTHORIZED"),
        (Req("not json", body=b"not json"), "400 BAD REQUEST"),
        (Req("empty body", body=b""), "400 BAD REQUEST"),
        (Req("array", body=b"[1, 2]"), "400 BAD REQUEST"),
        (Req("duplicate key", body=b'{"actor": "user:1", "actor": "user:2", "action": "x", "resource": "organization:1"}'),
         "400 BAD REQUEST"),
        (Req("NaN", body=b'{"actor": "user:1", "action": "x", "resource": "organization:1", "min_revision": NaN}'),
         "400 BAD REQUEST"),
        (Req("lone surrogate", body=b'{"actor": "\\ud800"}'), "400 BAD REQUEST"),
        (Req("not UTF-8", body=b'{"actor": "\xff"}'), "400 BAD REQUEST"),
        (Req("NUL in a string", body={**ok, "resource": "organization:\u00001"}), "422 UNPROCESSABLE ENTITY"),
        (Req("C1 in a key", body={**ok, "\u0085": 1}), "422 UNPROCESSABLE ENTITY"),
        (Req("wrong type", body={**ok, "actor": 5}), "400 BAD REQUEST"),
        (Req("missing field", body={"actor": d["carla"], "resource": d["baeckerei"]}), "400 BAD REQUEST"),
        (Req("bad pattern", body={**ok, "actor": "organization:1"}), "422 UNPROCESSABLE ENTITY"),
        (Req("leading zero", body={**ok, "resource": "organization:01"}), "422 UNPROCESSABLE ENTITY"),
        (Req("unknown field", body={**ok, "extra": 1}), "422 UNPROCESSABLE ENTITY"),
        (Req("negative revision", body={**ok, "min_revision": -1}), "422 UNPROCESSABLE ENTITY"),
        (Req("integral float", body={**ok, "min_revision": 1.0}), "200 OK"),
        (Req("413 by Content-Length", body=padded), "413 REQUEST ENTITY TOO LARGE"),
        (Req("413 chunked", body=padded, chunked=True), "413 REQUEST ENTITY TOO LARGE"),
        (Req("chunked, small", body=ok, chunked=True), "200 OK"),
        (Req("Content-Length not a number", body=ok, headers={"Content-Length": "12x"}), "400 BAD REQUEST"),
        (Req("GET", body=None, method="GET"), "405 METHOD NOT ALLOWED"),
        (Req("PUT", body=ok, method="PUT"), "405 METHOD NOT ALLOWED"),
        (Req("a query string", body=ok, query="x=1"), "200 OK"),
        (Req("a repeated query parameter", body=ok, query="x=1&x=2"), "400 BAD REQUEST"),
        (Req("a trailing slash", path="/v1/check/", body=ok), "404 NOT FOUND"),
        (Req("batch", path="/v1/check/batch", body={"checks": [ok, item, {**ok, "action": "fly"}]}), "200 OK"),
        (Req("batch, stale", path="/v1/check/batch", body={"checks": [ok], "min_revision": 2**40}), "409 CONFLICT"),
        (Req("batch, empty", path="/v1/check/batch", body={"checks": []}), "422 UNPROCESSABLE ENTITY"),
        (Req("batch of 101", path="/v1/check/batch", body={"checks": [ok] * 101}), "422 UNPROCESSABLE ENTITY"),
        (Req("batch, bad item", path="/v1/check/batch", body={"checks": [ok, {**ok, "actor": 1}]}), "400 BAD REQUEST"),
        (Req("batch past its deadline", path="/v1/check/batch", body={"checks": [ok, item]}, deadline=0.0),
         "200 OK"),
        (Req("actions", path="/v1/actions", body={"actor": d["anna"], "resource": d["webwerk"]}), "200 OK"),
        (Req("actions past the deadline", path="/v1/actions", body={"actor": d["anna"], "resource": d["webwerk"]},
             deadline=0.0), "200 OK"),
        (Req("list", path="/v1/list", body={"actor": d["anna"], "action": "access_account",
                                            "resource_type": "organization", "page_size": 2}), "200 OK"),
        (Req("subjects", path="/v1/subjects", body={"action": "access_account", "resource": d["baeckerei"]}),
         "200 OK"),
        (Req("a read route is Flask's", path="/v1/policy", method="GET"), "200 OK"),
        (Req("ops", path="/healthz", method="GET", key=None), "200 OK"),
    ]


def test_every_request_of_the_table_is_answered_alike_in_process_and_served(pair: Pair) -> None:
    """~1.5 s after the fixture: ~55 requests through both apps, then 9 through a gunicorn instance."""
    for req, status in _table(pair.demo, current_revision()):
        answer = assert_same(pair, req)
        assert answer.status == status, (req.name, answer.body)
        assert "Traceback" not in json.dumps(answer.body, default=str)
        if answer.status >= "400" and req.path.startswith(("/v1/check", "/v1/actions")):
            assert answer.body["allowed"] is False, req.name  # error answers to decision calls deny
    _served_as_flask_answers(pair)


def _served_as_flask_answers(pair: Pair) -> None:
    """One gunicorn instance (the thin path, as served) beside the app without it, on the same store."""
    d = pair.demo
    ok = {"actor": d["carla"], "action": "access_account", "resource": d["baeckerei"]}
    padded = json.dumps(ok).encode() + b" " * BIG
    requests = [Req("allowed", body=ok), Req("denied", body={**ok, "actor": d["dirk"]}),
                Req("unknown key", body=ok, key="azk_nobody"), Req("duplicate key", body=b'{"a": 1, "a": 2}'),
                Req("413 by Content-Length", body=padded), Req("413 chunked", body=padded, chunked=True),
                Req("chunked, small", body=ok, chunked=True), Req("stale", body={**ok, "min_revision": 2**40}),
                Req("batch", path="/v1/check/batch", body={"checks": [ok, {**ok, "actor": d["dirk"]}]})]
    revision = current_revision()
    with live_servers.instances(pair.url, 1) as (base,):
        port = int(base.rsplit(":", 1)[1])
        for req in requests:
            status, headers, body = _exchange(port, req, pair.keys)
            expected = _send(pair.plain, pair, req)
            assert (status, body) == (expected.status, expected.body), req.name
            assert {k: v for k, v in headers.items() if k in SERVED_HEADERS} == \
                {k: v for k, v in expected.headers if k in SERVED_HEADERS}, req.name
    assert current_revision() == revision  # nothing of the table wrote


def test_the_thin_path_serves_the_decision_routes_and_nothing_else(bare: Pair) -> None:
    """Flask's request_started signal fires for what Flask serves: never for a decision POST here."""
    assert isinstance(bare.fast.wsgi_app, DecisionFastPath)
    assert not isinstance(bare.plain.wsgi_app, DecisionFastPath)
    assert set(bare.fast.wsgi_app.routes) == {"/v1/check", "/v1/check/batch", "/v1/actions", "/v1/list",
                                              "/v1/subjects"}
    started: list[str] = []

    def note(sender: Flask, **_extra: Any) -> None:
        started.append("flask")

    request_started.connect(note, bare.fast)
    try:
        ok = {"actor": "user:1", "action": "access_account", "resource": "organization:1"}
        for req, flask_serves in ((Req("check", body=ok), False), (Req("batch", "/v1/check/batch", {"checks": [ok]}), False),
                                  (Req("a query", body=ok, query="x=1"), True), (Req("GET", method="GET"), True),
                                  (Req("healthz", path="/healthz", method="GET", key=None), True)):
            started.clear()
            _send(bare.fast, bare, req)
            assert bool(started) is flask_serves, req.name
    finally:
        request_started.disconnect(note, bare.fast)


def test_the_thin_path_knows_every_hook_of_the_app(bare: Pair) -> None:
    """A hook added to the app must be added to the thin path too (fast_path.py), or this fails."""
    app = bare.fast
    for kind in ("before_request", "after_request", "teardown_request"):
        registered = getattr(app, f"{kind}_funcs").get(None, [])
        assert tuple(f.__qualname__ for f in registered) == KNOWN_HOOKS[kind], kind
    assert not app.url_value_preprocessors.get(None) and not app.url_default_functions.get(None)
    for kind in ("before_request_funcs", "after_request_funcs", "teardown_request_funcs", "url_value_preprocessors"):
        assert not getattr(app, kind).get("decisions"), kind  # nor a hook of the decisions blueprint


def test_the_thin_path_answers_errors_with_every_handler_of_the_app(bare: Pair) -> None:
    """The thin path answers an exception from the app's own table of its error handlers (error_answers.py),
    not from Flask's private lookup: the table must hold every handler the app registered (Flask's public
    `error_handler_spec`), by class only, and the decision routes' blueprint must register none of its own."""
    app = bare.fast
    spec = app.error_handler_spec  # {blueprint or None: {status code or None: {exception class: handler}}}
    assert set(spec[None]) == {None} and spec[None][None] == registered(app)
    assert {Exception, HTTPException} <= set(registered(app))  # every exception has an answer
    for route in decision_routes(app).values():
        assert route.blueprints and not any(spec.get(name) for name in route.blueprints), route.blueprints
    assert "_find_error_handler" not in Path(fast_path.__file__).read_text()


def test_failures_while_deciding_are_denied_alike_and_logged(pair: Pair, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    from service.api import decisions

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    d = pair.demo
    check = {"actor": d["anna"], "action": "manage_users", "resource": d["baeckerei"]}
    with monkeypatch.context() as patched:  # an unexpected error around the decision: 500 internal_error
        patched.setattr(decisions, "current_revision", broken)
        caplog.clear()
        answer = assert_same(pair, Req("min_revision read fails", body={**check, "min_revision": 1}))
        assert answer.status == "500 INTERNAL SERVER ERROR" and answer.body["allowed"] is False
        assert answer.body["error"]["code"] == "internal_error" and "boom" not in json.dumps(answer.body)
        assert len([r for r in caplog.records if r.exc_info and "unhandled error" in r.getMessage()]) == 2
    for app in (pair.fast, pair.plain):  # a failure inside the engine, not a mock of its answer
        engine, _refused, _stamp = app.extensions["authz_engine"].current()
        monkeypatch.setattr(engine, "_load", broken)
        monkeypatch.setattr(engine.cache, "size", 0)
    for req in (Req("check", body=check), Req("batch", path="/v1/check/batch", body={"checks": [check]})):
        caplog.clear()
        answer = assert_same(pair, req)
        assert answer.status == "500 INTERNAL SERVER ERROR" and answer.body["allowed"] is False
        assert answer.body["error"]["code"] == "decision_failed" and "boom" not in json.dumps(answer.body)
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) >= 2  # one per path


def test_refusals_of_the_recorder_and_the_store_alike(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.audit.recorder import configure, get_recorder
    ok = {"actor": pair.demo["carla"], "action": "access_account", "resource": pair.demo["baeckerei"]}
    monkeypatch.setenv("AUTHZ_DECISION_STORE", "durable")
    configure(str(pair.log_path))
    assert assert_same(pair, Req("durable, committed", body=ok)).status == "200 OK"
    database.execute_sql("ALTER TABLE decision RENAME TO decision_away")  # the records' table is gone
    try:
        answer = assert_same(pair, Req("durable, not committed", body=ok))
        assert answer.status == "503 SERVICE UNAVAILABLE" and answer.body["error"]["code"] == "audit_unavailable"
        assert "decision_id" not in answer.body and answer.body["allowed"] is False
    finally:
        database.execute_sql("ALTER TABLE decision_away RENAME TO decision")
    get_recorder().close()  # nothing would write a record: every decision is refused, 503 audit_unavailable
    answer = assert_same(pair, Req("recorder stopped", body=ok))
    assert answer.status == "503 SERVICE UNAVAILABLE" and answer.body["error"]["code"] == "audit_unavailable"
    assert ("Retry-After", "1") in answer.headers
    if pair.url.startswith("sqlite"):  # the PostgreSQL outage is the next test's
        path = Path(pair.url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        answer = assert_same(pair, Req("store deleted", body=ok))
        assert answer.status == "503 SERVICE UNAVAILABLE" and answer.body["error"]["code"] == "store_unavailable"
        assert any(k == "Retry-After" for k, _ in answer.headers)


def test_an_unreachable_postgresql_is_503_alike(tmp_path: Path) -> None:
    config = {"DATABASE_URL": "postgresql://authz:authz@127.0.0.1:1/authz", "DECISION_LOG": "off"}
    apps = Pair(create_app(config), create_app(config, fast_path=False), {"check": "azk_x"}, tmp_path / "none", {})
    ok = {"actor": "user:1", "action": "view", "resource": "organization:1"}
    answer = assert_same(apps, Req("PostgreSQL unreachable", body=ok))
    assert answer.status == "503 SERVICE UNAVAILABLE" and answer.body["error"]["code"] == "store_unavailable"
    assert "127.0.0.1" not in json.dumps(answer.body) and any(k == "Retry-After" for k, _ in answer.headers)


# -- a real server: the thin path under gunicorn, against Flask in process ---------------------------

def _exchange(port: int, req: Req, keys: dict[str, str]) -> tuple[str, dict[str, str], Any]:
    raw = req.body if isinstance(req.body, bytes) else json.dumps(req.body).encode()
    framing = "Transfer-Encoding: chunked" if req.chunked else f"Content-Length: {len(raw)}"
    payload = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(raw), raw)) if req.chunked else raw
    head = (f"{req.method} {req.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {keys.get(req.key, req.key)}\r\n"
            f"Content-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(head.encode() + payload)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return status_line.split(" ", 1)[1], headers, _without_ids(json.loads(body))


SERVED_HEADERS = ("Content-Type", "Content-Length", "Retry-After", "Allow")  # the app's own (not Date, Server)
