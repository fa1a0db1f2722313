"""The console's present customer and partner pages are kept per (store stamp, policy version in force)
(service/review/past_pages.py), and the background computations pause while a page is built
(service/review/precompute.py pace()). Through the Flask client on both backends, on the demo world:

- a kept page (partner, customer, rule) asked again at the same state decides nothing again (a handful of
  statements, not one list per member and action), and is the same answer;
- a fact write and then a policy activation change the very next partner and customer page, which equal
  what /v1/list and /v1/subjects answer then (tests/test_review_fresh.py does the same for the customer,
  user, rule and policy pages after visiting every one);
- a background computation takes no step while a console request is being built, and a page that waits
  for a background answer still gets it (it is not counted while it waits).

Calls 0.2-0.9 s each; 32 s for the 8 with their fixtures (a demo store and app each) on a loaded machine.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from service.analysis.candidates import activate, load_candidate
from service.review import precompute
from service.store.fast_sql import StatementCounter
from service.store.models import Assignment

from policy_edits import ONE_TRUTH_EDITS, apply_steps
from test_api_support import Api
from test_review_fresh import _customer, _id, _json, _subjects_truth

BOUND_S = 30.0  # bound on waiting for a background step or answer (milliseconds on the demo world)
KEPT_STATEMENTS = 10  # a kept page: the session, the stamp and the version, the snapshot (7 here); not 3 lists a member
PARTNER_ACTIONS = (("access_account", "organization"), ("manage_product", "product"), ("view_statistics", "product"))
Triple = tuple[str, str, str]


def _partner(api: Api, org: int) -> tuple[set[Triple], dict[str, Any]]:
    """The partner page's matrix as (user, action, resource), and the page."""
    page = _json(api, f"/review/partners/{org}")
    found = set()
    for cell in page["matrix"]:
        if cell["access_account"]:
            found.add((cell["user"], "access_account", cell["customer"]))
        found |= {(cell["user"], action, p) for action in ("manage_product", "view_statistics") for p in cell[action]}
    return found, page


def _partner_truth(api: Api, page: dict[str, Any]) -> set[Triple]:
    """The same from /v1/list: each member's lists, narrowed to the partner's customers and their products."""
    customers = {c["customer"] for c in page["customers"]}
    products = {p for cell in page["matrix"] for action in ("manage_product", "view_statistics") for p in cell[action]}
    products |= {f"product:{i}" for c in customers for i in _products_of(api, c)}
    found = set()
    for user in (u["user"] for u in page["users"]):
        for action, kind in PARTNER_ACTIONS:
            ids = api.post("/v1/list", {"actor": user, "action": action, "resource_type": kind,
                                        "page_size": 1000}).json["ids"]
            found |= {(user, action, ref) for ref in ids if ref in (customers if kind == "organization" else products)}
    return found


def _products_of(api: Api, customer: str) -> list[int]:
    return [_id(r) for r in _json(api, f"/review/customers/{_id(customer)}")["resources"] if r.startswith("product:")]


def test_a_kept_page_asked_again_decides_nothing_again(console: Api, demo) -> None:
    for path in (f"/review/partners/{_id(demo['webwerk'])}", f"/review/customers/{_id(demo['anwalt'])}",
                 "/review/rules/R12"):
        first = _json(console, path)
        with StatementCounter() as again:
            assert _json(console, path) == first
        assert again.count <= KEPT_STATEMENTS, (path, again.count, again.statements)
        assert console.client.get(path).status_code == 200  # the HTML of the kept page too


def test_a_fact_write_changes_the_next_kept_page(console: Api, demo) -> None:
    webwerk, anwalt, carla = _id(demo["webwerk"]), _id(demo["anwalt"]), _id(demo["carla"])
    before, _ = _partner(console, webwerk)
    before_customer = _customer(console, anwalt)
    assert (demo["carla"], "access_account", demo["anwalt"]) in before

    assignment = Assignment.get((Assignment.user == carla) & (Assignment.customer == anwalt))
    written = console.write("DELETE", f"/v1/assignments/{assignment.id}")
    assert written.status_code == 200

    after, page = _partner(console, webwerk)
    assert page["revision"] == written.json["revision"]
    lost = before - after
    assert (demo["carla"], "access_account", demo["anwalt"]) in lost and after <= before
    assert {user for user, _a, _r in lost} == {demo["carla"]}
    assert after == _partner_truth(console, page)
    after_customer = _customer(console, anwalt)
    assert after_customer == _subjects_truth(console, anwalt)
    assert {t[0] for t in before_customer - after_customer} == {demo["carla"]}


