"""The /review console in a real browser: headless Chromium from Debian (/usr/bin/chromium) driven
by Playwright for Python (its own browser download is never used).

Signs in through the form, opens a customer page, follows links to a user and a rule,
compares the page with /v1/subjects and with its CSV export, and shows that no page
opens without signing in. Saves one screenshot per page kind into the test's tmp dir
(and into $AUTHZ_SCREENSHOT_DIR when set, e.g. docs/screenshots).
Without Chromium or Playwright these tests skip with a loud message; with
AUTHZ_BROWSER_TESTS=required (set by .ci/run) they fail instead.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
import urllib.request
import warnings
from pathlib import Path
from typing import Iterator

import pytest
from werkzeug.serving import ThreadedWSGIServer

from live_servers import free_port
from service.api import create_app
from service.api.auth import create_key
from service.decide.vocabulary import actions_for
from service.store.db import database

CHROMIUM = os.environ.get("AUTHZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--no-first-run", "--metrics-recording-only", "--mute-audio"]


def _missing_browser() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


MISSING = _missing_browser()
if MISSING:
    if os.environ.get("AUTHZ_BROWSER_TESTS") == "required":
        raise RuntimeError(f"browser tests are required here but cannot run: {MISSING}")
    message = f"BROWSER TESTS SKIPPED: {MISSING}"
    warnings.warn(message)
    pytestmark = pytest.mark.skip(reason=message)


class ConnectionReturningServer(ThreadedWSGIServer):
    """werkzeug's threaded server, whose request threads each give their store connection back to the pool
    when they end. The app keeps a thread's pooled connection for the thread's next request
    (db.release_connection), which suits `authz serve`'s fixed threads; werkzeug starts a new thread for
    every connection, so without this the pool's 32 connections were used up after ~30 requests."""

    def process_request_thread(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        try:
            super().process_request_thread(request, client_address)
        finally:
            db = database.obj
            if db is not None and not db.is_closed():
                db.close()  # this thread's connection: back to the pool (or closed, if unusable)


class Server:
    def __init__(self, store_url: str) -> None:
        self.app = create_app({"DATABASE_URL": store_url, "DECISION_LOG": "off"})
        self.port = free_port()
        self.http = ConnectionReturningServer("127.0.0.1", self.port, self.app)
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.base = f"http://127.0.0.1:{self.port}"

    def post_json(self, path: str, body: dict, key: str) -> dict:
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request) as answer:
            return json.loads(answer.read())


@pytest.fixture
def server(store_url: str, demo) -> Iterator[Server]:
    running = Server(store_url)
    running.thread.start()
    yield running
    running.http.shutdown()
    running.http.server_close()


@pytest.fixture
def browser_page(tmp_path: Path):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        yield context.new_page()
        context.close()
        browser.close()


def _shoot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"review-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    target = os.environ.get("AUTHZ_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    assert path.stat().st_size > 5000  # something was drawn
    return path


def _table(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"{selector} tbody tr",
                                     "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")


def _sign_in(page, server: Server, start: str, key: str) -> None:
    page.goto(server.base + start)
    assert "/review/sign-in" in page.url
    page.fill("#key", key)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_load_state()


def test_no_page_opens_without_signing_in(server: Server, browser_page, demo, tmp_path: Path) -> None:
    page = browser_page
    for path in ("/review/", f"/review/customers/{demo['baeckerei'].split(':')[1]}",
                 f"/review/partners/{demo['webwerk'].split(':')[1]}", f"/review/users/{demo['carla'].split(':')[1]}",
                 "/review/rules/R12", "/review/search?q=anna"):
        page.goto(server.base + path)
        assert "/review/sign-in" in page.url, path
        assert page.locator("h1").inner_text() == "Sign in"
    _shoot(page, tmp_path, "sign-in")
    exported = page.request.get(f"{server.base}/review/customers/{demo['baeckerei'].split(':')[1]}?format=csv")
    assert exported.status == 401 and exported.json()["error"]["code"] == "session_required"  # never the HTML form
    _, check_key = create_key("not-a-reviewer", "check")
    _sign_in(page, server, "/review/", check_key)
    assert "/review/sign-in" in page.url and "does not open the review console" in page.inner_text(".error")


