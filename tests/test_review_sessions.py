"""Console sessions that end, and console input that cannot break a page (issue 20 item 4), on both backends.

A copied cookie stops working after sign-out (on another worker too); no request extends a session past its
lifetime from sign-in; cross-site sign-in/out posts are refused; a `next` with CR/LF is refused before any
cookie; unknown query parameters never reach url_for; CSV filenames stay ASCII with RFC 6266 `filename*`;
the formula guard sees through spaces and fullwidth signs; search refuses control characters and reads
only ASCII digits as ids.
"""
from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from pathlib import Path

from service.api import create_app
from service.api.auth import create_key

from test_api_support import Api, make_api

import pytest


@pytest.fixture
def console(store_url: str, demo, tmp_path: Path) -> Api:
    return make_api(store_url, tmp_path)


def _id(ref: str) -> str:
    return ref.split(":")[1]


def _sign_in(client, **headers: str):
    _, key = create_key("reviewer", "review")
    return client.post("/review/sign-in", data={"key": key}, headers=headers)


def test_a_copied_cookie_stops_working_after_sign_out_on_every_worker(console: Api, store_url: str, demo) -> None:
    assert _sign_in(console.client).status_code == 302
    page = f"/review/users/{_id(demo['anna'])}"
    cookie = console.client.get_cookie("authz_review", path="/review").value
    other = create_app({"DATABASE_URL": store_url, "DECISION_LOG": "off"}).test_client()  # another worker
    other.set_cookie("authz_review", cookie, path="/review")
    assert other.get(page).status_code == 200
    assert console.client.post("/review/sign-out").status_code == 302
    assert other.get(page).status_code == 302  # the copy is refused by the server, not only cleared


def test_no_request_extends_a_session_past_its_lifetime(store_url: str, demo, tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": store_url, "DECISION_LOG": "off",
                      "REVIEW_SESSION_LIFETIME": timedelta(seconds=2)})
    client = app.test_client()
    assert _sign_in(client).status_code == 302
    page = f"/review/users/{_id(demo['anna'])}"
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        answer = client.get(page)
        assert answer.status_code == 200 and "Set-Cookie" not in answer.headers  # nothing re-issued
        time.sleep(0.2)
    time.sleep(1.0)
    assert client.get(page).status_code == 302


def test_cross_site_sign_in_and_sign_out_are_refused(console: Api, demo) -> None:
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}):
        answer = _sign_in(console.client, **headers)
        assert answer.status_code == 403 and "Set-Cookie" not in answer.headers, headers
    assert _sign_in(console.client, Origin="http://localhost", **{"Sec-Fetch-Site": "same-origin"}).status_code == 302
    page = f"/review/users/{_id(demo['anna'])}"
    assert console.client.post("/review/sign-out", headers={"Origin": "https://evil.example"}).status_code == 403
    assert console.client.get(page).status_code == 200  # still signed in


def test_a_next_with_control_characters_is_refused_before_any_cookie(console: Api) -> None:
    _, key = create_key("reviewer", "review")
    for target in ("/review/\r\nSet-Cookie: x=1", "/review/\nx", "/review/\x00"):
        answer = console.client.post("/review/sign-in", data={"key": key, "next": target})
        assert answer.status_code == 400 and "Set-Cookie" not in answer.headers, repr(target)


def test_unknown_query_parameters_never_reach_url_for(console: Api, demo) -> None:
    _sign_in(console.client)
    for path in (f"/review/customers/{_id(demo['baeckerei'])}?org_id=1",
                 f"/review/users/{_id(demo['anna'])}?user_id=2", f"/review/partners/{_id(demo['webwerk'])}?org_id=3",
                 "/review/search?q=anna&_method=POST", "/review/search?q=anna&_scheme=x",
                 "/review/search?q=anna&_external=1&_anchor=x", "/review/rules/R12?rule=R1"):
        answer = console.client.get(path)
        assert answer.status_code == 200, (path, answer.status_code)
        html = answer.get_data(as_text=True)
        assert "_method" not in html and "_scheme" not in html and "org_id" not in html, path
    assert "q=anna&amp;format=json" in console.client.get("/review/search?q=anna&x=1").get_data(as_text=True)


@pytest.mark.parametrize("name", ["Ελληνικά", "Привет", "Œuvre", 'quote" and \\ back'])
def test_csv_downloads_of_any_name_get_an_ascii_filename(console: Api, name: str) -> None:
    _sign_in(console.client)
    created = console.write("POST", "/v1/organizations", {"name": name, "partner": True}).json["id"]
    for page in ("customers", "partners"):
        answer = console.client.get(f"/review/{page}/{_id(created)}?format=csv")
        assert answer.status_code == 200, (page, answer.status_code)
        disposition = answer.headers["Content-Disposition"]
        assert disposition.isascii() and disposition.startswith('attachment; filename="')
        if not name.isascii():
            assert "filename*=UTF-8''" in disposition
        fallback = disposition.split('filename="')[1].split('"')[0]
        assert "--" not in fallback and fallback.endswith(".csv"), fallback  # no run of replaced letters


def test_a_csv_filename_keeps_what_ascii_can_say_of_a_name(console: Api) -> None:
    _sign_in(console.client)
    created = console.write("POST", "/v1/organizations", {"name": "Bäckerei Müller", "partner": False}).json["id"]
    disposition = console.client.get(f"/review/customers/{_id(created)}?format=csv").headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="customer-backerei-muller-access.csv"'), disposition


def test_the_formula_guard_sees_through_spaces_and_fullwidth_signs(console: Api) -> None:
    _sign_in(console.client)
    for name in (" =1+1", "＝1+1", "\t=1", "  +SUM(A1)", "－2", "＠cmd", "\u3000=1"):
        console.write("POST", "/v1/organizations", {"name": f"{name} zz-guard", "partner": False})
    found = console.client.get("/review/search?format=csv&q=zz-guard").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(found)))
    assert rows and all(row["name"].startswith("'") for row in rows), [row["name"] for row in rows]


def test_search_refuses_control_characters_and_reads_only_ascii_digits(console: Api, demo) -> None:
    _sign_in(console.client)
    for query in ("\x00", "a\x00b", "an\nna"):
        answer = console.client.get("/review/search", query_string={"q": query, "format": "json"})
        assert answer.status_code == 400, (repr(query), answer.status_code)
    anna = _id(demo["anna"])
    fullwidth = "".join(chr(ord(d) - ord("0") + 0xFF10) for d in anna)
    for query in (fullwidth, f"user:{fullwidth}"):
        answer = console.client.get("/review/search", query_string={"q": query, "format": "json"})
        assert answer.status_code == 200 and answer.json["results"] == [], query
    assert demo["anna"] in {r["ref"] for r in console.client.get(
        "/review/search", query_string={"q": anna, "format": "json"}).json["results"]}