def test_an_activation_changes_the_next_kept_page(console: Api, demo, tmp_path: Path) -> None:
    webwerk, metzgerei = _id(demo["webwerk"]), _id(demo["metzgerei"])
    gained = (demo["carla"], "access_account", demo["metzgerei"])  # the R13 edit's first expected change
    before, _ = _partner(console, webwerk)
    before_customer = _customer(console, metzgerei)
    assert gained not in before and gained not in before_customer

    files, _engine = load_candidate(apply_steps(tmp_path / "r13", ONE_TRUTH_EDITS["r13_all_collaborators"].steps))
    stored, recorded = activate(files, "kept-pages-admin", wait=0)
    assert recorded

    after, page = _partner(console, webwerk)
    assert page["policy_version"] == stored.version and gained in after - before
    assert after == _partner_truth(console, page)
    after_customer = _customer(console, metzgerei)
    assert gained in after_customer and after_customer == _subjects_truth(console, metzgerei)


def _stepping(kept: precompute.Kept[int], steps: list[float], done: threading.Event) -> None:
    """Start a background computation that takes paced steps until `done` (then answers 1)."""
    def walk() -> tuple[str, int]:
        while not done.is_set():
            precompute.pace()
            steps.append(time.monotonic())
            time.sleep(0.001)
        return "walk", 1
    kept.start("walk", walk)


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_the_background_pauses_while_a_page_is_built(console: Api, demo, monkeypatch) -> None:
    monkeypatch.setattr(precompute, "PAUSE_AT_MOST", BOUND_S)  # a pause lasts as long as the request
    kept: precompute.Kept[int] = precompute.Kept(1)
    steps: list[float] = []
    done = threading.Event()
    _stepping(kept, steps, done)
    try:
        _until(lambda: len(steps) > 3, "the background takes steps while no page is built")
        with console.app.test_request_context("/review/"):
            precompute.request_began()  # what the console's first hook does for every request
            try:
                paused_at = len(steps)
                time.sleep(0.3)
                assert len(steps) <= paused_at + 1  # at most the step that was under way
            finally:
                precompute.request_ended()
        _until(lambda: len(steps) > paused_at + 3, "the background goes on once the page is answered")
        # a page that waits for a background answer is not counted meanwhile: the answer comes (were the
        # background paused for it, a JSON rule page would wait a second for each of its ~60 steps)
        monkeypatch.setattr(precompute, "PAUSE_AT_MOST", 1.0)
        started = time.monotonic()
        done.set()
        answer = console.client.get("/review/rules/R12?format=json")
        assert answer.status_code == 200 and answer.json["granted"], answer.status_code
        assert time.monotonic() - started < BOUND_S
    finally:
        done.set()
        precompute.stop_background()


def test_an_invitation_expiring_without_a_write_changes_the_next_kept_rule_page(
        console: Api, demo, monkeypatch) -> None:
    """An invitation expires with no write (its stamp unchanged): the kept R7 page, and the kept pairs
    under it, follow the clock (service/review/time_moved.py) as /v1/check does."""
    monkeypatch.setenv("AUTHZ_INVITATION_TTL_DAYS", str(3 / 86400))  # 3 s
    sent = console.post("/v1/invitations", {"acting_user": demo["paula"], "partner": demo["pixelhaus"],
                                            "customer": demo["metzgerei"],
                                            "requested": {"access": "full", "payment_mode": "customer"}}, "write")
    assert sent.status_code == 201, sent.json
    invitation = sent.json["id"]

    def answerable() -> set[Triple]:
        return {(g["user"], g["action"], g["resource"]) for g in _json(console, "/review/rules/R7")["granted"]
                if g["resource"] == invitation}

    assert (demo["max"], "accept", invitation) in answerable()  # asked twice: the second answer is the kept one
    assert (demo["max"], "accept", invitation) in answerable()
    deadline = time.monotonic() + BOUND_S
    while console.post("/v1/check", {"actor": demo["max"], "action": "accept", "resource": invitation}).json["allowed"]:
        assert time.monotonic() < deadline, "the invitation never expired"
        time.sleep(0.1)
    assert answerable() == set()  # no write since: only the clock moved
