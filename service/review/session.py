"""Signing in to /review: a `review` key, once, through a form; then a session recorded in the store.

The cookie is Flask's signed session (HttpOnly, SameSite=Strict, path /review,
Secure when AUTHZ_REVIEW_SECURE_COOKIE=1) holding only a random session token; the
store keeps the token's hash, the key and an expiry fixed at sign-in
(service/store/console_sessions.py). No request extends a session: the cookie is
written once, at sign-in, and the server refuses it after SESSION_LIFETIME or once
signed out, on every worker. The key is looked up again on every request, so revoking
it closes its sessions at once. The signing secret is AUTHZ_REVIEW_SECRET when set,
otherwise one generated on first use and kept in the store (table console_secret),
so every worker shares it. Only `review` keys open the console.
"""
from __future__ import annotations

import hmac
import os
import secrets
from datetime import timedelta

from flask import Flask, Request, current_app, session
from flask.sessions import SecureCookieSessionInterface

from service.store import console_sessions
from service.store.api_keys import hash_key
from service.store.fast_sql import fetch_all as _rows
from service.store.models import ConsoleSecret
from service.store.records import records_database

REVIEW = "review"
MIN_SECRET_LENGTH = 32
SESSION_LIFETIME = timedelta(hours=8)  # absolute, from sign-in


class StoreSecretSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the secret read from the store on first use (not at import)."""

    def open_session(self, app: Flask, request: Request):  # type: ignore[no-untyped-def]
        if not request.path.startswith("/review"):
            return None  # the JSON API has no sessions (Flask then uses a null session)
        return super().open_session(app, request)

    def get_signing_serializer(self, app: Flask):  # type: ignore[no-untyped-def]
        if not app.secret_key:
            app.secret_key = console_secret()
        return super().get_signing_serializer(app)


def configure_sessions(app: Flask) -> None:
    # REVIEW_SESSION_LIFETIME: create_app's config may shorten it (tests); it also bounds the cookie's signature
    lifetime = app.config.setdefault("REVIEW_SESSION_LIFETIME", SESSION_LIFETIME)
    app.session_interface = StoreSecretSessions()
    app.config.update(
        SESSION_COOKIE_NAME="authz_review",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/review",
        SESSION_COOKIE_SECURE=os.environ.get("AUTHZ_REVIEW_SECURE_COOKIE", "0") == "1",
        PERMANENT_SESSION_LIFETIME=lifetime,
        SESSION_REFRESH_EACH_REQUEST=False,  # the cookie is set at sign-in only: no request extends it
    )


def console_secret() -> str:
    """The session-signing secret: AUTHZ_REVIEW_SECRET, or the store's (created once)."""
    configured = os.environ.get("AUTHZ_REVIEW_SECRET", "")
    if configured:
        if len(configured) < MIN_SECRET_LENGTH:
            raise RuntimeError(f"AUTHZ_REVIEW_SECRET must be at least {MIN_SECRET_LENGTH} characters")
        return configured
    # written where records go (the primary, when the store is a standby), and read back from there
    target = records_database()
    with target.atomic():
        ConsoleSecret.insert(id=1, value=secrets.token_hex(32)).on_conflict_ignore().execute(target)
    return ConsoleSecret.select().where(ConsoleSecret.id == 1).get(target).value


def review_key(plaintext: str) -> tuple[int | None, str]:
    """(key id, "") for an active review key; (None, why not) otherwise."""
    digest = hash_key(plaintext.strip())
    found = _rows("SELECT id, key_hash, scope, revoked_at FROM api_key WHERE key_hash = ?", (digest,))
    if not found or not hmac.compare_digest(found[0][1], digest) or found[0][3] is not None:
        return None, "unknown or revoked key"
    if found[0][2] != REVIEW:
        return None, f"a {found[0][2]} key does not open the review console; use a key with scope review"
    return found[0][0], ""


def sign_in(key_id: int) -> None:
    """A new server-side session (any earlier one of this browser is ended first)."""
    sign_out()
    session.permanent = True
    session["sid"] = console_sessions.open_session(key_id, _lifetime())


def sign_out() -> None:
    """Ends the session on the server (a copy of the cookie stops working too) and clears the cookie."""
    token = session.get("sid")
    if isinstance(token, str):
        console_sessions.end_session(token)
    session.clear()


def _lifetime() -> timedelta:
    return current_app.config["REVIEW_SESSION_LIFETIME"]


def signed_in_key() -> tuple[int, str] | None:
    """(id, name) of the session's key while the session is open and the key an active review key."""
    token = session.get("sid")
    if not isinstance(token, str):
        return None
    key_id = console_sessions.session_key(token)
    if key_id is None:
        session.clear()  # ended or expired: the browser drops the cookie too
        return None
    found = _rows("SELECT id, name, scope, revoked_at FROM api_key WHERE id = ?", (key_id,))
    if not found or found[0][2] != REVIEW or found[0][3] is not None:
        session.clear()
        return None
    return found[0][0], found[0][1]
