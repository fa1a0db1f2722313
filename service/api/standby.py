"""Write routes on an instance whose store is a standby: 503 `read_only_standby`, naming the primary.

Checked before the handler runs (registry.route, for every write-scope route that changes something),
so nothing is attempted; and, should a write reach the standby anyway (a promotion undone, a route
that writes while reading), the server's read-only refusal is answered the same way, never a 500.
"""
from __future__ import annotations

import logging

import peewee
import psycopg2
from flask import Flask

from service.store.standby import forget, is_read_only_error, is_standby, primary_host

from .error_answers import handles
from .errors import ApiError, error_response, is_decision_request

log = logging.getLogger("authz.api")

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def read_only_standby() -> ApiError:
    primary = primary_host()
    where = f"the primary ({primary})" if primary else "an instance on the primary"
    return ApiError(503, "read_only_standby", f"this instance decides from a read-only standby and writes "
                    f"nothing; send writes to {where}; nothing was changed", extra={"primary": primary or None})


def refuse_writes_on_standby(method: str) -> None:
    """Raise 503 read_only_standby for a changing request when the store is a standby."""
    if method not in READ_METHODS and is_standby():
        raise read_only_standby()


def init_app(app: Flask) -> None:
    # a read-only refusal is an InternalError (peewee's wrapper, or psycopg2's on the raw decision path)
    @handles(app, peewee.InternalError, psycopg2.InternalError)
    def _maybe_read_only(exc: Exception):
        if not is_read_only_error(exc):  # any other internal error: as errors.py answers it
            log.exception("unhandled error (answered 500, nothing allowed)")
            return error_response(ApiError(500, "internal_error", "internal error; the request changed nothing",
                                           extra={"allowed": False} if is_decision_request() else None))
        log.error("a write reached the read-only standby (answered 503, nothing written)")
        forget()  # the store answered as a standby: ask it again at the next check
        return error_response(read_only_standby())
