"""The action vocabulary of the API contract (docs/api.md), per resource type.

This says which words exist, not who may use them: an action outside this
table is unknown and denied (R20) before the policy is asked. The policy's
resource blocks declare the same lists; tests/test_vocabulary.py keeps the two equal.
"""
from __future__ import annotations

ACTIONS: dict[str, tuple[str, ...]] = {
    "organization": (
        "manage_users", "manage_products", "view_billing", "appoint_legal_representative",
        "add_customer", "invite_partner", "export_customers", "assign_collaborators",
        "access_account",
    ),
    "product": ("manage_product", "view_statistics"),
    "invoice": ("view_invoice",),
    "invitation": ("accept", "refuse", "resend", "cancel"),
    "partnership": ("review", "change_access", "change_payment_mode", "end"),
}


def actions_for(resource_type: str) -> tuple[str, ...]:
    return ACTIONS.get(resource_type, ())


def is_known(resource_type: str, action: str) -> bool:
    return action in ACTIONS.get(resource_type, ())
