"""The console's long tables (customer, user, partner, review, changes and rule pages) filtered by `action=` and
`rule=` in every format, paged in HTML with their totals, and its lists (reviews, partners, exports, policy
versions) paged; bad values a 400 naming the parameter once ("page must be a page number from 1"); error pages
as HTML under /review (JSON for data URLs). Through the Flask client on each backend, on the demo world (a page
size of 1 to 3 makes its tables long enough to page). About 6 s per backend."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from service.policy.rulebook import statements
from service.review.pages import rules_of
from service.store.models import Assignment, Organization

from test_api_support import Api


def _id(ref: str) -> str:
    return ref.split(":")[1]


def _json(api: Api, path: str, **query: str) -> dict:
    answer = api.client.get(path, query_string={**query, "format": "json"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json


def _csv(api: Api, path: str, **query: str) -> list[dict[str, str]]:
    answer = api.client.get(path, query_string={**query, "format": "csv"})
    assert answer.status_code == 200
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def said(html: str) -> str:
    """The message of a console error page (message.html), as a reader sees it."""
    return html.split('<p class="message">', 1)[1].split("</p>", 1)[0].replace("&#39;", "'")


def _html_rows(api: Api, path: str, table: str, column: int = 0, **query: str) -> tuple[str, list[str]]:
    """The page and the text of cell `column` of each row of `table` (tags dropped)."""
    answer = api.client.get(path, query_string=query)
    assert answer.status_code == 200 and answer.mimetype == "text/html", answer.get_data(as_text=True)[:300]
    html = answer.get_data(as_text=True)
    body = html.split(f'<table class="{table}">', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    cells = [re.sub(r"<[^>]+>", "", row.split("<td", column + 1)[-1].split("</td>", 1)[0])
             for row in body.split("<tr")[1:]]
    cells = [cell.split(">", 1)[-1] if cell.startswith((" ", ">")) else cell for cell in cells]
    return html, cells


def test_the_customer_page_filters_by_action_and_rule_in_every_format(console: Api, demo) -> None:
    path = f"/review/customers/{_id(demo['baeckerei'])}"
    whole = _json(console, path)["access"]
    by_action = [a for a in whole if a["action"] == "access_account"]
    by_rule = [a for a in whole if "R13" in rules_of(a["reasons"])]
    assert by_action and by_rule and len(by_action) < len(whole) and len(by_rule) < len(whole)
    assert _json(console, path, action="access_account")["access"] == by_action
    assert _json(console, path, rule="R13")["access"] == by_rule
    both = _json(console, path, action="access_account", rule="R13")
    assert both["access"] == [a for a in by_action if a in by_rule]
    assert both["filters"] == {"action": "access_account", "rule": "R13"}
    assert [(r["user"], r["action"]) for r in _csv(console, path, rule="R13")] == \
           [(a["user"], a["action"]) for a in by_rule]
    # a page of the HTML never narrows an export: the CSV and JSON stay whole unless filtered
    assert len(_csv(console, path, page="2", page_size="2")) == len(whole)
    assert len(_json(console, path, page="2", page_size="2")["access"]) == len(whole)


def test_the_customer_page_is_paged_with_its_totals(console: Api, demo) -> None:
    path = f"/review/customers/{_id(demo['baeckerei'])}"
    whole = _json(console, path, action="access_account")["access"]
    assert len(whole) >= 3
    html, users = _html_rows(console, path, "access", action="access_account", page="2", page_size="2")
    assert users == [a["user"] for a in whole[2:4]]
    assert f"rows <strong>3–{min(4, len(whole))}</strong> of <strong>{len(whole)}</strong>" in html
    assert "page=1" in html and "action=access_account" in html.split('rel="prev"', 1)[1].split(">", 1)[0]
    past_the_end = _html_rows(console, path, "access", action="access_account", page="999", page_size="2")[1]
    assert past_the_end == [a["user"] for a in whole[(len(whole) - 1) // 2 * 2:]]  # the last page


def test_the_user_page_pages_through_every_row_once(console: Api, demo) -> None:
    path = f"/review/users/{_id(demo['carla'])}"
    whole = _json(console, path)["may"]
    pages = -(-len(whole) // 3)
    assert pages >= 2
    seen: list[str] = []
    for page in range(1, pages + 1):
        html, actions = _html_rows(console, path, "may", page=str(page), page_size="3")
        seen += actions
    assert seen == [m["action"] for m in whole]
    filtered = _json(console, path, action="view_statistics")["may"]
    assert filtered == [m for m in whole if m["action"] == "view_statistics"]


def test_the_partner_page_filters_its_customers_by_action(console: Api, demo) -> None:
    path = f"/review/partners/{_id(demo['webwerk'])}"
    whole = _json(console, path)
    managed = {m["customer"] for m in whole["matrix"] if m["manage_product"]}
    narrowed = _json(console, path, action="manage_product")
    assert {c["customer"] for c in narrowed["customers"]} == managed and managed
    assert {m["customer"] for m in narrowed["matrix"]} == managed
    html, _ = _html_rows(console, path, "customers", page_size="1", page="2")
    assert f"customers <strong>2–2</strong> of <strong>{len(whole['customers'])}</strong>" in html
    assert html.count('<th scope="row">') == 1  # the matrix shows the same one customer
    answer = console.client.get(path, query_string={"rule": "R13"})
    assert answer.status_code == 400 and "rule" in answer.get_data(as_text=True)


BAD = [("action", "fly"), ("action", "<script>"), ("rule", "R99"), ("rule", "13"), ("page", "0"), ("page", "abc"),
       ("page", "-1"), ("page_size", "0"), ("page_size", "5000")]


@pytest.mark.parametrize("name,value", BAD)
def test_a_bad_filter_or_page_is_a_400_naming_it(console: Api, demo, name: str, value: str) -> None:
    for path in (f"/review/customers/{_id(demo['baeckerei'])}", f"/review/users/{_id(demo['carla'])}",
                 f"/review/partners/{_id(demo['webwerk'])}"):
        page = console.client.get(path, query_string={name: value})
        assert page.status_code == 400 and page.mimetype == "text/html", (path, name, value)
        text = page.get_data(as_text=True)
        # the message names the parameter once, as a sentence: "page must be a page number from 1"
        assert said(text).startswith(f"{name} must be ") and "<script>" not in text and "access review" in text
        data = console.client.get(path, query_string={name: value, "format": "json"})
        assert data.status_code == 400 and data.json["error"]["field"] == name, (path, name, value)


def _is_console_page(answer, status: int) -> str:
    assert answer.status_code == status and answer.mimetype == "text/html", (answer.status_code, answer.mimetype)
    html = answer.get_data(as_text=True)
    assert "partner-authz · access review" in html and f"HTTP {status}" in html  # base.html, with the status
    return html


def test_console_errors_are_html_pages(console: Api, demo, monkeypatch) -> None:
    assert "No such page: organization:999999" in _is_console_page(console.client.get("/review/customers/999999"), 404)
    assert "/review/no-such-page" in _is_console_page(console.client.get("/review/no-such-page"), 404)
    wrong = console.client.post(f"/review/customers/{_id(demo['baeckerei'])}")
    _is_console_page(wrong, 405)
    assert "GET" in wrong.headers["Allow"]
    _is_console_page(console.client.get("/review/customers/1", query_string={"at": "yesterday"}), 400)
    signed_out = console.app.test_client().get("/review/no-such-page")  # no session: still a page, no data
    _is_console_page(signed_out, 404)

    from service.review import pages
    monkeypatch.setattr(pages, "partners_index", lambda: 1 / 0)  # a page that fails while being built
    assert "nothing is shown" in _is_console_page(console.client.get("/review/"), 500)


def test_data_urls_keep_json_errors_and_v1_stays_json(console: Api, demo) -> None:
    for path, status in (("/review/customers/999999?format=json", 404), ("/review/customers/999999?format=csv", 404),
                         ("/review/export?format=xml", 400), ("/review/export/manifests/nope", 404),
                         ("/review/export/no-such-route", 404)):
        answer = console.client.get(path)
        assert answer.status_code == status and answer.mimetype == "application/json", path
        assert answer.json["error"]["code"] and answer.json["error"]["message"], path  # the API's shape
    for method, path in (("GET", "/v1/no-such-route"), ("DELETE", "/v1/check")):
        answer = console.client.open(path, method=method, headers={"Authorization": f"Bearer {console.check_key}"})
        assert answer.status_code in (404, 405) and answer.mimetype == "application/json"
        assert "code" in answer.json["error"], path


def _open_review(api: Api, organization: str) -> int:
    opened = api.client.post("/review/reviews", data={"kind": "customer", "organization": _id(organization)},
                             headers={"Accept": "application/json"})
    assert opened.status_code == 201, opened.json
    return opened.json["review"]["id"]


def test_a_review_s_rows_are_filtered_paged_and_totalled(console: Api, demo) -> None:
    review = _open_review(console, demo["baeckerei"])
    path = f"/review/reviews/{review}"
    whole = _json(console, path)["rows"]
    action = max({r["action"] for r in whole}, key=lambda a: sum(r["action"] == a for r in whole))
    of_action = [r for r in whole if r["action"] == action]
    assert len(of_action) >= 3 and len(of_action) < len(whole)
    assert _json(console, path, action=action)["rows"] == of_action
    assert [r["row"] for r in _json(console, path, rule="R13")["rows"]] == \
           [r["row"] for r in whole if "R13" in r["rules"].split()]
    assert len(_csv(console, path, page="2", page_size="2")) == len(whole)  # an export is never one HTML page
    html, numbers = _html_rows(console, path, "review-rows", action=action, page="2", page_size="2")
    assert numbers == [str(r["row"]) for r in of_action[2:4]]
    assert f"rows <strong>3–{min(4, len(of_action))}</strong> of <strong>{len(of_action)}</strong>" in html
    assert f"Rows ({len(whole)}, 0 decided)" in html and f"open: 0 of {len(whole)} rows decided" in html

    # deciding a row of that page comes back to it: the view rides on the row's form
    row = of_action[2]["row"]
    form = f'/review/reviews/{review}/rows/{row}?action={action}&amp;page=2&amp;page_size=2"'
    assert form in html
    decided = console.client.post(f"/review/reviews/{review}/rows/{row}",
                                  query_string={"action": action, "page": "2", "page_size": "2"},
                                  data={"decision": "keep", "note": "ok"})
    assert decided.status_code == 303
    assert decided.headers["Location"].endswith(f"/review/reviews/{review}?action={action}&page=2&page_size=2#row-{row}")
    refused = console.client.post(f"/review/reviews/{review}/rows/{of_action[3]['row']}",
                                  query_string={"page": "abc"}, data={"decision": "keep", "note": ""})
    assert refused.status_code == 400 and said(refused.get_data(as_text=True)) == "page must be a page number from 1"
    assert [r["decision"] for r in _json(console, path, action=action)["rows"][2:4]] == ["keep", None]  # nothing written
    assert console.client.get(path, query_string={"rule": "R99"}).status_code == 400


def test_search_pages_keep_the_query_and_the_moment(console: Api, demo) -> None:
    revision = console.post("/v1/check", {"actor": demo["berta"], "action": "access_account",
                                          "resource": demo["baeckerei"]}).json["revision"]
    every = _json(console, "/review/search", q="brot", at_revision=str(revision))["total"]
    assert every >= 2
    answer = console.client.get("/review/search", query_string={"q": "brot", "at_revision": revision, "page_size": 1})
    html = answer.get_data(as_text=True)
    assert f"matches <strong>1–1</strong> of <strong>{every}</strong>" in html
    following = html.split('rel="next" href="', 1)[1].split('"', 1)[0]
    assert following == f"/review/search?q=brot&amp;at_revision={revision}&amp;page_size=1&amp;page=2"
    assert console.client.get("/review/search", query_string={"q": "brot", "page_size": "0"}).status_code == 400


def test_the_moment_form_and_back_to_now_keep_the_filters(console: Api, demo) -> None:
    revision = console.post("/v1/check", {"actor": demo["berta"], "action": "access_account",
                                          "resource": demo["baeckerei"]}).json["revision"]
    path = f"/review/customers/{_id(demo['baeckerei'])}"
    html = console.client.get(path, query_string={"action": "access_account", "at_revision": revision, "page": "2",
                                                  "page_size": "2", "junk": "x"}).get_data(as_text=True)
    moment = html.split('<form class="moment"', 1)[1].split("</form>", 1)[0]
    assert '<input type="hidden" name="action" value="access_account">' in moment
    assert 'name="page_size" value="2"' in moment and 'name="page"' not in moment and "junk" not in moment
    assert f'href="{path}?action=access_account&amp;page_size=2">back to now' in moment
    filters = html.split('<form class="filters"', 1)[1].split("</form>", 1)[0]
    assert f'name="at_revision" value="{revision}"' in filters and 'name="page"' not in filters
    assert f'href="{path}?at_revision={revision}&amp;page_size=2">all rows' in filters


def _export_links(html: str) -> list[str]:
    bar = html.split('<p class="exports">', 1)[1].split("</p>", 1)[0]
    return [href.replace("&amp;", "&") for href in re.findall(r'href="([^"]+)"', bar)]


def test_export_links_keep_the_question_and_the_resource_filter(console: Api, demo) -> None:
    question = {"actor": demo["carla"], "action": "access_account", "resource": demo["metzgerei"]}
    html = console.client.get("/review/why-not", query_string=question).get_data(as_text=True)
    exported = console.client.get(_export_links(html)[0])  # the JSON of this very answer, not the empty form
    assert exported.json["decided"] is True and exported.json["actor"] == demo["carla"]
    path = f"/review/customers/{_id(demo['baeckerei'])}"
    product = next(a["resource"] for a in _json(console, path)["access"] if a["resource"].startswith("product:"))
    html = console.client.get(path, query_string={"resource": product}).get_data(as_text=True)
    rows = _csv(console, path, resource=product)
    assert rows and {r["resource"] for r in rows} == {product}
    linked = console.client.get(next(link for link in _export_links(html) if "format=csv" in link))
    assert list(csv.DictReader(io.StringIO(linked.get_data(as_text=True)))) == rows
    refused = console.client.get(f"/review/partners/{_id(demo['webwerk'])}", query_string={"resource": product})
    assert refused.status_code == 400 and said(refused.get_data(as_text=True)).startswith(
        "resource cannot filter the partner page")


# -- the tables paged since: changes, a rule's granted rows, the reviews, partners, exports, policy versions --

def _revision(api: Api) -> int:
    return api.post("/v1/check", {"actor": "user:1", "action": "access_account", "resource": "organization:1"}).json[
        "revision"]


def _anchors(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'<section class="cause" id="revision-(\d+)"', html)}


@pytest.fixture
def window(console: Api, demo) -> dict[str, str]:
    """Two changes touching Kanzlei (anwalt): Carla's assignment removed, then its partnership ended (two causes,
    rows of several actions). The window's from_revision and to_revision."""
    start = _revision(console)
    assignment = Assignment.get((Assignment.user == int(_id(demo["carla"])))
                                & (Assignment.customer == int(_id(demo["anwalt"]))))
    assert console.write("DELETE", f"/v1/assignments/{assignment.id}").status_code == 200
    ended = console.write("POST", f"/v1/partnerships/{_id(demo['webwerk_anwalt'])}/end", {"acting_user": demo["alma"]})
    assert ended.status_code == 200, ended.json
    return {"from_revision": str(start), "to_revision": str(_revision(console))}


