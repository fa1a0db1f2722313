"""A Flask route guard: `@require("access_account", resource=lambda: ...)` answers 403 unless allowed.

    from partner_authz_client.flask import init_app, require
    init_app(app, AuthzClient(url, key), actor=lambda: g.user_ref)   # "user:N" or None

    @app.get("/customers/<int:org>/products")
    @require("access_account", resource=lambda: f"organization:{request.view_args['org']}")
    def products(org): ...

The decision is the client's `check`, so it fails closed: no signed-in actor, an actor
or resource callable that raises, or no usable answer from the service is a 403 too.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Optional

from flask import Flask, current_app, jsonify

from .client import AuthzClient

EXTENSION = "partner_authz_client"
log = logging.getLogger("partner_authz_client")

Ref = Callable[[], Optional[str]]


def init_app(app: Flask, client: AuthzClient, actor: Ref) -> None:
    """Bind the client and the callable naming the current actor ("user:N", or None if nobody)."""
    app.extensions[EXTENSION] = (client, actor)


def require(action: str, resource: Ref, *, actor: Optional[Ref] = None) -> Callable[..., Any]:
    """Run the view only if the actor may take action on resource(); otherwise answer 403 (JSON)."""
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not _allowed(action, resource, actor):
                body = {"error": {"code": "forbidden", "message": f"not allowed: {action}"}}
                return jsonify(body), 403
            return view(*args, **kwargs)
        return guarded
    return decorator


def _allowed(action: str, resource: Ref, actor: Optional[Ref]) -> bool:
    try:
        client, default_actor = current_app.extensions[EXTENSION]
        who, what = (actor or default_actor)(), resource()
        if not who or not what:
            return False
        return client.check(who, action, what).allowed is True
    except Exception:  # a guard that cannot decide denies
        log.exception("partner-authz: %s guard failed; denied", action)
        return False
