"""The console's "what changed" and policy pages in real Chromium (see test_review_browser.py): a reviewer
answers "what changed between two dates for customer X" and "which customers gained or lost access with the
last policy activation", and each answer is compared with the API (/v1/subjects at both moments) and with
`authz impact` (run as the command, before the activation). Screenshots as test_review_browser.py saves them."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from service.analysis.candidates import activate, load_candidate
from service.api.auth import create_key
from service.decide.vocabulary import actions_for
from service.review import precompute
from service.store.models import Assignment, Invoice, Product

from policy_edits import ONE_TRUTH_EDITS, apply_steps
from test_review_browser import MISSING, Server, _shoot, _sign_in, _table, browser_page, server  # noqa: F401

if MISSING:
    pytestmark = pytest.mark.skip(reason=f"BROWSER TESTS SKIPPED: {MISSING}")

AUTHZ = str(Path(sys.executable).parent / "authz")
READY_MS = 60_000  # how long a reviewer waits for figures computed in the background (seconds on the demo world)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _write(server: Server, method: str, path: str, body: dict | None, key: str) -> dict:
    request = urllib.request.Request(server.base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


def _subjects(server: Server, body: dict, key: str) -> list[dict]:
    """/v1/subjects of the served app, over HTTP as the browser's pages are asked."""
    return server.post_json("/v1/subjects", body, key)["subjects"]


def _access(server: Server, org_id: int, key: str, at: str) -> set[tuple[str, str, str]]:
    """(user, action, resource) of the customer, its products and invoices at `at`, by /v1/subjects."""
    refs = [f"organization:{org_id}"] + [f"product:{p.id}" for p in Product.select().where(
        Product.organization == org_id)] + [f"invoice:{i.id}" for i in Invoice.select().where(
        Invoice.organization == org_id)]
    return {(s["user"], action, ref) for ref in refs for action in actions_for(ref.split(":")[0])
            for s in _subjects(server, {"action": action, "resource": ref, "at": at}, key)}


def test_a_reviewer_asks_what_changed_between_two_dates(server: Server, browser_page, demo, tmp_path: Path) -> None:
    page = browser_page
    _, review_key = create_key("browser-reviewer", "review")
    _, check_key = create_key("browser-check", "check")
    _, write_key = create_key("browser-write", "write")
    anwalt = int(demo["anwalt"].split(":")[1])
    start = _now()
    assignment = Assignment.get((Assignment.user == int(demo["carla"].split(":")[1])) & (Assignment.customer == anwalt))
    removed = _write(server, "DELETE", f"/v1/assignments/{assignment.id}", None, write_key)["revision"]
    ended = _write(server, "POST", f"/v1/partnerships/{demo['webwerk_anwalt'].split(':')[1]}/end",
                   {"acting_user": demo["alma"]}, write_key)["revision"]
    end = _now()

    _sign_in(page, server, f"/review/customers/{anwalt}", review_key)
    page.fill("form.changes input[name=from]", start)
    page.fill("form.changes input[name=to]", end)
    page.click("form.changes button")
    page.wait_for_load_state()
    assert f"/review/customers/{anwalt}/changes?" in page.url
    rows = _table(page, "table.changes")
    shown = {(r[1], r[3], r[4]): r for r in rows}
    before, after = _access(server, anwalt, check_key, start), _access(server, anwalt, check_key, end)
    assert {t for t, r in shown.items() if r[0] == "lost"} == before - after and after - before == set()
    assert len(shown) == len(rows) and all(r[0] == "lost" for r in rows)
    causes = {t: r[6] for t, r in shown.items()}
    assert {t for t, text in causes.items() if text.startswith(f"revision {removed},")} == \
        {t for t in shown if t[0] == demo["carla"]}
    assert all(text.startswith(f"revision {ended},") and "status active → ended" in text and "browser-write" in text
               for t, text in causes.items() if t[0] != demo["carla"])
    _shoot(page, tmp_path, "changes")


def _impact(store_url: str, folder: Path) -> dict:
    """`authz impact --format json` run as the command, on the served store."""
    env = {**os.environ, "DATABASE_URL": store_url}
    done = subprocess.run([AUTHZ, "impact", "--policies", str(folder), "--format", "json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("{"), done.stderr[-2000:]
    return json.loads(done.stdout)


def _customer_of(resource: str) -> str:
    kind, _, number = resource.partition(":")
    if kind == "organization":
        return resource
    model = Product if kind == "product" else Invoice
    return f"organization:{model.get_by_id(int(number)).organization_id}"


def test_a_reviewer_asks_what_the_last_activation_did(server: Server, browser_page, demo, store_url: str,
                                                      tmp_path: Path) -> None:
    page = browser_page
    _, review_key = create_key("browser-reviewer", "review")
    folder = apply_steps(tmp_path / "r12", ONE_TRUTH_EDITS["r12_legal_representatives_only"].steps)
    impact = _impact(store_url, folder)
    files, _engine = load_candidate(folder)
    stored, _recorded = activate(files, "browser-policy-admin", wait=0)

    with precompute._worker.gate:  # the background computation held back: the page cannot have its figures yet
        _sign_in(page, server, "/review/", review_key)
        page.click("header nav a:has-text('Policy')")
        page.wait_for_load_state()
        assert "being computed" in _table(page, "table.activations")[0][6]
        assert "reloads itself" in page.inner_text("p.pending")
    # as a reviewer would: the page said the figures are being computed and reloads itself (its Refresh
    # header) until they are there
    page.wait_for_selector("table.activations tbody tr >> nth=0 >> td.allow", timeout=READY_MS)
    assert page.url.endswith("/review/policy")
    newest = _table(page, "table.activations")[0]
    assert newest[1] == stored.version and newest[3] == "browser-policy-admin"
    assert (newest[6], newest[7]) == (f"+{len(impact['gained'])}", f"−{len(impact['lost'])}")
    _shoot(page, tmp_path, "policy")
    page.click("table.activations tbody tr >> nth=0 >> a >> nth=0")
    page.wait_for_load_state()
    page.wait_for_selector("table.changes", timeout=READY_MS)  # a "being computed" page reloads itself
    rows = _table(page, "table.changes")
    assert {(r[0], r[1], r[3], r[4]) for r in rows} == \
        {("gained", c["actor"], c["action"], c["resource"]) for c in impact["gained"]} | \
        {("lost", c["actor"], c["action"], c["resource"]) for c in impact["lost"]}
    # the answer: the customers that gained or lost access, as the page lists and links them
    linked = page.eval_on_selector_all("p.customers a", "links => links.map(a => a.getAttribute('href'))")
    customers = {f"organization:{href.rsplit('/', 1)[1]}" for href in linked}
    assert customers == {_customer_of(c["resource"]) for c in impact["gained"] + impact["lost"]} and customers
    assert len(linked) == len(customers)
    first = sorted(customers)[0]
    page.click(f"p.customers a[href='/review/customers/{first.split(':')[1]}']")
    page.wait_for_load_state()
    assert page.url.endswith(f"/review/customers/{first.split(':')[1]}")
    page.go_back()
    page.wait_for_load_state()
    _shoot(page, tmp_path, "policy-activation")
