"""The Flask guard (partner_authz_client.flask) against the hostile fake service of
test_client_faults: 403 only when something was denied (with the decision_id of a service
deny, in the body and the Authz-Decision-Id header), 503 with Retry-After whenever nothing
was decided — an outage, a malformed answer, a stale store, a refused key (logged at
CRITICAL) — the app's own pages through the hooks, and init_app's handler turning an
AuthzUnavailable raised in a view into the same 503.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

import pytest
from flask import Flask, redirect

from partner_authz_client import AuthzClient, AuthzProtocolError
from partner_authz_client.flask import DECISION_HEADER, Refusal, current_client, init_app, require, respond
from test_client_faults import (ALLOW, DENY, HANG, STALE, FakeServer, Handler, answering,  # noqa: F401
                                fake, refused_port_url)

ERROR = {"error": {"code": "x", "message": "m"}, "allowed": False}


def guarded_app(url: str, *, actor: Callable[[], Optional[str]] = lambda: "user:1", **hooks: Any) -> Flask:
    client = AuthzClient(url, "azk_test", timeout=0.3, retries=1, backoff=0.01, deadline=0.4)
    app = Flask("guarded")
    init_app(app, client, actor=actor, **hooks)

    @app.get("/customer")
    @require("access_account", resource=lambda: "organization:3")
    def customer() -> str:
        return "secret"

    @app.get("/broken")
    @require("access_account", resource=lambda: str(1 / 0))
    def broken() -> str:
        return "secret"

    @app.get("/products")
    def products() -> dict[str, Any]:  # not guarded: the list is the guard
        return {"products": current_client().list("user:1", "manage_product", "product")}

    return app


def get(app: Flask, path: str = "/customer") -> Any:
    answer = app.test_client().get(path)
    assert b"secret" not in answer.data or answer.status_code == 200
    return answer


# -- allow and deny -------------------------------------------------------------------------------

def test_an_allow_runs_the_view(fake) -> None:
    answer = get(guarded_app(fake(answering(200, ALLOW)).url))
    assert answer.status_code == 200 and answer.data == b"secret" and DECISION_HEADER not in answer.headers


def test_a_deny_is_403_naming_its_decision(fake) -> None:
    server = fake(answering(200, DENY))
    answer = get(guarded_app(server.url))
    assert answer.status_code == 403 and b"secret" not in answer.data
    assert answer.get_json() == {"error": {"code": "forbidden", "message": "not allowed: access_account",
                                           "decision_id": "d-1"}}
    assert answer.headers[DECISION_HEADER] == "d-1" and "Retry-After" not in answer.headers
    assert server.requests == [("/v1/check", {"actor": "user:1", "action": "access_account",
                                              "resource": "organization:3"})]


@pytest.mark.parametrize("case", ["nobody", "raising-actor", "raising-resource", "400", "413", "422"])
def test_what_the_guard_denies_without_a_decision_is_403(fake, case: str) -> None:
    status = int(case) if case.isdigit() else 200
    server = fake(answering(status, ERROR if status != 200 else ALLOW))
    actor: Callable[[], Optional[str]] = {"nobody": lambda: None, "raising-actor": lambda: str(1 / 0)}.get(
        case, lambda: "user:1")
    answer = get(guarded_app(server.url, actor=actor), "/broken" if case == "raising-resource" else "/customer")
    assert answer.status_code == 403 and answer.get_json()["error"]["decision_id"] is None
    assert DECISION_HEADER not in answer.headers and "Retry-After" not in answer.headers
    assert len(server.requests) == (1 if case.isdigit() else 0)


# -- nothing decided: 503 -------------------------------------------------------------------------

def hang(handler: Handler, body: Any) -> None:
    time.sleep(HANG)


OUTAGES: dict[str, Callable[[Handler, Any], None]] = {
    "malformed-yes": answering(200, {**ALLOW, "allowed": "yes"}), "null": answering(200, None),
    "not-json": answering(200, raw=b"<html>"), "500": answering(500, ERROR), "503": answering(503, ERROR),
    "404": answering(404, ERROR), "429": answering(429, ERROR), "302": answering(302, ALLOW), "hang": hang,
}


@pytest.mark.parametrize("case", [*OUTAGES, "refused"])
def test_no_usable_answer_is_503_with_retry_after(fake, case: str, caplog) -> None:
    url = refused_port_url() if case == "refused" else fake(OUTAGES[case]).url
    with caplog.at_level(logging.WARNING, "partner_authz_client"):
        answer = get(guarded_app(url, retry_after=7))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "7"
    assert answer.get_json() == {"error": {"code": "authz_unavailable",
                                           "message": "authorization is unavailable; retry later"}}
    assert DECISION_HEADER not in answer.headers
    assert "answering 503" in caplog.text and not [r for r in caplog.records if r.levelno >= logging.CRITICAL]


@pytest.mark.parametrize("status, code", [(401, "invalid_key"), (401, "unauthenticated"), (403, "wrong_scope")])
def test_a_refused_key_is_503_and_logged_loudly_never_403(fake, status: int, code: str, caplog) -> None:
    server = fake(answering(status, {"error": {"code": code, "message": "m"}, "allowed": False}))
    with caplog.at_level(logging.WARNING, "partner_authz_client"):
        answer = get(guarded_app(server.url))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1 and "MISCONFIGURED" in critical[0].getMessage() and code in critical[0].getMessage()
    assert len(server.requests) == 1  # a refused key is not asked again


def test_a_stale_store_is_asked_again_then_503_retry_after_1(fake) -> None:
    server = fake(answering(409, STALE))
    answer = get(guarded_app(server.url))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1" and len(server.requests) > 1


def test_a_guard_without_init_app_is_503(caplog) -> None:
    app = Flask("unbound")

    @app.get("/customer")
    @require("access_account", resource=lambda: "organization:3")
    def customer() -> str:
        return "secret"

    with caplog.at_level(logging.CRITICAL, "partner_authz_client"):
        answer = app.test_client().get("/customer")
    assert answer.status_code == 503 and "Retry-After" in answer.headers and "init_app" in caplog.text


# -- the app's own pages --------------------------------------------------------------------------

def test_hooks_render_the_apps_pages_with_the_refusals_status_and_headers(fake) -> None:
    seen: list[Refusal] = []

    def denied_page(refusal: Refusal) -> str:
        seen.append(refusal)
        return f"<h1>No entry</h1> decision {refusal.decision_id}"

    def outage_page(refusal: Refusal) -> str:
        seen.append(refusal)
        return "<h1>Back soon</h1>"

    hooks = {"on_deny": denied_page, "on_unavailable": outage_page}
    denied = get(guarded_app(fake(answering(200, DENY)).url, **hooks))
    assert denied.status_code == 403 and denied.data == b"<h1>No entry</h1> decision d-1"
    assert denied.headers[DECISION_HEADER] == "d-1"
    down = get(guarded_app(fake(answering(500, ERROR)).url, **hooks))
    assert down.status_code == 503 and down.data == b"<h1>Back soon</h1>" and down.headers["Retry-After"] == "5"
    deny, outage = seen
    assert (deny.status, deny.code, deny.actor, deny.action, deny.resource) == (
        403, "forbidden", "user:1", "access_account", "organization:3")
    assert deny.decision is not None and deny.decision.reasons == ({"rule": "R20"},) and deny.error is None
    assert (outage.status, outage.retry_after, outage.decision_id, outage.misconfigured) == (503, 5, None, False)
    assert "500" in outage.reason


def test_a_hook_may_choose_its_own_status_and_headers(fake) -> None:
    def to_login(refusal: Refusal) -> Any:
        return redirect("/login") if refusal.actor is None else ("gone", 404)

    def own_retry(refusal: Refusal) -> Any:
        return "later", 503, {"Retry-After": "60"}

    nobody = get(guarded_app(fake(answering(200, DENY)).url, actor=lambda: None, on_deny=to_login))
    assert nobody.status_code == 302 and nobody.headers["Location"] == "/login"
    hidden = get(guarded_app(fake(answering(200, DENY)).url, on_deny=to_login))
    assert hidden.status_code == 404 and hidden.headers[DECISION_HEADER] == "d-1"
    later = get(guarded_app(fake(answering(503, ERROR)).url, on_unavailable=own_retry))
    assert later.status_code == 503 and later.headers["Retry-After"] == "60"


def test_a_failing_hook_falls_back_to_the_default_answer(fake, caplog) -> None:
    def broken(refusal: Refusal) -> str:
        raise RuntimeError("template missing")

    answer = get(guarded_app(fake(answering(200, DENY)).url, on_deny=broken))
    assert answer.status_code == 403 and answer.get_json()["error"]["decision_id"] == "d-1"
    assert "hook failed" in caplog.text


def test_init_app_checks_retry_after(fake) -> None:
    for bad in (-1, 1.5, "5"):
        with pytest.raises(ValueError):
            guarded_app(fake(answering(200, ALLOW)).url, retry_after=bad)


# -- failures raised in views ---------------------------------------------------------------------

def page(ids: list[str]) -> dict[str, Any]:
    return {"ids": ids, "next_cursor": None, "decision_id": "d", "policy_version": "p", "revision": 3}


@pytest.mark.parametrize("reply, retry_after", [
    (answering(500, ERROR), "5"), (answering(200, {"ids": 7}), "5"), (answering(409, STALE), "1"),
    (answering(401, {"error": {"code": "invalid_key", "message": "m"}}), "5"),
], ids=["5xx", "malformed", "stale", "refused-key"])
def test_a_list_failing_in_a_view_is_503_not_an_html_500(fake, reply: Any, retry_after: str) -> None:
    answer = get(guarded_app(fake(reply).url), "/products")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == retry_after
    assert answer.get_json()["error"]["code"] == "authz_unavailable"


def test_a_list_answers_in_a_view(fake) -> None:
    answer = get(guarded_app(fake(answering(200, page(["product:1"]))).url), "/products")
    assert answer.status_code == 200 and answer.get_json() == {"products": ["product:1"]}


def test_a_refused_question_raised_in_a_view_is_left_to_the_app(fake) -> None:
    app = guarded_app(fake(answering(422, {"error": {"code": "invalid_field", "message": "m", "field": "actor"}})).url)
    assert get(app, "/products").status_code == 500  # the app asked a malformed question: its bug, its 500


def test_respond_can_be_used_by_the_app_itself(fake) -> None:
    app = guarded_app(fake(answering(200, ALLOW)).url)

    @app.get("/custom")
    def custom() -> Any:
        return respond(Refusal(503, "authz_unavailable", "the app's own check", retry_after=3,
                               error=AuthzProtocolError("x")))

    answer = get(app, "/custom")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "3"
