"""The console's kept answers are never stale, and its background work never outlives its store.

Costly answers (every rule's pairs, each activation's impact) are computed in the background and kept
per (store revision, policy version, moment) (service/review/precompute.py). Here, through the Flask
client on both backends: after every page has been visited (so whatever is kept, is kept), a fact write
and then a policy activation change the very next customer, user, rule and policy page; a page whose
answer is still being computed says so and reloads itself (Refresh) until it is there; and the
background thread is stopped and joined when the store is rebound or closed. About 10 s in all.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any


from service.analysis.candidates import activate, load_candidate
from service.decide.vocabulary import ACTIONS, actions_for
from service.policy.rulebook import statements
from service.review import precompute
from service.store import database, open_database
from service.store.models import Assignment

from policy_edits import ONE_TRUTH_EDITS, apply_steps
from test_api_support import READY_S, Api, page_as_shown

Triple = tuple[str, str, str]


def _id(ref: str) -> int:
    return int(ref.split(":")[1])


def _html(api: Api, path: str) -> str:
    return page_as_shown(api.client, path)


def _json(api: Api, path: str) -> dict[str, Any]:
    answer = api.client.get(path + ("&" if "?" in path else "?") + "format=json")
    assert answer.status_code == 200, (path, answer.status_code, answer.get_data(as_text=True)[:300])
    return answer.json


def _customer(api: Api, org: int) -> set[Triple]:
    return {(a["user"], a["action"], a["resource"]) for a in _json(api, f"/review/customers/{org}")["access"]}


def _user(api: Api, user: int) -> set[tuple[str, str]]:
    return {(m["action"], m["resource"]) for m in _json(api, f"/review/users/{user}")["may"]}


def _rules(api: Api) -> dict[str, set[Triple]]:
    return {rule: {(g["user"], g["action"], g["resource"]) for g in _json(api, f"/review/rules/{rule}")["granted"]}
            for rule in statements()}


def _visit_everything(api: Api, demo: dict[str, str]) -> None:
    """Every page once, HTML and JSON: whatever the console keeps is kept before the change."""
    paths = [f"/review/customers/{_id(demo['anwalt'])}", f"/review/customers/{_id(demo['metzgerei'])}",
             f"/review/users/{_id(demo['carla'])}", "/review/policy"] + [f"/review/rules/{r}" for r in statements()]
    api.client.get("/review/")  # the home page starts the background computations
    for path in paths:
        _html(api, path)
        _json(api, path)


def _policy_rows(api: Api) -> list[dict[str, Any]]:
    return _json(api, "/review/policy")["activations"]


def _subjects_truth(api: Api, org: int) -> set[Triple]:
    """The customer's (user, action, resource) as /v1/subjects answers for each of its resources."""
    resources = _json(api, f"/review/customers/{org}")["resources"]
    return {(s["user"], action, ref) for ref in resources for action in actions_for(ref.split(":")[0])
            for s in api.post("/v1/subjects", {"action": action, "resource": ref}).json["subjects"]}


def _list_truth(api: Api, user: str) -> set[tuple[str, str]]:
    """Everything the user may do, as /v1/list answers for every (resource type, action)."""
    return {(action, ref) for kind, actions in ACTIONS.items() for action in actions
            for ref in api.post("/v1/list", {"actor": user, "action": action, "resource_type": kind,
                                             "page_size": 1000}).json["ids"]}