def test_a_changes_page_is_filtered_and_paged_with_the_causes_of_its_rows(console: Api, demo, window) -> None:
    path = f"/review/customers/{_id(demo['anwalt'])}/changes"
    whole = _json(console, path, **window)
    table = _csv(console, path, **window)  # the page's order
    assert len(table) == len(whole["gained"]) + len(whole["lost"]) >= 4 and len(whole["causes"]) == 2
    assert len(_csv(console, path, **window, page="2", page_size="2")) == len(table)  # an export stays whole
    action = max({r["action"] for r in table}, key=lambda a: sum(r["action"] == a for r in table))
    of_action = [r for r in table if r["action"] == action]
    assert 3 <= len(of_action) < len(table)
    narrowed = _json(console, path, **window, action=action)
    assert sorted((r["user"], r["resource"]) for r in narrowed["gained"] + narrowed["lost"]) == \
        sorted((r["user"], r["resource"]) for r in of_action)
    assert narrowed["filters"] == {"action": action, "rule": None}
    assert {c["revision"] for c in narrowed["causes"]} == {int(r["cause_revision"]) for r in of_action}
    rule = next(r["rules"].split()[0] for r in table if r["rules"])
    by_rule = _json(console, path, **window, rule=rule)
    assert len(by_rule["gained"] + by_rule["lost"]) == sum(rule in r["rules"].split() for r in table)

    html, users = _html_rows(console, path, "changes", 1, **window, action=action, page="2", page_size="2")
    _, resources = _html_rows(console, path, "changes", 4, **window, action=action, page="2", page_size="2")
    assert list(zip(users, resources)) == [(r["user"], r["resource"]) for r in of_action[2:4]]
    assert f"rows <strong>3–{min(4, len(of_action))}</strong> of <strong>{len(of_action)}</strong>" in html
    back = html.split('rel="prev" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert back == f"{path}?from_revision={window['from_revision']}&to_revision={window['to_revision']}" \
                   f"&action={action}&page_size=2&page=1"
    for page, row in enumerate(table, start=1):  # one row a page: only the cause that row names is listed
        html = console.client.get(path, query_string={**window, "page": page, "page_size": 1}).get_data(as_text=True)
        assert _anchors(html) == {int(row["cause_revision"])}, page
    for name, value in (("action", "fly"), ("rule", "R99"), ("page", "0"), ("page_size", "5000")):
        refused = console.client.get(path, query_string={**window, name: value})
        assert refused.status_code == 400 and said(refused.get_data(as_text=True)).startswith(f"{name} must be ")


def test_the_user_and_partner_changes_pages_page_alike(console: Api, demo, window) -> None:
    for path in (f"/review/users/{_id(demo['carla'])}/changes", f"/review/partners/{_id(demo['webwerk'])}/changes"):
        table = _csv(console, path, **window)
        assert len(table) >= 2, path
        html, users = _html_rows(console, path, "changes", 1, **window, page="2", page_size="1")
        assert users == [table[1]["user"]] and f"rows <strong>2–2</strong> of <strong>{len(table)}</strong>" in html
        action = table[0]["action"]
        assert [r["action"] for r in _csv(console, path, **window, action=action)] == \
               [r["action"] for r in table if r["action"] == action]


def _granted(api: Api, path_rule: str, **query: str) -> list[dict[str, str]]:
    return _json(api, f"/review/rules/{path_rule}", **query)["granted"]


def test_a_rule_page_lists_its_granted_rows_filtered_and_paged(console: Api, demo) -> None:
    rule = max(statements(), key=lambda r: len(_granted(console, r)))  # JSON waits for the background walk
    path, whole = f"/review/rules/{rule}", _granted(console, rule)
    action = max({g["action"] for g in whole}, key=lambda a: sum(g["action"] == a for g in whole))
    of_action = [g for g in whole if g["action"] == action]
    assert len(of_action) >= 3
    assert _granted(console, rule, action=action) == of_action
    resource = whole[0]["resource"]
    assert _granted(console, rule, resource=resource) == [g for g in whole if g["resource"] == resource]
    assert len(_csv(console, path, page="2", page_size="2")) == len(whole)  # an export stays whole
    html, users = _html_rows(console, path, "granted", 0, action=action, page="2", page_size="2")
    _, resources = _html_rows(console, path, "granted", 2, action=action, page="2", page_size="2")
    assert list(zip(users, resources)) == [(g["user"], g["resource"]) for g in of_action[2:4]]
    assert f"rows <strong>3–{min(4, len(of_action))}</strong> of <strong>{len(of_action)}</strong>" in html
    assert f"Granted with {rule} in this store ({len(of_action)})" in html
    assert f'{path}?action={action}&amp;page_size=2&amp;page=1"' in html  # previous keeps the filter
    other = next(r for r in statements() if r != rule)
    assert _granted(console, rule, rule=other) == whole  # the page's rule is its path's, never the query's
    for name, value in (("action", "fly"), ("rule", "R99"), ("page_size", "0")):
        refused = console.client.get(path, query_string={name: value})
        assert refused.status_code == 400 and said(refused.get_data(as_text=True)).startswith(f"{name} must be ")


def _exported(api: Api) -> str:
    """The SHA-256 of a whole JSON export, from its manifest."""
    return json.loads(api.client.get("/review/export?format=json").get_data(as_text=True))["manifest"]["sha256"]


def test_the_reviews_partners_exports_and_policy_versions_are_paged(console: Api, demo) -> None:
    opened = [_open_review(console, demo[name]) for name in ("baeckerei", "anwalt", "metzgerei")]
    assert [r["id"] for r in _json(console, "/review/reviews")["reviews"]] == opened[::-1]  # every one, newest first
    assert len(_csv(console, "/review/reviews", page="2", page_size="1")) == 3
    html, reviews = _html_rows(console, "/review/reviews", "reviews", page="2", page_size="2")
    assert reviews == [f"review:{opened[0]}"] and "reviews <strong>3–3</strong> of <strong>3</strong>" in html
    refused = console.client.get("/review/reviews", query_string={"action": "access_account"})
    assert refused.status_code == 400 and said(refused.get_data(as_text=True)).startswith(
        "action cannot filter the reviews list")

    partners = [o.name for o in Organization.select().where(Organization.is_partner)]
    assert len(partners) >= 2
    html, shown = _html_rows(console, "/review/", "partners", 1, page="2", page_size="1")
    assert shown == [sorted(partners)[1]] and f"partners <strong>2–2</strong> of <strong>{len(partners)}</strong>" in html
    assert console.client.get("/review/", query_string={"page": "x"}).status_code == 400

    hashes = [_exported(console)]
    assignment = Assignment.get(Assignment.user == int(_id(demo["carla"])))
    assert console.write("DELETE", f"/v1/assignments/{assignment.id}").status_code == 200  # other rows, other hash
    hashes.append(_exported(console))
    assert hashes[0] != hashes[1]
    html = console.client.get("/review/export", query_string={"page": "2", "page_size": "1"}).get_data(as_text=True)
    assert "exports <strong>2–2</strong> of <strong>2</strong>" in html
    assert hashes[0][:16] in html and hashes[1][:16] not in html  # newest first: page 2 is the first export
    bad = console.client.get("/review/export", query_string={"page_size": "0"})
    assert bad.status_code == 400 and bad.mimetype == "text/html"  # the export's page, not its data: an HTML error

    total = len(_json(console, "/review/policy")["activations"])  # JSON waits for the figures computed in the background
    html = console.client.get("/review/policy", query_string={"page_size": "1"}).get_data(as_text=True)
    assert f"activations <strong>1–1</strong> of <strong>{total}</strong>" in html
    assert console.client.get("/review/policy", query_string={"page": "0"}).status_code == 400
