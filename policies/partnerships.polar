# Concern: reviewing, changing and ending a partnership.
# Rules: R10 (review), R18 (change the grant or payment mode), R19 (end), R1 (the customer's own view).

# R18: the customer's legal representative may change an active partnership's grant.
customer_representative(user: User, p: Partnership, why) if
  p.active and
  user.role_in(p.customer_id) = "legal_representative" and
  why = {rule: "R18", partnership: p.id, side: "customer", role: "legal_representative"};

# R10: the partner's legal representatives and administrators review the granted access of an active partnership.
grant(user: User, "review", p: Partnership, why) if
  p.active and
  role = user.role_in(p.partner_id) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R10", partnership: p.id, side: "partner", role: role};

# R1: the customer's legal representatives and administrators review what their organization granted, ended or not.
grant(user: User, "review", p: Partnership, why) if
  role = user.role_in(p.customer_id) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R1", partnership: p.id, side: "customer", role: role};

# R18: a legal representative of the customer changes the granted access of an active partnership.
grant(user: User, "change_access", p: Partnership, why) if customer_representative(user, p, why);

# R18: a legal representative of the customer changes the payment mode of an active partnership.
grant(user: User, "change_payment_mode", p: Partnership, why) if customer_representative(user, p, why);

# R19: a legal representative of the partner ends an active partnership.
grant(user: User, "end", p: Partnership, why) if
  p.active and
  user.role_in(p.partner_id) = "legal_representative" and
  why = {rule: "R19", partnership: p.id, side: "partner", role: "legal_representative"};

# R19: a legal representative of the customer ends an active partnership.
grant(user: User, "end", p: Partnership, why) if
  p.active and
  user.role_in(p.customer_id) = "legal_representative" and
  why = {rule: "R19", partnership: p.id, side: "customer", role: "legal_representative"};
