"""The engine of the policy version in force, for answers that ask it many questions on one snapshot.

A present answer asks the served engine (ActiveEngine) for the engine of the store's active version;
with none, or one that cannot be loaded, the answer is refused (PolicyUnavailable: 503 on the API,
an error page in the console), never computed without the policy. Each answer then checks that the
version active in the snapshot its facts were read from is the one it asked (an activation may
commit in between): if not, it is asked again with the new version. A past answer's engine (one
version, deciding under history.as_of) is used as it is.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator, TypeVar

from service.policy.active import ActiveEngine
from service.decide.engine import Engine
from service.policy.versions import active_version_and_stamp
from service.store.db import read_snapshot

T = TypeVar("T")
ATTEMPTS = 3


class PolicyUnavailable(RuntimeError):
    """No policy version can answer: none is active, or the active one cannot be loaded."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


class VersionMoved(RuntimeError):
    """The snapshot an answer read has another active version than the engine it asked."""


def check_version(expected: str | None, active: str | None) -> None:
    """Raise VersionMoved unless `active` (read with the facts) is `expected` (None: a past answer)."""
    if expected is not None and active != expected:
        raise VersionMoved(f"active version {active} while answering with {expected}")


def answer_in_force(engine: Engine | ActiveEngine, answer: Callable[[Engine, str | None], T],
                    stamp: tuple[str, int] | None = None) -> T:
    """answer(engine of the version in force, the version to find active in its snapshot or None);
    `stamp`: the store's stamp if the caller has just read it (a request's, for its key check)."""
    if not isinstance(engine, ActiveEngine):
        return answer(engine, None)
    for attempt in range(ATTEMPTS):
        concrete, refused, _stamp = engine.current(stamp if attempt == 0 else None)
        if concrete is None:
            why = refused.reasons[0] if refused is not None and refused.reasons else {}
            if why.get("denied") == "internal error while deciding":  # the store could not be read (logged)
                raise RuntimeError("the active policy version could not be read")
            raise PolicyUnavailable(str(why.get("denied", "no policy version can answer")), str(why.get("detail", "")))
        try:
            return answer(concrete, concrete.policy_version)
        except VersionMoved:
            continue
    raise PolicyUnavailable("policy changed while answering", "activations kept committing; ask again")


_open = threading.local()


def in_snapshot() -> bool:
    """Whether this thread reads inside snapshot() (every statement then sees the same state)."""
    return bool(getattr(_open, "depth", 0))


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """store.read_snapshot, re-entrant on this thread: a console page reads many answers in the
    snapshot it opened, and each answer opens its own when asked alone."""
    if getattr(_open, "depth", 0):
        _open.depth += 1
        try:
            yield
        finally:
            _open.depth -= 1
        return
    with read_snapshot():
        _open.depth = 1
        try:
            yield
        finally:
            _open.depth = 0


def build_in_force(engine: Engine | ActiveEngine, build: Callable[[Engine], T]) -> T:
    """build(engine of the version in force) inside one snapshot whose active version is that
    engine's: every answer of a console page names one store state and one version."""
    def answer(concrete: Engine, expected: str | None) -> T:
        with snapshot():
            if expected is not None:
                check_version(expected, active_version_and_stamp()[0])
            return build(concrete)
    return answer_in_force(engine, answer)
