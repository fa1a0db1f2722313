"""Issue 19 items 1 and 6: racing writes through the served app, on SQLite and PostgreSQL.

One `authz serve` (2 workers x 8 threads) over the test store. Writes of one fact or one
workflow step are released together from 8 threads; of each change exactly one answer is
200 and the others 404 (gone) or 409 (conflicting state), one event is written per change
and the revision is bumped once per change. A follower reading `/v1/events` by cursor while
writers race sees every event (none commits behind its cursor), and replaying the feed into
an empty mirror gives the facts the API's GET routes answer.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from live_servers import free_port, request, wait_ready
from service.api.auth import create_key
from service.store import database

THREADS = 8
FACT_PATHS = {"organization": "organizations", "user": "users", "membership": "memberships", "product": "products",
              "product_authorization": "product-authorizations", "assignment": "assignments", "invoice": "invoices"}
LIMITED = {"access": "limited", "products": []}  # filled with a product of the customer in the test
FULL = {"access": "full", "payment_mode": "customer"}


def num(ref: str) -> int:
    return int(ref.split(":")[1])


@dataclass
class Served:
    """The served app's base URL, a write key and the demo world's references."""

    url: str
    key: str
    demo: dict[str, str]

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        return request(self.url, method, path, self.key, body)

    def ok(self, method: str, path: str, body: dict | None = None, status: int = 200) -> dict[str, Any]:
        got, answer = self.call(method, path, body)
        assert got == status, (method, path, got, answer)
        return answer

    def revision(self) -> int:
        """The store revision now (every fact read answers it)."""
        return self.ok("GET", f"/v1/organizations/{num(self.demo['webwerk'])}")["revision"]

    def feed(self, after: str = "0") -> list[dict[str, Any]]:
        """Every event after the cursor, in feed order."""
        events: list[dict[str, Any]] = []
        while True:
            page = self.ok("GET", f"/v1/events?after={after}&limit=500")
            events += page["events"]
            if not page["events"]:
                return events
            after = page["next"]


@pytest.fixture
def served(store_url: str, demo: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    _, key = create_key("races", "write")
    database.close()  # the server opens its own connections
    port = free_port()
    env = {**os.environ, "DATABASE_URL": store_url, "HOME": str(tmp_path), "AUTHZ_THREADS": str(THREADS),
           "AUTHZ_SHAPE_TABLE": "0", "AUTHZ_DECISION_LOG": "off"}
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--workers", "2"],
                                env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_ready(port, proc, time.monotonic() + 60)
        yield Served(f"http://127.0.0.1:{port}", key, demo)
    finally:
        proc.terminate()  # the gunicorn master (serve exec'd it): its workers stop with it
        proc.wait(timeout=30)
        database.connect(reuse_if_open=True)


def race(calls: list[Callable[[], tuple[int, Any]]]) -> list[tuple[int, Any]]:
    """Run the calls in threads released together; their (status, body) in order."""
    barrier = threading.Barrier(len(calls))

    def one(call: Callable[[], tuple[int, Any]]) -> tuple[int, Any]:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def statuses(results: list[tuple[int, Any]]) -> list[int]:
    return sorted(status for status, _ in results)


def events_of(feed: list[dict[str, Any]], subject: str) -> list[str]:
    return [e["kind"] for e in feed if e["subject"] == subject]


def replay(feed: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The facts a mirror holds after applying the feed to nothing, and every fact the feed named."""
    mirror: dict[str, dict[str, Any]] = {}
    named: set[str] = set()
    for event in feed:
        kind, _, change = event["kind"].rpartition(".")
        if kind not in FACT_PATHS:
            continue  # workflow steps: invitations and partnerships are not fact rows
        named.add(event["subject"])
        if change == "deleted":
            assert event["subject"] in mirror, f"{event['subject']} deleted before it existed: {event}"
            del mirror[event["subject"]]
        else:
            assert (change == "created") != (event["subject"] in mirror), f"{change} out of turn: {event}"
            mirror[event["subject"]] = event["payload"]
    return mirror, named


def assert_mirror_is_the_store(served: Served) -> None:
    """Replaying the whole feed gives what the GET routes answer for every fact it named."""
    mirror, named = replay(served.feed())
    for subject in sorted(named):
        kind, row_id = subject.split(":")
        status, body = served.call("GET", f"/v1/{FACT_PATHS[kind]}/{row_id}")
        if subject in mirror:
            assert status == 200, (subject, status, body)
            assert {k: v for k, v in body.items() if k != "revision"} == mirror[subject], subject
        else:
            assert status == 404, (subject, status, body, "the feed deleted it")


