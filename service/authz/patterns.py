"""Memoizing policy evaluations on the shape of the facts, not on their ids.

Why: a Polar query costs ~0.3 ms, and most questions an authorization service
hears have the same shape ("an administrator of the partner, a customer with one
active limited partnership granting this product's technical right"), only with
other ids. The policy cannot tell two such questions apart, because it only
ever compares ids for equality: it has no numeric literals and no arithmetic or
ordering. So each decision's facts (always read fresh from the store) are
renamed to a canonical form — every distinct id becomes 1, 2, 3, ... in order of
appearance — and Polar evaluates the canonical facts; its answer is stored under
those canonical facts, and the ids in the reasons are renamed back. Two
decisions share an entry only when their facts are identical up to renaming ids,
so an entry can never carry an answer about other facts: nothing here depends on
the store revision, and a write changes the facts, hence the key.

The precondition is checked when the policy loads (`policy_is_id_blind`): a
policy that mentions a number or an ordering or arithmetic operator gets no
memo. tests/test_patterns.py compares memoized and direct evaluation on random
worlds.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

_COMMENT = re.compile(r"#[^\n]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
# a digit outside identifiers, or an operator that could order or compute ids
_ID_AWARE = re.compile(r"(?<![A-Za-z_0-9])[0-9]|[<>+*/]|(?<![A-Za-z_0-9])-|\b(?:mod|rem)\b")


def policy_is_id_blind(sources: list[str]) -> bool:
    """True when the policy can only compare ids for equality (no numbers, arithmetic or ordering)."""
    for text in sources:
        code = _STRING.sub('""', _COMMENT.sub("", text))
        if _ID_AWARE.search(code):
            return False
    return True


class Renaming:
    """A consistent renaming of the ids (ints, never bools) of one decision's facts."""

    __slots__ = ("forward", "backward")

    def __init__(self) -> None:
        self.forward: dict[int, int] = {}
        self.backward: list[int] = [0]

    def rename(self, value: int) -> int:
        canonical = self.forward.get(value)
        if canonical is None:
            canonical = len(self.backward)
            self.forward[value] = canonical
            self.backward.append(value)
        return canonical

    def restore(self, value: Any) -> Any:
        """A reason of the canonical evaluation, with the real ids back."""
        if isinstance(value, bool) or not isinstance(value, (int, dict, list)):
            return value
        if isinstance(value, int):
            return self.backward[value]
        if isinstance(value, dict):
            return {key: self.restore(item) for key, item in value.items()}
        return [self.restore(item) for item in value]


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def canonical(value: Any, names: Renaming) -> Any:
    """The value with every id (int, never bool) renamed; strings, booleans and None unchanged.

    Generic on purpose: every field of every fact object is renamed and, through its
    repr, takes part in the memo's key, so a field added to a fact can never be left out.
    """
    kind = type(value)
    if kind is int:
        return names.rename(value)
    if kind is bool or kind is str or value is None:
        return value
    if kind is dict:
        return {canonical(k, names): canonical(v, names) for k, v in value.items()}
    if kind is list:
        return [canonical(item, names) for item in value]
    if kind is tuple:
        return tuple(canonical(item, names) for item in value)
    if kind is frozenset:
        return frozenset(canonical(item, names) for item in sorted(value))
    if dataclasses.is_dataclass(value):
        return kind(**{name: canonical(getattr(value, name), names) for name in _field_names(kind)})
    raise TypeError(f"no canonical form for {kind.__name__}")


def key_of(value: Any) -> str:
    """An exact key for canonical facts: the repr of ints, strings, booleans, None, containers
    and dataclasses (with their class names) determines the value it was made from."""
    return repr(value)


class PatternMemo:
    """Policy answers (the list of reasons) by canonical facts; bounded, cleared when full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: dict[Any, list[dict[str, Any]]] = {}

    def evaluate(self, user: Any, action: str, subject: Any, explain: bool,
                 evaluate: Callable[[Any, str, Any, bool], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        names = Renaming()
        canonical_user = canonical(user, names)
        canonical_subject = canonical(subject, names)
        key = (action, explain, key_of(canonical_user), key_of(canonical_subject))
        reasons = self.entries.get(key)
        if reasons is None:
            reasons = evaluate(canonical_user, action, canonical_subject, explain)
            if len(self.entries) >= self.size:
                self.entries = {}
            self.entries[key] = reasons
        return [names.restore(reason) for reason in reasons]
