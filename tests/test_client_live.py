"""The Python client (clients/python) against a live service: gunicorn on a free port over a
fresh store with the demo world, on SQLite and PostgreSQL.

Answers equal the service's own (raw HTTP) answers, batches keep their order across
slices of 100, lists follow every page, read-your-writes sends `min_revision`, past
questions (`at_revision`, `at`) answer as the store was, a decision is looked up by its id,
`verify()` names a refused key or scope, threads share one client, AsyncAuthzClient answers
as AuthzClient does, and the Flask guard answers 403 (naming the recorded decision) on a
deny and 503 when nothing was decided (a refused key included).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import pytest
from flask import Flask, g, request

from conftest import BACKENDS, DEMO_WORLD, activate_repo_policy, fresh_store_url
from live_servers import instances
from live_servers import request as http
from partner_authz_client import (AsyncAuthzClient, AuthzClient, AuthzMisconfigured, AuthzRequestError,
                                  AuthzStaleStore)
from partner_authz_client.flask import DECISION_HEADER, init_app, require
from service.api.auth import create_key
from service.store import database
from service.store.world import load_world, read_world_file


@dataclass
class Live:
    url: str
    check_key: str
    write_key: str
    demo: dict[str, str]


@pytest.fixture(scope="module", params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    url = fresh_store_url(request.param, tmp_path_factory.mktemp("client"))
    demo = load_world(read_world_file(DEMO_WORLD))
    activate_repo_policy()  # the service decides with the store's active version
    _, check_key = create_key("client-test", "check")
    _, write_key = create_key("client-test-writer", "write")
    database.close()  # the server opens its own connections
    with instances(url, 1) as [base]:
        yield Live(base, check_key, write_key, demo)


@pytest.fixture
def client(live: Live) -> Iterator[AuthzClient]:
    with AuthzClient(live.url, live.check_key, timeout=10) as c:
        yield c


def answered(client: AuthzClient, actor: str, action: str, resource: str) -> bool:
    """The service's own answer: a deny the client made up (no usable answer) fails the test."""
    decision = client.check(actor, action, resource)
    assert decision.error is None, decision.error
    return decision.allowed


def raw_check(live: Live, actor: str, action: str, resource: str) -> bool:
    status, body = http(live.url, "POST", "/v1/check", live.check_key,
                        {"actor": actor, "action": action, "resource": resource})
    assert status == 200, body
    return body["allowed"]


def test_check_answers_as_the_service_does(live: Live, client: AuthzClient) -> None:
    d = live.demo
    allow = client.check(d["anna"], "add_customer", d["webwerk"])
    assert allow.allowed is True and allow.error is None
    assert allow.reasons[0]["rule"] == "R4" and allow.decision_id and allow.policy_version
    assert isinstance(allow.revision, int)
    deny = client.check(d["bernd"], "add_customer", d["webwerk"])
    assert deny.allowed is False and deny.error is None and deny.reasons[0]["rule"] == "R20"
    assert client.is_allowed(d["carla"], "access_account", d["baeckerei"])
    assert not answered(client, d["dirk"], "access_account", d["baeckerei"])
    assert not answered(client, d["anna"], "no_such_action", d["baeckerei"])   # R20: unknown action
    assert len(client.check(d["anna"], "access_account", d["baeckerei"], explain=True).reasons) >= 1


def test_check_many_keeps_order_across_slices_and_matches_single_checks(live: Live, client: AuthzClient) -> None:
    d = live.demo
    users = [v for v in d.values() if v.startswith("user:")]
    orgs = [v for v in d.values() if v.startswith("organization:")]
    checks = [(u, a, o) for u in users for o in orgs for a in ("access_account", "manage_users")]
    assert len(checks) > 250  # three requests or more
    results = client.check_many(checks)
    assert len(results) == len(checks) and all(r.error is None for r in results)
    expected = [raw_check(live, *c) for c in checks[::7]]
    assert [r.allowed for r in results[::7]] == expected
    assert any(expected) and not all(expected)
    as_dicts = client.check_many([{"actor": a, "action": b, "resource": c} for a, b, c in checks[:3]])
    assert [r.allowed for r in as_dicts] == [r.allowed for r in results[:3]]
    assert client.check_many([]) == []


def test_list_follows_every_page(live: Live, client: AuthzClient) -> None:
    d = live.demo
    whole = client.list(d["anna"], "manage_product", "product", page_size=1000)
    paged = client.list(d["anna"], "manage_product", "product", page_size=2)
    assert len(whole) > 2 and paged == whole
    assert all(client.is_allowed(d["anna"], "manage_product", p) for p in whole)
    assert client.list(d["erik"], "access_account", "organization") == []


def test_subjects_and_actions(live: Live, client: AuthzClient) -> None:
    d = live.demo
    who = {s.user: s.reasons for s in client.subjects("access_account", d["baeckerei"])}
    assert d["anna"] in who and d["carla"] in who and d["dirk"] not in who
    assert all(reasons for reasons in who.values())
    assert "add_customer" in client.actions(d["anna"], d["webwerk"])
    assert "add_customer" not in client.actions(d["bernd"], d["webwerk"])   # actions raise on errors