# -- facts ------------------------------------------------------------------------------------------

def _facts_to_delete(s: Served, tag: str) -> list[str]:
    """One fresh fact of every kind, listed in an order in which each deletes nothing else with it."""
    d = s.demo
    org = s.ok("POST", "/v1/organizations", {"name": f"Race {tag}"}, 201)["id"]
    user = s.ok("POST", "/v1/users", {"email": f"race-{tag}@example.org", "name": f"Race {tag}"}, 201)["id"]
    membership = s.ok("POST", "/v1/memberships", {"user": user, "organization": org, "role": "collaborator"}, 201)
    at_partner = s.ok("POST", "/v1/memberships", {"user": user, "organization": d["webwerk"], "role": "collaborator"},
                      201)
    product = s.ok("POST", "/v1/products", {"organization": org, "category": "hosting", "name": f"{tag}.example"},
                   201)["id"]
    authorization = s.ok("POST", "/v1/product-authorizations", {"user": user, "product": product}, 201)
    invoice = s.ok("POST", "/v1/invoices", {"organization": org}, 201)
    assignment = s.ok("POST", "/v1/assignments", {"partner": d["webwerk"], "user": user, "customer": d["baeckerei"]},
                      201)
    return [assignment["id"], authorization["id"], invoice["id"], membership["id"], at_partner["id"], product,
            user, org]


@pytest.mark.parametrize("rounds", [2])
def test_concurrent_deletes_of_one_fact_delete_it_once(served: Served, rounds: int) -> None:
    for round_ in range(rounds):
        for ref in _facts_to_delete(served, f"d{round_}"):
            kind, row_id = ref.split(":")
            path = f"/v1/{FACT_PATHS[kind]}/{row_id}"
            before = served.revision()
            results = race([lambda: served.call("DELETE", path)] * THREADS)
            assert statuses(results) == [200] + [404] * (THREADS - 1), (ref, results)
            [won] = [body for status, body in results if status == 200]
            assert won["revision"] == before + 1 == served.revision(), ref
            assert events_of(served.feed(), ref) == [f"{kind}.created", f"{kind}.deleted"], ref
    assert_mirror_is_the_store(served)


