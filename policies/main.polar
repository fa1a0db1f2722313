# Concern: the entry point, the vocabulary of actions, and how a partner reaches a customer.
# Rules: R12, R13 (reaching a customer), R20 (default deny).
#
# How to read these files: every permission is proved by one `grant(user, action,
# resource, why)` clause; `why` is the machine-readable reason that decide()
# returns with an allow. A permission no grant clause proves is denied (R20).

actor User {}

resource Organization {
  permissions = [
    "manage_users", "manage_products", "view_billing", "appoint_legal_representative",
    "add_customer", "invite_partner", "export_customers", "assign_collaborators",
    "access_account"
  ];
}

resource Product {
  permissions = ["manage_product", "view_statistics"];
}

resource Invoice {
  permissions = ["view_invoice"];
}

resource Invitation {
  permissions = ["accept", "refuse", "resend", "cancel"];
}

resource Partnership {
  permissions = ["review", "change_access", "change_payment_mode", "end"];
}

# R20: the single entry point; only what some grant clause proves is allowed, everything else is denied.
allow(actor, action, resource) if has_permission(actor, action, resource);

# R20: a permission holds exactly when a grant clause proves it (the reason is dropped here).
has_permission(user: User, action: String, resource: Resource) if grant(user, action, resource, _why);

# `p` below is an active partnership of the customer as a plain dictionary (see facts.Partnership.as_term).

# R12, R13: a member of the partner reaches the customer of an active partnership according to their role.
reaches(user: User, p, reach) if
  p.active and
  role = user.role_in(p.partner_id) and
  reaches_as(user, p, role, reach);

# R12: legal representatives and administrators of the partner reach every customer of an active partnership.
reaches_as(_user: User, p, role: String, reach) if
  role in ["legal_representative", "administrator"] and
  reach = {rule: "R12", partnership: p.id, partner: p.partner_id, role: role};

# R13: a collaborator of the partner reaches only the customers assigned to them (externals reach none).
reaches_as(user: User, p, "collaborator", reach) if
  user.is_assigned(p.partner_id, p.customer_id) and
  reach = {rule: "R13", partnership: p.id, partner: p.partner_id, role: "collaborator", assigned: true};
