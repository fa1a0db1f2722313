"""Refusing cross-site form posts to sign-in and sign-out (login CSRF), from the headers browsers send.

A browser names where a POST comes from in `Sec-Fetch-Site` (modern browsers) and `Origin`. A post
whose `Sec-Fetch-Site` is anything but `same-origin` or `none` (typed by the user), or, without that
header, whose `Origin` is `null` or another host than the one addressed, is refused before anything
is read or set. A
request with neither header (curl, an old browser) is let through: it cannot carry another site's
intent, and the session cookie is SameSite=Strict besides. Hosts are compared without the scheme, so
a TLS-terminating proxy in front (https outside, http inside) does not refuse its own pages.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Request

SAME_SITE_FETCH = ("same-origin", "none")


def cross_site(request: Request) -> str:
    """Why the request comes from another site ("" when it does not)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        # the browser's own verdict, when it gives one: the console's Referrer-Policy no-referrer makes
        # Chromium send `Origin: null` on its own same-origin form posts, so Origin is read only without it
        ok = fetch_site.strip().lower() in SAME_SITE_FETCH
        return "" if ok else f"Sec-Fetch-Site is {fetch_site!r}"
    origin = request.headers.get("Origin")
    if origin is None:
        return ""
    try:
        host = urlsplit(origin.strip()).netloc.lower()
    except ValueError:
        host = ""
    if not host or host != request.host.lower():
        return f"Origin {origin!r} is not this console"
    return ""
