"""The Python client against a fake service that misbehaves: garbage, 5xx, 4xx, hangs,
trickles, truncated bodies, answers of the wrong shape. Every one is a deny for
`check`/`check_many` and an exception for `list`/`subjects`/`actions` — never an allow.
Also: retries only on connection errors and 5xx, keep-alive, and `min_revision` on reads.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import venv
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from flask import Flask

from partner_authz_client import AuthzClient, AuthzError, AuthzProtocolError, AuthzRequestError, AuthzUnavailable
from partner_authz_client.flask import init_app, require

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 0.5      # the client's per-attempt deadline in these tests
HANG = 5.0         # how long a hanging fake holds an answer back (far beyond TIMEOUT)

ALLOW = {"allowed": True, "decision_id": "d-1", "reasons": [{"rule": "R12"}], "policy_version": "p", "revision": 3}
DENY = {**ALLOW, "allowed": False, "reasons": [{"rule": "R20"}]}

Reply = Callable[["Handler", dict[str, Any]], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: "FakeServer"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))
        self.server.reply(self, body)

    def send(self, status: int, payload: Any, *, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, reply: Reply) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.reply, self.requests, self.connections = reply, [], 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def fake() -> Iterator[Callable[[Reply], FakeServer]]:
    servers: list[FakeServer] = []

    def serve(reply: Reply) -> FakeServer:
        server = FakeServer(reply)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def answering(status: int, payload: Any = None, raw: bytes | None = None) -> Reply:
    return lambda handler, body: handler.send(status, payload, raw=raw)


def client_for(server: FakeServer, **options: Any) -> AuthzClient:
    return AuthzClient(server.url, "azk_test", **{"timeout": TIMEOUT, "retries": 2, "backoff": 0.01, **options})


def ask(server: FakeServer, **options: Any):
    with client_for(server, **options) as client:
        return client.check("user:1", "access_account", "organization:3")


# -- what is an allow ------------------------------------------------------------------------------

def test_a_well_formed_allow_is_an_allow(fake) -> None:
    server = fake(answering(200, ALLOW))
    decision = ask(server)
    assert decision.allowed is True and decision.error is None and decision.revision == 3
    assert server.requests == [("/v1/check", {"actor": "user:1", "action": "access_account",
                                              "resource": "organization:3"})]
    assert ask(fake(answering(200, DENY))).allowed is False


@pytest.mark.parametrize("payload", [
    {**ALLOW, "allowed": "yes"}, {**ALLOW, "allowed": "true"}, {**ALLOW, "allowed": 1},
    {**ALLOW, "allowed": None}, {k: v for k, v in ALLOW.items() if k != "allowed"},
    {**ALLOW, "allowed": [True]}, {k: v for k, v in ALLOW.items() if k != "reasons"},
    {**ALLOW, "reasons": ["R12"]}, {k: v for k, v in ALLOW.items() if k != "decision_id"},
    {**ALLOW, "revision": "3"}, {**ALLOW, "revision": True}, {**ALLOW, "revision": -1},
    {**ALLOW, "policy_version": 7}, [ALLOW], "allowed", True, None,
], ids=lambda p: json.dumps(p)[:60])
def test_a_malformed_answer_is_a_deny(fake, payload: Any) -> None:
    decision = ask(fake(answering(200, payload)))
    assert decision.allowed is False and decision.error


@pytest.mark.parametrize("raw", [b"", b"garbage", b"{\"allowed\": true", b"<html>500</html>",
                                 json.dumps(ALLOW).encode() + b"garbage", b"\xff\xfe{}"],
                         ids=["empty", "garbage", "cut-json", "html", "trailing", "not-utf8"])
def test_a_body_that_is_not_json_is_a_deny(fake, raw: bytes) -> None:
    assert ask(fake(answering(200, raw=raw))).allowed is False


@pytest.mark.parametrize("status", [201, 204, 302])
def test_an_unexpected_status_is_a_deny(fake, status: int) -> None:
    server = fake(answering(status, ALLOW))
    assert ask(server).allowed is False and len(server.requests) == 1


# -- retries ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_then_denied(fake, status: int) -> None:
    server = fake(answering(status, {**ALLOW, "error": {"code": "internal_error"}}))
    decision = ask(server, retries=3)
    assert decision.allowed is False and "4 attempts" in decision.error
    assert len(server.requests) == 4


def test_a_retry_after_a_5xx_can_succeed(fake) -> None:
    def flaky(handler: Handler, body: dict) -> None:
        handler.send(503, {}) if len(handler.server.requests) < 3 else handler.send(200, ALLOW)
    server = fake(flaky)
    assert ask(server, retries=2).allowed is True and len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 429])
def test_4xx_is_never_retried(fake, status: int) -> None:
    server = fake(answering(status, {"error": {"code": "nope", "message": "refused", "field": "actor"},
                                     "allowed": True}))  # even if a broken service says allowed
    decision = ask(server, retries=3)
    assert decision.allowed is False and f"{status} nope" in decision.error
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_denied() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with AuthzClient(url, "azk", timeout=TIMEOUT, retries=2, backoff=0.01) as client:
        decision = client.check("user:1", "access_account", "organization:3")
        assert decision.allowed is False and "3 attempts" in decision.error
        with pytest.raises(AuthzUnavailable):
            client.list("user:1", "access_account", "organization")


def test_a_connection_closed_without_an_answer_is_a_deny(fake) -> None:
    def hang_up(handler: Handler, body: dict) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)
    server = fake(hang_up)
    assert ask(server, retries=1).allowed is False and len(server.requests) == 2


# -- time ------------------------------------------------------------------------------------------

def test_a_hanging_service_is_a_deny_without_retry(fake) -> None:
    def hang(handler: Handler, body: dict) -> None:
        time.sleep(HANG)
    server = fake(hang)
    started = time.monotonic()
    decision = ask(server, retries=3)
    assert decision.allowed is False and "no answer within" in decision.error
    assert time.monotonic() - started < HANG - 1  # the client gave up on its own deadline
    assert len(server.requests) == 1              # a read timeout is not multiplied by retries


def test_a_trickling_answer_is_cut_at_the_deadline(fake) -> None:
    def trickle(handler: Handler, body: dict) -> None:
        data = json.dumps(ALLOW).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for byte in data:  # every byte well within the socket timeout, the whole far beyond the deadline
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(TIMEOUT / 5)
    server = fake(trickle)
    started = time.monotonic()
    assert ask(server, retries=0).allowed is False
    assert time.monotonic() - started < HANG - 1


def test_a_truncated_body_is_a_deny(fake) -> None:
    def truncated(handler: Handler, body: dict) -> None:
        data = json.dumps(ALLOW).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data) + 50))
        handler.end_headers()
        handler.wfile.write(data)  # a complete allow, but less than promised: the answer was cut
        handler.close_connection = True
    assert ask(fake(truncated), retries=0).allowed is False


# -- connections -----------------------------------------------------------------------------------

def test_connections_are_kept_alive_one_per_thread(fake) -> None:
    server = fake(answering(200, ALLOW))
    with client_for(server) as client:
        assert all(client.is_allowed("user:1", "access_account", "organization:3") for _ in range(20))
        assert server.connections == 1
        threads = [threading.Thread(target=lambda: [client.check("user:1", "a", "organization:3")
                                                    for _ in range(5)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.connections == 5 and len(server.requests) == 40


def test_a_kept_alive_connection_closed_by_the_server_is_reopened(fake) -> None:
    def once_per_connection(handler: Handler, body: dict) -> None:
        handler.send(200, ALLOW)
        handler.close_connection = True  # closed after the answer, without saying so
    server = fake(once_per_connection)
    with client_for(server, retries=0) as client:  # no retries: the reopening is not one
        assert all(client.is_allowed("user:1", "access_account", "organization:3") for _ in range(5))
    assert server.connections == 5


# -- batches ---------------------------------------------------------------------------------------

CHECKS = [("user:1", "access_account", f"organization:{i}") for i in range(1, 6)]


def batch_of(results: list[Any]) -> Reply:
    return answering(200, {"results": results, "policy_version": "p", "revision": 3})


def test_a_batch_is_answered_in_order(fake) -> None:
    server = fake(batch_of([ALLOW, DENY, ALLOW, DENY, DENY]))
    with client_for(server) as client:
        assert [d.allowed for d in client.check_many(CHECKS)] == [True, False, True, False, False]


@pytest.mark.parametrize("results", [
    [ALLOW] * 4, [ALLOW] * 6, [ALLOW, ALLOW, {**ALLOW, "allowed": "yes"}, ALLOW, ALLOW],
    [ALLOW, ALLOW, None, ALLOW, ALLOW], "nope",
], ids=["short", "long", "one-yes", "one-null", "not-a-list"])
def test_a_malformed_batch_denies_every_check(fake, results: Any) -> None:
    with client_for(fake(batch_of(results))) as client:
        decisions = client.check_many(CHECKS)
    assert len(decisions) == len(CHECKS) and not any(d.allowed for d in decisions)
    assert all(d.error for d in decisions)


def test_a_long_batch_is_sliced_and_a_failed_slice_denies_only_its_checks(fake) -> None:
    def second_slice_fails(handler: Handler, body: dict) -> None:
        if len(handler.server.requests) == 2:
            handler.send(500, {})
        else:
            handler.send(200, {"results": [ALLOW] * len(body["checks"]), "policy_version": "p", "revision": 3})
    server = fake(second_slice_fails)
    checks = [("user:1", "access_account", f"organization:{i}") for i in range(1, 251)]
    with client_for(server, retries=0) as client:
        decisions = client.check_many(checks)
    assert [len(body["checks"]) for _, body in server.requests] == [100, 100, 50]
    assert [d.allowed for d in decisions] == [True] * 100 + [False] * 100 + [True] * 50


# -- lists raise -----------------------------------------------------------------------------------

def page(ids: Any, cursor: Any = None) -> dict[str, Any]:
    return {"ids": ids, "next_cursor": cursor, "decision_id": "d", "policy_version": "p", "revision": 3}


@pytest.mark.parametrize("payload", [
    page(["organization:1", 2]), page(["product:1"]), page("organization:1"), page(["organization:x"]),
    page([], 5), page(["organization:1"], "²"), {"ids": ["organization:1"]}, {**page([]), "revision": "3"},
    {k: v for k, v in page([]).items() if k != "next_cursor"},
], ids=["int-id", "other-type", "not-a-list", "bad-id", "int-cursor", "unicode-cursor", "bare", "revision",
        "no-cursor"])
def test_a_malformed_list_raises(fake, payload: Any) -> None:
    with client_for(fake(answering(200, payload))) as client, pytest.raises(AuthzProtocolError):
        client.list("user:1", "access_account", "organization")


@pytest.mark.parametrize("cursors", [["1", "1"], ["5", "3"]], ids=["repeated", "backwards"])
def test_a_list_whose_cursor_does_not_advance_raises(fake, cursors: list[str]) -> None:
    def pages(handler: Handler, body: dict) -> None:
        cursor = cursors[len(handler.server.requests) - 1]
        handler.send(200, page([f"organization:{cursor}"], cursor))
    with client_for(fake(pages)) as client, pytest.raises(AuthzProtocolError, match="did not advance"):
        client.list("user:1", "access_account", "organization")


def test_a_list_of_several_pages_is_joined(fake) -> None:
    def pages(handler: Handler, body: dict) -> None:
        after = int(body.get("cursor", 0))
        handler.send(200, page([f"organization:{after + 1}"], str(after + 1) if after < 2 else None))
    server = fake(pages)
    with client_for(server) as client:
        assert client.list("user:1", "access_account", "organization") == [f"organization:{i}" for i in (1, 2, 3)]
    assert [body.get("cursor") for _, body in server.requests] == [None, "1", "2"]


def test_list_subjects_actions_raise_on_errors(fake) -> None:
    with client_for(fake(answering(500, {"error": {"code": "x"}})), retries=1) as client:
        for call in (lambda: client.list("user:1", "access_account", "organization"),
                     lambda: client.subjects("access_account", "organization:3"),
                     lambda: client.actions("user:1", "organization:3")):
            with pytest.raises(AuthzUnavailable):
                call()
    with client_for(fake(answering(422, {"error": {"code": "invalid_field", "message": "m", "field": "actor"}}))) \
            as client, pytest.raises(AuthzRequestError) as err:
        client.subjects("access_account", "organization:3")
    assert (err.value.status, err.value.code, err.value.field) == (422, "invalid_field", "actor")


@pytest.mark.parametrize("payload", [
    {"subjects": [{"user": "organization:1", "reasons": []}], "decision_id": "d", "policy_version": "p",
     "revision": 1},
    {"subjects": [{"user": "user:1"}], "decision_id": "d", "policy_version": "p", "revision": 1},
    {"subjects": None, "decision_id": "d", "policy_version": "p", "revision": 1},
], ids=["not-a-user", "no-reasons", "null"])
def test_malformed_subjects_raise(fake, payload: Any) -> None:
    with client_for(fake(answering(200, payload))) as client, pytest.raises(AuthzProtocolError):
        client.subjects("access_account", "organization:3")


@pytest.mark.parametrize("payload", [{**ALLOW, "actions": "access_account"}, {**ALLOW, "actions": [1]},
                                     {**ALLOW, "allowed": "yes", "actions": ["access_account"]},
                                     {**DENY, "actions": ["access_account"]}, {**ALLOW, "actions": []}],
                         ids=["not-a-list", "int", "allowed-yes", "deny-with-actions", "allow-without"])
def test_malformed_actions_raise(fake, payload: Any) -> None:
    with client_for(fake(answering(200, payload))) as client, pytest.raises(AuthzError):
        client.actions("user:1", "organization:3")


# -- read-your-writes ------------------------------------------------------------------------------

def test_reads_send_the_highest_noted_revision(fake) -> None:
    server = fake(answering(200, ALLOW))
    with client_for(server) as client:
        client.check("user:1", "access_account", "organization:3")
        assert client.note_revision({"id": "membership:4", "revision": 7}) == 7
        assert client.note_revision(5) == 7  # never goes back
        client.check("user:1", "access_account", "organization:3")
        client.check_many(CHECKS[:1])
        with pytest.raises(AuthzError):  # the fake's answer is not a page; what was sent is the point
            client.list("user:1", "access_account", "organization")
        for bad in (True, -1, "7", {"revision": "7"}, {}):
            with pytest.raises(ValueError):
                client.note_revision(bad)
    sent = [body.get("min_revision") for _, body in server.requests]
    assert sent == [None, 7, 7, 7]


# -- the Flask decorator ---------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [{**ALLOW, "allowed": "yes"}, None])
def test_the_flask_decorator_denies_on_a_malformed_answer(fake, payload: Any) -> None:
    with client_for(fake(answering(200, payload))) as client:
        app = Flask("guarded")
        init_app(app, client, actor=lambda: "user:1")

        @app.get("/customer")
        @require("access_account", resource=lambda: "organization:3")
        def customer() -> str:
            return "secret"

        answer = app.test_client().get("/customer")
    assert answer.status_code == 403 and b"secret" not in answer.data


# -- the package stands alone ----------------------------------------------------------------------

def test_the_client_installs_and_imports_on_its_own(tmp_path: Path) -> None:
    """`pip install ./clients/python` into a bare venv: no service package, no Flask needed."""
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(ROOT / "clients" / "python")], check=True, capture_output=True)
    probe = ("import importlib.util as u, partner_authz_client as c; "
             "assert u.find_spec('service') is None and u.find_spec('flask') is None; "
             "print(c.AuthzClient('http://127.0.0.1:9', 'k', retries=0).check('user:1', 'a', 'organization:1'))")
    out = subprocess.run([python, "-I", "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert "allowed=False" in out.stdout
