"""A Flask route guard: `@require("access_account", resource=lambda: ...)` runs the view only on an allow.

    from partner_authz_client.flask import init_app, require
    init_app(app, AuthzClient(url, key), actor=lambda: g.user_ref)   # "user:N" or None

    @app.get("/customers/<int:org>/products")
    @require("access_account", resource=lambda: f"organization:{request.view_args['org']}")
    def products(org): ...

Two answers when the view does not run, never mixed up:

- **403** — denied: the service denied the question (the body's `error.decision_id` and the
  `Authz-Decision-Id` header name its recorded decision), nobody is signed in, an actor or
  resource callable raised, or the service refused the question as malformed (400/413/422).
- **503** with `Retry-After` — nothing was decided: the service is down or timed out, a 5xx,
  an answer not in the API's shape, a store still older than min_revision (409 stale_store),
  or the service refused this app's API key (401) or its scope (403). A refused key is a
  deployment error, logged at CRITICAL: end users are told "unavailable", never "denied".

`init_app(..., on_deny=, on_unavailable=)` render the app's own pages for the two; `init_app`
also answers an AuthzUnavailable or AuthzProtocolError raised in a view (a `list()` that
failed, say) as the same 503 instead of a 500.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar, cast

from flask import Flask, Response, current_app, jsonify, make_response
from flask.typing import ResponseReturnValue

from .answers import Decision
from .client import AuthzClient
from .errors import AuthzMisconfigured, AuthzProtocolError, AuthzStaleStore, AuthzUnavailable

EXTENSION = "partner_authz_client"
DECISION_HEADER = "Authz-Decision-Id"
log = logging.getLogger("partner_authz_client")

Ref = Callable[[], Optional[str]]
View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Refusal:
    """Why a guarded view did not run, handed to the on_deny / on_unavailable hooks.

    status is 403 (denied) or 503 (nothing decided); decision_id names the service's recorded
    deny (None when there is none to name); retry_after (seconds) is set on a 503; reason is
    for logs and operators, not for end users."""

    status: int
    code: str                            # "forbidden" or "authz_unavailable"
    reason: str
    action: Optional[str] = None
    actor: Optional[str] = None
    resource: Optional[str] = None
    decision_id: Optional[str] = None
    retry_after: Optional[int] = None
    decision: Optional[Decision] = None
    error: Optional[BaseException] = None

    @property
    def misconfigured(self) -> bool:
        """The service refused this app's API key or its scope (fix the deployment, not the user)."""
        return isinstance(self.error, AuthzMisconfigured)


Hook = Callable[[Refusal], ResponseReturnValue]


@dataclass(frozen=True)
class Guard:
    client: AuthzClient
    actor: Ref
    on_deny: Optional[Hook] = None
    on_unavailable: Optional[Hook] = None
    retry_after: int = 5


def init_app(app: Flask, client: AuthzClient, actor: Ref, *, on_deny: Optional[Hook] = None,
             on_unavailable: Optional[Hook] = None, retry_after: int = 5) -> None:
    """Bind the client and the callable naming the current actor ("user:N", or None if nobody).

    on_deny / on_unavailable: called with a Refusal, return what a view may return (a page, a
    redirect); a 200 from them is sent with the refusal's status instead. retry_after: the
    seconds a 503 tells the browser to wait (1 for a stale store)."""
    if type(retry_after) is not int or retry_after < 0:
        raise ValueError("retry_after must be a whole number of seconds")
    app.extensions[EXTENSION] = Guard(client, actor, on_deny, on_unavailable, retry_after)
    app.register_error_handler(AuthzUnavailable, _failed_in_view)
    app.register_error_handler(AuthzProtocolError, _failed_in_view)


def current_client() -> AuthzClient:
    """The client init_app bound to the current app (for lists in a view, say)."""
    return _guard().client


