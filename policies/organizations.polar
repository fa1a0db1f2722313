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

# R1: explains a deny: a manager's right needs a legal representative or administrator, and the user is another role or none.
why_not(user: User, action: String, org: Organization, missing) if
  action in ["manage_users", "manage_products", "view_billing"] and
  role = user.role_in(org) and
  not role in ["legal_representative", "administrator"] and
  missing = {rule: "R1", missing: "role", organization: org.id, role: role, needs: ["legal_representative", "administrator"]};

# R1: explains a deny: a member of the organization itself reaches its account only as a legal representative or administrator.
why_not(user: User, "access_account", org: Organization, missing) if
  role = user.role_in(org) and
  role in ["collaborator", "external"] and
  missing = {rule: "R1", missing: "role", organization: org.id, role: role, needs: ["legal_representative", "administrator"]};

# R2: a collaborator sees billing only while holding the billing right (externals never do).
grant(user: User, "view_billing", org: Organization, why) if
  user.role_in(org) = "collaborator" and
  user.has_billing_right(org) and
  why = {rule: "R2", organization: org.id, role: "collaborator", billing_right: true};

# R2: explains a deny: a collaborator sees billing only with the billing right, which this one lacks.
why_not(user: User, "view_billing", org: Organization, missing) if
  user.role_in(org) = "collaborator" and
  not user.has_billing_right(org) and
  missing = {rule: "R2", missing: "billing_right", organization: org.id, role: "collaborator"};

# R3: only a legal representative may make someone a legal representative.
grant(user: User, "appoint_legal_representative", org: Organization, why) if
  user.role_in(org) = "legal_representative" and
  why = {rule: "R3", organization: org.id, role: "legal_representative"};

# R3: explains a deny: only a legal representative appoints one, and the user is another role or none.
why_not(user: User, "appoint_legal_representative", org: Organization, missing) if
  role = user.role_in(org) and
  role != "legal_representative" and
  missing = {rule: "R3", missing: "role", organization: org.id, role: role, needs: ["legal_representative"]};
