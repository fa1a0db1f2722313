"""The store's revision stamp, read once per request.

The key check and a present decision both need the stamp (the key cache in auth.py and the
decision cache are keyed by it); one read serves both, so a cached check costs one statement.
A request sees the store as of that read, which follows every write acknowledged before the
request arrived: a change still takes effect on the very next request.
"""
from __future__ import annotations

from flask import g

from service.store.schema import revision_stamp


def request_stamp() -> tuple[str, int]:
    """(epoch, revision) of the store, read on first use in this request."""
    stamp = g.get("store_stamp")
    if stamp is None:
        stamp = g.store_stamp = revision_stamp()
    return stamp
