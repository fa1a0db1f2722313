"""How an API key is kept in the store: never its text, only its SHA-256 hash (table api_key).

Both the JSON API (service/api/auth.py) and the /review console's sign-in (service/review/session.py)
look keys up by this hash; it lives here, below both, so that neither imports the other.
"""
from __future__ import annotations

import hashlib


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
