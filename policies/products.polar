# Concern: managing products and seeing their statistics.
# Rules: R1, R2 (own organization's products), R14 (full access), R15 (limited access).
# R8: only the partnership's granted rights appear here; an invitation's request never does.

# R1: legal representatives and administrators manage every product of their organization and see its statistics.
grant(user: User, action: String, product: Product, why) if
  action in ["manage_product", "view_statistics"] and
  role = user.role_in(product.organization.id) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R1", product: product.id, organization: product.organization.id, role: role};

# R2: a collaborator or external user manages, and sees statistics of, only the products they were authorized for.
grant(user: User, action: String, product: Product, why) if
  action in ["manage_product", "view_statistics"] and
  role = user.role_in(product.organization.id) and
  role in ["collaborator", "external"] and
  user.is_authorized_for(product.id) and
  why = {rule: "R2", product: product.id, organization: product.organization.id, role: role, authorized: true};

# R14: with full access, whoever reaches the customer manages all of its products and sees their statistics.
grant(user: User, action: String, product: Product, why) if
  action in ["manage_product", "view_statistics"] and
  p in product.organization.partnerships and
  p.access = "full" and
  reaches(user, p, reach) and
  why = {rule: "R14", product: product.id, partnership: p.id, access: "full", reach: reach};

# R15: with limited access, whoever reaches the customer manages only granted products that carry the technical right.
grant(user: User, "manage_product", product: Product, why) if
  p in product.organization.partnerships and
  p.access = "limited" and
  p.grants_technical(product.id) and
  reaches(user, p, reach) and
  why = {rule: "R15", product: product.id, partnership: p.id, access: "limited", right: "technical", reach: reach};

# R15: with limited access, whoever reaches the customer sees statistics only of granted products that carry the statistical right.
grant(user: User, "view_statistics", product: Product, why) if
  p in product.organization.partnerships and
  p.access = "limited" and
  p.grants_statistical(product.id) and
  reaches(user, p, reach) and
  why = {rule: "R15", product: product.id, partnership: p.id, access: "limited", right: "statistical", reach: reach};