def test_a_reviewer_walks_customer_user_rule(server: Server, browser_page, demo, tmp_path: Path) -> None:
    page = browser_page
    _, review_key = create_key("browser-reviewer", "review")
    _, check_key = create_key("browser-check", "check")
    customer = demo["baeckerei"]
    _sign_in(page, server, f"/review/customers/{customer.split(':')[1]}", review_key)
    assert page.url.endswith(f"/review/customers/{customer.split(':')[1]}") and review_key not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "authz_review")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and review_key not in cookie["value"]
    _shoot(page, tmp_path, "customer")

    # the page shows what /v1/subjects answers, action by action
    rows = _table(page, "table.access")
    shown = {(r[0], r[3].split()[0], r[4]) for r in rows}
    resources = page.request.get(f"{server.base}/review/customers/{customer.split(':')[1]}?format=json").json()[
        "resources"]
    assert any(r.startswith("product:") for r in resources)  # products and invoices too
    expected = set()
    for resource in resources:
        for action in actions_for(resource.split(":")[0]):
            answer = server.post_json("/v1/subjects", {"action": action, "resource": resource}, check_key)
            expected |= {(s["user"], resource, action) for s in answer["subjects"]}
    assert shown == expected and len(shown) == len(rows)

    # the CSV export holds the same rows as the page
    exported = page.request.get(f"{server.base}/review/customers/{customer.split(':')[1]}?format=csv")
    assert exported.ok
    csv_rows = list(csv.DictReader(io.StringIO(exported.text())))
    assert [(r["user"], r["name"], r["action"], r["rules"]) for r in csv_rows] == \
           [(r[0], r[1], r[4], r[5]) for r in rows]

    # follow a link to a user, then an R-number to its rule page
    page.click(f"table.access a[href='/review/users/{demo['carla'].split(':')[1]}'] >> nth=0")
    page.wait_for_load_state()
    assert page.url.endswith(f"/review/users/{demo['carla'].split(':')[1]}")
    assert "Carla" in page.locator("h1").inner_text()
    _shoot(page, tmp_path, "user")
    page.click("a.rule:has-text('R13') >> nth=0")
    page.wait_for_load_state()
    assert page.url.endswith("/review/rules/R13")
    assert "A collaborator of a partner" in page.inner_text("blockquote.statement")
    assert page.locator("pre.polar").count() >= 3 and page.locator("table tbody tr").count() >= 10
    _shoot(page, tmp_path, "rule")

    page.goto(f"{server.base}/review/partners/{demo['webwerk'].split(':')[1]}")
    assert page.locator("table.matrix thead th").count() >= 6
    _shoot(page, tmp_path, "partner")
    page.fill("input[name=q]", "brot")
    page.press("input[name=q]", "Enter")
    page.wait_for_load_state()
    assert "/review/search?q=brot" in page.url and page.locator("table tbody tr").count() >= 2
    _shoot(page, tmp_path, "search")

    # signing out closes the console again
    page.click("button:has-text('Sign out')")
    page.wait_for_load_state()
    page.goto(f"{server.base}/review/users/{demo['carla'].split(':')[1]}")
    assert "/review/sign-in" in page.url


def test_a_reviewer_asks_a_past_moment_and_why_not(server: Server, browser_page, demo, tmp_path: Path) -> None:
    """"Who could reach X at revision R" (an assignment removed since) and "why can't user Z reach X",
    each compared with the API (/v1/subjects with at_revision, /v1/check with explain)."""
    from service.store.models import Assignment
    page = browser_page
    _, review_key = create_key("browser-reviewer", "review")
    _, check_key = create_key("browser-check", "check")
    _, write_key = create_key("browser-write", "write")
    carla = demo["carla"]
    assignment = Assignment.select().where(Assignment.user == int(carla.split(":")[1])).order_by(Assignment.id).first()
    customer = f"organization:{assignment.customer_id}"
    past = server.post_json("/v1/check", {"actor": carla, "action": "access_account", "resource": customer},
                            check_key)["revision"]
    request = urllib.request.Request(f"{server.base}/v1/assignments/{assignment.id}", method="DELETE",
                                     headers={"Authorization": f"Bearer {write_key}"})
    urllib.request.urlopen(request).read()
    _sign_in(page, server, f"/review/customers/{customer.split(':')[1]}?at_revision={past}", review_key)
    assert f"store revision {past}" in page.inner_text("div.moment")
    then = {r[0] for r in _table(page, "table.access") if r[4] == "access_account" and r[3].split()[0] == customer}
    api = server.post_json("/v1/subjects", {"action": "access_account", "resource": customer, "at_revision": past},
                           check_key)
    assert then == {s["user"] for s in api["subjects"]} and carla in then
    _shoot(page, tmp_path, "customer-at")

    # why can't carla reach the customer now? the form on the page, then the answer of /v1/check explain
    page.goto(f"{server.base}/review/customers/{customer.split(':')[1]}")
    page.fill("form.whynot input[name=actor]", carla)
    page.fill("form.whynot input[name=action]", "access_account")
    page.click("form.whynot button")
    page.wait_for_load_state()
    assert "Denied" in page.inner_text("p.verdict")
    explained = server.post_json("/v1/check", {"actor": carla, "action": "access_account", "resource": customer,
                                               "explain": True}, check_key)
    assert [r[2] for r in _table(page, "table.whynot")] == [r["text"] for r in explained["reasons"]]
    _shoot(page, tmp_path, "why-not")
