"""Real policy edits as candidate folders made from policies/: three for the impact tests (issue 10), and four
activated for real with the decision-table rows they overturn (issue 18, tests/test_one_truth.py)."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from service.decide.engine import POLICY_DIR

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


def copy_policies(folder: Path) -> Path:
    """policies/ copied to folder: its manifest and the files it names (not a stray file someone left there)."""
    manifest = (POLICY_DIR / "manifest").read_text(encoding="utf-8")
    named = {line.split("#", 1)[0].strip() for line in manifest.splitlines()}
    shutil.copytree(POLICY_DIR, folder, ignore=lambda _dir, names: [n for n in names if n.endswith(".polar")
                                                                    and n not in named])
    return folder


def edited_copy(folder: Path, file: str, old: str, new: str) -> Path:
    """policies/ copied to folder with `old` replaced by `new` in file (an empty `old` appends `new`)."""
    copy_policies(folder)
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


# -- issue 18: four edits activated for real, each with the decision-table rows a reviewer changes with it -----
#
# An edit is a list of (file, text replaced, replacement) steps (an empty text replaced appends) and the rows of
# tests/policy/*.yaml it deliberately overturns, rewritten as a reviewer would (docs/policy-changes.md, step 3),
# so that activation's own validation (load, strict checks, the decision tables) accepts the candidate.

R13_COMMENT = "# R13: a collaborator of the partner reaches only the customers assigned to them (externals reach none).\n"
R13_COMMENT_LOOSENED = ("# R13: every collaborator of the partner reaches every customer of an active partnership, "
                        "assigned or not (externals reach none).\n")

R12_ADMINISTRATORS = '''# R12: legal representatives and administrators of the partner reach every customer of an active partnership.
reaches_as(_user: User, p, role: String, reach) if
  role in ["legal_representative", "administrator"] and
  reach = {rule: "R12", partnership: p.id, partner: p.partner_id, role: role};
'''
R12_LEGAL_ONLY = '''# R12: only the legal representatives of the partner reach every customer of an active partnership (its administrators no longer do).
reaches_as(_user: User, p, "legal_representative", reach) if
  reach = {rule: "R12", partnership: p.id, partner: p.partner_id, role: "legal_representative"};
'''

R4_WITH_ADMINISTRATORS = '''# R4: a legal representative or an administrator of a partner organization may add a customer (send a management invitation).
grant(user: User, "add_customer", org: Organization, why) if
  org.is_partner and
  role = user.role_in(org) and
  role in ["legal_representative", "administrator"] and
  why = {rule: "R4", organization: org.id, role: role};
'''
R4_WHY_NOT_ROLE = '''# R4: explains a deny: only a legal representative of the partner adds customers, and the user is another role or none.
why_not(user: User, "add_customer", org: Organization, missing) if
  role = user.role_in(org) and
  role != "legal_representative" and
  missing = {rule: "R4", missing: "role", organization: org.id, role: role, needs: ["legal_representative"]};
'''
R4_WHY_NOT_ROLES = '''# R4: explains a deny: only a legal representative or an administrator of the partner adds customers, and the user is another role or none.
why_not(user: User, "add_customer", org: Organization, missing) if
  role = user.role_in(org) and
  not role in ["legal_representative", "administrator"] and
  missing = {rule: "R4", missing: "role", organization: org.id, role: role,
             needs: ["legal_representative", "administrator"]};
'''


@dataclass(frozen=True)
class RowChange:
    """One row of a decision table, found by (file, actor, action, resource), with what the reviewer changed."""
    file: str
    actor: str
    action: str
    resource: str
    expect: str
    rule: str
    note: str
    missing: tuple[str, ...] = ()   # a deny row's explained deny


def _allow(file: str, actor: str, action: str, resource: str, rule: str, note: str) -> RowChange:
    return RowChange(file, actor, action, resource, "allow", rule, note)


def _deny(file: str, actor: str, action: str, resource: str, rule: str, note: str,
          missing: tuple[str, ...] = ("R20 relation",)) -> RowChange:
    return RowChange(file, actor, action, resource, "deny", rule, note, missing)


R13_NOTE = "R13 loosened: every collaborator reaches every managed customer, assigned or not"
R16_NOTE = "R16 opened to the partner: whoever reaches the paying customer sees its invoices"
R12_NOTE = "R12 narrowed: a partner's administrator no longer reaches its customers"
R12_R8_NOTE = "R12 narrowed: the administrator no longer reaches the customer at all"


@dataclass(frozen=True)
class OneTruthEdit:
    steps: tuple[tuple[str, str, str], ...]
    rows: tuple[RowChange, ...]
    rules: tuple[str, ...]          # the rules whose answers the edit changes


ONE_TRUTH_EDITS: dict[str, OneTruthEdit] = {
    "r13_all_collaborators": OneTruthEdit(
        (("main.polar", R13_ASSIGNMENT, R13_LOOSENED), ("main.polar", R13_COMMENT, R13_COMMENT_LOOSENED)),
        (_allow("customers.yaml", "user:carla", "access_account", "organization:metzgerei", "R13", R13_NOTE),
         _allow("customers.yaml", "user:dirk", "access_account", "organization:baeckerei", "R13", R13_NOTE),
         _allow("customers.yaml", "user:pia", "access_account", "organization:cafe", "R13", R13_NOTE),
         _allow("products.yaml", "user:dirk", "manage_product", "product:baeckerei_web", "R14", R13_NOTE),
         _allow("products.yaml", "user:carla", "manage_product", "product:metzgerei_web", "R14", R13_NOTE),
         _allow("products.yaml", "user:pia", "manage_product", "product:cafe_web", "R14", R13_NOTE),
         _allow("products.yaml", "user:dirk", "manage_product", "product:anwalt_web", "R15", R13_NOTE)),
        ("R13", "R14", "R15")),
    "r16_partner_sees_invoices": OneTruthEdit(
        (EDITS["r16_partner_sees_invoices"],),
        (_allow("billing.yaml", "user:anna", "view_invoice", "invoice:baeckerei_invoice", "R16", R16_NOTE),
         _allow("billing.yaml", "user:bernd", "view_invoice", "invoice:baeckerei_invoice", "R16", R16_NOTE),
         _allow("billing.yaml", "user:carla", "view_invoice", "invoice:baeckerei_invoice", "R16", R16_NOTE),
         _allow("billing.yaml", "user:anna", "view_invoice", "invoice:anwalt_invoice", "R16", R16_NOTE),
         _allow("billing.yaml", "user:peter", "view_invoice", "invoice:cafe_invoice", "R16", R16_NOTE),
         _allow("edge_cases.yaml", "user:gina", "view_invoice", "invoice:agentur_own_invoice", "R16", R16_NOTE),
         _allow("edge_cases.yaml", "user:amy", "view_invoice", "invoice:kunde_invoice", "R16", R16_NOTE)),
        ("R16",)),
    "r12_legal_representatives_only": OneTruthEdit(
        (("main.polar", R12_ADMINISTRATORS, R12_LEGAL_ONLY),),
        (_deny("customers.yaml", "user:bernd", "access_account", "organization:metzgerei", "R12", R12_NOTE),
         _deny("customers.yaml", "user:peter", "access_account", "organization:cafe", "R12", R12_NOTE),
         _deny("products.yaml", "user:bernd", "view_statistics", "product:baeckerei_shop", "R14", R12_NOTE),
         _deny("products.yaml", "user:bernd", "manage_product", "product:metzgerei_domain", "R14", R12_NOTE),
         _deny("products.yaml", "user:peter", "manage_product", "product:cafe_web", "R14", R12_NOTE),
         _deny("products.yaml", "user:bernd", "view_statistics", "product:anwalt_mail", "R15", R12_NOTE),
         _deny("products.yaml", "user:peter", "view_statistics", "product:verein_web", "R15", R12_NOTE),
         _deny("products.yaml", "user:bernd", "view_statistics", "product:anwalt_drive", "R15", R12_R8_NOTE),
         _deny("products.yaml", "user:bernd", "view_statistics", "product:anwalt_web", "R8", R12_R8_NOTE),
         _deny("products.yaml", "user:bernd", "manage_product", "product:anwalt_mail", "R8", R12_R8_NOTE),
         _deny("products.yaml", "user:bernd", "manage_product", "product:anwalt_drive", "R8", R12_R8_NOTE),
         _deny("products.yaml", "user:peter", "manage_product", "product:verein_mail", "R8", R12_R8_NOTE),
         _deny("products.yaml", "user:peter", "view_statistics", "product:verein_mail", "R8", R12_R8_NOTE),
         _deny("edge_cases.yaml", "user:gustav", "manage_product", "product:agentur_web", "R14", R12_NOTE),
         _deny("edge_cases.yaml", "user:anton", "access_account", "organization:praxis", "R12", R12_NOTE),
         _deny("edge_cases.yaml", "user:anton", "manage_product", "product:praxis_web", "R8", R12_R8_NOTE),
         _deny("edge_cases.yaml", "user:anton", "view_statistics", "product:praxis_web", "R8", R12_R8_NOTE),
         _deny("edge_cases.yaml", "user:anton", "view_statistics", "product:praxis_mail", "R8", R12_R8_NOTE)),
        ("R12", "R14", "R15")),
    "r4_administrators_add_customers": OneTruthEdit(
        (("customers.polar", R4_GRANT, R4_WITH_ADMINISTRATORS), ("customers.polar", R4_WHY_NOT_ROLE, R4_WHY_NOT_ROLES)),
        (_allow("customers.yaml", "user:bernd", "add_customer", "organization:webwerk", "R4",
                "R4 widened: a partner's administrator adds customers too"),),
        ("R4",)),
}


def apply_steps(folder: Path, steps: tuple[tuple[str, str, str], ...]) -> Path:
    """policies/ copied to folder with each (file, old, new) step applied in order."""
    copy_policies(folder)
    for file, old, new in steps:
        path = folder / file
        text = path.read_text(encoding="utf-8")
        if old:
            assert text.count(old) == 1, f"the edit's target is not once in {file}: {old!r}"
            text = text.replace(old, new)
        else:
            text += new
        path.write_text(text, encoding="utf-8")
    return folder


TABLE_DIR = POLICY_DIR.parent / "tests" / "policy"
WORLD_FILES = (POLICY_DIR.parent / "data" / "demo.yaml",)


def _row_line(change: RowChange) -> str:
    fields = [f"actor: {change.actor}", f"action: {change.action}", f"resource: {change.resource}",
              f"expect: {change.expect}", f"rule: {change.rule}"]
    if change.expect == "deny":
        fields.append(f"missing: [{', '.join(change.missing)}]")
    fields.append(f"note: {json.dumps(change.note, ensure_ascii=False)}")
    return "  - {" + ", ".join(fields) + "}"


def edited_tables(root: Path, changes: tuple[RowChange, ...]) -> Path:
    """tests/policy/ (with its worlds, and data/demo.yaml at the same relative place) copied under root, with
    each change applied to the one row it names; the copied table folder."""
    tables = root / "tests" / "policy"
    shutil.copytree(TABLE_DIR, tables)
    for world in WORLD_FILES:
        target = root / world.relative_to(POLICY_DIR.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(world, target)
    for change in changes:
        path = tables / change.file
        lines = path.read_text(encoding="utf-8").splitlines()
        found = [i for i, line in enumerate(lines) if line.lstrip().startswith("- {")
                 and _names(yaml.safe_load(line.strip()[2:]), change)]
        assert len(found) == 1, f"{change.file}: {len(found)} rows for {change}"
        lines[found[0]] = _row_line(change)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tables


def _names(row: dict, change: RowChange) -> bool:
    return (row.get("actor"), row.get("action"), row.get("resource")) == (change.actor, change.action, change.resource)


def one_truth_candidate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """(the edited policy folder, the edited table folder) of ONE_TRUTH_EDITS[name], under tmp_path."""
    edit = ONE_TRUTH_EDITS[name]
    return (apply_steps(tmp_path / f"candidate-{name}", edit.steps),
            edited_tables(tmp_path / f"tables-{name}", edit.rows))
