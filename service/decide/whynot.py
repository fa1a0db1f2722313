"""Explained denials: for a denied question, what each rule that could have allowed it lacks.

The conditions live in the policy itself: every `why_not(user, action, resource, missing)`
clause sits beside the `grant` it explains, in the same .polar file, and binds
`missing` to `{rule, missing, <facts>}`. This module only loads the few extra facts
those clauses read (the user's partner organizations, the customer's ended
partnerships), queries `why_not`, and adds one line of text per answer.

It runs only for a deny asked with explain and never on the fast path: the
decision itself (and the pattern memo's canonical facts) never sees these facts.
Text templates are keyed by (rule, missing); tests/test_explain.py checks that
every clause has one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oso import Oso, Variable

from service.store import fast_sql

from service.decide import facts
from service.decide.refs import Ref

# which kind of thing an id under each fact key names (for the text)
_REF_KINDS = {"organization": "organization", "partner": "organization", "customer": "organization",
              "partnership": "partnership", "product": "product", "invoice": "invoice",
              "invitation": "invitation", "user": "user"}

_ROLE_WORDS = {None: "not a member", "legal_representative": "a legal representative",
               "administrator": "an administrator", "collaborator": "a collaborator",
               "external": "an external user"}

# (rule, missing) -> one line of text; {names} are the entry's facts as refs, plus {actor}
TEXTS: dict[tuple[str, str], str] = {
    ("R1", "role"): "{actor} is {role_words} of {organization}; {rule} needs {needs_words}",
    ("R2", "billing_right"): "{actor} is a collaborator of {organization} without the billing right",
    ("R2", "product_authorization"): "{actor} is {role_words} of {organization} but is not authorized for {product}",
    ("R3", "role"): "{actor} is {role_words} of {organization}; {rule} needs {needs_words}",
    ("R4", "partner_program"): "{organization} is not a partner organization",
    ("R4", "role"): "{actor} is {role_words} of {organization}; {rule} needs {needs_words}",
    ("R5", "role"): "{actor} is {role_words} of {organization}; {rule} needs {needs_words}",
    ("R7", "open_invitation"): "{invitation} is no longer open ({status_words})",
    ("R7", "role"): "{actor} is {role_words} of the invited {organization}; {rule} needs {needs_words}",
    ("R9", "open_invitation"): "{invitation} is no longer open ({status_words})",
    ("R9", "role"): "{actor} is {role_words} of the inviting {organization}; {rule} needs {needs_words}",
    ("R10", "active_partnership"): "{partnership} between {partner} and {customer} has ended",
    ("R10", "role"): "{actor} is {role_words} of the partner {partner}; {rule} needs {needs_words}",
    ("R1", "customer_role"): "{actor} is {role_words} of the customer {customer}; {rule} needs {needs_words}",
    ("R12", "active_partnership"): "no active partnership between {partner} and {customer}{ended_words}",
    ("R13", "active_partnership"): "{actor} is a collaborator of {partner}, but there is no active partnership "
                                   "between {partner} and {customer}{ended_words}",
    ("R13", "assignment"): "{actor} is a collaborator of {partner} but is not assigned to {customer}",
    ("R13", "role"): "{actor} is {role_words} of {partner}; externals reach no customer",
    ("R13", "partner_program"): "{organization} is not a partner organization",
    ("R13", "assigner_role"): "{actor} is {role_words} of {organization}; {rule} needs {needs_words}",
    ("R15", "technical_right"): "{partnership} {granted_words}",
    ("R15", "statistical_right"): "{partnership} {granted_words}",
    ("R16", "billing_right"): "{invoice} belongs to {organization}; {actor} has no billing right there",
    ("R17", "partner_program"): "{organization} is not a partner organization",
    ("R17", "role"): "{actor} is {role_words} of {organization}; {rule} needs {needs_words}",
    ("R18", "active_partnership"): "{partnership} between {partner} and {customer} has ended",
    ("R18", "role"): "{actor} is {role_words} of the customer {customer}; {rule} needs {needs_words}",
    ("R19", "active_partnership"): "{partnership} between {partner} and {customer} has ended",
    ("R19", "role"): "{actor} is {role_words} of the {side} {organization}; {rule} needs {needs_words}",
    ("R20", "relation"): "{actor} holds no role that any rule reads for {resource}",
    ("R20", "known_action"): "{action} is not an action on {resource_type}",
    ("R20", "existing_actor"): "{actor} does not exist",
    ("R20", "existing_resource"): "{resource} does not exist",
    ("R20", "valid_actor"): "the actor reference is invalid: {detail}",
    ("R20", "valid_resource"): "the resource reference is invalid: {detail}",
}

# the engine's plain deny reasons -> what is missing (R20)
_DENIALS = {"invalid actor": "valid_actor", "invalid resource": "valid_resource",
            "unknown resource": "existing_resource", "unknown actor": "existing_actor",
            "unknown action": "known_action"}


@dataclass(slots=True)
class ExplainedUser(facts.User):
    """The decision's user plus the partner organizations they belong to (read by why_not only)."""

    partner_orgs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class ExplainedOrganization(facts.Organization):
    """The customer plus its ended partnerships by partner id (read by why_not only)."""

    ended: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def is_managed_by(self, partner_id: int) -> bool:
        return any(p["partner_id"] == partner_id for p in self.partnerships)

    def ended_with(self, partner_id: int) -> list[dict[str, Any]]:
        return self.ended.get(partner_id, [])


