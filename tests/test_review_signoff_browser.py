"""A whole signed-off access review in real Chromium (issue 21 item 6): open a review of a customer from
the Reviews page, compare its rows with /v1/subjects, keep and revoke every row with notes, see finishing
refused while a row is undecided, finish, find the revoke on /v1/events, check the evidence CSV against its
manifest, then open a later review after a change and see what changed since. Screenshots as the other
browser tests take them (docs/screenshots/review-signoff-*.png with AUTHZ_SCREENSHOT_DIR)."""
from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import pytest

from service.api.auth import create_key
from service.decide.vocabulary import actions_for
from service.store.models import Assignment

from test_review_browser import MISSING, Server, _shoot, _sign_in, _table, browser_page, server  # noqa: F401

if MISSING:
    pytestmark = pytest.mark.skip(reason=f"BROWSER TESTS SKIPPED: {MISSING}")


def _api(server: Server, method: str, path: str, key: str) -> dict:
    request = urllib.request.Request(server.base + path, method=method, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request) as answer:
        text = answer.read()
    return json.loads(text) if text else {}


def _open_review(page, customer_id: str) -> None:
    page.click("header.top nav.links a:has-text('Reviews')")
    page.wait_for_load_state()
    page.select_option("form.open-review select[name=kind]", "customer")
    page.fill("form.open-review input[name=organization]", customer_id)
    page.click("form.open-review button")
    page.wait_for_load_state()


def _decide(page, row: int, decision: str, note: str) -> None:
    form = f"tr#row-{row} form.decide"
    page.fill(f"{form} input[name=note]", note)
    page.click(f"{form} button[value={decision}]")
    page.wait_for_load_state()


def test_a_reviewer_signs_off_a_review(server: Server, browser_page, demo, tmp_path: Path) -> None:
    page = browser_page
    _, review_key = create_key("browser-signoff", "review")
    _, check_key = create_key("browser-check", "check")
    _, write_key = create_key("browser-write", "write")
    customer = demo["baeckerei"]
    customer_id = customer.split(":")[1]
    cursor = _api(server, "GET", "/v1/events?limit=500", write_key)["next"]
    _sign_in(page, server, "/review/", review_key)
    _open_review(page, customer_id)
    assert "/review/reviews/" in page.url and "browser-signoff" in page.inner_text("dd.opened")
    review_path = page.url.split(server.base)[1].split("#")[0]

    # the frozen rows are what /v1/subjects answers for the customer, its products and invoices
    rows = _table(page, "table.review-rows")
    shown = {(r[1], r[3], r[4].split()[0]) for r in rows}
    resources = page.request.get(f"{server.base}/review/customers/{customer_id}?format=json").json()["resources"]
    expected = {(s["user"], action, resource) for resource in resources for action in actions_for(resource.split(":")[0])
                for s in server.post_json("/v1/subjects", {"action": action, "resource": resource}, check_key)["subjects"]}
    assert shown == expected and len(rows) == len(expected) > 3
    _shoot(page, tmp_path, "signoff-open")

    _decide(page, 1, "keep", "legal representative")
    _decide(page, 2, "revoke", "no longer works for the partner")
    assert "browser-signoff" in page.inner_text("tr#row-2 span.decided")
    page.click("form.finish button")  # two rows decided of many: refused, and it says why
    page.wait_for_load_state()
    assert "rows must all be decided before finishing" in page.inner_text("main") and "have no decision yet" in page.inner_text("main")
    page.goto(server.base + review_path)
    for number in range(3, len(rows) + 1):
        _decide(page, number, "keep", "")
    page.click("form.finish button")
    page.wait_for_load_state()
    assert "finished" in page.inner_text("dd.status") and page.locator("form.decide").count() == 0
    _shoot(page, tmp_path, "signoff-finished")

    events = _api(server, "GET", f"/v1/events?after={cursor}", write_key)["events"]
    assert [(e["kind"], e["payload"]["row"], e["payload"]["note"], e["payload"]["reviewer"]) for e in events] == [
        ("review.revoke_requested", 2, "no longer works for the partner", "browser-signoff")]
    assert (events[0]["payload"]["user"], events[0]["payload"]["resource"]) == (rows[1][1], rows[1][4].split()[0])

    # the evidence CSV, linked from the page, hashes to its manifest
    link = page.get_attribute("p.evidence a:has-text('CSV')", "href")
    evidence = page.request.get(server.base + link)
    manifest = page.request.get(server.base + page.get_attribute("p.evidence a:has-text('manifest')", "href")).json()
    assert hashlib.sha256(evidence.body()).hexdigest() == manifest["sha256"] and manifest["rows"] == len(rows)

    # a later review, after carla's assignment to the customer is removed, shows what changed since
    carla = int(demo["carla"].split(":")[1])
    assignment = Assignment.get((Assignment.user == carla) & (Assignment.customer == int(customer_id)))
    _api(server, "DELETE", f"/v1/assignments/{assignment.id}", write_key)
    _open_review(page, customer_id)
    since = page.inner_text("dd.since")
    gone = _table(page, "table.removed")
    assert "0 row(s) added" in since and f"{len(gone)} removed" in since and gone
    assert all(r[1] == demo["carla"] for r in gone)
    assert {r[7] for r in _table(page, "table.review-rows")} <= {"keep", "revoke"}
    page.locator("table.removed").scroll_into_view_if_needed()  # the screenshot shows what is gone
    _shoot(page, tmp_path, "signoff-changes")
