"""The Python clients against a fake service that misbehaves: garbage, 5xx, 4xx, hangs,
trickles, truncated bodies, answers of the wrong shape. Every one is a deny for
`check`/`check_many` and an exception for `list`/`subjects`/`actions`/`decision`/`verify` —
never an allow. Also: retries only on connection errors, 5xx and 409 stale_store (within the
request's deadline), keep-alive, `min_revision` / `at_revision` / `at` on reads, `decision(id)`
and `verify()`.

Every test taking `connect` runs twice: with AuthzClient and with AsyncAuthzClient (driven
to completion on an event loop of its own, `Blocking`), against the same fakes.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Optional, Union

import pytest

from partner_authz_client import (AsyncAuthzClient, AuthzClient, AuthzError, AuthzMisconfigured, AuthzProtocolError,
                                  AuthzRequestError, AuthzStaleStore, AuthzUnavailable, Decision, RecordedDecision,
                                  Verified)

TIMEOUT = 0.5      # the client's per-attempt deadline in these tests
HANG = 5.0         # how long a hanging fake holds an answer back (far beyond TIMEOUT)

ALLOW = {"allowed": True, "decision_id": "d-1", "reasons": [{"rule": "R12"}], "policy_version": "p", "revision": 3}
DENY = {**ALLOW, "allowed": False, "reasons": [{"rule": "R20"}]}
STALE = {"error": {"code": "stale_store", "message": "the store is at revision 3, older than min_revision 9; "
                   "retry shortly", "field": "min_revision"}, "revision": 3, "allowed": False}

Reply = Callable[["Handler", Optional[dict[str, Any]]], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK wait per answer
    server: "FakeServer"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))
        self.server.reply(self, body)

    def do_GET(self) -> None:
        self.server.requests.append((self.path, None))
        self.server.reply(self, None)

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
    request_queue_size = 64  # a burst of connections is not left to SYN retransmits (1 s each)

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
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def answering(status: int, payload: Any = None, raw: bytes | None = None) -> Reply:
    return lambda handler, body: handler.send(status, payload, raw=raw)


def refused_port_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class Blocking:
    """An AsyncAuthzClient called from test code as the sync one is: each coroutine is run to
    completion on the client's own event loop (httpx binds its connections to one loop)."""

    def __init__(self, client: AsyncAuthzClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client, self.loop = client, loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self.loop.run_until_complete(attr(*args, **kwargs))
        return attr

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())

    def __enter__(self) -> "Blocking":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Client = Union[AuthzClient, Blocking]
Connect = Callable[..., Client]


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest) -> Iterator[Connect]:
    """connect(server or url, **options): a client of this test's kind, with the tests' short timings."""
    loop = asyncio.new_event_loop() if request.param == "async" else None

    def make(target: Union[FakeServer, str], **options: Any) -> Client:
        url = target if isinstance(target, str) else target.url
        options = {"timeout": TIMEOUT, "retries": 2, "backoff": 0.01, **options}
        if loop is None:
            return AuthzClient(url, "azk_test", **options)
        async def build() -> AsyncAuthzClient:  # made inside its loop, as an app would
            return AsyncAuthzClient(url, "azk_test", **options)
        return Blocking(loop.run_until_complete(build()), loop)

    yield make
    if loop is not None:
        loop.close()


def ask(connect: Connect, server: Union[FakeServer, str], **options: Any) -> Decision:
    with connect(server, **options) as client:
        return client.check("user:1", "access_account", "organization:3")


# -- what is an allow ------------------------------------------------------------------------------

def test_a_well_formed_allow_is_an_allow(fake, connect) -> None:
    server = fake(answering(200, ALLOW))
    decision = ask(connect, server)
    assert decision.allowed is True and decision.error is None and decision.revision == 3
    assert server.requests == [("/v1/check", {"actor": "user:1", "action": "access_account",
                                              "resource": "organization:3"})]
    assert ask(connect, fake(answering(200, DENY))).allowed is False


