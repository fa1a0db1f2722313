"""The review console escapes what the store holds: names come from callers (any write key), so a name such as
`<script>alert(1)</script>` must reach every page as text, never as markup.

The demo world is loaded with such names on organizations (a partner, a customer), users and products, plus one
organization and one user created through the API, and every page that shows them (home, search, customer,
partner, user) is read as HTML: each name appears escaped and nowhere raw. The rule page shows no stored name,
and a search for the markup itself reflects the query escaped (in the heading and in the search field).
The newer pages too (changes of a customer, partner and user; the policy versions and one activation; the
reviews and one review), after a write by a key, an activation by someone and a review by a reviewer whose
names are as hostile: every one escaped in HTML, and their CSV cells keep the formula guard.
"""
from __future__ import annotations

from pathlib import Path

import csv
import io

import pytest
from markupsafe import escape

from conftest import DEMO_WORLD
from policy_edits import ONE_TRUTH_EDITS, apply_steps
from service.analysis.candidates import activate, load_candidate
from service.review.render import looks_like_formula
from service.store.models import Assignment
from service.api.auth import create_key
from service.store.world import load_world, read_world_file

from test_api_support import Api, make_api, page_as_shown

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'  # would close an attribute if one held it unescaped
RAW_MARKERS = (SCRIPT, "<img src=x", "onerror=alert(2)>")
# a name a spreadsheet would run (a CSV cell beginning with "=") holding quotes, "&" and markup
FORMULA = '=HYPERLINK("https://evil.example") & "Dirk" <script>alert(4)</script>'

NAMES = {  # world key -> its new name
    "organizations": {"webwerk": f"{SCRIPT} Webwerk", "baeckerei": f"Bäckerei {SCRIPT}",
                      "anwalt": f"Kanzlei {ATTRIBUTE}"},
    "users": {"anna": f"Anna {SCRIPT}", "carla": f"{SCRIPT} Carla", "bernd": f"Bernd {ATTRIBUTE}",
              "dirk": FORMULA},
    "products": {"baeckerei_web": f"{SCRIPT}.example", "anwalt_web": f"{ATTRIBUTE}.example"},
}


@pytest.fixture
def console(store_url: str, tmp_path: Path) -> tuple[Api, dict[str, str]]:
    world = read_world_file(DEMO_WORLD)
    for section, renamed in NAMES.items():
        for row in world[section]:
            row["name"] = renamed.get(row["key"], row.get("name"))
    refs = load_world(world)
    api = make_api(store_url, tmp_path)
    _, key = create_key("reviewer", "review")
    assert api.client.post("/review/sign-in", data={"key": key}).status_code == 302
    created = api.write("POST", "/v1/organizations", {"name": f"API {SCRIPT}", "partner": True})
    assert created.status_code == 201, created.json
    person = api.write("POST", "/v1/users", {"email": "mallory@example.org", "name": f"Mallory {SCRIPT}"})
    assert person.status_code == 201, person.json
    refs.update(api_org=created.json["id"], api_user=person.json["id"])
    return api, refs


def _id(ref: str) -> str:
    return ref.split(":")[1]


def _pages(refs: dict[str, str]) -> dict[str, str]:
    return {
        "home": "/review/",
        "search by name": "/review/search?q=script",
        "customer baeckerei": f"/review/customers/{_id(refs['baeckerei'])}",
        "customer anwalt": f"/review/customers/{_id(refs['anwalt'])}",
        "customer created through the API": f"/review/customers/{_id(refs['api_org'])}",
        "partner webwerk": f"/review/partners/{_id(refs['webwerk'])}",
        "user carla": f"/review/users/{_id(refs['carla'])}",
        "user anna": f"/review/users/{_id(refs['anna'])}",
        "user created through the API": f"/review/users/{_id(refs['api_user'])}",
    }


def _html(api: Api, path: str, **query: str) -> str:
    return page_as_shown(api.client, path, query)


def test_every_page_shows_stored_names_escaped_and_never_raw(console) -> None:
    api, refs = console
    wrong = []
    for name, path in _pages(refs).items():
        html = _html(api, path)
        raw = [marker for marker in RAW_MARKERS if marker in html]
        if raw:
            wrong.append(f"{name} ({path}): raw {raw}")
        if ESCAPED not in html:
            wrong.append(f"{name} ({path}): the stored name is not shown escaped")
    assert not wrong, "\n".join(wrong)


