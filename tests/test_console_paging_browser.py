"""A long table filtered and paged in real Chromium (see test_review_browser.py), and the console's HTML error
pages: a reviewer opens a customer at a past revision with 3 rows a page, filters the access table by action with
the form, pages through it with "next", narrows it by rule, and each page's rows are compared with /v1/subjects
at that revision, the moment and the filters kept by every link. Then an unknown page and a bad filter: HTML
pages with the status, the header and a way back, while a data URL keeps its JSON error.

Then a changes page: a partnership ended, the reviewer asks what changed with the form, filters the rows by
action and pages through them 2 at a time, every row once, compared with /v1/subjects at both moments.

Screenshots (docs/screenshots/review-filtered.png, review-error.png, review-changes-paged.png with
AUTHZ_SCREENSHOT_DIR). Three served apps, about 15 s in all."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from service.api.auth import create_key
from service.decide.vocabulary import actions_for

from test_review_browser import MISSING, Server, _shoot, _sign_in, _table, browser_page, server  # noqa: F401

if MISSING:
    pytestmark = pytest.mark.skip(reason=f"BROWSER TESTS SKIPPED: {MISSING}")

PAGE_SIZE = 3


def _asked(page) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(page.url).query).items()}


def _allowed(server: Server, resources: list[str], key: str, revision: int) -> list[tuple[str, str, str, list[str]]]:
    """(user, resource, action, rules) of every subject /v1/subjects names at `revision`."""
    found = []
    for resource in resources:
        for action in actions_for(resource.split(":")[0]):
            answer = server.post_json("/v1/subjects", {"action": action, "resource": resource,
                                                       "at_revision": revision}, key)
            found += [(s["user"], resource, action, sorted({r["rule"] for r in s["reasons"] if "rule" in r}))
                      for s in answer["subjects"]]
    return found


def _rows_of_every_page(page, table: str = "table.access", cells=lambda r: (r[0], r[3].split()[0], r[4])) -> list:
    """The `cells` of each row of `table` (the access table: (user, resource, action)), page after page through
    its "next" links."""
    seen = []
    while True:
        seen += [cells(r) for r in _table(page, table)]
        following = page.locator("p.pager a[rel=next]")
        if not following.count():
            return seen
        following.click()
        page.wait_for_load_state()


def test_a_reviewer_filters_a_long_table_by_action_and_rule_and_pages_it(server: Server, browser_page, demo,
                                                                         tmp_path: Path) -> None:
    page = browser_page
    _, review_key = create_key("browser-reviewer", "review")
    _, check_key = create_key("browser-check", "check")
    customer = demo["baeckerei"].split(":")[1]
    revision = server.post_json("/v1/check", {"actor": demo["berta"], "action": "access_account",
                                              "resource": demo["baeckerei"]}, check_key)["revision"]
    _sign_in(page, server, f"/review/customers/{customer}?at_revision={revision}&page_size={PAGE_SIZE}", review_key)
    resources = page.request.get(f"{server.base}/review/customers/{customer}?format=json").json()["resources"]
    allowed = _allowed(server, resources, check_key, revision)
    action, count = Counter(a[2] for a in allowed).most_common(1)[0]
    assert count > PAGE_SIZE  # long enough to page

    page.select_option("form.filters select[name=action]", action)
    page.click("form.filters button")
    page.wait_for_load_state()
    assert _asked(page) == {"action": action, "at_revision": str(revision), "page_size": str(PAGE_SIZE)}
    assert f"store revision {revision}" in page.inner_text("div.moment")
    pages = -(-count // PAGE_SIZE)
    assert page.inner_text("p.pager").startswith(f"rows 1–{PAGE_SIZE} of {count} (filtered: action {action}), "
                                                 f"page 1 of {pages}")
    assert len(_table(page, "table.access")) == PAGE_SIZE
    _shoot(page, tmp_path, "filtered")
    shown = _rows_of_every_page(page)
    assert _asked(page) == {"action": action, "at_revision": str(revision), "page_size": str(PAGE_SIZE),
                            "page": str(pages)}  # the last page, reached by "next", still filtered and at then
    assert sorted(shown) == sorted((a[0], a[1], a[2]) for a in allowed if a[2] == action)
    assert len(shown) == len(set(shown)) == count  # every row once

    rules = Counter(rule for a in allowed if a[2] == action for rule in a[3])
    rule = rules.most_common(1)[0][0]
    page.select_option("form.filters select[name=rule]", rule)
    page.click("form.filters button")
    page.wait_for_load_state()
    assert _asked(page) == {"action": action, "rule": rule, "at_revision": str(revision),
                            "page_size": str(PAGE_SIZE)}  # a new filter starts on its first page
    assert sorted(_rows_of_every_page(page)) == sorted((a[0], a[1], a[2]) for a in allowed
                                                       if a[2] == action and rule in a[3])
    page.click("form.filters a.all-rows")
    page.wait_for_load_state()
    assert _asked(page) == {"at_revision": str(revision), "page_size": str(PAGE_SIZE)}
    assert page.inner_text("p.pager").startswith(f"rows 1–{PAGE_SIZE} of {len(allowed)}")


def test_a_reviewer_meets_html_error_pages(server: Server, browser_page, demo, tmp_path: Path) -> None:
    page = browser_page
    _, review_key = create_key("browser-reviewer", "review")
    customer = demo["baeckerei"].split(":")[1]
    _sign_in(page, server, f"/review/customers/{customer}", review_key)

    answer = page.goto(f"{server.base}/review/customers/{customer}?action=fly")
    assert answer.status == 400 and answer.headers["content-type"].startswith("text/html")
    assert page.inner_text("h1") == "Bad request" and page.inner_text("p.status") == "HTTP 400"
    assert page.inner_text("p.message").startswith("action must be an action name")  # named once, read as a sentence
    assert "signed in: browser-reviewer" in page.inner_text("header.top")  # the console around it, not raw JSON
    _shoot(page, tmp_path, "error")

    answer = page.goto(f"{server.base}/review/customers/999999")
    assert answer.status == 404 and page.inner_text("h1") == "Not found"
    assert "organization:999999" in page.inner_text("p.message")
    page.click("main a:has-text('Back to the console')")
    page.wait_for_load_state()
    assert page.url.endswith("/review/") and page.inner_text("h1") == "Access review"

    data = page.request.get(f"{server.base}/review/customers/999999?format=json")
    assert data.status == 404 and data.headers["content-type"].startswith("application/json")
    assert data.json()["error"]["code"] == "not_found"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _lost(server: Server, resources: list[str], key: str, start: str, end: str) -> set[tuple[str, str, str]]:
    """(user, action, resource) /v1/subjects allowed at `start` and no longer at `end`."""
    def access(at: str) -> set[tuple[str, str, str]]:
        return {(s["user"], action, resource) for resource in resources for action in actions_for(resource.split(":")[0])
                for s in server.post_json("/v1/subjects", {"action": action, "resource": resource, "at": at},
                                          key)["subjects"]}
    return access(start) - access(end)


def test_a_reviewer_pages_through_what_changed(server: Server, browser_page, demo, tmp_path: Path) -> None:
    page = browser_page
    _, review_key = create_key("browser-reviewer", "review")
    _, check_key = create_key("browser-check", "check")
    _, write_key = create_key("browser-write", "write")
    customer = demo["anwalt"].split(":")[1]
    start = _now()
    ended = server.post_json(f"/v1/partnerships/{demo['webwerk_anwalt'].split(':')[1]}/end",
                             {"acting_user": demo["alma"]}, write_key)["revision"]
    end = _now()
    _sign_in(page, server, f"/review/customers/{customer}", review_key)
    resources = page.request.get(f"{server.base}/review/customers/{customer}?format=json").json()["resources"]
    lost = _lost(server, resources, check_key, start, end)

    page.fill("form.changes input[name=from]", start)
    page.fill("form.changes input[name=to]", end)
    page.click("form.changes button")
    page.wait_for_load_state()
    page.goto(f"{page.url}&page_size=2")  # two rows a page
    action, count = Counter(t[1] for t in lost).most_common(1)[0]
    assert count > 2  # long enough to page
    page.select_option("form.filters select[name=action]", action)
    page.click("form.filters button")
    page.wait_for_load_state()
    assert _asked(page) == {"from": start, "to": end, "action": action, "page_size": "2"}
    pages = -(-count // 2)
    assert page.inner_text("p.pager").startswith(f"rows 1–2 of {count} (filtered: action {action}), page 1 of {pages}")
    assert f"revision {ended}," in page.inner_text("table.changes")  # its cause, on every row
    _shoot(page, tmp_path, "changes-paged")
    shown = _rows_of_every_page(page, "table.changes", lambda r: (r[1], r[3], r[4]))
    assert _asked(page)["page"] == str(pages) and _asked(page)["from"] == start  # the last page, same window
    assert len(shown) == len(set(shown)) == count  # every row once
    assert set(shown) == {t for t in lost if t[1] == action}
