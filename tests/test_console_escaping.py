"""The review console escapes what the store holds: names come from callers (any write key), so a name such as
`<script>alert(1)</script>` must reach every page as text, never as markup.

The demo world is loaded with such names on organizations (a partner, a customer), users and products, plus one
organization and one user created through the API, and every page that shows them (home, search, customer,
partner, user) is read as HTML: each name appears escaped and nowhere raw. The rule page shows no stored name,
and a search for the markup itself reflects the query escaped (in the heading and in the search field).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEMO_WORLD
from service.api.auth import create_key
from service.store.world import load_world, read_world_file

from test_api_support import Api, make_api

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'  # would close an attribute if one held it unescaped
RAW_MARKERS = (SCRIPT, "<img src=x", "onerror=alert(2)>")

NAMES = {  # world key -> its new name
    "organizations": {"webwerk": f"{SCRIPT} Webwerk", "baeckerei": f"Bäckerei {SCRIPT}",
                      "anwalt": f"Kanzlei {ATTRIBUTE}"},
    "users": {"anna": f"Anna {SCRIPT}", "carla": f"{SCRIPT} Carla", "bernd": f"Bernd {ATTRIBUTE}"},
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
    answer = api.client.get(path, query_string=query or None)
    assert answer.status_code == 200 and answer.mimetype == "text/html", (path, answer.status_code)
    return answer.get_data(as_text=True)


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
