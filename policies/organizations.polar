# Concern: what members may do in their own organization.
# Rules: R1 (legal representatives and administrators), R2 (collaborators and externals),
#        R3 (appointing legal representatives).
# Every grant names its action literally: Polar then tries only the clauses of that action.

# R1: a legal representative or administrator of the organization holds all of its rights.
org_manager(user: User, org: Organization, why) if
  role = user.role_in(org) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R1", organization: org.id, role: role};

# R1: legal representatives and administrators manage their organization's users.
grant(user: User, "manage_users", org: Organization, why) if org_manager(user, org, why);

# R1: legal representatives and administrators manage all of their organization's products.
grant(user: User, "manage_products", org: Organization, why) if org_manager(user, org, why);

# R1: legal representatives and administrators see their organization's billing.
grant(user: User, "view_billing", org: Organization, why) if org_manager(user, org, why);

# R1: legal representatives and administrators reach their own organization's whole account.
grant(user: User, "access_account", org: Organization, why) if org_manager(user, org, why);

# R2: a collaborator sees billing only while holding the billing right (externals never do).
grant(user: User, "view_billing", org: Organization, why) if
  user.role_in(org) = "collaborator" and
  user.has_billing_right(org) and
  why = {rule: "R2", organization: org.id, role: "collaborator", billing_right: true};

# R3: only a legal representative may make someone a legal representative.
grant(user: User, "appoint_legal_representative", org: Organization, why) if
  user.role_in(org) = "legal_representative" and
  why = {rule: "R3", organization: org.id, role: "legal_representative"};
