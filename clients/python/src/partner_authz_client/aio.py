"""AsyncAuthzClient: the client for asyncio code, on httpx and anyio (trio untested).
`pip install partner-authz-client[async]`.

    from partner_authz_client.aio import AsyncAuthzClient
    async with AsyncAuthzClient("http://authz.internal:8000", api_key) as authz:
        if await authz.is_allowed("user:3", "access_account", "organization:3"):
            ...

The same methods as AuthzClient, as coroutines, failing closed alike: `check` and
`check_many` never raise and deny on doubt; `list`, `subjects`, `actions`, `decision`
and `verify` raise AuthzError. The same options, with the same retry schedule
(attempts.py): each attempt must have the whole answer within its time limit (a server
trickling bytes is cut off), 5xx and connection errors are retried, a read timeout is not,
409 stale_store is asked again while the request's deadline allows.

Connections are httpx's pool (keep-alive, shared by the tasks of one event loop): make one
client per event loop (e.g. in FastAPI's lifespan) and `await authz.aclose()` at the end.
Proxies from the environment are not used (trust_env=False), as with the sync client.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, List, Optional  # List: `list` is a method here

import anyio
import httpx

from . import answers
from .answers import Decision, RecordedDecision, Subject, Verified
from .attempts import Attempts, parse
from .base import (MAX_BATCH, MAX_LIST_PAGES, At, Check, ClientBase, check_body, decision_path, denied,
                   next_cursor, no_policy_warning, verify_failed)
from .errors import AuthzError, AuthzProtocolError
from .transport import MAX_ANSWER_BYTES, headers, split_base_url

__all__ = ["AsyncAuthzClient"]


class _TooLarge(Exception):
    """An answer over MAX_ANSWER_BYTES: a failed attempt, like a truncated one."""


class _Unanswered(Exception):
    """The connection failed before any answer began (perhaps a kept-alive one the server had closed)."""

    def __init__(self, error: httpx.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class AsyncTransport:
    def __init__(self, base_url: str, api_key: str, client: ClientBase) -> None:
        scheme, host, port, prefix = split_base_url(base_url)
        self.policy = client.policy
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        self._base = f"{scheme}://{host}" + (f":{port}" if port else "") + prefix
        self._http = httpx.AsyncClient(headers=headers(api_key), trust_env=False, follow_redirects=False,
                                       timeout=httpx.Timeout(self.policy.timeout))
        self._answered = False  # has any answer come (so a kept-alive connection may be pooled)?

    async def request(self, method: str, path: str, body: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """The JSON object answered with 200; raises an AuthzError for anything else."""
        payload = None if body is None else json.dumps(body).encode()
        attempts = Attempts(self.policy, path)
        while True:
            limit = attempts.limit()
            try:
                with anyio.fail_after(limit):
                    status, raw = await self._exchange(method, path, payload, limit)
            except httpx.ConnectTimeout as exc:  # nothing was sent: a connection error, retried
                wait = attempts.failed(exc)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise attempts.timed_out() from exc
            except (httpx.RequestError, _TooLarge, OSError) as exc:
                wait = attempts.failed(exc)
            else:
                answered = attempts.answered(status, raw)
                if answered is None:
                    return parse(status, raw)
                wait = answered
            await anyio.sleep(wait)

    async def _exchange(self, method: str, path: str, payload: Optional[bytes], limit: float) -> tuple[int, bytes]:
        # A kept-alive connection the server closed while idle fails before any answer: one fresh try,
        # free (as the sync transport does). httpx does not say whether it reused a connection, so the
        # free try is taken only when an earlier answer may have left one in the pool.
        reused = self._answered
        try:
            return await self._once(method, path, payload, limit)
        except _Unanswered as exc:
            if not reused:
                raise exc.error from None
        try:
            return await self._once(method, path, payload, limit)
        except _Unanswered as exc:
            raise exc.error from None

    async def _once(self, method: str, path: str, payload: Optional[bytes], limit: float) -> tuple[int, bytes]:
        began = False
        try:
            async with self._http.stream(method, self._base + path, content=payload,
                                         timeout=httpx.Timeout(limit)) as resp:
                began = True
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise _TooLarge(f"answer larger than {MAX_ANSWER_BYTES} bytes")
                    chunks.append(chunk)
                self._answered = True
                return resp.status_code, b"".join(chunks)
        except STALE_CONNECTION as exc:
            if began:  # the answer had begun: a truncated answer, not an idle connection
                raise
            raise _Unanswered(exc) from exc

    async def aclose(self) -> None:
        await self._http.aclose()


class AsyncAuthzClient(ClientBase):
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 2.0, retries: int = 2,
                 backoff: float = 0.05, deadline: Optional[float] = None) -> None:
        super().__init__(base_url, api_key, timeout=timeout, retries=retries, backoff=backoff, deadline=deadline)
        self._transport = AsyncTransport(base_url, api_key, self)

    # -- decisions: never raise, deny on doubt -------------------------------------------------

    async def check(self, actor: str, action: str, resource: str, *, explain: bool = False,
                    min_revision: Optional[int] = None, at_revision: Optional[int] = None,
                    at: Optional[At] = None) -> Decision:
        try:
            body: dict[str, Any] = {"actor": actor, "action": action, "resource": resource}
            if explain:
                body["explain"] = True
            answer = await self._post("/v1/check", self._question(body, min_revision, at_revision, at))
            return answers.decision(answer)
        except Exception as exc:  # fail closed on anything, our own bugs and bad arguments included
            return denied(f"check {actor} {action} {resource}", exc)

    async def is_allowed(self, actor: str, action: str, resource: str, *,
                         min_revision: Optional[int] = None) -> bool:
        """True only for a well-formed allow from the service."""
        return (await self.check(actor, action, resource, min_revision=min_revision)).allowed is True

    async def check_many(self, checks: Iterable[Check], *, min_revision: Optional[int] = None,
                         at_revision: Optional[int] = None, at: Optional[At] = None) -> List[Decision]:
        """Decisions in the order asked; slices of 100, one request each, a failed slice denying its own checks."""
        items = list(checks)
        results: List[Decision] = []
        for start in range(0, len(items), MAX_BATCH):
            results.extend(await self._batch(items[start:start + MAX_BATCH], min_revision, at_revision, at))
        return results

    # -- lists and records: raise, never an empty list on failure ------------------------------

    async def list(self, actor: str, action: str, resource_type: str, *, page_size: int = 100,
                   min_revision: Optional[int] = None, at_revision: Optional[int] = None,
                   at: Optional[At] = None) -> List[str]:
        """Every `resource_type:N` the actor may take action on, all pages followed."""
        body = self._question({"actor": actor, "action": action, "resource_type": resource_type,
                               "page_size": page_size}, min_revision, at_revision, at)
        found: List[str] = []
        for _ in range(MAX_LIST_PAGES):
            ids, cursor = answers.page(await self._post("/v1/list", body), resource_type)
            found.extend(ids)
            if cursor is None:
                return found
            next_cursor(body, cursor)
        raise AuthzProtocolError(f"more than {MAX_LIST_PAGES} pages")

    async def subjects(self, action: str, resource: str, *, min_revision: Optional[int] = None,
                       at_revision: Optional[int] = None, at: Optional[At] = None) -> List[Subject]:
        """Every user who may take action on resource, with the policy's reasons."""
        body = self._question({"action": action, "resource": resource}, min_revision, at_revision, at)
        return answers.subjects(await self._post("/v1/subjects", body))

    async def actions(self, actor: str, resource: str, *, min_revision: Optional[int] = None) -> List[str]:
        """The actions the actor may take on resource (about the present only)."""
        body = self._question({"actor": actor, "resource": resource}, min_revision)
        return answers.actions(await self._post("/v1/actions", body))

    async def decision(self, decision_id: str) -> RecordedDecision:
        """The decision recorded under decision_id; AuthzRequestError 404 if none is."""
        return answers.recorded(await self._transport.request("GET", decision_path(decision_id)))

    async def verify(self) -> Verified:
        """Check that the service takes this client's key with the `check` scope (GET /v1/policy);
        raises AuthzMisconfigured or AuthzUnavailable. Await it at start-up."""
        try:
            return no_policy_warning(answers.verified(await self._transport.request("GET", "/v1/policy")))
        except AuthzError as exc:
            error = verify_failed(exc, self.base_url)
            if error is exc:
                raise
            raise error from exc

    # -- plumbing -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> "AsyncAuthzClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._transport.request("POST", path, body)

    async def _batch(self, items: List[Check], min_revision: Optional[int], at_revision: Optional[int],
                     at: Optional[At]) -> List[Decision]:
        try:
            body = self._question({"checks": [check_body(item) for item in items]}, min_revision, at_revision, at)
            return answers.decisions(await self._post("/v1/check/batch", body), len(items))
        except Exception as exc:
            failed = denied(f"batch of {len(items)} checks", exc)
            return [failed] * len(items)
