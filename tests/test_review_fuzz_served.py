"""A fuzz of every /review route's path and query against the SERVED app (`authz serve`'s gunicorn, a real
socket) with a signed-in session, on each backend: never a 5xx; every answer the app gives is a page
(HTML), a JSON, a CSV or the stylesheet; the session is still signed in at the end.

The query string is written by hand, so what no client library would send arrives as sent: repeated
parameters, percent-escapes of control characters and of bytes that are not UTF-8 (%00, %0D%0A, %FF,
%C0%80), fullwidth digits, ids past int32 and past int64, values of a few KiB, url_for's reserved names.
Seeded and bounded: EXAMPLES per route, derandomized.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from live_servers import instances
from service.api.auth import create_key

EXAMPLES = 30  # per route
MOMENT = ["at", "at_revision"]
# each route with the parameters it reads (a generated query mostly uses these, so the fuzz reaches past
# the refusals into the page code), then url_for's reserved names and the ids url_for would take
ROUTES = {
    "/review/": [], "/review/search": ["q", "page", "format", *MOMENT],
    "/review/customers/{}": ["format", "table", *MOMENT], "/review/partners/{}": ["format", "table", *MOMENT],
    "/review/users/{}": ["format", "table", *MOMENT], "/review/rules/{}": ["format", "page", "action", "rule",
                                                                           "resource", *MOMENT],
    "/review/why-not": ["actor", "action", "resource", "format", *MOMENT],
    "/review/export": ["format", *MOMENT], "/review/export/manifests/{}": ["format"],
    "/review/style.css": [], "/review/sign-in": ["next"],
}
RESERVED = ["_method", "_scheme", "_external", "_anchor", "org_id", "user_id", "rule", "min_revision", "key"]
# already percent-encoded: sent exactly so (bytes no str can hold, control characters, traversal)
RAW = ["%00", "%0D%0A", "%1B", "%7F", "%C2%85", "%FF", "%C0%80", "%E2%80%AE", "%EF%BB%BF", "..%2F..%2F", "%25",
       "%", "%zz", "+", "%20", "%2F%2Fevil.example", "https%3A%2F%2Fevil.example%2F"]
# ids at and past the store's bounds: PostgreSQL's integer columns refused those past int32 with a 500
BOUNDARY_IDS = [str(n) for n in (0, 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 10**18, 10**20)]
NUMBERS = st.one_of(st.sampled_from(BOUNDARY_IDS), st.integers(min_value=-1, max_value=10**20).map(str),
                    st.sampled_from(["１２", "1e3", "0x1", "01", "-0", " 1"]))
WORDS = st.sampled_from(["csv", "json", "html", "access", "matrix", "R12", "R0", "user:1", "user:2147483648",
                         "organization:1", "organization:9223372036854775808", "read_invoices",
                         "2026-01-01T00:00:00Z", "/review/users/1", "/review/\r\nSet-Cookie:x=1", "-1", "１"])


def _encoded(text: str) -> str:
    return quote(text, safe="")


HUGE = st.integers(min_value=1, max_value=3000).map(lambda n: "x" * n)  # gunicorn's request line ends at 4 KiB
ENCODED = st.one_of(NUMBERS.map(_encoded), WORDS.map(_encoded), st.text(max_size=24).map(_encoded),
                    st.sampled_from(RAW), HUGE)
SEGMENTS = st.one_of(st.integers(min_value=1, max_value=20).map(str), NUMBERS.map(_encoded), ENCODED)


@st.composite
def queries(draw, own: list[str]) -> str:
    """A query string for a route reading `own`: its parameters mostly, repeated ones sometimes."""
    names = st.one_of(*([st.sampled_from(own)] * 3 if own else []), st.sampled_from(RESERVED),
                      st.sampled_from(RAW), st.text(min_size=1, max_size=8).map(_encoded))
    pairs = draw(st.lists(st.tuples(names, ENCODED), max_size=4))
    if pairs and draw(st.integers(0, 3)) == 0:
        pairs.append((pairs[0][0], draw(ENCODED)))  # the same parameter twice
    return "&".join(f"{name}={value}" for name, value in pairs)


EDGE_VALUES = ["%00", "%0D%0A", "%FF", "%E2%80%AE", "2147483648", "user%3A2147483648", "%EF%BC%91", "x" * 3000]


def edges(route: str, own: list[str]) -> list[tuple[str, str]]:
    """(segment, query) pairs every run sends besides the generated ones: each bound and hostile byte in
    the path and in each parameter, and each parameter twice -- a few derandomized examples per route
    would otherwise rarely draw exactly these."""
    pairs = [(segment, "") for segment in ([*BOUNDARY_IDS, "%00", "%FF", "１２"] if "{}" in route else [])]
    for name in [*own, "_method", "org_id", "user_id"]:
        pairs += [("1", f"{name}={value}") for value in EDGE_VALUES]
        pairs.append(("1", f"{name}=1&{name}=2"))
    return pairs


@pytest.fixture
def served_console(store_url: str, demo):
    _, key = create_key("fuzzer", "review")
    with instances(store_url, 1) as [base]:
        session = requests.Session()
        signed_in = session.post(f"{base}/review/sign-in", data={"key": key}, allow_redirects=False, timeout=30)
        assert signed_in.status_code == 302 and session.cookies, signed_in.text
        yield base, session


def test_no_served_review_route_answers_5xx_to_any_path_or_query(served_console) -> None:
    base, session = served_console
    seen = {"requests": 0, "2xx": 0}
    def send(route: str, segment: str, query: str) -> None:
        path = route.format(segment or "1") if "{}" in route else route
        url = f"{base}{path}" + (f"?{query}" if query else "")
        answer = session.get(url, allow_redirects=False, timeout=30)
        seen["requests"] += 1
        seen["2xx"] += answer.status_code < 300
        assert answer.status_code < 500, (url, answer.status_code, answer.text[:300])
        kind = answer.headers.get("Content-Type", "").split(";")[0]
        assert kind in ("text/html", "application/json", "text/csv", "text/css"), (url, kind)

    for route, own in ROUTES.items():
        for segment, query in edges(route, own):
            send(route, segment, query)

        @given(segment=SEGMENTS, query=queries(own))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(segment: str, query: str) -> None:
            send(route, segment, query)

        run()
    print(f"served /review fuzz: {seen['requests']} requests, {seen['2xx']} of them 2xx")
    assert seen["requests"] >= EXAMPLES * len(ROUTES)
    assert seen["2xx"] >= seen["requests"] // 6, "too few pages rendered: is the session signed in?"
    assert session.get(f"{base}/review/", allow_redirects=False, timeout=30).status_code == 200
