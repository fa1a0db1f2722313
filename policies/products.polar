# Concern: managing products and seeing their statistics.
# Rules: R1, R2 (own organization's products), R14 (full access), R15 (limited access).
# R8: only the partnership's granted rights appear here; an invitation's request never does.

# R1, R2: who holds a product inside its own organization.
product_member(user: User, product: Product, why) if
  role = user.role_in(product.organization_id) and
  own_product_right(user, product, role, why);

# R1: legal representatives and administrators hold every product of their organization.
own_product_right(_user: User, product: Product, role: String, why) if
  role in ["legal_representative", "administrator"] and
  why = {rule: "R1", product: product.id, organization: product.organization_id, role: role};

# R2: a collaborator or external user holds only the products they were authorized for.
own_product_right(user: User, product: Product, role: String, why) if
  role in ["collaborator", "external"] and
  user.is_authorized_for(product.id) and
  why = {rule: "R2", product: product.id, organization: product.organization_id, role: role, authorized: true};

# R14: with full access, whoever reaches the customer holds all of its products.
full_access(user: User, product: Product, why) if
  p in product.partnerships and
  p.access = "full" and
  reaches(user, p, reach) and
  why = {rule: "R14", product: product.id, partnership: p.id, access: "full", reach: reach};

# R1, R2: members manage the products they hold in their own organization.
grant(user: User, "manage_product", product: Product, why) if product_member(user, product, why);

# R1, R2: members see statistics of the products they hold in their own organization.
grant(user: User, "view_statistics", product: Product, why) if product_member(user, product, why);

# R14: with full access, whoever reaches the customer manages all of its products.
grant(user: User, "manage_product", product: Product, why) if full_access(user, product, why);

# R14: with full access, whoever reaches the customer sees statistics of all of its products.
grant(user: User, "view_statistics", product: Product, why) if full_access(user, product, why);

# R15: with limited access, whoever reaches the customer manages only granted products that carry the technical right.
grant(user: User, "manage_product", product: Product, why) if
  p in product.partnerships and
  p.access = "limited" and
  p.granted.technical = true and
  reaches(user, p, reach) and
  why = {rule: "R15", product: product.id, partnership: p.id, access: "limited", right: "technical", reach: reach};

# R15: with limited access, whoever reaches the customer sees statistics only of granted products that carry the statistical right.
grant(user: User, "view_statistics", product: Product, why) if
  p in product.partnerships and
  p.access = "limited" and
  p.granted.statistical = true and
  reaches(user, p, reach) and
  why = {rule: "R15", product: product.id, partnership: p.id, access: "limited", right: "statistical", reach: reach};
