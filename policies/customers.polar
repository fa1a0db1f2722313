# Concern: adding customers and reaching their accounts.
# Rules: R4 (add a customer), R5 (a customer invites a partner), R12, R13 (access a customer account),
#        R13 (assign collaborators), R17 (export the managed customers).

# R4: only a legal representative of a partner organization may add a customer (send a management invitation).
grant(user: User, "add_customer", org: Organization, why) if
  org.is_partner and
  user.role_in(org) = "legal_representative" and
  why = {rule: "R4", organization: org.id, role: "legal_representative"};

# R4: explains a deny: only a partner organization adds customers.
why_not(_user: User, "add_customer", org: Organization, missing) if
  not org.is_partner and
  missing = {rule: "R4", missing: "partner_program", organization: org.id};

# R4: explains a deny: only a legal representative of the partner adds customers, and the user is another role or none.
why_not(user: User, "add_customer", org: Organization, missing) if
  role = user.role_in(org) and
  role != "legal_representative" and
  missing = {rule: "R4", missing: "role", organization: org.id, role: role, needs: ["legal_representative"]};

# R5: only a legal representative of the customer may invite a partner.
grant(user: User, "invite_partner", org: Organization, why) if
  user.role_in(org) = "legal_representative" and
  why = {rule: "R5", organization: org.id, role: "legal_representative"};

# R5: explains a deny: only the customer's legal representative invites a partner, and the user is another role or none.
why_not(user: User, "invite_partner", org: Organization, missing) if
  role = user.role_in(org) and
  role != "legal_representative" and
  missing = {rule: "R5", missing: "role", organization: org.id, role: role, needs: ["legal_representative"]};

# R12, R13: whoever reaches the customer through an active partnership may access its account.
grant(user: User, "access_account", customer: Organization, why) if
  p in customer.partnerships and
  reaches(user, p, reach) and
  why = {rule: reach.rule, organization: p.customer_id, partnership: p.id, reach: reach};

# R12: explains a deny: a partner's legal representative or administrator reaches only customers of an active partnership.
why_not(user: User, "access_account", customer: Organization, missing) if
  partner in user.partner_orgs and
  partner != customer.id and
  role = user.role_in(partner) and
  role in ["legal_representative", "administrator"] and
  not customer.is_managed_by(partner) and
  missing = {rule: "R12", missing: "active_partnership", partner: partner, customer: customer.id, role: role,
             ended: customer.ended_with(partner)};

# R13: explains a deny: a partner's collaborator reaches only customers of an active partnership.
why_not(user: User, "access_account", customer: Organization, missing) if
  partner in user.partner_orgs and
  partner != customer.id and
  user.role_in(partner) = "collaborator" and
  not customer.is_managed_by(partner) and
  missing = {rule: "R13", missing: "active_partnership", partner: partner, customer: customer.id,
             role: "collaborator", ended: customer.ended_with(partner)};

# R13: explains a deny: a partner's collaborator reaches only the customers assigned to them.
why_not(user: User, "access_account", customer: Organization, missing) if
  partner in user.partner_orgs and
  partner != customer.id and
  user.role_in(partner) = "collaborator" and
  customer.is_managed_by(partner) and
  not user.is_assigned(partner, customer.id) and
  missing = {rule: "R13", missing: "assignment", user: user.id, partner: partner, customer: customer.id};

# R13: explains a deny: a partner's external users reach no customer.
why_not(user: User, "access_account", customer: Organization, missing) if
  partner in user.partner_orgs and
  partner != customer.id and
  user.role_in(partner) = "external" and
  missing = {rule: "R13", missing: "role", partner: partner, customer: customer.id, role: "external",
             needs: ["legal_representative", "administrator", "collaborator"]};

# R13: legal representatives and administrators of a partner assign its collaborators to customers.
grant(user: User, "assign_collaborators", org: Organization, why) if
  org.is_partner and
  role = user.role_in(org) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R13", organization: org.id, role: role};

# R13: explains a deny: only a partner organization has collaborators to assign.
why_not(_user: User, "assign_collaborators", org: Organization, missing) if
  not org.is_partner and
  missing = {rule: "R13", missing: "partner_program", organization: org.id};

# R13: explains a deny: only the partner's legal representatives and administrators assign, and the user is another role or none.
why_not(user: User, "assign_collaborators", org: Organization, missing) if
  role = user.role_in(org) and
  not role in ["legal_representative", "administrator"] and
  missing = {rule: "R13", missing: "assigner_role", organization: org.id, role: role, needs: ["legal_representative", "administrator"]};

# R17: legal representatives and administrators of a partner may export the list of its managed customers.
grant(user: User, "export_customers", org: Organization, why) if
  org.is_partner and
  role = user.role_in(org) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R17", organization: org.id, role: role};

# R17: explains a deny: only a partner organization has managed customers to export.
why_not(_user: User, "export_customers", org: Organization, missing) if
  not org.is_partner and
  missing = {rule: "R17", missing: "partner_program", organization: org.id};

# R17: explains a deny: only the partner's legal representatives and administrators export, and the user is another role or none.
why_not(user: User, "export_customers", org: Organization, missing) if
  role = user.role_in(org) and
  not role in ["legal_representative", "administrator"] and
  missing = {rule: "R17", missing: "role", organization: org.id, role: role, needs: ["legal_representative", "administrator"]};