def test_refused_requests_deny_or_raise(live: Live, client: AuthzClient) -> None:
    d = live.demo
    bad = client.check("nobody", "access_account", d["baeckerei"])   # 422 from the service
    assert bad.allowed is False and "422" in bad.error
    with pytest.raises(AuthzRequestError) as err:
        client.list("nobody", "access_account", "organization")
    assert err.value.status == 422 and err.value.field == "actor"
    assert bad.refused and not bad.unavailable
    with AuthzClient(live.url, "azk_wrong", timeout=10) as wrong_key:
        denied = wrong_key.check(d["anna"], "add_customer", d["webwerk"])
        assert denied.allowed is False and "401" in denied.error and denied.unavailable
        assert isinstance(denied.cause, AuthzMisconfigured)
    with AuthzClient(live.url, live.write_key, timeout=10) as write_scope:   # a write key may not decide
        denied = write_scope.check(d["anna"], "add_customer", d["webwerk"])
        assert "403" in denied.error and isinstance(denied.cause, AuthzMisconfigured)


def test_verify_takes_a_check_key_and_names_what_is_wrong_with_others(live: Live) -> None:
    with AuthzClient(live.url, live.check_key, timeout=10) as good:
        assert good.verify().policy_version
    with AuthzClient(live.url, "azk_wrong", timeout=10) as wrong, pytest.raises(AuthzMisconfigured) as err:
        wrong.verify()
    assert err.value.status == 401 and "refused the API key" in str(err.value)
    with AuthzClient(live.url, live.write_key, timeout=10) as write, pytest.raises(AuthzMisconfigured) as err:
        write.verify()
    assert err.value.status == 403 and "lacks the `check` scope" in str(err.value)
    with AuthzClient(live.url + "/elsewhere", live.check_key, timeout=10) as lost, \
            pytest.raises(AuthzMisconfigured) as err:
        lost.verify()
    assert err.value.status == 404 and "does not serve" in str(err.value)


def test_a_decision_is_looked_up_by_its_id(live: Live, client: AuthzClient) -> None:
    d = live.demo
    asked = client.check(d["bernd"], "add_customer", d["webwerk"])
    found = client.decision(asked.decision_id)
    assert (found.decision_id, found.endpoint, found.actor, found.action, found.resource) == (
        asked.decision_id, "check", d["bernd"], "add_customer", d["webwerk"])
    assert found.allowed is False and list(found.reasons) == list(asked.reasons)
    assert (found.policy_version, found.revision) == (asked.policy_version, asked.revision)
    with pytest.raises(AuthzRequestError) as err:
        client.decision("00000000-0000-4000-8000-000000000000")
    assert err.value.status == 404


def test_reads_carry_the_revision_of_a_noted_write(live: Live, client: AuthzClient) -> None:
    d = live.demo
    status, user = http(live.url, "POST", "/v1/users", live.write_key, {"email": "rw@webwerk.example", "name": "RW"})
    assert status == 201
    status, membership = http(live.url, "POST", "/v1/memberships", live.write_key,
                              {"user": user["id"], "organization": d["webwerk"], "role": "administrator"})
    assert status == 201
    assert client.note_revision(membership) == membership["revision"]
    assert client.is_allowed(user["id"], "access_account", d["baeckerei"])   # R12, asked with min_revision
    assert client.is_allowed(user["id"], "access_account", d["baeckerei"], min_revision=membership["revision"])
    # a revision the store has not reached: 409 stale_store, asked again until the deadline, then a deny
    with AuthzClient(live.url, live.check_key, timeout=10, backoff=0.01, deadline=0.2) as hurried:
        hurried.note_revision(membership["revision"] + 1000)
        stale = hurried.check(user["id"], "access_account", d["baeckerei"])
        assert stale.allowed is False and "stale_store" in stale.error and stale.unavailable
        with pytest.raises(AuthzStaleStore):
            hurried.subjects("access_account", d["baeckerei"])
        # a past question does not carry the noted revision
        assert hurried.check(user["id"], "access_account", d["baeckerei"],
                             at_revision=membership["revision"]).allowed
    with pytest.raises(ValueError):
        client.note_revision({"partnership": "partnership:1"})


def test_workflow_steps_answer_the_revision_to_read_them_by(live: Live) -> None:
    d = live.demo
    with AuthzClient(live.url, live.check_key, timeout=10) as client:
        before = client.check(d["paula"], "access_account", d["cafe"])
        assert before.allowed
        between = dt.datetime.now(dt.timezone.utc)
        ended = http(live.url, "POST", f"/v1/partnerships/{d['pixelhaus_cafe'].split(':')[1]}/end",
                     live.write_key, {"acting_user": d["carl"]})[1]
        assert ended["status"] == "ended" and ended["revision"] > before.revision
        client.note_revision(ended)
        after = client.check(d["paula"], "access_account", d["cafe"])   # R19, read at that revision or later
        assert after.allowed is False and after.error is None and after.revision >= ended["revision"]
        # asked about the past, the answer is the one of then: by revision, and by time
        past = client.check(d["paula"], "access_account", d["cafe"], at_revision=before.revision)
        assert past.allowed is True and past.error is None and past.revision == before.revision
        assert [c.allowed for c in client.check_many([(d["paula"], "access_account", d["cafe"])] * 2,
                                                     at_revision=before.revision)] == [True, True]
        assert d["cafe"] in client.list(d["paula"], "access_account", "organization", at_revision=before.revision)
        assert d["cafe"] not in client.list(d["paula"], "access_account", "organization")
        assert d["paula"] in {s.user for s in client.subjects("access_account", d["cafe"], at=between)}
        assert d["paula"] not in {s.user for s in client.subjects("access_account", d["cafe"])}


