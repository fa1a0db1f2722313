"""The whole store as decision facts, for the impact analysis: every resource, and for each resource
the users whose facts relate to it (the candidates), loaded with a handful of queries.

The objects are built exactly as service/decide/facts.py builds them for one decision (the same
classes, the same narrowing of the user to the resource's customer and product), so a decision
on them is the decision decide() would take; tests/test_impact.py compares the two on every pair.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator

from service.store import models as m
from service.store.history import decision_moment

from service.decide.facts import Invitation, Invoice, Organization, Partnership, Product, User


@dataclass(slots=True)
class Subject:
    """One resource with the organizations, product and customer its facts mention."""

    ref: str
    facts: Any
    orgs: frozenset[int]               # every organization id the resource's facts carry
    customer_id: int | None = None     # as facts.customer_and_product_of
    product_id: int | None = None


@dataclass
class StoreFacts:
    users: list[int] = field(default_factory=list)
    roles: dict[int, dict[int, str]] = field(default_factory=lambda: defaultdict(dict))
    billing: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    members: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    authorized: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))   # product -> users
    assigned: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))  # customer -> (user, partner)
    subjects: list[Subject] = field(default_factory=list)

    def user(self, user_id: int, subject: Subject) -> User:
        """The user's facts for a decision on `subject` (facts.load_question's narrowing)."""
        authorized = (frozenset({subject.product_id})
                      if subject.product_id is not None and user_id in self.authorized.get(subject.product_id, ())
                      else frozenset())
        assignments = frozenset((partner, subject.customer_id) for user, partner
                                in self.assigned.get(subject.customer_id, ()) if user == user_id) \
            if subject.customer_id is not None else frozenset()
        return User(user_id, dict(self.roles.get(user_id, {})), frozenset(self.billing.get(user_id, ())),
                    authorized, assignments)

    def related_users(self, subject: Subject) -> set[int]:
        """The users whose facts mention this resource's organizations, product or customer."""
        found = {user for org in subject.orgs for user in self.members.get(org, ())}
        if subject.product_id is not None:
            found |= self.authorized.get(subject.product_id, set())
        if subject.customer_id is not None:
            found |= {user for user, _partner in self.assigned.get(subject.customer_id, ())}
        return found


def _account(org_id: int, is_partner: dict[int, bool], active: dict[int, list[Partnership]],
             rights: dict[int, tuple[bool, bool]] | None = None) -> tuple[Organization, frozenset[int]]:
    """An organization with its active partnerships as the policy sees them (with the rights granted on
    one product, if any), and the organizations those facts carry: its own and its partners'."""
    partnerships = active.get(org_id, [])
    terms = [p.as_term(*(rights or {}).get(p.id, (False, False))) for p in partnerships]
    return (Organization(org_id, is_partner[org_id], terms),
            frozenset({org_id} | {p.partner_id for p in partnerships}))


def _organizations(is_partner: dict[int, bool], active: dict[int, list[Partnership]]) -> Iterator[Subject]:
    for org_id in sorted(is_partner):
        facts, orgs = _account(org_id, is_partner, active)
        yield Subject(f"organization:{org_id}", facts, orgs, customer_id=org_id)


def _products(is_partner: dict[int, bool], active: dict[int, list[Partnership]]) -> Iterator[Subject]:
    granted: dict[int, dict[int, tuple[bool, bool]]] = defaultdict(dict)
    for partnership_id, product_id, technical, statistical in m.PartnershipProduct.select(
            m.PartnershipProduct.partnership, m.PartnershipProduct.product,
            m.PartnershipProduct.technical, m.PartnershipProduct.statistical).tuples():
        granted[product_id][partnership_id] = (bool(technical), bool(statistical))
    for product_id, org_id in m.Product.select(m.Product.id, m.Product.organization).order_by(m.Product.id).tuples():
        owner, orgs = _account(org_id, is_partner, active, granted.get(product_id, {}))
        yield Subject(f"product:{product_id}", Product(product_id, owner), orgs,
                      customer_id=org_id, product_id=product_id)


def _invoices(is_partner: dict[int, bool], active: dict[int, list[Partnership]]) -> Iterator[Subject]:
    for invoice_id, org_id in m.Invoice.select(m.Invoice.id, m.Invoice.organization).order_by(m.Invoice.id).tuples():
        payer, orgs = _account(org_id, is_partner, active)
        yield Subject(f"invoice:{invoice_id}", Invoice(invoice_id, payer), orgs, customer_id=org_id)


def _invitations() -> Iterator[Subject]:
    now = decision_moment()  # now, or the past moment asked (history.as_of): invitations expire by it
    for row in m.Invitation.select(m.Invitation.id, m.Invitation.partner, m.Invitation.customer,
                                   m.Invitation.inviting_side, m.Invitation.status,
                                   m.Invitation.expires_at).order_by(m.Invitation.id).tuples():
        invitation_id, partner_id, customer_id, side, status, expires_at = row
        facts = Invitation(invitation_id, partner_id, customer_id, side, status, expires_at <= now)
        yield Subject(f"invitation:{invitation_id}", facts, frozenset({partner_id, customer_id}))


def _partnerships(rows: list[Partnership]) -> Iterator[Subject]:
    for p in rows:
        yield Subject(f"partnership:{p.id}", p, frozenset({p.partner_id, p.customer_id}))


def load_store_facts() -> StoreFacts:
    """Every user and resource of the bound store, read in one consistent snapshot by the caller."""
    store = StoreFacts()
    store.users = [row[0] for row in m.User.select(m.User.id).order_by(m.User.id).tuples()]
    for user_id, org_id, role, billing in m.Membership.select(
            m.Membership.user, m.Membership.organization, m.Membership.role, m.Membership.billing).tuples():
        store.roles[user_id][org_id] = role
        store.members[org_id].append(user_id)
        if billing:
            store.billing[user_id].add(org_id)
    for user_id, product_id in m.ProductAuthorization.select(
            m.ProductAuthorization.user, m.ProductAuthorization.product).tuples():
        store.authorized[product_id].add(user_id)
    for user_id, partner_id, customer_id in m.Assignment.select(
            m.Assignment.user, m.Assignment.partner, m.Assignment.customer).tuples():
        store.assigned[customer_id].append((user_id, partner_id))
    is_partner = dict(m.Organization.select(m.Organization.id, m.Organization.is_partner).tuples())
    is_partner = {org_id: bool(flag) for org_id, flag in is_partner.items()}
    partnerships = [Partnership(*row) for row in m.Partnership.select(
        m.Partnership.id, m.Partnership.partner, m.Partnership.customer, m.Partnership.status,
        m.Partnership.access, m.Partnership.payment_mode).order_by(m.Partnership.id).tuples()]
    active: dict[int, list[Partnership]] = defaultdict(list)
    for p in partnerships:
        if p.active:
            active[p.customer_id].append(p)
    for subjects in (_organizations(is_partner, active), _products(is_partner, active), _invoices(is_partner, active),
                     _invitations(), _partnerships(partnerships)):
        store.subjects.extend(subjects)
    return store