def test_a_fact_write_changes_the_next_page(console: Api, demo) -> None:
    carla, anwalt = _id(demo["carla"]), _id(demo["anwalt"])
    _visit_everything(console, demo)
    before_customer, before_user, before_rules = _customer(console, anwalt), _user(console, carla), _rules(console)
    before_policy = _policy_rows(console)

    assignment = Assignment.get((Assignment.user == carla) & (Assignment.customer == anwalt))
    written = console.write("DELETE", f"/v1/assignments/{assignment.id}")
    assert written.status_code == 200
    revision = written.json["revision"]

    after_customer = _customer(console, anwalt)
    lost = before_customer - after_customer
    assert after_customer == _subjects_truth(console, anwalt) and lost and after_customer <= before_customer
    assert {t[0] for t in lost} == {demo["carla"]}
    after_user = _user(console, carla)
    assert after_user == before_user - {(a, r) for _u, a, r in lost}
    assert after_user == _list_truth(console, demo["carla"])
    after_rules = _rules(console)
    assert any(before_rules[rule] & lost for rule in statements())
    assert all(after_rules[rule] == before_rules[rule] - lost for rule in statements())
    for path in [f"/review/customers/{anwalt}", f"/review/users/{carla}"] + [
            f"/review/rules/{rule}" for rule in statements() if before_rules[rule] & lost]:
        assert f"store revision <strong>{revision}</strong>" in _html(console, path), path  # the HTML too
    # an activation's impact is on the store as it stood then: a later write leaves it as it was
    assert _policy_rows(console) == before_policy


def test_an_activation_changes_the_next_page(console: Api, demo, tmp_path: Path) -> None:
    carla, metzgerei = _id(demo["carla"]), _id(demo["metzgerei"])
    gained = (demo["carla"], "access_account", demo["metzgerei"])  # the R13 edit's first expected change
    _visit_everything(console, demo)
    before_customer, before_user, before_rules = _customer(console, metzgerei), _user(console, carla), _rules(console)
    before_policy = _policy_rows(console)
    assert gained not in before_customer and gained not in before_rules["R13"]

    folder = apply_steps(tmp_path / "r13", ONE_TRUTH_EDITS["r13_all_collaborators"].steps)
    files, _engine = load_candidate(folder)
    stored, recorded = activate(files, "fresh-policy-admin", wait=0)
    assert recorded

    after_customer = _customer(console, metzgerei)
    assert gained in after_customer and after_customer != before_customer
    assert ("access_account", demo["metzgerei"]) in _user(console, carla) - before_user
    after_rules = _rules(console)
    assert gained in after_rules["R13"] - before_rules["R13"]
    for path in (f"/review/customers/{metzgerei}", f"/review/users/{carla}", "/review/rules/R13"):
        assert f"policy version <code>{stored.version}</code> in force" in _html(console, path), path
    listed = _policy_rows(console)
    assert listed[1:] == before_policy and listed[0]["version"] == stored.version
    assert listed[0]["activated_by"] == "fresh-policy-admin" and listed[0]["gained"] > 0
    assert ">+%d<" % listed[0]["gained"] in _html(console, "/review/policy")


def test_a_page_being_computed_says_so_and_reloads_itself(console: Api, demo) -> None:
    with precompute._worker.gate:  # the background thread cannot compute while the test holds its gate
        rule = console.client.get("/review/rules/R12")
        assert rule.status_code == 503 and rule.headers["Refresh"] and rule.headers["Retry-After"]
        assert "being computed" in rule.get_data(as_text=True)
        policy = console.client.get("/review/policy")
        assert policy.status_code == 200 and policy.headers["Refresh"]
        assert "reloads itself" in policy.get_data(as_text=True)
    # released: the pages the browser asks again are there, and no longer ask to be reloaded
    assert "allowed with R12 as a reason" in _html(console, "/review/rules/R12")
    assert "being computed" not in _html(console, "/review/policy")
    assert _policy_rows(console)[0]["gained"] is None  # the only activation: nothing before it to compare


