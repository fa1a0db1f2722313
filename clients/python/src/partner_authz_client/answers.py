"""The answers the client hands back, read strictly from the service's JSON.

An answer is taken only in the exact shape the API documents: `allowed` must be the
JSON literal `true` to allow (not "yes", not 1), every documented field must be there
with its type. Anything else raises AuthzProtocolError, which the caller turns into a
deny (check) or passes on (lists).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import AuthzProtocolError, AuthzRequestError, AuthzUnavailable

# the statuses with which the service refuses a question as asked (malformed, invalid: it names the
# field): asking again cannot help, so a guard answers them as a deny, not as an outage
REFUSED_QUESTION = (400, 413, 422)


@dataclass(frozen=True)
class Decision:
    """One decision. `allowed` is True only for a well-formed allow from the service.

    A deny from the service has `error` None. A deny made by the client, because no usable
    answer was taken, has `error` (why) and `cause` (the exception) set."""

    allowed: bool
    reasons: tuple[dict[str, Any], ...] = ()
    decision_id: Optional[str] = None
    policy_version: Optional[str] = None
    revision: Optional[int] = None
    error: Optional[str] = field(default=None)  # why this is a deny made by the client (no answer was taken)
    cause: Optional[BaseException] = field(default=None, compare=False, repr=False)

    @classmethod
    def failed(cls, error: str, cause: Optional[BaseException] = None) -> "Decision":
        return cls(allowed=False, error=error, cause=cause)

    @property
    def refused(self) -> bool:
        """The service refused the question as asked (400, 413, 422: a malformed reference, say)."""
        return (isinstance(self.cause, AuthzRequestError) and not isinstance(self.cause, AuthzUnavailable)
                and self.cause.status in REFUSED_QUESTION)

    @property
    def unavailable(self) -> bool:
        """No usable answer came (down, timeout, 5xx, malformed answer, refused key, stale store, a client
        bug): a deny made by the client that is not a refused question. A web app answers it 503."""
        return self.error is not None and not self.refused


@dataclass(frozen=True)
class RecordedDecision:
    """A decision as the service recorded it (GET /v1/decisions/{id}).

    `time` is when it was decided, `moment` the time its facts were read as of (the `at` of a
    past question), `key_id` the caller's key, `detail` what the endpoint adds (explain,
    listed ids, as_of_revision, ...). A decision that failed has `revision` -1."""

    decision_id: str
    time: str
    moment: str
    endpoint: str
    key_id: Optional[int]
    actor: Any
    action: Any
    resource: Any
    allowed: bool
    reasons: tuple[Any, ...]
    policy_version: str
    revision: int
    detail: dict[str, Any]


@dataclass(frozen=True)
class Verified:
    """What `verify()` found: the key is valid and has the `check` scope. `policy_version` is the
    version in force (None: no version was ever activated, and every decision is a deny)."""

    policy_version: Optional[str]


@dataclass(frozen=True)
class Subject:
    """A user who may take the action, and the policy's reasons."""

    user: str
    reasons: tuple[dict[str, Any], ...]


def decision(answer: Any) -> Decision:
    obj = _object(answer, "decision")
    allowed = obj.get("allowed")
    if allowed is not True and allowed is not False:
        raise AuthzProtocolError(f"allowed is {allowed!r}, not a JSON boolean")
    return Decision(allowed=allowed, reasons=_reasons(obj), decision_id=_str(obj, "decision_id"),
                    policy_version=_str(obj, "policy_version"), revision=revision(obj))


def decisions(answer: Any, expected: int) -> list[Decision]:
    results = _list(_object(answer, "batch"), "results")
    if len(results) != expected:
        raise AuthzProtocolError(f"{len(results)} results for {expected} checks")
    _header(answer)
    return [decision(item) for item in results]


def actions(answer: Any) -> list[str]:
    obj = _object(answer, "actions")
    envelope = decision(obj)  # the same envelope as a check: allowed, reasons, decision_id, revision
    allowed = [_str_item(a, "actions[]") for a in _list(obj, "actions")]
    if envelope.allowed != bool(allowed):  # `allowed` says whether any action is allowed
        raise AuthzProtocolError(f"allowed is {envelope.allowed} with actions {allowed[:3]}")
    return allowed