def test_one_client_shared_by_threads(live: Live, client: AuthzClient) -> None:
    d = live.demo
    questions = [(d["carla"], "access_account", d["baeckerei"], True),
                 (d["dirk"], "access_account", d["baeckerei"], False),
                 (d["anna"], "add_customer", d["webwerk"], True),
                 (d["erik"], "access_account", d["metzgerei"], False)]
    barrier = threading.Barrier(8)

    def worker(i: int) -> list[bool]:
        barrier.wait()
        return [answered(client, a, b, c) == expected for _ in range(10)
                for a, b, c, expected in questions[i % 2::2]]

    with ThreadPoolExecutor(8) as pool:
        outcomes = [ok for run in pool.map(worker, range(8)) for ok in run]
    assert len(outcomes) == 160 and all(outcomes)


def guarded_app(client: AuthzClient) -> Flask:
    app = Flask("guarded")
    init_app(app, client, actor=lambda: g.get("user"))

    @app.before_request
    def sign_in() -> None:
        g.user = request.headers.get("X-User")

    @app.get("/customers/<int:org>")
    @require("access_account", resource=lambda: f"organization:{request.view_args['org']}")
    def customer(org: int) -> dict:
        return {"customer": org}

    @app.get("/broken/<int:org>")
    @require("access_account", resource=lambda: 1 / 0)
    def broken(org: int) -> dict:
        return {"customer": org}

    return app


def test_flask_decorator_answers_403_unless_allowed(live: Live, client: AuthzClient) -> None:
    d = live.demo
    org = d["baeckerei"].split(":")[1]
    web = guarded_app(client).test_client()
    assert web.get(f"/customers/{org}", headers={"X-User": d["carla"]}).get_json() == {"customer": int(org)}
    denied = web.get(f"/customers/{org}", headers={"X-User": d["dirk"]})
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "forbidden"
    decision_id = denied.get_json()["error"]["decision_id"]
    assert denied.headers[DECISION_HEADER] == decision_id
    recorded = client.decision(decision_id)                                               # the deny, as recorded
    assert (recorded.actor, recorded.action, recorded.allowed) == (d["dirk"], "access_account", False)
    assert web.get(f"/customers/{org}").status_code == 403                              # nobody signed in
    assert web.get(f"/broken/{org}", headers={"X-User": d["carla"]}).status_code == 403   # the guard failed
    for key in ("azk_wrong", live.write_key):  # a refused key or scope: nothing decided, never "denied"
        with AuthzClient(live.url, key, timeout=10) as refused:
            answer = guarded_app(refused).test_client().get(f"/customers/{org}", headers={"X-User": d["carla"]})
            assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"


def test_the_async_client_answers_as_the_sync_one(live: Live, client: AuthzClient) -> None:
    d = live.demo
    users = [v for v in d.values() if v.startswith("user:")]
    orgs = [v for v in d.values() if v.startswith("organization:")]
    checks = [(u, "access_account", o) for u in users for o in orgs]

    async def main() -> None:
        async with AsyncAuthzClient(live.url, live.check_key, timeout=10) as authz:
            assert (await authz.verify()).policy_version == client.verify().policy_version
            one = await authz.check(d["anna"], "add_customer", d["webwerk"])
            assert one.allowed is True and one.error is None and one.reasons[0]["rule"] == "R4"
            assert (await authz.decision(one.decision_id)).endpoint == "check"
            many = await authz.check_many(checks)
            assert [r.allowed for r in many] == [r.allowed for r in client.check_many(checks)]
            together = await asyncio.gather(*[authz.check(*c) for c in checks[:20]])  # tasks share the pool
            assert [r.allowed for r in together] == [r.allowed for r in many[:20]]
            assert await authz.list(d["anna"], "manage_product", "product", page_size=2) == \
                client.list(d["anna"], "manage_product", "product")
            assert {s.user for s in await authz.subjects("access_account", d["baeckerei"])} == \
                {s.user for s in client.subjects("access_account", d["baeckerei"])}
            assert await authz.actions(d["anna"], d["webwerk"]) == client.actions(d["anna"], d["webwerk"])
            bad = await authz.check("nobody", "access_account", d["baeckerei"])
            assert bad.refused and "422" in bad.error
        async with AsyncAuthzClient(live.url, live.write_key, timeout=10) as wrong:
            with pytest.raises(AuthzMisconfigured):
                await wrong.verify()
            assert (await wrong.check(d["anna"], "add_customer", d["webwerk"])).unavailable

    asyncio.run(main())
