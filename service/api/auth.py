"""API keys: `Authorization: Bearer <key>`, stored as SHA-256 hashes with one scope each.

Scopes: `check` (decisions, lists, subjects, policy) and `write` (facts and
workflows). A key carries exactly one scope and grants nothing else: a write
key cannot ask decisions and a check key cannot write (least privilege).
Missing, unknown or revoked key: 401; known key with the wrong scope: 403.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import g, has_request_context, request

from service.store import fast_sql
from service.store.models import API_KEY_SCOPES, ApiKey, utcnow

from .errors import ApiError

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


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(name: str, scope: str) -> tuple[ApiKey, str]:
    """Create a key; return its row and the plaintext (shown once, never stored)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey.create(name=name, key_hash=hash_key(plaintext), scope=scope)
    return row, plaintext


def revoke_key(key_id: int) -> bool:
    """Revoke a key by id; False if there is no such active key."""
    return ApiKey.update(revoked_at=utcnow()).where(
        (ApiKey.id == key_id) & ApiKey.revoked_at.is_null()).execute() > 0


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _key_row(digest: str) -> tuple | None:
    """(id, key_hash, name, scope, revoked_at) of the key with this hash; one indexed query,
    read fresh on every request so a revocation takes effect at once."""
    return fast_sql.fetch_one("SELECT id, key_hash, name, scope, revoked_at FROM api_key WHERE key_hash = ?",
                              (digest,))


def authenticate(scope: str) -> Caller:
    """The caller of this request if its key is valid and carries `scope`; raise 401/403 otherwise."""
    token = _bearer_token()
    if token is None:
        raise ApiError(401, "unauthenticated", "missing API key: send 'Authorization: Bearer <key>'")
    digest = hash_key(token)
    row = _key_row(digest)
    # compare_digest keeps the final comparison constant-time; the lookup is by hash, so no key leaks by timing
    if row is None or not hmac.compare_digest(row[1], digest) or row[4] is not None:
        raise ApiError(401, "invalid_key", "unknown or revoked API key")
    if row[3] != scope:
        raise ApiError(403, "wrong_scope", f"this operation needs a key with scope '{scope}'")
    caller = Caller(row[0], row[2], row[3])
    g.caller = caller
    return caller


def current_key_id() -> int | None:
    caller = g.get("caller")
    return caller.key_id if caller else None


def caller_key_id() -> int | None:
    """The key id of the request being served, or None outside a request (a CLI decision)."""
    return current_key_id() if has_request_context() else None
