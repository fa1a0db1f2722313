# Concern: invoices.
# Rules: R16 (invoices are visible only on the paying side), built on R1 and R2 (who sees billing).
# An invoice belongs to the organization that pays it: the partner's with payment
# mode "partner", the customer's otherwise; nobody sees billing through a partnership.

# R16: an invoice is visible to the members of its paying organization who may see that organization's billing.
grant(user: User, "view_invoice", invoice: Invoice, why) if
  grant(user, "view_billing", invoice.organization, billing) and
  why = {rule: "R16", invoice: invoice.id, organization: billing.organization, billing: billing};

# R16: explains a deny: the invoice lives in its paying organization, where the user may not see billing.
why_not(user: User, "view_invoice", invoice: Invoice, missing) if
  not grant(user, "view_billing", invoice.organization, _) and
  missing = {rule: "R16", missing: "billing_right", invoice: invoice.id, organization: invoice.organization.id,
             role: user.role_in(invoice.organization)};
