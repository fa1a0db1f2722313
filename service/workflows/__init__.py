"""Partnership workflows (R4-R19): each step parses its references, asks the policy through
decide(), and writes its change, an outbox event and a history entry in one transaction."""
from .answers import accept_invitation, refuse_invitation
from .errors import Conflict, Forbidden, Invalid, Malformed, NotFound, WorkflowError
from .invitations import (cancel_invitation, create_invitation, expire_overdue, pending_invitations,
                          resend_invitation)
from .partnerships import (change_access, change_payment_mode, describe_partnership, end_partnership,
                           export_customers,
                           partnership_history, review_partnership)
from .records import events_after

__all__ = [
    "accept_invitation", "refuse_invitation", "cancel_invitation", "create_invitation", "expire_overdue",
    "pending_invitations", "resend_invitation", "change_access", "describe_partnership", "change_payment_mode", "end_partnership",
    "export_customers", "partnership_history", "review_partnership", "events_after",
    "Conflict", "Forbidden", "Invalid", "Malformed", "NotFound", "WorkflowError",
]