def test_names_that_would_break_out_of_an_attribute_are_escaped(console) -> None:
    api, refs = console
    for path in (f"/review/customers/{_id(refs['anwalt'])}", f"/review/users/{_id(refs['bernd'])}",
                 f"/review/users/{_id(refs['anna'])}", f"/review/partners/{_id(refs['webwerk'])}"):
        html = _html(api, path)
        assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html and "<img" not in html, path


def test_the_rule_page_and_a_reflected_query_are_escaped(console) -> None:
    api, _refs = console
    rule = _html(api, "/review/rules/R12")
    assert not [m for m in RAW_MARKERS if m in rule]
    found = _html(api, "/review/search", q=SCRIPT)
    assert SCRIPT not in found and ESCAPED in found
    field = _html(api, "/review/search", q=ATTRIBUTE)
    assert not [m for m in RAW_MARKERS if m in field]
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(2)&gt;"' in field  # the search field holds it as text


def test_json_and_csv_are_never_served_as_html(console) -> None:
    api, refs = console
    for path in _pages(refs).values():
        if path == "/review/":
            continue
        for fmt, mimetype in (("json", "application/json"), ("csv", "text/csv")):
            answer = api.client.get(f"{path}{'&' if '?' in path else '?'}format={fmt}")
            assert answer.status_code == 200 and answer.mimetype == mimetype, (path, fmt, answer.mimetype)
            assert answer.headers["X-Content-Type-Options"] == "nosniff"


HOSTILE_EMAIL = '"<script>alert(3)</script>"@example.org'


def test_every_answer_under_review_carries_the_security_headers(console) -> None:
    api, refs = console
    paths = list(_pages(refs).values()) + ["/review/rules/R12", "/review/customers/999999", "/review/no-such-page",
                                           "/review/search?q=x&format=xml"]
    for path in paths:
        for suffix in ("", "&format=json" if "?" in path else "?format=json",
                       "&format=csv" if "?" in path else "?format=csv"):
            answer = api.client.get(path + suffix)
            policy = answer.headers.get("Content-Security-Policy", "")
            assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, (path + suffix)
            assert answer.headers.get("Cache-Control") == "no-store", path + suffix
    signed_out = api.app.test_client().get("/review/")  # the redirect to sign-in, and the form itself
    assert signed_out.status_code == 302 and signed_out.headers["Cache-Control"] == "no-store"
    form = api.app.test_client().get("/review/sign-in")
    assert "frame-ancestors 'none'" in form.headers["Content-Security-Policy"]


def test_a_hostile_e_mail_is_escaped_in_every_format(console) -> None:
    api, _refs = console
    person = api.write("POST", "/v1/users", {"email": HOSTILE_EMAIL, "name": f"=cmd {SCRIPT}"})
    if person.status_code != 201:
        pytest.skip(f"the API refuses such an e-mail ({person.status_code}): nothing to escape")
    path = f"/review/users/{_id(person.json['id'])}"
    html = _html(api, path)
    assert "<script>alert(3)" not in html and "&lt;script&gt;alert(3)" in html
    found = _html(api, "/review/search", q="alert(3)")
    assert "<script>alert(3)" not in found
    rows = api.client.get("/review/search?format=csv&q=alert(3)").get_data(as_text=True)
    assert "'=cmd" in rows  # the formula guard holds in the same export
    assert api.client.get(f"{path}?format=json").json["email"] == HOSTILE_EMAIL  # JSON keeps the value as data


WRITER = '=ops "writer" & <script>alert(5)</script>'  # the name of the key that writes (a change's cause)
ACTIVATOR = '+policy "owner" & <script>alert(6)</script>'  # who activates a version
REVIEWER = '@reviewer "q" & <script>alert(7)</script>'  # who opens and decides a review
NOTE = '-1 "note" & <script>alert(8)</script>'


def _revision(api: Api, refs: dict[str, str]) -> int:
    return api.post("/v1/check", {"actor": refs["alma"], "action": "access_account",
                                  "resource": refs["anwalt"]}).json["revision"]