def require(action: str, resource: Ref, *, actor: Optional[Ref] = None) -> Callable[[View], View]:
    """Run the view only if the actor may take action on resource(); otherwise 403 or 503 (see above)."""
    def decorator(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            refusal = _refusal(action, resource, actor)
            if refusal is None:
                return view(*args, **kwargs)
            return respond(refusal)
        return cast(View, guarded)
    return decorator


def respond(refusal: Refusal) -> Response:
    """The answer for a refusal: the app's hook if it has one, else the default JSON, with
    `Authz-Decision-Id` (when there is a decision to name) and, on a 503, `Retry-After`."""
    guard = current_app.extensions.get(EXTENSION)
    hook = None if not isinstance(guard, Guard) else guard.on_deny if refusal.status == 403 else guard.on_unavailable
    response = None
    if hook is not None:
        try:
            response = make_response(hook(refusal))
            if response.status_code == 200:  # a page without a status: the refusal's
                response.status_code = refusal.status
        except Exception:
            log.exception("partner-authz: the %s hook failed; answering the default %d", refusal.code, refusal.status)
            response = None
    if response is None:
        response = _default(refusal)
    if refusal.decision_id and DECISION_HEADER not in response.headers:
        response.headers[DECISION_HEADER] = refusal.decision_id
    if response.status_code == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(refusal.retry_after if refusal.retry_after is not None else 5)
    return response


# -- deciding -------------------------------------------------------------------------------------

def _guard() -> Guard:
    guard = current_app.extensions.get(EXTENSION)
    if not isinstance(guard, Guard):
        raise RuntimeError("partner_authz_client.flask.init_app(app, client, actor=...) was not called")
    return guard


def _refusal(action: str, resource: Ref, actor: Optional[Ref]) -> Optional[Refusal]:
    """None to run the view; else why not."""
    try:
        guard = _guard()
    except RuntimeError as exc:  # a deployment error: nothing can be decided, and it is not the user's fault
        log.critical("partner-authz: %s; every guarded route answers 503", exc)
        return Refusal(503, "authz_unavailable", str(exc), action=action, retry_after=5, error=exc)
    try:
        who, what = (actor or guard.actor)(), resource()
    except Exception as exc:  # a guard that cannot form its question denies
        log.exception("partner-authz: %s guard could not name its actor or resource; denied", action)
        return Refusal(403, "forbidden", f"the guard failed: {exc!r}", action=action, error=exc)
    if not who or not what:
        return Refusal(403, "forbidden", "nobody is signed in" if not who else "no resource named",
                       action=action, actor=who or None, resource=what or None)
    decision = guard.client.check(who, action, what)
    if decision.allowed is True and decision.error is None:
        return None
    if decision.error is None:  # the service's deny: a recorded decision to point to
        log.info("partner-authz: %s may not %s %s (decision %s)", who, action, what, decision.decision_id)
        return Refusal(403, "forbidden", f"denied by the policy: {list(decision.reasons)[:1]}", action, who, what,
                       decision.decision_id, decision=decision)
    if decision.refused:
        log.error("partner-authz: the service refused the question %s %s %s (%s); denied", who, action, what,
                  decision.error)
        return Refusal(403, "forbidden", decision.error, action, who, what, decision=decision, error=decision.cause)
    return _unavailable(guard, decision.error, decision.cause, action, who, what, decision)


def _unavailable(guard: Optional[Guard], reason: str, error: Optional[BaseException], action: Optional[str] = None,
                 actor: Optional[str] = None, resource: Optional[str] = None,
                 decision: Optional[Decision] = None) -> Refusal:
    refusal = Refusal(503, "authz_unavailable", reason, action, actor, resource,
                      retry_after=1 if isinstance(error, AuthzStaleStore) else guard.retry_after if guard else 5,
                      decision=decision, error=error)
    if refusal.misconfigured:
        log.critical("partner-authz: MISCONFIGURED: the service refused this app's API key (%s); answering 503 "
                     "to every guarded request until the key (or its scope) is fixed", reason)
    else:
        log.warning("partner-authz: no usable answer for %s %s %s, answering 503: %s", actor, action, resource, reason)
    return refusal


def _failed_in_view(exc: Exception) -> Response:
    guard = current_app.extensions.get(EXTENSION)
    return respond(_unavailable(guard if isinstance(guard, Guard) else None, f"{type(exc).__name__}: {exc}", exc))


def _default(refusal: Refusal) -> Response:
    if refusal.status == 403:
        error: dict[str, Any] = {"code": "forbidden", "message": f"not allowed: {refusal.action}",
                                 "decision_id": refusal.decision_id}
    else:  # what went wrong is in the log, for operators; the user is told to come back
        error = {"code": "authz_unavailable", "message": "authorization is unavailable; retry later"}
    response = jsonify({"error": error})
    response.status_code = refusal.status
    return response
