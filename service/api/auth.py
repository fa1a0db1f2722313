"""API keys: `Authorization: Bearer <key>`, stored as SHA-256 hashes with one scope each.

Scopes: `check` (decisions, lists, subjects, policy) and `write` (facts and
workflows). A key carries exactly one scope and grants nothing else: a write
key cannot ask decisions and a check key cannot write (least privilege).
Missing, unknown or revoked key: 401; known key with the wrong scope: 403.

Valid keys are remembered per store stamp (_ValidKeys): revoking a key bumps the store's revision,
so the first request after a revocation reads a new stamp and looks the key up again.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from flask import g, has_app_context

from service.store import database, fast_sql
from service.store.api_keys import hash_key
from service.store.models import API_KEY_SCOPES, ApiKey, utcnow
from service.store.schema import bump_revision

from .errors import ApiError
from .request_stamp import request_stamp

CHECK = "check"
WRITE = "write"
PUBLIC = "public"          # ops routes outside /v1 (healthz, readyz, metrics, openapi, docs)
SCOPES = API_KEY_SCOPES    # ("check", "write", "review"); review opens only the /review console
KEY_PREFIX = "azk_"


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: int
    name: str
    scope: str


def create_key(name: str, scope: str) -> tuple[ApiKey, str]:
    """Create a key; return its row and the plaintext (shown once, never stored)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey.create(name=name, key_hash=hash_key(plaintext), scope=scope)
    return row, plaintext


def revoke_key(key_id: int) -> bool:
    """Revoke a key by id; False if there is no such active key."""
    return revoke_keys_where((ApiKey.id == key_id) & ApiKey.revoked_at.is_null()) > 0


def revoke_keys_where(condition: object) -> int:
    """Revoke the keys matching a peewee condition; how many. The revision bump is what makes every
    worker of every instance drop its remembered keys before the next request (_ValidKeys)."""
    with database.atomic():
        revoked = ApiKey.update(revoked_at=utcnow()).where(condition).execute()
        if revoked:
            bump_revision()
    return revoked


def _bearer_token(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class _ValidKeys:
    """Callers of keys found valid, for one store stamp (per process). Only valid keys are kept, a new
    stamp forgets them all, and a key is looked up after the request's stamp was read: a caller kept
    under a stamp had a valid key at that stamp, and its revocation moves the stamp on."""

    LIMIT = 1000

    def __init__(self) -> None:
        self.state: tuple[tuple[str, int] | None, dict[str, Caller]] = (None, {})  # replaced whole: thread-safe

    def get(self, stamp: tuple[str, int], digest: str) -> Caller | None:
        kept_stamp, callers = self.state
        return callers.get(digest) if kept_stamp == stamp else None

    def put(self, stamp: tuple[str, int], digest: str, caller: Caller) -> None:
        kept_stamp, callers = self.state
        if kept_stamp != stamp or len(callers) >= self.LIMIT:
            callers = {}
            self.state = (stamp, callers)
        callers[digest] = caller


_valid_keys = _ValidKeys()


def _valid_caller(digest: str) -> Caller | None:
    """The caller whose key has this hash, if the key is valid: remembered if it was valid at the
    request's store stamp, else read with one indexed query."""
    stamp = request_stamp()
    caller = _valid_keys.get(stamp, digest)
    if caller is not None:
        return caller
    row = fast_sql.fetch_one("SELECT id, key_hash, name, scope, revoked_at FROM api_key WHERE key_hash = ?",
                             (digest,))
    # compare_digest keeps the final comparison constant-time; the lookup is by hash, so no key leaks by timing
    if row is None or not hmac.compare_digest(row[1], digest) or row[4] is not None:
        return None
    caller = Caller(row[0], row[2], row[3])
    _valid_keys.put(stamp, digest, caller)
    return caller


def authenticate(scope: str, authorization: str) -> Caller:
    """The caller of this request, whose Authorization header is `authorization` ("" when absent), if its
    key is valid and carries `scope`; raise 401/403 otherwise."""
    token = _bearer_token(authorization)
    if token is None:
        raise ApiError(401, "unauthenticated", "missing API key: send 'Authorization: Bearer <key>'")
    caller = _valid_caller(hash_key(token))
    if caller is None:
        raise ApiError(401, "invalid_key", "unknown or revoked API key")
    if caller.scope != scope:
        raise ApiError(403, "wrong_scope", f"this operation needs a key with scope '{scope}'")
    g.caller = caller
    return caller


def current_key_id() -> int | None:
    caller = g.get("caller")
    return caller.key_id if caller else None


def caller_key_name() -> str | None:
    """The name of the key of the request being served, or None outside a request (the CLI's writes).
    A request has an app context whether Flask or the thin path (fast_path.py) serves it; nothing else
    pushes one, and outside a request `g` holds no caller."""
    if not has_app_context():
        return None
    caller = g.get("caller")
    return caller.name if caller else None


def caller_key_id() -> int | None:
    """The key id of the request being served, or None outside a request (a CLI decision)."""
    return current_key_id() if has_app_context() else None
