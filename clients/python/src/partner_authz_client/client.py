"""AuthzClient: ask partner-authz whether a user may act on a resource, failing closed.

Shaped like the Cerbos and OpenFGA Python SDKs: one client object per service (a context
manager), `check` / `is_allowed` for one question, `check_many` for a batch (OpenFGA's
batch_check), `list` (list_objects), `subjects` (list_users), `actions` (list_relations),
`decision` (a recorded decision), `verify` (is the key usable?). AsyncAuthzClient
(partner_authz_client.aio) has the same methods as coroutines.

Fail closed: `check` and `check_many` never raise and never allow on doubt — a refused
connection, a timeout, a 4xx or 5xx, a truncated or malformed answer, `allowed` that is
not exactly `true`, a batch of the wrong length: each is a Decision with allowed=False and
`error` saying why (also logged). `list`, `subjects`, `actions`, `decision` and `verify`
raise an AuthzError instead, since an empty list would be indistinguishable from a real answer.

Read-your-writes: `note_revision()` takes the revision a write answered (fact writes and
workflow steps carry `revision`); every later question about the present sends the highest
revision noted as `min_revision` (or the call's own `min_revision=`, if higher). A store not
that new yet answers 409 stale_store, asked again with backoff within the request's deadline.
Past questions: `at_revision=` (a store revision) or `at=` (an RFC 3339 time or an aware
datetime) on check, check_many, list and subjects.
"""
from __future__ import annotations

from typing import Any, Iterable, List, Optional  # List: `list` is a method here

from . import answers
from .answers import Decision, RecordedDecision, Subject, Verified
from .base import (MAX_BATCH, MAX_LIST_PAGES, At, Check, ClientBase, check_body, decision_path, denied,
                   next_cursor, no_policy_warning, verify_failed)
from .errors import AuthzError, AuthzProtocolError
from .transport import Transport

__all__ = ["AuthzClient", "MAX_BATCH", "MAX_LIST_PAGES", "Check"]


class AuthzClient(ClientBase):
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 2.0, retries: int = 2,
                 backoff: float = 0.05, deadline: Optional[float] = None) -> None:
        super().__init__(base_url, api_key, timeout=timeout, retries=retries, backoff=backoff, deadline=deadline)
        self._transport = Transport(base_url, api_key, self.policy)

    # -- decisions: never raise, deny on doubt -------------------------------------------------

    def check(self, actor: str, action: str, resource: str, *, explain: bool = False,
              min_revision: Optional[int] = None, at_revision: Optional[int] = None,
              at: Optional[At] = None) -> Decision:
        try:
            body: dict[str, Any] = {"actor": actor, "action": action, "resource": resource}
            if explain:
                body["explain"] = True
            return answers.decision(self._post("/v1/check", self._question(body, min_revision, at_revision, at)))
        except Exception as exc:  # fail closed on anything, our own bugs and bad arguments included
            return denied(f"check {actor} {action} {resource}", exc)

    def is_allowed(self, actor: str, action: str, resource: str, *, min_revision: Optional[int] = None) -> bool:
        """True only for a well-formed allow from the service."""
        return self.check(actor, action, resource, min_revision=min_revision).allowed is True

    def check_many(self, checks: Iterable[Check], *, min_revision: Optional[int] = None,
                   at_revision: Optional[int] = None, at: Optional[At] = None) -> List[Decision]:
        """Decisions in the order asked; (actor, action, resource) tuples or dicts with those keys.

        A slice of up to 100 is answered by one request: if that answer is unusable, every
        check of the slice is denied (none is taken from a malformed batch)."""
        items = list(checks)
        results: List[Decision] = []
        for start in range(0, len(items), MAX_BATCH):
            results.extend(self._batch(items[start:start + MAX_BATCH], min_revision, at_revision, at))
        return results

    # -- lists and records: raise, never an empty list on failure ------------------------------

    def list(self, actor: str, action: str, resource_type: str, *, page_size: int = 100,
             min_revision: Optional[int] = None, at_revision: Optional[int] = None,
             at: Optional[At] = None) -> List[str]:
        """Every `resource_type:N` the actor may take action on, all pages followed."""
        body = self._question({"actor": actor, "action": action, "resource_type": resource_type,
                               "page_size": page_size}, min_revision, at_revision, at)
        found: List[str] = []
        for _ in range(MAX_LIST_PAGES):
            ids, cursor = answers.page(self._post("/v1/list", body), resource_type)
            found.extend(ids)
            if cursor is None:
                return found
            next_cursor(body, cursor)
        raise AuthzProtocolError(f"more than {MAX_LIST_PAGES} pages")

    def subjects(self, action: str, resource: str, *, min_revision: Optional[int] = None,
                 at_revision: Optional[int] = None, at: Optional[At] = None) -> List[Subject]:
        """Every user who may take action on resource, with the policy's reasons."""
        body = self._question({"action": action, "resource": resource}, min_revision, at_revision, at)
        return answers.subjects(self._post("/v1/subjects", body))

    def actions(self, actor: str, resource: str, *, min_revision: Optional[int] = None) -> List[str]:
        """The actions the actor may take on resource (the API answers this about the present only)."""
        body = self._question({"actor": actor, "resource": resource}, min_revision)
        return answers.actions(self._post("/v1/actions", body))

    def decision(self, decision_id: str) -> RecordedDecision:
        """The decision recorded under decision_id (GET /v1/decisions/{id}); AuthzRequestError 404 if none is."""
        return answers.recorded(self._transport.request("GET", decision_path(decision_id)))

    def verify(self) -> Verified:
        """Check that the service answers and takes this client's key with the `check` scope (one
        GET /v1/policy, which records no decision). Raises AuthzMisconfigured (refused key, missing
        scope, a base_url that is not partner-authz) or AuthzUnavailable; call it at start-up."""
        try:
            return no_policy_warning(answers.verified(self._transport.request("GET", "/v1/policy")))
        except AuthzError as exc:
            error = verify_failed(exc, self.base_url)
            if error is exc:
                raise
            raise error from exc

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> "AuthzClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._transport.request("POST", path, body)

    def _batch(self, items: List[Check], min_revision: Optional[int], at_revision: Optional[int],
               at: Optional[At]) -> List[Decision]:
        try:
            body = self._question({"checks": [check_body(item) for item in items]}, min_revision, at_revision, at)
            return answers.decisions(self._post("/v1/check/batch", body), len(items))
        except Exception as exc:
            failed = denied(f"batch of {len(items)} checks", exc)
            return [failed] * len(items)
