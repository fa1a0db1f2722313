"""What can go wrong when asking the service. `check` turns every one into a deny;
`list`, `subjects`, `actions`, `decision` and `verify` raise them (an empty list would look
like an answer).

    AuthzError
    ├── AuthzUnavailable        no usable answer: down, refused, timed out, 5xx after the retries
    │   ├── AuthzMisconfigured  the service refused this client's key (401) or its scope (403)
    │   └── AuthzStaleStore     409 stale_store on every attempt until the request's deadline
    ├── AuthzProtocolError      an answer not in the shape the API promises
    └── AuthzRequestError       the service refused the request (4xx), with status, code, field
        ├── AuthzMisconfigured  (also an AuthzUnavailable)
        └── AuthzStaleStore     (also an AuthzUnavailable)

AuthzMisconfigured and AuthzStaleStore are both: the service did answer a 4xx, but for the
application nothing was decided and retrying later (a fixed key, a caught-up store) can help,
so a web app answers them as it answers an outage (503), never as a deny (403).
"""
from __future__ import annotations

from typing import Optional


class AuthzError(Exception):
    """Base of every client error: nothing was allowed."""


class AuthzUnavailable(AuthzError):
    """No usable answer: connection refused or reset, timed out, or 5xx after the retries."""


class AuthzProtocolError(AuthzError):
    """An answer that is not what the API promises (not JSON, wrong types, missing fields, truncated)."""


class AuthzRequestError(AuthzError):
    """The service refused the request (4xx): bad input, bad key, stale store. Only 409 stale_store is retried."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (field {field})" if field else ""))
        self.status, self.code, self.message, self.field = status, code, message, field


class AuthzMisconfigured(AuthzRequestError, AuthzUnavailable):
    """The service refused this client's API key: 401 (missing, unknown or revoked) or 403 (a key
    without the `check` scope). A deployment error, not a decision: log it loudly, answer 503."""


class AuthzStaleStore(AuthzRequestError, AuthzUnavailable):
    """409 stale_store: the store is older than the min_revision asked for, on every attempt made
    within the request's deadline. Nothing was decided; retry shortly."""


def request_error(status: int, code: str, message: str, field: Optional[str] = None) -> AuthzRequestError:
    """The error for a 4xx answer, of the subclass its status and code call for."""
    if status in (401, 403):
        return AuthzMisconfigured(status, code, message, field)
    if status == 409 and code == "stale_store":
        return AuthzStaleStore(status, code, message, field)
    return AuthzRequestError(status, code, message, field)