@pytest.mark.parametrize("payload", [
    {**ALLOW, "allowed": "yes"}, {**ALLOW, "allowed": "true"}, {**ALLOW, "allowed": 1},
    {**ALLOW, "allowed": None}, {k: v for k, v in ALLOW.items() if k != "allowed"},
    {**ALLOW, "allowed": [True]}, {k: v for k, v in ALLOW.items() if k != "reasons"},
    {**ALLOW, "reasons": ["R12"]}, {k: v for k, v in ALLOW.items() if k != "decision_id"},
    {**ALLOW, "revision": "3"}, {**ALLOW, "revision": True}, {**ALLOW, "revision": -1},
    {**ALLOW, "policy_version": 7}, [ALLOW], "allowed", True, None,
], ids=lambda p: json.dumps(p)[:60])
def test_a_malformed_answer_is_a_deny(fake, connect, payload: Any) -> None:
    decision = ask(connect, fake(answering(200, payload)))
    assert decision.allowed is False and decision.error


@pytest.mark.parametrize("raw", [b"", b"garbage", b"{\"allowed\": true", b"<html>500</html>",
                                 json.dumps(ALLOW).encode() + b"garbage", b"\xff\xfe{}"],
                         ids=["empty", "garbage", "cut-json", "html", "trailing", "not-utf8"])
def test_a_body_that_is_not_json_is_a_deny(fake, connect, raw: bytes) -> None:
    assert ask(connect, fake(answering(200, raw=raw))).allowed is False


@pytest.mark.parametrize("status", [201, 204, 302])
def test_an_unexpected_status_is_a_deny(fake, connect, status: int) -> None:
    server = fake(answering(status, ALLOW))
    assert ask(connect, server).allowed is False and len(server.requests) == 1


# -- retries ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_then_denied(fake, connect, status: int) -> None:
    server = fake(answering(status, {**ALLOW, "error": {"code": "internal_error"}}))
    decision = ask(connect, server, retries=3)
    assert decision.allowed is False and "4 attempts" in decision.error
    assert len(server.requests) == 4


def test_a_retry_after_a_5xx_can_succeed(fake, connect) -> None:
    def flaky(handler: Handler, body: dict) -> None:
        handler.send(503, {}) if len(handler.server.requests) < 3 else handler.send(200, ALLOW)
    server = fake(flaky)
    assert ask(connect, server, retries=2).allowed is True and len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 429])
def test_4xx_is_never_retried(fake, connect, status: int) -> None:
    server = fake(answering(status, {"error": {"code": "nope", "message": "refused", "field": "actor"},
                                     "allowed": True}))  # even if a broken service says allowed
    decision = ask(connect, server, retries=3)
    assert decision.allowed is False and f"{status} nope" in decision.error
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_denied(connect) -> None:
    with connect(refused_port_url()) as client:
        decision = client.check("user:1", "access_account", "organization:3")
        assert decision.allowed is False and "3 attempts" in decision.error and decision.unavailable
        with pytest.raises(AuthzUnavailable):
            client.list("user:1", "access_account", "organization")


def test_a_connection_closed_without_an_answer_is_a_deny(fake, connect) -> None:
    def hang_up(handler: Handler, body: dict) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)
    server = fake(hang_up)
    assert ask(connect, server, retries=1).allowed is False and len(server.requests) == 2


# -- time ------------------------------------------------------------------------------------------

def test_a_hanging_service_is_a_deny_without_retry(fake, connect) -> None:
    def hang(handler: Handler, body: dict) -> None:
        time.sleep(HANG)
    server = fake(hang)
    started = time.monotonic()
    decision = ask(connect, server, retries=3)
    assert decision.allowed is False and "no answer within" in decision.error
    assert time.monotonic() - started < HANG - 1  # the client gave up on its own deadline
    assert len(server.requests) == 1              # a read timeout is not multiplied by retries


def test_a_trickling_answer_is_cut_at_the_deadline(fake, connect) -> None:
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
    assert ask(connect, server, retries=0).allowed is False
    assert time.monotonic() - started < HANG - 1


