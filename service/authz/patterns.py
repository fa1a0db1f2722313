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


def canonical(value: Any, names: Renaming) -> tuple[Any, Any]:
    """(the value with ids renamed, a hashable key describing it exactly).

    Generic on purpose: every field of every fact object takes part, so a field added
    to a fact can never be left out of the key.
    """
    kind = type(value)
    if kind is bool or value is None or kind is str:
        return value, value
    if kind is int:
        renamed = names.rename(value)
        return renamed, ("#", renamed)
    if kind is dict:
        pairs = [(canonical(k, names), canonical(v, names)) for k, v in value.items()]
        # the key keeps the dict's order, so it determines the renamed dict exactly, order included
        return {k[0]: v[0] for k, v in pairs}, ("{", tuple((k[1], v[1]) for k, v in pairs))
    if kind is list or kind is tuple:
        items = [canonical(item, names) for item in value]
        renamed_items = [item[0] for item in items]
        return (renamed_items if kind is list else tuple(renamed_items),
                ("[", tuple(item[1] for item in items)))
    if kind is frozenset:
        items = [canonical(item, names) for item in sorted(value)]
        return frozenset(item[0] for item in items), ("s", tuple(sorted((item[1] for item in items), key=repr)))
    if dataclasses.is_dataclass(value):
        fields = [(name, canonical(getattr(value, name), names)) for name in _field_names(kind)]
        renamed = kind(**{name: item[0] for name, item in fields})
        return renamed, (kind.__name__, tuple(item[1] for _, item in fields))
    raise TypeError(f"no canonical form for {kind.__name__}")


class PatternMemo:
    """Policy answers (the list of reasons) by canonical facts; bounded, cleared when full."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: dict[Any, list[dict[str, Any]]] = {}

    def evaluate(self, user: Any, action: str, subject: Any, explain: bool,
                 evaluate: Callable[[Any, str, Any, bool], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        names = Renaming()
        canonical_user, user_key = canonical(user, names)
        canonical_subject, subject_key = canonical(subject, names)
        key = (action, explain, user_key, subject_key)
        reasons = self.entries.get(key)
        if reasons is None:
            reasons = evaluate(canonical_user, action, canonical_subject, explain)
            if len(self.entries) >= self.size:
                self.entries = {}
            self.entries[key] = reasons
        return [names.restore(reason) for reason in reasons]