# the classes why_not clauses see in place of facts.User and facts.Organization (policy_checks reads this)
EXPLAINED_CLASSES = (ExplainedUser, ExplainedOrganization)


def _rows(sql: str, *params: Any) -> list[tuple]:
    return fast_sql.fetch_all(sql, params)


def _explained_user(user: facts.User) -> ExplainedUser:
    partners = [r[0] for r in _rows("SELECT m.organization_id FROM membership m JOIN organization o "
                                    "ON o.id = m.organization_id WHERE m.user_id = ? AND o.is_partner "
                                    "ORDER BY m.organization_id", user.id)]
    return ExplainedUser(user.id, user.roles, user.billing, user.authorized_products, user.assignments, partners)


def _explained_organization(org: facts.Organization) -> ExplainedOrganization:
    ended: dict[int, list[dict[str, Any]]] = {}
    for pid, partner_id, ended_at in _rows("SELECT id, partner_id, ended_at FROM partnership WHERE customer_id = ? "
                                           "AND status = 'ended' ORDER BY id", org.id):
        day = facts._as_datetime(ended_at).date().isoformat() if ended_at else None
        ended.setdefault(partner_id, []).append({"partnership": pid, "ended_at": day})
    return ExplainedOrganization(org.id, org.is_partner, org.partnerships, ended)


def _explained_subject(subject: Any) -> Any:
    if isinstance(subject, facts.Organization):
        return _explained_organization(subject)
    if isinstance(subject, facts.Product):
        return facts.Product(subject.id, _explained_organization(subject.organization))
    return subject


def explain_denial(oso: Oso, user: Any, action: str, subject: Any, ref: Ref | None,
                   denial: list[dict[str, Any]], actor: str) -> list[dict[str, Any]]:
    """The `missing` entries of a deny (each with rule, missing, its facts and text), never empty."""
    plain = denial[0] if denial else {}
    if plain.get("denied") in _DENIALS:
        details = {k: v for k, v in plain.items() if k not in ("rule", "denied")}
        return [_with_text({"rule": "R20", "missing": _DENIALS[plain["denied"]], **details}, actor, action, ref)]
    entries = []
    for result in oso.query_rule("why_not", _explained_user(user), action, _explained_subject(subject),
                                 Variable("missing")):
        entry = dict(result["bindings"]["missing"])
        if entry not in entries:
            entries.append(entry)
    if not entries:
        entries = [{"rule": "R20", "missing": "relation"}]
    return [_with_text(entry, actor, action, ref) for entry in entries]


def _words(entry: dict[str, Any], actor: str, action: str, ref: Ref | None) -> dict[str, Any]:
    words: dict[str, Any] = {key: (f"{_REF_KINDS[key]}:{value}" if key in _REF_KINDS and isinstance(value, int)
                                   else value) for key, value in entry.items()}
    words.update(actor=actor, action=action, resource=str(ref) if ref else "the resource",
                 role_words=_ROLE_WORDS.get(entry.get("role"), str(entry.get("role"))),
                 needs_words=" or ".join(_ROLE_WORDS[r] for r in entry.get("needs", [])),
                 ended_words="".join(f" (partnership:{e['partnership']} ended {e['ended_at']})"
                                     for e in entry.get("ended", [])[-1:]),
                 status_words=entry.get("status", "") + (", expired" if entry.get("expired") else ""))
    if "granted" in entry:  # R15: a product granted with the other right only, or not granted at all
        right = entry["missing"].removesuffix("_right")
        words["granted_words"] = (f"grants {words['product']} without the {right} right"
                                  if any(entry["granted"].values()) else f"does not grant {words['product']} at all")
    words.setdefault("resource_type", ref.type if ref else "")
    words.setdefault("detail", "")
    return words


def _with_text(entry: dict[str, Any], actor: str, action: str, ref: Ref | None) -> dict[str, Any]:
    template = TEXTS.get((entry["rule"], entry["missing"]))
    if template is None:  # a why_not clause without a text: still explained, and tests flag it
        text = f"{entry['rule']}: {entry['missing']} is missing"
    else:
        text = f"{entry['rule']}: " + template.format(**_words(entry, actor, action, ref))
    facts_ = {key: value for key, value in entry.items() if key not in ("rule", "missing")}
    return {"rule": entry["rule"], "missing": entry["missing"], **facts_, "text": text}
