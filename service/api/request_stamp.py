"""The store's revision stamp, read once per request.

The key check and a present decision both need the stamp (the key cache in auth.py and the
decision cache are keyed by it); one read serves both, so a cached check costs one statement.
A request sees the store as of that read, which follows every write acknowledged before the
request arrived: a change still takes effect on the very next request.
"""
from __future__ import annotations

from flask import g

from service.store.db import require_store_file
from service.store.schema import revision_stamp


def request_stamp() -> tuple[str, int]:
    """(epoch, revision) of the store, read on first use in this request. A SQLite file deleted or
    replaced under the connection is refused here (503), before anything is read from it."""
    stamp = g.get("store_stamp")
    if stamp is None:
        stamp = revision_stamp()
        require_store_file()
        g.store_stamp = stamp
    return stamp
