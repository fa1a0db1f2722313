"""AuthzClient: ask partner-authz whether a user may act on a resource, failing closed.

Shaped like the Cerbos and OpenFGA Python SDKs: one client object per service (a context
manager), `check` / `is_allowed` for one question, `check_many` for a batch (OpenFGA's
batch_check), `list` (list_objects), `subjects` (list_users), `actions` (list_relations).

Fail closed: `check` and `check_many` never raise and never allow on doubt — a refused
connection, a timeout, a 4xx or 5xx, a truncated or malformed answer, `allowed` that is
not exactly `true`, a batch of the wrong length: each is a Decision with allowed=False and
`error` saying why (also logged). `list`, `subjects` and `actions` raise an AuthzError
instead, since an empty list would be indistinguishable from a real answer.

Read-your-writes: `note_revision()` takes the revision a write answered (fact writes and
workflow steps carry `revision`); every later read sends the highest revision noted as
`min_revision`, so the service answers from a store at least that new (or 409, a deny).
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Mapping, Sequence, Union

from . import answers
from .answers import Decision, Subject
from .errors import AuthzError, AuthzProtocolError
from .transport import Transport

log = logging.getLogger("partner_authz_client")

MAX_BATCH = 100           # the service's limit per /v1/check/batch; longer lists are sent in slices
MAX_LIST_PAGES = 10_000   # a service handing out cursors forever is an error, not an endless loop
Check = Union[Sequence[str], Mapping[str, str]]


class AuthzClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 2.0, retries: int = 2,
                 backoff: float = 0.05) -> None:
        """base_url like http://authz.internal:8000; api_key a `check`-scope key.

        timeout bounds each attempt (connect, send, the whole answer); retries are extra
        attempts after a connection error or a 5xx, waiting backoff, 2*backoff, ... (jittered).
        """
        self._transport = Transport(base_url, api_key, timeout, retries, backoff)
        self._revision = 0
        self._revision_lock = threading.Lock()

    # -- read-your-writes -----------------------------------------------------------------------

    def note_revision(self, write: Union[int, Mapping[str, Any]]) -> int:
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
        """The highest revision noted; every read asks for a store at least this new."""
        return self._revision

    # -- decisions: never raise, deny on doubt -------------------------------------------------

    def check(self, actor: str, action: str, resource: str, *, explain: bool = False) -> Decision:
        body: dict[str, Any] = {"actor": actor, "action": action, "resource": resource}
        if explain:
            body["explain"] = True
        try:
            return answers.decision(self._post("/v1/check", body))
        except Exception as exc:  # fail closed on anything, our own bugs included
            return _denied(f"check {actor} {action} {resource}", exc)

    def is_allowed(self, actor: str, action: str, resource: str) -> bool:
        """True only for a well-formed allow from the service."""
        return self.check(actor, action, resource).allowed is True

    def check_many(self, checks: Iterable[Check]) -> list[Decision]:
        """Decisions in the order asked; (actor, action, resource) tuples or dicts with those keys.

        A slice of up to 100 is answered by one request: if that answer is unusable, every
        check of the slice is denied (none is taken from a malformed batch)."""
        items = list(checks)
        results: list[Decision] = []
        for start in range(0, len(items), MAX_BATCH):
            results.extend(self._batch(items[start:start + MAX_BATCH]))
        return results

    # -- lists: raise, never an empty list on failure ------------------------------------------

    def list(self, actor: str, action: str, resource_type: str, *, page_size: int = 100) -> list[str]:
        """Every `resource_type:N` the actor may take action on, all pages followed."""
        body: dict[str, Any] = {"actor": actor, "action": action, "resource_type": resource_type,
                                "page_size": page_size}
        found: list[str] = []
        for _ in range(MAX_LIST_PAGES):
            ids, cursor = answers.page(self._post("/v1/list", body), resource_type)
            found.extend(ids)
            if cursor is None:
                return found
            if int(cursor) <= int(body.get("cursor", -1)):  # pages come in ascending id order
                raise AuthzProtocolError(f"the list cursor did not advance ({cursor})")
            body["cursor"] = cursor
        raise AuthzProtocolError(f"more than {MAX_LIST_PAGES} pages")

    def subjects(self, action: str, resource: str) -> list[Subject]:
        """Every user who may take action on resource, with the policy's reasons."""
        return answers.subjects(self._post("/v1/subjects", {"action": action, "resource": resource}))

    def actions(self, actor: str, resource: str) -> list[str]:
        """The actions the actor may take on resource."""
        return answers.actions(self._post("/v1/actions", {"actor": actor, "resource": resource}))

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "AuthzClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._revision:
            body = {**body, "min_revision": self._revision}
        return self._transport.post(path, body)

    def _batch(self, items: list[Check]) -> list[Decision]:
        try:
            checks = [_check_body(item) for item in items]
            return answers.decisions(self._post("/v1/check/batch", {"checks": checks}), len(checks))
        except Exception as exc:
            denied = _denied(f"batch of {len(items)} checks", exc)
            return [denied] * len(items)


def _check_body(item: Check) -> dict[str, str]:
    if isinstance(item, Mapping):
        return {"actor": item["actor"], "action": item["action"], "resource": item["resource"]}
    actor, action, resource = item
    return {"actor": actor, "action": action, "resource": resource}


def _denied(what: str, exc: Exception) -> Decision:
    kind = "" if isinstance(exc, AuthzError) else f"{type(exc).__name__}: "
    log.warning("partner-authz: %s denied, no usable answer (%s%s)", what, kind, exc)
    return Decision.failed(f"{kind}{exc}")

