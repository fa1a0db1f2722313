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

# R2: explains a deny: a collaborator or external user of the owning organization holds only the products authorized for them.
why_not(user: User, action: String, product: Product, missing) if
  action in ["manage_product", "view_statistics"] and
  role = user.role_in(product.organization_id) and
  role in ["collaborator", "external"] and
  not user.is_authorized_for(product.id) and
  missing = {rule: "R2", missing: "product_authorization", product: product.id,
             organization: product.organization_id, role: role};

# R12, R13: explains a deny: whoever does not reach the customer's account reaches none of its products.
why_not(user: User, action: String, product: Product, missing) if
  action in ["manage_product", "view_statistics"] and
  why_not(user, "access_account", product.organization, missing) and
  missing.rule in ["R12", "R13"];

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

# R15: explains a deny: with limited access, the partnership does not grant this product with the technical right.
why_not(user: User, "manage_product", product: Product, missing) if
  p in product.partnerships and
  p.access = "limited" and
  p.granted.technical = false and
  reaches(user, p, _reach) and
  missing = {rule: "R15", missing: "technical_right", partnership: p.id, product: product.id, granted: p.granted};

# R15: explains a deny: with limited access, the partnership does not grant this product with the statistical right.
why_not(user: User, "view_statistics", product: Product, missing) if
  p in product.partnerships and
  p.access = "limited" and
  p.granted.statistical = false and
  reaches(user, p, _reach) and
  missing = {rule: "R15", missing: "statistical_right", partnership: p.id, product: product.id, granted: p.granted};
