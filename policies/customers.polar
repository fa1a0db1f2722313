# Concern: adding customers and reaching their accounts.
# Rules: R4 (add a customer), R5 (a customer invites a partner), R12, R13 (access a customer account),
#        R13 (assign collaborators), R17 (export the managed customers).

# R4: only a legal representative of a partner organization may add a customer (send a management invitation).
grant(user: User, "add_customer", org: Organization, why) if
  org.is_partner and
  user.role_in(org) = "legal_representative" and
  why = {rule: "R4", organization: org.id, role: "legal_representative"};

# R5: only a legal representative of the customer may invite a partner.
grant(user: User, "invite_partner", org: Organization, why) if
  user.role_in(org) = "legal_representative" and
  why = {rule: "R5", organization: org.id, role: "legal_representative"};

# R12, R13: whoever reaches the customer through an active partnership may access its account.
grant(user: User, "access_account", customer: Organization, why) if
  p in customer.partnerships and
  reaches(user, p, reach) and
  why = {rule: reach.rule, organization: p.customer_id, partnership: p.id, reach: reach};

# R13: legal representatives and administrators of a partner assign its collaborators to customers.
grant(user: User, "assign_collaborators", org: Organization, why) if
  org.is_partner and
  role = user.role_in(org) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R13", organization: org.id, role: role};

# R17: legal representatives and administrators of a partner may export the list of its managed customers.
grant(user: User, "export_customers", org: Organization, why) if
  org.is_partner and
  role = user.role_in(org) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R17", organization: org.id, role: role};
