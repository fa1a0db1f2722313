# Concern: answering, resending and cancelling invitations.
# Rules: R7 (the invited side answers), R9 (the inviting side resends or cancels while pending;
#        an invitation is answered at most once; answered, cancelled or expired ones are closed).

# R7: the invited side's legal representative may answer an invitation that is still open.
invited_representative(user: User, inv: Invitation, why) if
  inv.is_open and
  user.role_in(inv.invited_org_id) = "legal_representative" and
  why = {rule: "R7", invitation: inv.id, organization: inv.invited_org_id, side: inv.invited_side};

# R9: the inviting side's legal representative may resend or cancel an invitation that is still open.
inviting_representative(user: User, inv: Invitation, why) if
  inv.is_open and
  user.role_in(inv.inviting_org_id) = "legal_representative" and
  why = {rule: "R9", invitation: inv.id, organization: inv.inviting_org_id, side: inv.inviting_side};

# R7: a legal representative of the invited organization accepts a pending, unexpired invitation.
grant(user: User, "accept", inv: Invitation, why) if invited_representative(user, inv, why);

# R7: a legal representative of the invited organization refuses a pending, unexpired invitation.
grant(user: User, "refuse", inv: Invitation, why) if invited_representative(user, inv, why);

# R9: a legal representative of the inviting organization resends a pending, unexpired invitation.
grant(user: User, "resend", inv: Invitation, why) if inviting_representative(user, inv, why);

# R9: a legal representative of the inviting organization cancels a pending, unexpired invitation.
grant(user: User, "cancel", inv: Invitation, why) if inviting_representative(user, inv, why);

# R7: explains a deny: only an open invitation (pending, unexpired) can be answered.
why_not(_user: User, action: String, inv: Invitation, missing) if
  action in ["accept", "refuse"] and
  not inv.is_open and
  missing = {rule: "R7", missing: "open_invitation", invitation: inv.id, status: inv.status, expired: inv.expired};

# R7: explains a deny: only a legal representative of the invited organization answers, and the user is another role or none.
why_not(user: User, action: String, inv: Invitation, missing) if
  action in ["accept", "refuse"] and
  role = user.role_in(inv.invited_org_id) and
  role != "legal_representative" and
  missing = {rule: "R7", missing: "role", invitation: inv.id, organization: inv.invited_org_id, role: role,
             needs: ["legal_representative"]};

# R9: explains a deny: only an open invitation (pending, unexpired) can be resent or cancelled.
why_not(_user: User, action: String, inv: Invitation, missing) if
  action in ["resend", "cancel"] and
  not inv.is_open and
  missing = {rule: "R9", missing: "open_invitation", invitation: inv.id, status: inv.status, expired: inv.expired};

# R9: explains a deny: only a legal representative of the inviting organization resends or cancels, and the user is another role or none.
why_not(user: User, action: String, inv: Invitation, missing) if
  action in ["resend", "cancel"] and
  role = user.role_in(inv.inviting_org_id) and
  role != "legal_representative" and
  missing = {rule: "R9", missing: "role", invitation: inv.id, organization: inv.inviting_org_id, role: role,
             needs: ["legal_representative"]};
