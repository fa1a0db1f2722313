"""What can go wrong when asking the service. `check` turns every one into a deny;
`list`, `subjects` and `actions` raise them (an empty list would look like an answer)."""
from __future__ import annotations


class AuthzError(Exception):
    """Base of every client error: nothing was allowed."""


class AuthzUnavailable(AuthzError):
    """No answer: connection refused or reset, timed out, or 5xx after the retries."""


class AuthzProtocolError(AuthzError):
    """An answer that is not what the API promises (not JSON, wrong types, missing fields, truncated)."""


class AuthzRequestError(AuthzError):
    """The service refused the request (4xx): bad input, bad key, stale store. Never retried."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (field {field})" if field else ""))
        self.status, self.code, self.message, self.field = status, code, message, field
