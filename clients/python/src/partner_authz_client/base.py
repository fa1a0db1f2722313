"""What the sync and the async clients share: their options, read-your-writes, the request
bodies of each call and how a deny made by the client is reported. No I/O here."""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from typing import Any, Mapping, Optional, Sequence, Union

from . import answers
from .answers import Decision
from .attempts import Policy
from .errors import AuthzError, AuthzMisconfigured, AuthzProtocolError, AuthzRequestError

log = logging.getLogger("partner_authz_client")

MAX_BATCH = 100           # the service's limit per /v1/check/batch; longer lists are sent in slices
MAX_LIST_PAGES = 10_000   # a service handing out cursors forever is an error, not an endless loop
Check = Union[Sequence[str], Mapping[str, str]]
At = Union[str, dt.datetime]
Write = Union[int, Mapping[str, Any]]
# decision ids are UUIDs; anything that could leave the path segment is refused before a request
DECISION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")


class ClientBase:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 2.0, retries: int = 2,
                 backoff: float = 0.05, deadline: Optional[float] = None) -> None:
        """base_url like http://authz.internal:8000; api_key a `check`-scope key.

        timeout bounds each attempt (connect, send, the whole answer); retries are extra
        attempts after a connection error or a 5xx, waiting backoff, 2*backoff, ... (jittered);
        a 409 stale_store is asked again with the same waits while the deadline allows.
        deadline bounds each request, every attempt and wait included (default: room for
        every attempt, timeout * (retries + 1) plus the waits).
        """
        self.base_url = base_url
        self.policy = Policy.of(timeout, retries, backoff, deadline)
        self._revision = 0
        self._revision_lock = threading.Lock()

    # -- read-your-writes -----------------------------------------------------------------------

    def note_revision(self, write: Write) -> int:
        """Remember a write's revision (an int or an answer carrying `revision`); returns the highest noted."""
        revision = write if isinstance(write, int) and not isinstance(write, bool) else None
        if revision is None:
            try:
                revision = answers.revision(write)
            except AuthzProtocolError:
                raise ValueError(f"no revision in {write!r}: note the revision a write answered") from None
        if revision < 0:
            raise ValueError(f"revision {revision} is negative")
        with self._revision_lock:
            self._revision = max(self._revision, revision)
            return self._revision

    @property
    def min_revision(self) -> int:
        """The highest revision noted; every question about the present asks for a store at least this new."""
        return self._revision

    # -- request bodies -------------------------------------------------------------------------

    def _question(self, body: dict[str, Any], min_revision: Optional[int], at_revision: Optional[int] = None,
                  at: Optional[At] = None) -> dict[str, Any]:
        """`body` with the freshness and moment fields of one call.

        A question about the present sends the higher of the noted revision and the call's
        min_revision; one about the past (at_revision or at) only the call's own min_revision."""
        body = dict(body)
        if at_revision is not None and at is not None:
            raise ValueError("give at_revision or at, not both")
        if at_revision is not None:
            body["at_revision"] = _whole(at_revision, "at_revision")
        if at is not None:
            body["at"] = _rfc3339(at)
        noted = 0 if at_revision is not None or at is not None else self._revision
        asked = max(noted, _whole(min_revision, "min_revision") if min_revision is not None else 0)
        if asked:
            body["min_revision"] = asked
        return body


def check_body(item: Check) -> dict[str, str]:
    if isinstance(item, Mapping):
        return {"actor": item["actor"], "action": item["action"], "resource": item["resource"]}
    actor, action, resource = item
    return {"actor": actor, "action": action, "resource": resource}


def decision_path(decision_id: str) -> str:
    if not isinstance(decision_id, str) or not DECISION_ID.match(decision_id):
        raise ValueError(f"{decision_id!r} is not a decision_id as answered")
    return f"/v1/decisions/{decision_id}"


def next_cursor(body: dict[str, Any], cursor: str) -> None:
    """Ask for the page after `cursor`; pages come in ascending id order, so the cursor must advance."""
    if int(cursor) <= int(body.get("cursor", -1)):
        raise AuthzProtocolError(f"the list cursor did not advance ({cursor})")
    body["cursor"] = cursor


def denied(what: str, exc: Exception) -> Decision:
    """The deny the client makes when no usable answer was taken, logged."""
    kind = "" if isinstance(exc, AuthzError) else f"{type(exc).__name__}: "
    if isinstance(exc, AuthzMisconfigured):
        log.error("partner-authz: %s denied: the service refused this client's API key (%s); "
                  "fix the key or its scope, nothing can be decided until then", what, exc)
    else:
        log.warning("partner-authz: %s denied, no usable answer (%s%s)", what, kind, exc)
    return Decision.failed(f"{kind}{exc}", exc)


def no_policy_warning(found: answers.Verified) -> answers.Verified:
    if found.policy_version is None:
        log.warning("partner-authz: the key is valid, but no policy version is in force: every check is a deny")
    return found


def _whole(value: int, name: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    return value


def _rfc3339(at: At) -> str:
    if isinstance(at, dt.datetime):
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("at must be a timezone-aware datetime (a naive one names no moment)")
        return at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if not isinstance(at, str) or not at:
        raise ValueError(f"at must be an RFC 3339 time or an aware datetime, not {at!r}")
    return at


def verify_failed(exc: AuthzError, base_url: str) -> AuthzError:
    """The error `verify()` raises for `exc`: a refused key, a missing scope or a wrong base_url said plainly."""
    if not isinstance(exc, AuthzRequestError):
        return exc
    if exc.status == 401:
        message = (f"partner-authz at {base_url} refused the API key ({exc.code}): it is missing, unknown or "
                   "revoked; create one with `authz keys create --name NAME --scope check`")
    elif exc.status == 403:
        message = (f"the API key is valid at {base_url} but lacks the `check` scope this client needs "
                   f"({exc.code}): a write or review key cannot ask decisions")
    elif exc.status in (404, 405):
        message = f"{base_url} does not serve the partner-authz API (GET /v1/policy answered {exc.status})"
    else:
        return exc
    return AuthzMisconfigured(exc.status, exc.code, message, exc.field)