def test_the_background_thread_stops_with_its_store(console: Api, demo, store_url: str) -> None:
    console.client.get("/review/")  # starts the background computations
    _html(console, "/review/rules/R12")
    assert len(precompute.background_threads()) == 1
    open_database(store_url, pooled=True)  # the store rebound, as a new app or a test's fresh store does
    assert precompute.background_threads() == []  # stopped and joined before the old pool was closed

    # a computation under way when the store is rebound is told to stop and waited for: it never reads
    # from the closed pool (each of its statements ran on the store bound then)
    kept: precompute.Kept[int] = precompute.Kept(1)
    running, statements_run, errors = threading.Event(), [], []

    def long_walk() -> tuple[str, int]:
        running.set()
        try:
            while True:
                precompute.check_stopping()
                statements_run.append(database.execute_sql("SELECT 1").fetchone()[0])
        except precompute.Stopped:
            raise
        except Exception as exc:  # noqa: BLE001 (a statement on a closed pool: what must never happen)
            errors.append(exc)
            raise
    kept.start("walk", long_walk)
    assert running.wait(READY_S)
    open_database(store_url, pooled=True)
    assert precompute.background_threads() == [] and statements_run and errors == []
    # the stopped computation was not kept: asked again, it is computed afresh (on a new thread)
    assert kept.get("walk", lambda: ("walk", 1), READY_S) == 1
    precompute.stop_background()
    assert precompute.background_threads() == []


def test_a_kept_past_page_is_the_past_and_a_later_moment_is_not_kept_for_it(console: Api, demo) -> None:
    carla, anwalt = _id(demo["carla"]), _id(demo["anwalt"])
    before = console.client.get("/review/").status_code and _json(console, f"/review/customers/{anwalt}")["revision"]
    past = f"/review/customers/{anwalt}?at_revision={before}"
    kept = _json(console, past)
    assert _json(console, past) == kept  # asked again: the kept page
    assignment = Assignment.get((Assignment.user == carla) & (Assignment.customer == anwalt))
    after = console.write("DELETE", f"/v1/assignments/{assignment.id}").json["revision"]
    assert _json(console, past) == kept  # a write after it leaves the past as it was
    truth = {(s["user"], a["action"], a["resource"]) for a in kept["access"] for s in console.post(
        "/v1/subjects", {"action": a["action"], "resource": a["resource"], "at_revision": before}).json["subjects"]}
    assert {(a["user"], a["action"], a["resource"]) for a in kept["access"]} == truth
    later = _json(console, f"/review/customers/{anwalt}?at_revision={after}")
    assert later["revision"] == after and later["access"] != kept["access"]
    assert {a["user"] for a in kept["access"]} - {a["user"] for a in later["access"]} == {demo["carla"]} or \
        len(later["access"]) < len(kept["access"])
    for path in (f"/review/users/{carla}?at_revision={{}}", f"/review/partners/{_id(demo['webwerk'])}?at_revision={{}}"):
        assert _json(console, path.format(before)) != _json(console, path.format(after)), path
    changes = f"/review/customers/{anwalt}/changes?from_revision={before}&to_revision={after}"
    assert _json(console, changes) == _json(console, changes) and _json(console, changes)["lost"]


def test_a_kept_past_page_is_not_narrowed_by_the_requests_that_filter_it(console: Api, demo) -> None:
    # the long tables' filters and pages work on a copy: narrowing the kept page itself once made the next
    # request of the same past page index a cut grid (a 500 on the 10,000-customer world's partner page)
    partner, anwalt = _id(demo["webwerk"]), _id(demo["anwalt"])
    revision = _json(console, f"/review/partners/{partner}")["revision"]
    for page_path, whole_key in ((f"/review/partners/{partner}?at_revision={revision}", "customers"),
                                 (f"/review/customers/{anwalt}?at_revision={revision}", "access")):
        whole = _json(console, page_path)[whole_key]
        assert len(whole) > 1, page_path
        for _ in range(2):  # the first builds and keeps the page, the second is answered from it
            assert _html(console, page_path + "&page_size=1&page=2")
            assert len(_json(console, page_path + "&action=manage_product")[whole_key]) <= len(whole)
        assert _json(console, page_path)[whole_key] == whole, page_path