def test_a_patch_racing_a_delete_of_one_membership_never_outlives_it(served: Served) -> None:
    d = served.demo
    for round_ in range(6):
        user = served.ok("POST", "/v1/users", {"email": f"patch-{round_}@example.org", "name": "Patch"}, 201)["id"]
        ref = served.ok("POST", "/v1/memberships", {"user": user, "organization": d["webwerk"],
                                                    "role": "collaborator"}, 201)["id"]
        path = f"/v1/memberships/{num(ref)}"
        before = served.revision()
        patch = lambda: served.call("PATCH", path, {"role": "administrator"})  # noqa: E731
        delete = lambda: served.call("DELETE", path)  # noqa: E731
        results = race([patch, delete] * (THREADS // 2))
        patched = [status for status, _ in results[0::2]]
        deleted = sorted(status for status, _ in results[1::2])
        assert deleted == [200] + [404] * (THREADS // 2 - 1), results
        assert set(patched) <= {200, 404}, results
        changes = patched.count(200) + 1
        assert served.revision() == before + changes, results
        # the delete is the membership's last event: nothing updates what is gone
        assert events_of(served.feed(), ref) == (["membership.created"] + ["membership.updated"] * patched.count(200)
                                                 + ["membership.deleted"]), results
        assert served.call("GET", path)[0] == 404
    assert_mirror_is_the_store(served)


# -- workflow steps ---------------------------------------------------------------------------------

def _invite(s: Served) -> str:
    d = s.demo
    return s.ok("POST", "/v1/invitations", {"acting_user": d["paula"], "partner": d["pixelhaus"],
                                            "customer": d["baeckerei"], "requested": FULL}, 201)["id"]


def test_concurrent_answers_and_a_cancel_of_one_invitation_close_it_once(served: Served) -> None:
    d = served.demo
    for _ in range(3):
        inv = _invite(served)
        base = f"/v1/invitations/{num(inv)}"
        accept = lambda: served.call("POST", f"{base}/accept", {"acting_user": d["berta"]})  # noqa: E731
        refuse = lambda: served.call("POST", f"{base}/refuse", {"acting_user": d["berta"]})  # noqa: E731
        cancel = lambda: served.call("POST", f"{base}/cancel", {"acting_user": d["paula"]})  # noqa: E731
        before = served.revision()
        results = race([accept, refuse, cancel, accept, refuse, cancel, accept, refuse])
        assert statuses(results) == [200] + [409] * (THREADS - 1), results
        assert served.revision() == before + 1
        closing = events_of(served.feed(), inv)[1:]
        assert len(closing) == 1 and closing[0] in ("invitation.accepted", "invitation.refused",
                                                    "invitation.cancelled"), closing
        if closing == ["invitation.accepted"]:
            [won] = [body for status, body in results if status == 200]
            served.ok("POST", f"/v1/partnerships/{num(won['partnership'])}/end", {"acting_user": d["paula"]})


def test_grants_racing_an_end_of_one_partnership_never_outlive_it(served: Served) -> None:
    d = served.demo
    narrower = {"access": "limited", "products": [{"product": d["baeckerei_web"], "technical": True}]}
    for _ in range(3):
        partnership = served.ok("POST", f"/v1/invitations/{num(_invite(served))}/accept",
                                {"acting_user": d["berta"]})["partnership"]
        base = f"/v1/partnerships/{num(partnership)}"
        grant = lambda: served.call("PUT", f"{base}/access", {"acting_user": d["berta"], "granted": narrower})  # noqa
        end = lambda: served.call("POST", f"{base}/end", {"acting_user": d["paula"]})  # noqa: E731
        before = served.revision()
        results = race([grant, end] * (THREADS // 2))
        granted = [status for status, _ in results[0::2]]
        ended = sorted(status for status, _ in results[1::2])
        assert ended == [200] + [409] * (THREADS // 2 - 1), results
        assert set(granted) <= {200, 409}, results
        assert served.revision() == before + 1 + granted.count(200), results
        assert events_of(served.feed(), partnership) == (["partnership.access_changed"] * granted.count(200)
                                                         + ["partnership.ended"]), results


# -- the feed ---------------------------------------------------------------------------------------

def test_a_follower_of_the_feed_misses_no_event_and_its_replay_is_the_store(served: Served) -> None:
    """Writers race on their own facts while a follower reads on from its cursor: it must end with
    exactly the feed (an event committed behind the cursor would be skipped for good)."""
    d, earlier = served.demo, served.feed()
    start = earlier[-1]["cursor"] if earlier else "0"
    stop = threading.Event()
    followed: list[dict[str, Any]] = []
    failed: list[BaseException] = []

    def follow() -> None:
        cursor = start
        try:
            while True:
                last_pass = stop.is_set()
                page = served.ok("GET", f"/v1/events?after={cursor}&limit=500")
                followed.extend(page["events"])
                cursor = page["next"]
                if last_pass and not page["events"]:
                    return
        except BaseException as exc:  # reported by the test thread below
            failed.append(exc)

    def write(worker: int) -> None:
        for i in range(6):
            tag = f"f{worker}-{i}"
            user = served.ok("POST", "/v1/users", {"email": f"{tag}@example.org", "name": tag}, 201)["id"]
            ref = served.ok("POST", "/v1/memberships", {"user": user, "organization": d["webwerk"],
                                                        "role": "collaborator"}, 201)["id"]
            served.ok("PATCH", f"/v1/memberships/{num(ref)}", {"role": "external"})
            if i % 2:
                served.ok("DELETE", f"/v1/memberships/{num(ref)}")

    follower = threading.Thread(target=follow)
    follower.start()
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(write, range(THREADS)))
    finally:
        stop.set()
        follower.join(timeout=30)
    assert not failed and not follower.is_alive(), failed
    feed = served.feed(start)
    assert len(feed) == THREADS * 6 * 3 + THREADS * 3
    assert [e["cursor"] for e in followed] == [e["cursor"] for e in feed], "the follower skipped events"
    assert_mirror_is_the_store(served)


# -- deletes that take dependents with them ---------------------------------------------------------

def _delete_once(s: Served, ref: str) -> int:
    """Eight concurrent deletes of ref: one 200, seven 404; the revision the 200 answered."""
    kind, row_id = ref.split(":")
    before = s.revision()
    results = race([lambda: s.call("DELETE", f"/v1/{FACT_PATHS[kind]}/{row_id}")] * THREADS)
    assert statuses(results) == [200] + [404] * (THREADS - 1), (ref, results)
    [won] = [body for status, body in results if status == 200]
    assert won["revision"] == before + 1 == s.revision(), ref  # one change, however many rows it removed
    return won["revision"]


def _deletes_after(s: Served, cursor: str) -> list[str]:
    return [f"{e['kind']} {e['subject']}" for e in s.feed(cursor)]


def test_deleting_a_user_or_an_organization_emits_the_deletes_of_its_dependents(served: Served) -> None:
    """A delete that cascades in the store (memberships, authorizations, assignments, products, invoices,
    a partnership's grant of a deleted product) says so in the feed, in its own transaction: replaying
    the feed into a mirror still gives the store's facts."""
    d = served.demo
    org = served.ok("POST", "/v1/organizations", {"name": "Cascade GmbH"}, 201)["id"]
    user = served.ok("POST", "/v1/users", {"email": "cascade@example.org", "name": "Cascade"}, 201)["id"]
    member = served.ok("POST", "/v1/memberships", {"user": user, "organization": org, "role": "collaborator"},
                       201)["id"]
    at_partner = served.ok("POST", "/v1/memberships", {"user": user, "organization": d["webwerk"],
                                                       "role": "collaborator"}, 201)["id"]
    product = served.ok("POST", "/v1/products", {"organization": org, "category": "mail", "name": "c.example"},
                        201)["id"]
    authorization = served.ok("POST", "/v1/product-authorizations", {"user": user, "product": product}, 201)["id"]
    invoice = served.ok("POST", "/v1/invoices", {"organization": org}, 201)["id"]
    assignment = served.ok("POST", "/v1/assignments", {"partner": d["webwerk"], "user": user,
                                                       "customer": d["baeckerei"]}, 201)["id"]
    other = served.ok("POST", "/v1/users", {"email": "cascade-2@example.org", "name": "Cascade 2"}, 201)["id"]
    other_member = served.ok("POST", "/v1/memberships", {"user": other, "organization": org,
                                                         "role": "legal_representative"}, 201)["id"]
    other_authorization = served.ok("POST", "/v1/product-authorizations", {"user": other, "product": product},
                                    201)["id"]

    cursor = served.feed()[-1]["cursor"]
    _delete_once(served, user)
    assert _deletes_after(served, cursor) == [f"product_authorization.deleted {authorization}",
                                              f"assignment.deleted {assignment}", f"membership.deleted {member}",
                                              f"membership.deleted {at_partner}", f"user.deleted {user}"]
    invitation = served.ok("POST", "/v1/invitations", {"acting_user": d["paula"], "partner": d["pixelhaus"],
                                                       "customer": org, "requested": FULL}, 201)["id"]
    cursor = served.feed()[-1]["cursor"]
    _delete_once(served, org)
    assert _deletes_after(served, cursor) == [f"invitation.deleted {invitation}",
                                              f"product_authorization.deleted {other_authorization}",
                                              f"membership.deleted {other_member}", f"invoice.deleted {invoice}",
                                              f"product.deleted {product}", f"organization.deleted {org}"]
    assert served.call("GET", f"/v1/users/{num(other)}")[0] == 200  # a member of it stays a user

    # a product granted to a partnership: the grant loses it, said by the partnership's event
    granted = served.ok("POST", "/v1/products", {"organization": d["baeckerei"], "category": "domain",
                                                 "name": "granted.example"}, 201)["id"]
    partnership = served.ok("POST", f"/v1/invitations/{num(_invite(served))}/accept",
                            {"acting_user": d["berta"]})["partnership"]
    served.ok("PUT", f"/v1/partnerships/{num(partnership)}/access", {
        "acting_user": d["berta"], "granted": {"access": "limited", "products": [
            {"product": granted, "technical": True}, {"product": d["baeckerei_web"], "technical": True}]}})
    cursor = served.feed()[-1]["cursor"]
    _delete_once(served, granted)
    feed = served.feed(cursor)
    assert [f"{e['kind']} {e['subject']}" for e in feed] == [f"partnership.access_changed {partnership}",
                                                             f"product.deleted {granted}"]
    products = [p["product"] for p in feed[0]["payload"]["granted"]["products"]]
    assert products == [d["baeckerei_web"]], feed[0]
    served.ok("POST", f"/v1/partnerships/{num(partnership)}/end", {"acting_user": d["paula"]})
    assert_mirror_is_the_store(served)
