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

# R10: explains a deny: the partner reviews only an active partnership.
why_not(user: User, "review", p: Partnership, missing) if
  not p.active and
  role = user.role_in(p.partner_id) and
  role in ["legal_representative", "administrator"] and
  missing = {rule: "R10", missing: "active_partnership", partnership: p.id, partner: p.partner_id,
             customer: p.customer_id};

# R10: explains a deny: on the partner's side only legal representatives and administrators review.
why_not(user: User, "review", p: Partnership, missing) if
  role = user.role_in(p.partner_id) and
  role in ["collaborator", "external"] and
  missing = {rule: "R10", missing: "role", partnership: p.id, partner: p.partner_id, role: role, needs: ["legal_representative", "administrator"]};

# R1: explains a deny: on the customer's side only legal representatives and administrators review.
why_not(user: User, "review", p: Partnership, missing) if
  role = user.role_in(p.customer_id) and
  role in ["collaborator", "external"] and
  missing = {rule: "R1", missing: "customer_role", partnership: p.id, customer: p.customer_id, role: role,
             needs: ["legal_representative", "administrator"]};

# R18: a legal representative of the customer changes the granted access of an active partnership.
grant(user: User, "change_access", p: Partnership, why) if customer_representative(user, p, why);

# R18: a legal representative of the customer changes the payment mode of an active partnership.
grant(user: User, "change_payment_mode", p: Partnership, why) if customer_representative(user, p, why);

# R18: explains a deny: the grant and payment mode change only while the partnership is active.
why_not(user: User, action: String, p: Partnership, missing) if
  action in ["change_access", "change_payment_mode"] and
  not p.active and
  user.role_in(p.customer_id) = "legal_representative" and
  missing = {rule: "R18", missing: "active_partnership", partnership: p.id, partner: p.partner_id,
             customer: p.customer_id};

# R18: explains a deny: only the customer's legal representative changes the grant, and the user is another role or none there.
why_not(user: User, action: String, p: Partnership, missing) if
  action in ["change_access", "change_payment_mode"] and
  role = user.role_in(p.customer_id) and
  role != "legal_representative" and
  missing = {rule: "R18", missing: "role", partnership: p.id, customer: p.customer_id, role: role,
             needs: ["legal_representative"]};

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

# R19: explains a deny: only an active partnership can be ended.
why_not(user: User, "end", p: Partnership, missing) if
  not p.active and
  (user.role_in(p.partner_id) = "legal_representative" or user.role_in(p.customer_id) = "legal_representative") and
  missing = {rule: "R19", missing: "active_partnership", partnership: p.id, partner: p.partner_id,
             customer: p.customer_id};

# R19: explains a deny: only a legal representative of either side ends it, and the user is another role on the partner's side.
why_not(user: User, "end", p: Partnership, missing) if
  role = user.role_in(p.partner_id) and
  role in ["administrator", "collaborator", "external"] and
  missing = {rule: "R19", missing: "role", partnership: p.id, side: "partner", organization: p.partner_id,
             role: role, needs: ["legal_representative"]};

# R19: explains a deny: only a legal representative of either side ends it, and the user is another role on the customer's side.
why_not(user: User, "end", p: Partnership, missing) if
  role = user.role_in(p.customer_id) and
  role in ["administrator", "collaborator", "external"] and
  missing = {rule: "R19", missing: "role", partnership: p.id, side: "customer", organization: p.customer_id,
             role: role, needs: ["legal_representative"]};
