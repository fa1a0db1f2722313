"""What time alone changes in the present state: pending invitations expiring.

A kept present answer (rule pairs, a present page) is keyed by the store's stamp, which every write
moves; but an invitation expires with no write (the policy reads `expired` from its expires_at and the
decision's moment), and with it who may answer, resend or cancel it (R7, R9). The number of pending
invitations already expired moves exactly then, so it joins those keys.
"""
from __future__ import annotations

from service.store.history import decision_moment
from service.store.models import Invitation


def expired_pending() -> int:
    """How many pending invitations have expired by the decision's moment (one counting statement)."""
    return (Invitation.select()
            .where((Invitation.status == "pending") & (Invitation.expires_at <= decision_moment()))
            .count())
