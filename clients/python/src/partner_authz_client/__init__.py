"""partner-authz-client: a fail-closed client for the partner-authz HTTP API.

    from partner_authz_client import AuthzClient
    with AuthzClient("http://127.0.0.1:8000", api_key) as authz:
        authz.verify()   # at start-up: the key is valid and has the `check` scope
        if authz.is_allowed("user:3", "access_account", "organization:3"):
            ...

AsyncAuthzClient (partner_authz_client.aio, on httpx: the `async` extra) has the same
methods as coroutines. The Flask guard lives in partner_authz_client.flask (the `flask` extra).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .answers import Decision, RecordedDecision, Subject, Verified
from .client import AuthzClient
from .errors import (AuthzError, AuthzMisconfigured, AuthzProtocolError, AuthzRequestError, AuthzStaleStore,
                     AuthzUnavailable)

if TYPE_CHECKING:
    from .aio import AsyncAuthzClient

__all__ = ["AuthzClient", "AsyncAuthzClient", "Decision", "RecordedDecision", "Subject", "Verified", "AuthzError",
           "AuthzMisconfigured", "AuthzProtocolError", "AuthzRequestError", "AuthzStaleStore", "AuthzUnavailable"]
__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    """AsyncAuthzClient is imported on first use: the package itself needs no httpx."""
    if name == "AsyncAuthzClient":
        try:
            from .aio import AsyncAuthzClient
        except ImportError as exc:
            raise ImportError("AsyncAuthzClient needs httpx: pip install 'partner-authz-client[async]'") from exc
        return AsyncAuthzClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
