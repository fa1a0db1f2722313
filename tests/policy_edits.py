"""Three real policy edits (issue 10) as candidate folders made from policies/, for the impact tests."""
from __future__ import annotations

import shutil
from pathlib import Path

from service.authz.engine import POLICY_DIR

R13_ASSIGNMENT = '''reaches_as(user: User, p, "collaborator", reach) if
  user.is_assigned(p.partner_id, p.customer_id) and
'''
R13_LOOSENED = '''reaches_as(_user: User, p, "collaborator", reach) if
'''
R16_TO_THE_PARTNER = '''
# R16 (loosened): whoever reaches the paying customer through an active partnership sees its invoices, whoever pays.
grant(user: User, "view_invoice", invoice: Invoice, why) if
  p in invoice.organization.partnerships and
  reaches(user, p, reach) and
  why = {rule: "R16", invoice: invoice.id, organization: p.customer_id, partnership: p.id, reach: reach};
'''
R4_GRANT = '''# R4: only a legal representative of a partner organization may add a customer (send a management invitation).
grant(user: User, "add_customer", org: Organization, why) if
  org.is_partner and
  user.role_in(org) = "legal_representative" and
  why = {rule: "R4", organization: org.id, role: "legal_representative"};
'''

# name -> (file, text replaced, replacement); an empty text replaced appends the replacement
EDITS = {
    "r13_all_collaborators": ("main.polar", R13_ASSIGNMENT, R13_LOOSENED),
    "r16_partner_sees_invoices": ("billing.polar", "", R16_TO_THE_PARTNER),
    "r4_nobody": ("customers.polar", R4_GRANT, ""),
}


def edited_copy(folder: Path, file: str, old: str, new: str) -> Path:
    """policies/ copied to folder with `old` replaced by `new` in file (an empty `old` appends `new`)."""
    shutil.copytree(POLICY_DIR, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    if old:
        assert old in text, f"the edit's target vanished from {file}: {old!r}"
        text = text.replace(old, new)
    else:
        text += new
    path.write_text(text, encoding="utf-8")
    return folder


def candidate(tmp_path: Path, name: str) -> Path:
    """policies/ copied under tmp_path with one edit of EDITS applied."""
    return edited_copy(tmp_path / f"candidate-{name}", *EDITS[name])
