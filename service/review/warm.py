"""What the console's home page starts computing in the background (precompute.py), so the pages a
reviewer opens next find it there: the stranger probe of the present state (every list of the user and
partner pages needs it; after an activation it is seconds on the 10,000-customer world), the engines of
the versions the history names (what a page `?at=` decides with), every rule's pairs of the present
state and every activation's impact."""
from __future__ import annotations

import logging
from typing import Any, Hashable

from service.audit.policies import UnknownPolicy, engine_for
from service.decide.engine import Engine
from service.decide.facts import QUESTION_TYPES
from service.decide.vocabulary import actions_for
from service.queries.in_force import build_in_force
from service.queries.stranger import open_ids
from service.store.schema import revision_stamp

from . import policy_impact, rule_pairs
from .precompute import Kept, pace

log = logging.getLogger("authz.review")
PAST_ENGINES = 4  # the newest versions whose engines are built ahead (each is kept for the process)

_started: Kept[bool] = Kept(16)  # what was started, per state: a second home page starts nothing again


def warm_up(served: Any) -> None:
    """Start the background computations (never waits; a failure here only means the page computes later)."""
    try:
        _start_probe(served)
        rule_pairs.warm(served)
        listed = policy_impact.activations()
        for activation, previous in listed:
            policy_impact.start(activation, previous)
        for version in list(dict.fromkeys(a.version for a, _ in listed))[:PAST_ENGINES]:
            key = ("engine", version)
            _started.start(key, lambda key=key, version=version: (key, _build_engine(version)))
    except Exception:  # e.g. no policy in force: the home page is still shown, the pages themselves refuse
        log.warning("could not start the console's background computations", exc_info=True)


def _start_probe(served: Any) -> None:
    """The stranger probe of every resource type, for the store's state and the version in force."""
    def probe(engine: Engine) -> tuple[Hashable, bool]:
        for kind in QUESTION_TYPES:
            pace()  # a page being built goes first
            open_ids(engine, kind, actions_for(kind)[0])  # kept by the engine for this state (all actions)
        return ("probe", revision_stamp(), engine.policy_version), True
    key = build_in_force(served, lambda engine: ("probe", revision_stamp(), engine.policy_version))
    _started.start(key, lambda: build_in_force(served, probe))


def _build_engine(version: str) -> bool:
    try:
        engine_for(version)  # kept by audit.policies for the process
    except UnknownPolicy:  # its texts are gone: the page `?at=` says so itself
        return False
    return True