def test_a_truncated_body_is_a_deny(fake, connect) -> None:
    def truncated(handler: Handler, body: dict) -> None:
        data = json.dumps(ALLOW).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data) + 50))
        handler.end_headers()
        handler.wfile.write(data)  # a complete allow, but less than promised: the answer was cut
        handler.close_connection = True
    assert ask(connect, fake(truncated), retries=0).allowed is False


# -- connections -----------------------------------------------------------------------------------

def test_sync_connections_are_kept_alive_one_per_thread(fake) -> None:
    server = fake(answering(200, ALLOW))
    with AuthzClient(server.url, "azk_test", timeout=TIMEOUT) as client:
        assert all(client.is_allowed("user:1", "access_account", "organization:3") for _ in range(20))
        assert server.connections == 1
        threads = [threading.Thread(target=lambda: [client.check("user:1", "a", "organization:3")
                                                    for _ in range(5)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.connections == 5 and len(server.requests) == 40


def test_async_connections_are_kept_alive_and_shared_by_tasks(fake) -> None:
    server = fake(answering(200, ALLOW))

    async def main() -> None:
        async with AsyncAuthzClient(server.url, "azk_test", timeout=TIMEOUT) as client:
            for _ in range(20):
                assert await client.is_allowed("user:1", "access_account", "organization:3")
            assert server.connections == 1
            answers = await asyncio.gather(*[client.check("user:1", "a", "organization:3") for _ in range(20)])
            assert all(a.allowed for a in answers)
            assert server.connections <= 21 and len(server.requests) == 40
            opened = server.connections
            for _ in range(5):  # the pool keeps what the burst opened
                await client.check("user:1", "a", "organization:3")
            assert server.connections == opened

    asyncio.run(main())


def test_a_kept_alive_connection_closed_by_the_server_is_reopened(fake, connect) -> None:
    def once_per_connection(handler: Handler, body: dict) -> None:
        handler.send(200, ALLOW)
        handler.close_connection = True  # closed after the answer, without saying so
    server = fake(once_per_connection)
    with connect(server, retries=0) as client:  # no retries: the reopening is not one
        assert all(client.is_allowed("user:1", "access_account", "organization:3") for _ in range(5))
    assert server.connections == 5


# -- batches ---------------------------------------------------------------------------------------

CHECKS = [("user:1", "access_account", f"organization:{i}") for i in range(1, 6)]


def batch_of(results: list[Any]) -> Reply:
    return answering(200, {"results": results, "policy_version": "p", "revision": 3})


def test_a_batch_is_answered_in_order(fake, connect) -> None:
    server = fake(batch_of([ALLOW, DENY, ALLOW, DENY, DENY]))
    with connect(server) as client:
        assert [d.allowed for d in client.check_many(CHECKS)] == [True, False, True, False, False]


@pytest.mark.parametrize("results", [
    [ALLOW] * 4, [ALLOW] * 6, [ALLOW, ALLOW, {**ALLOW, "allowed": "yes"}, ALLOW, ALLOW],
    [ALLOW, ALLOW, None, ALLOW, ALLOW], "nope",
], ids=["short", "long", "one-yes", "one-null", "not-a-list"])
def test_a_malformed_batch_denies_every_check(fake, connect, results: Any) -> None:
    with connect(fake(batch_of(results))) as client:
        decisions = client.check_many(CHECKS)
    assert len(decisions) == len(CHECKS) and not any(d.allowed for d in decisions)
    assert all(d.error for d in decisions)


def test_a_long_batch_is_sliced_and_a_failed_slice_denies_only_its_checks(fake, connect) -> None:
    def second_slice_fails(handler: Handler, body: dict) -> None:
        if len(handler.server.requests) == 2:
            handler.send(500, {})
        else:
            handler.send(200, {"results": [ALLOW] * len(body["checks"]), "policy_version": "p", "revision": 3})
    server = fake(second_slice_fails)
    checks = [("user:1", "access_account", f"organization:{i}") for i in range(1, 251)]
    with connect(server, retries=0) as client:
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
def test_a_malformed_list_raises(fake, connect, payload: Any) -> None:
    with connect(fake(answering(200, payload))) as client, pytest.raises(AuthzProtocolError):
        client.list("user:1", "access_account", "organization")


@pytest.mark.parametrize("cursors", [["1", "1"], ["5", "3"]], ids=["repeated", "backwards"])
def test_a_list_whose_cursor_does_not_advance_raises(fake, connect, cursors: list[str]) -> None:
    def pages(handler: Handler, body: dict) -> None:
        cursor = cursors[len(handler.server.requests) - 1]
        handler.send(200, page([f"organization:{cursor}"], cursor))
    with connect(fake(pages)) as client, pytest.raises(AuthzProtocolError, match="did not advance"):
        client.list("user:1", "access_account", "organization")


def test_a_list_of_several_pages_is_joined(fake, connect) -> None:
    def pages(handler: Handler, body: dict) -> None:
        after = int(body.get("cursor", 0))
        handler.send(200, page([f"organization:{after + 1}"], str(after + 1) if after < 2 else None))
    server = fake(pages)
    with connect(server) as client:
        assert client.list("user:1", "access_account", "organization") == [f"organization:{i}" for i in (1, 2, 3)]
    assert [body.get("cursor") for _, body in server.requests] == [None, "1", "2"]


def test_list_subjects_actions_raise_on_errors(fake, connect) -> None:
    with connect(fake(answering(500, {"error": {"code": "x"}})), retries=1) as client:
        for call in (lambda: client.list("user:1", "access_account", "organization"),
                     lambda: client.subjects("access_account", "organization:3"),
                     lambda: client.actions("user:1", "organization:3")):
            with pytest.raises(AuthzUnavailable):
                call()
    with connect(fake(answering(422, {"error": {"code": "invalid_field", "message": "m", "field": "actor"}}))) \
            as client, pytest.raises(AuthzRequestError) as err:
        client.subjects("access_account", "organization:3")
    assert (err.value.status, err.value.code, err.value.field) == (422, "invalid_field", "actor")


@pytest.mark.parametrize("payload", [
    {"subjects": [{"user": "organization:1", "reasons": []}], "decision_id": "d", "policy_version": "p",
     "revision": 1},
    {"subjects": [{"user": "user:1"}], "decision_id": "d", "policy_version": "p", "revision": 1},
    {"subjects": None, "decision_id": "d", "policy_version": "p", "revision": 1},
], ids=["not-a-user", "no-reasons", "null"])
def test_malformed_subjects_raise(fake, connect, payload: Any) -> None:
    with connect(fake(answering(200, payload))) as client, pytest.raises(AuthzProtocolError):
        client.subjects("access_account", "organization:3")


@pytest.mark.parametrize("payload", [{**ALLOW, "actions": "access_account"}, {**ALLOW, "actions": [1]},
                                     {**ALLOW, "allowed": "yes", "actions": ["access_account"]},
                                     {**DENY, "actions": ["access_account"]}, {**ALLOW, "actions": []}],
                         ids=["not-a-list", "int", "allowed-yes", "deny-with-actions", "allow-without"])
def test_malformed_actions_raise(fake, connect, payload: Any) -> None:
    with connect(fake(answering(200, payload))) as client, pytest.raises(AuthzError):
        client.actions("user:1", "organization:3")


# -- read-your-writes ------------------------------------------------------------------------------

def test_reads_send_the_highest_noted_revision(fake, connect) -> None:
    server = fake(answering(200, ALLOW))
    with connect(server) as client:
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



def test_per_call_min_revision_and_past_moments_are_sent_as_the_api_names_them(fake, connect) -> None:
    def reply(handler: Handler, body: Optional[dict]) -> None:
        path = handler.path
        if path == "/v1/check/batch":
            handler.send(200, {"results": [ALLOW] * len(body["checks"]), "policy_version": "p", "revision": 3})
        elif path == "/v1/list":
            handler.send(200, page([]))
        elif path == "/v1/subjects":
            handler.send(200, {"subjects": [], "decision_id": "d", "policy_version": "p", "revision": 3})
        elif path == "/v1/actions":
            handler.send(200, {**ALLOW, "actions": ["access_account"]})
        else:
            handler.send(200, ALLOW)
    server = fake(reply)
    noon = dt.datetime(2026, 11, 3, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with connect(server) as client:
        client.note_revision(7)
        client.check("user:1", "a", "organization:3", min_revision=9)             # the higher one: 9
        client.check("user:1", "a", "organization:3", min_revision=2)             # the noted one: 7
        client.check("user:1", "a", "organization:3", at_revision=4)              # past: nothing noted sent
        client.check("user:1", "a", "organization:3", at=noon, min_revision=5)    # past, its own min_revision
        client.check_many(CHECKS[:2], at="2026-11-03T12:00:00Z")
        client.check_many(CHECKS[:2], min_revision=8)
        client.list("user:1", "a", "organization", at_revision=4)
        client.list("user:1", "a", "organization", min_revision=11)
        client.subjects("a", "organization:3", at=noon)
        client.subjects("a", "organization:3")
        client.actions("user:1", "organization:3", min_revision=12)
    moments = [{k: body[k] for k in ("min_revision", "at_revision", "at") if k in body} for _, body in server.requests]
    assert [path for path, _ in server.requests] == ["/v1/check"] * 4 + ["/v1/check/batch"] * 2 + \
        ["/v1/list"] * 2 + ["/v1/subjects"] * 2 + ["/v1/actions"]
    assert moments == [{"min_revision": 9}, {"min_revision": 7}, {"at_revision": 4},
                       {"min_revision": 5, "at": "2026-11-03T12:00:00Z"}, {"at": "2026-11-03T12:00:00Z"},
                       {"min_revision": 8}, {"at_revision": 4}, {"min_revision": 11},
                       {"at": "2026-11-03T12:00:00Z"}, {"min_revision": 7}, {"min_revision": 12}]


@pytest.mark.parametrize("options", [
    {"at_revision": 3, "at": "2026-11-03T12:00:00Z"}, {"at": dt.datetime(2026, 11, 3, 12)}, {"at": ""},
    {"at_revision": -1}, {"at_revision": True}, {"min_revision": "3"},
], ids=["both", "naive-datetime", "empty-at", "negative", "bool", "str-min"])
def test_bad_moment_arguments_deny_or_raise_before_asking(fake, connect, options: dict[str, Any]) -> None:
    server = fake(answering(200, ALLOW))
    with connect(server) as client:
        decision = client.check("user:1", "a", "organization:3", **options)
        assert decision.allowed is False and isinstance(decision.cause, ValueError)
        assert [d.allowed for d in client.check_many(CHECKS[:2], **options)] == [False, False]
        with pytest.raises(ValueError):
            client.list("user:1", "a", "organization", **options)
        with pytest.raises(ValueError):
            client.subjects("a", "organization:3", **options)
    assert server.requests == []


# -- 409 stale_store: asked again within the deadline ---------------------------------------------

def test_a_stale_store_is_asked_again_until_it_answers(fake, connect) -> None:
    def catching_up(handler: Handler, body: Optional[dict]) -> None:
        handler.send(409, STALE) if len(handler.server.requests) <= 2 else handler.send(200, ALLOW)
    server = fake(catching_up)
    with connect(server, retries=0) as client:  # retries counts failures; a stale store is not one
        client.note_revision(9)
        decision = client.check("user:1", "access_account", "organization:3")
    assert decision.allowed is True and decision.error is None
    assert [body["min_revision"] for _, body in server.requests] == [9, 9, 9]


def test_a_store_stale_until_the_deadline_is_a_deny_and_an_outage(fake, connect) -> None:
    server = fake(answering(409, STALE))
    with connect(server, deadline=0.3, backoff=0.02) as client:
        started = time.monotonic()
        decision = client.check("user:1", "access_account", "organization:3", min_revision=9)
        elapsed = time.monotonic() - started
        assert decision.allowed is False and "stale_store" in decision.error and "still stale" in decision.error
        assert isinstance(decision.cause, AuthzStaleStore) and decision.unavailable and not decision.refused
        assert elapsed < 0.3 + 1.5 and len(server.requests) >= 3  # asked again, with waits, gave up (bound loose: CI is loaded)
        asked = len(server.requests)
        with pytest.raises(AuthzStaleStore) as err:
            client.list("user:1", "access_account", "organization", min_revision=9)
        assert len(server.requests) > asked + 1
    assert isinstance(err.value, AuthzUnavailable) and isinstance(err.value, AuthzRequestError)
    assert (err.value.status, err.value.code, err.value.field) == (409, "stale_store", "min_revision")


def test_another_409_is_not_asked_again(fake, connect) -> None:
    server = fake(answering(409, {"error": {"code": "conflict", "message": "no"}}))
    with connect(server) as client:
        decision = client.check("user:1", "access_account", "organization:3")
    assert "409 conflict" in decision.error and len(server.requests) == 1


# -- the request's deadline -----------------------------------------------------------------------

def test_the_deadline_bounds_5xx_retries(fake, connect) -> None:
    server = fake(answering(503, {}))
    with connect(server, retries=50, backoff=0.05, deadline=0.3) as client:
        started = time.monotonic()
        decision = client.check("user:1", "access_account", "organization:3")
    assert decision.allowed is False and "deadline 0.3s" in decision.error
    assert time.monotonic() - started < 0.3 + 0.2 and 2 <= len(server.requests) < 51


def test_the_deadline_shortens_an_attempt(fake, connect) -> None:
    server = fake(lambda handler, body: time.sleep(HANG))
    with connect(server, timeout=HANG, deadline=0.2) as client:
        started = time.monotonic()
        decision = client.check("user:1", "access_account", "organization:3")
    assert decision.allowed is False and "no answer within 0.2s" in decision.error
    assert time.monotonic() - started < 0.2 + 0.3


def test_options_are_checked() -> None:
    for options in ({"timeout": 0}, {"retries": -1}, {"backoff": -0.1}, {"deadline": 0}):
        with pytest.raises(ValueError):
            AuthzClient("http://127.0.0.1:9", "k", **options)
    with pytest.raises(ValueError):
        AuthzClient("ftp://127.0.0.1:9", "k")


# -- what a deny made by the client says ----------------------------------------------------------

@pytest.mark.parametrize("status, code, kind", [
    (401, "invalid_key", "misconfigured"), (403, "wrong_scope", "misconfigured"), (404, "not_found", "unavailable"),
    (400, "malformed_field", "refused"), (413, "body_too_large", "refused"), (422, "invalid_field", "refused"),
    (500, "decision_failed", "unavailable"),
])
def test_a_deny_made_by_the_client_says_whether_anything_was_decided(fake, connect, status: int, code: str,
                                                                      kind: str) -> None:
    with connect(fake(answering(status, {"error": {"code": code, "message": "m"}, "allowed": False}))) as client:
        decision = client.check("user:1", "access_account", "organization:3")
    assert decision.allowed is False and decision.error and decision.decision_id is None
    assert decision.refused is (kind == "refused") and decision.unavailable is (kind != "refused")
    assert isinstance(decision.cause, AuthzMisconfigured) is (kind == "misconfigured")


def test_a_deny_from_the_service_is_neither(fake, connect) -> None:
    decision = ask(connect, fake(answering(200, DENY)))
    assert decision.error is None and decision.cause is None and not decision.refused and not decision.unavailable


# -- decision(id) ---------------------------------------------------------------------------------

DECISION_ID = "6ba7815b-1c18-4671-a825-a439bc2abacc"
RECORD = {"decision_id": DECISION_ID, "time": "2026-12-02T05:10:34.816052Z", "moment": "2026-12-02T05:10:34.816052Z",
          "endpoint": "check", "key_id": 1, "actor": "user:3", "action": "manage_product", "resource": "product:8",
          "allowed": False, "reasons": [{"rule": "R20"}], "policy_version": "11e8", "revision": 2,
          "detail": {"explain": False}}


def test_a_recorded_decision_is_looked_up(fake, connect) -> None:
    server = fake(answering(200, RECORD))
    with connect(server) as client:
        found = client.decision(DECISION_ID)
    assert found == RecordedDecision(**{**RECORD, "reasons": ({"rule": "R20"},)})
    assert server.requests == [(f"/v1/decisions/{DECISION_ID}", None)]


@pytest.mark.parametrize("payload", [
    {**RECORD, "allowed": "no"}, {**RECORD, "key_id": "1"}, {**RECORD, "revision": "2"}, {**RECORD, "detail": []},
    {k: v for k, v in RECORD.items() if k != "actor"}, {**RECORD, "decision_id": ""}, [RECORD],
], ids=["allowed", "key_id", "revision", "detail", "no-actor", "empty-id", "list"])
def test_a_malformed_record_raises(fake, connect, payload: Any) -> None:
    with connect(fake(answering(200, payload))) as client, pytest.raises(AuthzProtocolError):
        client.decision(DECISION_ID)


def test_an_unknown_decision_raises_404_and_a_bad_id_asks_nothing(fake, connect) -> None:
    server = fake(answering(404, {"error": {"code": "not_found", "message": "no decision", "field": "decision_id"}}))
    with connect(server) as client:
        with pytest.raises(AuthzRequestError) as err:
            client.decision(DECISION_ID)
        assert (err.value.status, err.value.code) == (404, "not_found")
        for bad in ("../check", "a/b", "", "x" * 200, "id?x=1", 7):
            with pytest.raises(ValueError):
                client.decision(bad)
    assert len(server.requests) == 1


# -- verify() -------------------------------------------------------------------------------------

POLICY = {"version": "11e8", "files": ["base.polar"], "active": None, "history": []}


def test_verify_answers_the_policy_version_in_force(fake, connect, caplog) -> None:
    server = fake(answering(200, POLICY))
    with connect(server) as client:
        assert client.verify() == Verified(policy_version="11e8")
    assert server.requests == [("/v1/policy", None)]
    with connect(fake(answering(200, {**POLICY, "version": None}))) as client, \
            caplog.at_level(logging.WARNING, "partner_authz_client"):
        assert client.verify() == Verified(policy_version=None)
    assert "no policy version is in force" in caplog.text


@pytest.mark.parametrize("status, code, says", [
    (401, "invalid_key", "refused the API key"), (401, "unauthenticated", "refused the API key"),
    (403, "wrong_scope", "lacks the `check` scope"), (404, "not_found", "does not serve the partner-authz API"),
    (405, "method_not_allowed", "does not serve the partner-authz API"),
])
def test_verify_names_a_refused_key_a_missing_scope_and_a_wrong_url(fake, connect, status: int, code: str,
                                                                     says: str) -> None:
    server = fake(answering(status, {"error": {"code": code, "message": "m"}}))
    with connect(server) as client, pytest.raises(AuthzMisconfigured) as err:
        client.verify()
    assert says in str(err.value) and err.value.status == status and err.value.code == code
    assert len(server.requests) == 1  # never retried


def test_verify_raises_when_nothing_usable_answers(fake, connect) -> None:
    with connect(refused_port_url(), retries=0) as client, pytest.raises(AuthzUnavailable) as err:
        client.verify()
    assert not isinstance(err.value, AuthzMisconfigured)
    with connect(fake(answering(200, {**POLICY, "version": 7}))) as client, pytest.raises(AuthzProtocolError):
        client.verify()
    with connect(fake(answering(422, {"error": {"code": "x", "message": "m"}}))) as client, \
            pytest.raises(AuthzRequestError) as refused:
        client.verify()
    assert not isinstance(refused.value, AuthzUnavailable)