@pytest.fixture
def changed(console, tmp_path: Path) -> tuple[Api, dict[str, str], dict[str, str]]:
    """Between two revisions: carla's assignment to anwalt removed and dirk assigned there (by WRITER's key),
    then R13 loosened (activated by ACTIVATOR); a review of anwalt opened by REVIEWER, one row noted."""
    api, refs = console
    before = _revision(api, refs)
    _, writer_key = create_key(WRITER, "write")
    written = {"Authorization": f"Bearer {writer_key}"}
    carla = Assignment.get((Assignment.user == int(_id(refs["carla"]))) & (Assignment.customer == int(_id(refs["anwalt"]))))
    assert api.client.delete(f"/v1/assignments/{carla.id}", headers=written).status_code == 200
    assigned = api.client.post("/v1/assignments", headers=written, json={
        "partner": refs["webwerk"], "user": refs["dirk"], "customer": refs["anwalt"]})
    assert assigned.status_code == 201, assigned.json
    files, _engine = load_candidate(apply_steps(tmp_path / "r13", ONE_TRUTH_EDITS["r13_all_collaborators"].steps))
    stored, _recorded = activate(files, ACTIVATOR, wait=0)
    after = _revision(api, refs)
    _, review_key = create_key(REVIEWER, "review")
    assert api.client.post("/review/sign-in", data={"key": review_key}).status_code == 302
    opened = api.client.post("/review/reviews", data={"kind": "customer", "organization": _id(refs["anwalt"])},
                             headers={"Accept": "application/json"})
    assert opened.status_code == 201, opened.json
    review = opened.json["review"]["id"]
    noted = api.client.post(f"/review/reviews/{review}/rows/1", data={"decision": "revoke", "note": NOTE},
                            headers={"Accept": "application/json"})
    assert noted.status_code == 200, noted.json
    moments = f"from_revision={before}&to_revision={after}"
    return api, refs, {
        "changes of customer anwalt": f"/review/customers/{_id(refs['anwalt'])}/changes?{moments}",
        "changes of partner webwerk": f"/review/partners/{_id(refs['webwerk'])}/changes?{moments}",
        "changes of user dirk": f"/review/users/{_id(refs['dirk'])}/changes?{moments}",
        "policy versions": "/review/policy",
        "the activation": f"/review/policy/{stored.version}",
        "reviews": "/review/reviews",
        "one review": f"/review/reviews/{review}",
    }


# what each newer page must show escaped: (page, [hostile values it shows])
SHOWN = {"changes of customer anwalt": [FORMULA, WRITER, f"Kanzlei {ATTRIBUTE}"],
         "changes of partner webwerk": [FORMULA, WRITER, ACTIVATOR, f"{SCRIPT} Webwerk"],
         "changes of user dirk": [FORMULA, WRITER, ACTIVATOR],
         "policy versions": [ACTIVATOR],
         "the activation": [ACTIVATOR, FORMULA, f"{SCRIPT} Carla", f"Bäckerei {SCRIPT}"],
         "reviews": [REVIEWER, f"Kanzlei {ATTRIBUTE}"],
         "one review": [REVIEWER, NOTE, FORMULA, f"Kanzlei {ATTRIBUTE}"]}


def test_the_newer_pages_show_hostile_names_escaped_and_never_raw(changed) -> None:
    api, _refs, paths = changed
    wrong = []
    for name, path in paths.items():
        html = _html(api, path)
        if "<script" in html.lower() or "<img" in html.lower():
            wrong.append(f"{name} ({path}): raw markup")
        for value in SHOWN[name]:
            if str(escape(value)) not in html:
                wrong.append(f"{name} ({path}): {value!r} not shown escaped")
            if value in html:
                wrong.append(f"{name} ({path}): {value!r} raw")
    assert not wrong, "\n".join(wrong)


def test_the_newer_pages_csv_cells_keep_the_formula_guard(changed) -> None:
    api, _refs, paths = changed
    guarded = set()
    for name, path in paths.items():
        answer = api.client.get(f"{path}{'&' if '?' in path else '?'}format=csv")
        assert answer.status_code == 200 and answer.mimetype == "text/csv", (name, answer.status_code)
        cells = [cell for row in csv.reader(io.StringIO(answer.get_data(as_text=True))) for cell in row]
        assert not [cell for cell in cells if looks_like_formula(cell)], name  # nothing a spreadsheet would run
        guarded |= {(name, value) for value in (FORMULA, WRITER, ACTIVATOR, REVIEWER, NOTE)
                    for cell in cells if cell.startswith("'" + value)}
    assert {("changes of customer anwalt", FORMULA), ("changes of customer anwalt", WRITER),
            ("changes of user dirk", FORMULA), ("changes of partner webwerk", FORMULA),
            ("policy versions", ACTIVATOR), ("the activation", FORMULA), ("reviews", REVIEWER),
            ("one review", FORMULA), ("one review", NOTE), ("one review", REVIEWER)} <= guarded
    review = api.client.get(f"{paths['one review']}?format=json").json
    assert review["rows"][0]["note"] == NOTE and review["review"]["opened_by"] == REVIEWER  # JSON keeps the values