def page(answer: Any, resource_type: str) -> tuple[list[str], Optional[str]]:
    """One page of /v1/list: ids (each `resource_type:N`) and the next cursor (None: last page)."""
    obj = _object(answer, "list")
    _header(obj)
    _str(obj, "decision_id")
    ids = [_str_item(i, "ids[]") for i in _list(obj, "ids")]
    wrong = [i for i in ids if not _is_ref(i, resource_type)]
    if wrong:
        raise AuthzProtocolError(f"ids not of type {resource_type}: {wrong[:3]}")
    if "next_cursor" not in obj:
        raise AuthzProtocolError("next_cursor is missing")
    cursor = obj["next_cursor"]
    if cursor is not None and not (isinstance(cursor, str) and cursor.isascii() and cursor.isdigit()):
        raise AuthzProtocolError(f"next_cursor is {cursor!r}")
    return ids, cursor


def subjects(answer: Any) -> list[Subject]:
    obj = _object(answer, "subjects")
    _header(obj)
    _str(obj, "decision_id")
    found = []
    for item in _list(obj, "subjects"):
        entry = _object(item, "subjects[]")
        user = _str(entry, "user")
        if not _is_ref(user, "user"):
            raise AuthzProtocolError(f"subject {user!r} is not a user reference")
        found.append(Subject(user=user, reasons=_reasons(entry)))
    return found


def recorded(answer: Any) -> RecordedDecision:
    obj = _object(answer, "decision record")
    key_id = obj.get("key_id")
    if key_id is not None and type(key_id) is not int:
        raise AuthzProtocolError(f"key_id is {key_id!r}, not an integer or null")
    allowed = obj.get("allowed")
    if allowed is not True and allowed is not False:
        raise AuthzProtocolError(f"allowed is {allowed!r}, not a JSON boolean")
    number = obj.get("revision")
    if type(number) is not int:  # -1 for a decision that failed
        raise AuthzProtocolError(f"revision is {number!r}, not an integer")
    detail = obj.get("detail")
    if not isinstance(detail, dict):
        raise AuthzProtocolError(f"detail is {detail!r}, not an object")
    for name in ("actor", "action", "resource"):
        if name not in obj:
            raise AuthzProtocolError(f"{name} is missing")
    return RecordedDecision(decision_id=_str(obj, "decision_id"), time=_str(obj, "time"), moment=_str(obj, "moment"),
                            endpoint=_str(obj, "endpoint"), key_id=key_id, actor=obj["actor"], action=obj["action"],
                            resource=obj["resource"], allowed=allowed, reasons=tuple(_list(obj, "reasons")),
                            policy_version=_str(obj, "policy_version"), revision=number, detail=detail)


def verified(answer: Any) -> Verified:
    """GET /v1/policy: only `version` is read (a string, or null when no version is active)."""
    obj = _object(answer, "policy")
    if "version" not in obj:
        raise AuthzProtocolError("version is missing")
    version = obj["version"]
    return Verified(policy_version=None if version is None else _str(obj, "version"))


def revision(obj: Any) -> int:
    """The store revision an answer names (decisions, fact writes)."""
    value = obj.get("revision") if isinstance(obj, dict) else None
    if type(value) is not int or value < 0:  # bool is an int subclass: refused too
        raise AuthzProtocolError(f"revision is {value!r}, not a non-negative integer")
    return value


# -- field readers --------------------------------------------------------------------------------

def _header(obj: dict[str, Any]) -> None:
    _str(obj, "policy_version")
    revision(obj)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AuthzProtocolError(f"{what} answer is {type(value).__name__}, not an object")
    return value


def _list(obj: dict[str, Any], name: str) -> list[Any]:
    value = obj.get(name)
    if not isinstance(value, list):
        raise AuthzProtocolError(f"{name} is {value!r}, not a list")
    return value


def _str(obj: dict[str, Any], name: str) -> str:
    return _str_item(obj.get(name), name)


def _str_item(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise AuthzProtocolError(f"{name} is {value!r}, not a non-empty string")
    return value


def _reasons(obj: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    reasons = _list(obj, "reasons")
    if not all(isinstance(r, dict) for r in reasons):
        raise AuthzProtocolError("reasons must be objects")
    return tuple(reasons)


def _is_ref(value: str, kind: str) -> bool:
    prefix, _, number = value.partition(":")
    return prefix == kind and number.isascii() and number.isdigit()
