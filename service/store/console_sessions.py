"""Server-side records of /review sessions (table console_session): opened at sign-in, ended at sign-out.

The browser's cookie carries a random token; the store keeps only its SHA-256 hash, the key it was
opened with and an expiry fixed at sign-in. Every worker reads the same rows, so signing out on one
ends the session on all of them, and a copied cookie is worth nothing once its row is ended or expired.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from .db import database
from .fast_sql import fetch_all
from .models import ConsoleSession, utcnow

TOKEN_BYTES = 32


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(key_id: int, lifetime: dt.timedelta) -> str:
    """A new session for key_id that ends lifetime from now, whatever happens meanwhile; its token."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    with database.atomic():
        ConsoleSession.create(token_hash=_digest(token), key_id=key_id, signed_in_at=now, expires_at=now + lifetime)
    return token


def session_key(token: str) -> int | None:
    """The key id of a session that is neither ended nor expired; None for any other token."""
    found = fetch_all("SELECT key_id, expires_at, ended_at FROM console_session WHERE token_hash = ?",
                      (_digest(token),))
    if not found or found[0][2] is not None or _as_time(found[0][1]) <= utcnow():
        return None
    return int(found[0][0])


def end_session(token: str) -> None:
    """Sign-out: the session's row is ended (kept, with when, for the record); an unknown token is a no-op."""
    with database.atomic():
        ConsoleSession.update(ended_at=utcnow()).where(
            (ConsoleSession.token_hash == _digest(token)) & ConsoleSession.ended_at.is_null()).execute()


def _as_time(value: object) -> dt.datetime:
    """A DATETIME column as read by the driver: SQLite returns text, PostgreSQL a datetime."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))
