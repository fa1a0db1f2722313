"""When to try a request again, and when to give up: one schedule for the sync and the async
transports, so both fail, retry and give up alike.

- A connection error (refused, reset, closed without an answer, a truncated answer) or a
  5xx: retried up to `retries` times, waiting backoff, 2*backoff, ... (jittered).
- 409 stale_store (the store is older than the min_revision asked for; "retry shortly"):
  retried with the same doubling waits (capped at MAX_WAIT) for as long as the request's
  deadline leaves time for another attempt; then AuthzStaleStore.
- A read timeout: never retried (a hanging service would multiply the caller's wait).
- Any other answer is final: a 200 is parsed, a 4xx raised as it is.

Every request ends by its deadline: each attempt may take min(timeout, the time left), and no
attempt is started with less than min(timeout, 50 ms) left. The deadline is per request (a check, one batch slice,
one list page), not per list of pages.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .errors import AuthzError, AuthzProtocolError, AuthzStaleStore, AuthzUnavailable, request_error

MAX_WAIT = 1.0         # the longest wait between two attempts
MIN_STALE_WAIT = 0.01  # a stale store is never asked again at once, even with backoff=0
MIN_ATTEMPT = 0.05     # no attempt is started with less time than this (or the timeout) left


@dataclass(frozen=True)
class Policy:
    """timeout: seconds per attempt; retries: extra attempts after a connection error or 5xx;
    backoff: the first wait; deadline: seconds per request, all attempts and waits included."""

    timeout: float
    retries: int
    backoff: float
    deadline: float

    @classmethod
    def of(cls, timeout: float, retries: int, backoff: float, deadline: Optional[float]) -> "Policy":
        if not timeout > 0 or retries < 0 or not backoff >= 0:
            raise ValueError("timeout must be positive, retries and backoff not negative")
        if deadline is None:  # room for every attempt and its wait, as without a deadline
            deadline = timeout * (retries + 1) + sum(_wait(backoff, n) for n in range(1, retries + 1))
        if not deadline > 0:
            raise ValueError("deadline must be positive")
        return cls(timeout, retries, backoff, deadline)


def _wait(backoff: float, n: int) -> float:
    """The longest n-th wait (before jitter)."""
    return float(min(backoff * 2.0 ** (n - 1), max(backoff, MAX_WAIT)))


class Attempts:
    """The attempts of one request. Per attempt: `limit()` before it, then `timed_out()`,
    `failed(exc)` or `answered(status, raw)`; a returned float is the wait before the next."""

    def __init__(self, policy: Policy, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy, self.path, self.clock = policy, path, clock
        self.ends = clock() + policy.deadline
        self.made = 0       # attempts made
        self.failures = 0   # connection errors and 5xx among them
        self.stale = 0      # 409 stale_store answers among them
        self.current = policy.timeout

    def limit(self) -> float:
        """The time limit of the next attempt: the timeout, or less when the deadline is nearer."""
        left = self.ends - self.clock()
        if left <= 0:  # only reached when a wait overran: no attempt starts after the deadline
            raise AuthzUnavailable(f"{self.path}: the deadline of {self.policy.deadline:g}s passed "
                                   f"after {self.made} attempts")
        self.made += 1
        self.current = min(self.policy.timeout, left)
        return self.current

    def timed_out(self) -> AuthzUnavailable:
        """A read timeout: final (the error to raise)."""
        return AuthzUnavailable(f"no answer within {self.current:.3g}s from {self.path}")

    def failed(self, exc: BaseException) -> float:
        """A connection error: the wait before the next attempt, or raise AuthzUnavailable."""
        self.failures += 1
        return self._again(self.failures, exc) if self.failures <= self.policy.retries else self._give_up(exc)

    def answered(self, status: int, raw: bytes) -> Optional[float]:
        """An answer: None when it is final (then `parse(status, raw)`), else the wait before the next."""
        if status >= 500:
            self.failures += 1
            exc = _ServerError(f"{status} {raw[:200]!r}")
            return self._again(self.failures, exc) if self.failures <= self.policy.retries else self._give_up(exc)
        if status != 409:
            return None
        try:
            parse(status, raw)
        except AuthzStaleStore as exc:
            self.stale += 1
            wait = max(MIN_STALE_WAIT, _jitter(_wait(self.policy.backoff, self.stale)))
            if self._room_after(wait):
                return wait
            raise AuthzStaleStore(exc.status, exc.code, f"{exc.message} (still stale after {self.made} attempts "
                                  f"within {self.policy.deadline:g}s)", exc.field) from None
        except AuthzError:
            pass  # another 409 (a conflict): final, raised by parse
        return None

    def _again(self, n: int, exc: BaseException) -> float:
        wait = _jitter(_wait(self.policy.backoff, n))
        if not self._room_after(wait):
            return self._give_up(exc, f" (deadline {self.policy.deadline:g}s)")
        return wait

    def _room_after(self, wait: float) -> bool:
        """Whether, after waiting, the deadline leaves time for a fair attempt."""
        return self.clock() + wait + min(self.policy.timeout, MIN_ATTEMPT) <= self.ends

    def _give_up(self, exc: BaseException, why: str = "") -> float:
        raise AuthzUnavailable(f"{self.path} failed after {self.made} attempts{why}: {exc!r}") from exc


class _ServerError(Exception):
    """A 5xx answer (retried, then reported as AuthzUnavailable)."""


def _jitter(wait: float) -> float:
    return wait * random.uniform(0.5, 1.0)


def parse(status: int, raw: bytes) -> dict[str, Any]:
    """A 200's JSON object; a 4xx as AuthzRequestError (or its subclass); anything else as AuthzProtocolError."""
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if 400 <= status < 500:
        error = answer.get("error") if isinstance(answer, dict) else None
        error = error if isinstance(error, dict) else {}
        field = error.get("field")
        raise request_error(status, str(error.get("code", "unknown")), str(error.get("message", raw[:200])),
                            field if isinstance(field, str) else None)
    if status != 200:
        raise AuthzProtocolError(f"unexpected status {status}")
    if not isinstance(answer, dict):
        raise AuthzProtocolError(f"the answer is not a JSON object: {raw[:200]!r}")
    return answer
