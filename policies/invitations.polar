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
