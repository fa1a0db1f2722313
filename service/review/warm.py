"""What the console's home page starts computing in the background: every rule's pairs of the present
state and every activation's impact (precompute.py), so the pages a reviewer opens next find them kept."""
from __future__ import annotations

import logging
from typing import Any

from . import policy_impact, rule_pairs

log = logging.getLogger("authz.review")


def warm_up(served: Any) -> None:
    """Start the background computations (never waits; a failure here only means the page computes later)."""
    try:
        rule_pairs.warm(served)
        for activation, previous in policy_impact.activations():
            policy_impact.start(activation, previous)
    except Exception:  # e.g. no policy in force: the home page is still shown, the pages themselves refuse
        log.warning("could not start the console's background computations", exc_info=True)
