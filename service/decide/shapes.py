"""The common shapes of a decision's facts, for the pattern memo to learn before the first request.

Why: the memo (patterns.py) answers a question whose facts have a shape it has
seen before in a few µs, but the first question of each shape costs a Polar
evaluation (0.3-1 ms). A worker that has just started would pay that on
roughly one request in twenty until it has seen the shapes of its traffic. So,
when the shape table is on (`AUTHZ_SHAPE_TABLE=1`, which service/wsgi.py sets for every served
worker), the engine evaluates the policy once on every shape listed here at
start-up.

The shapes come from the fact model alone (facts.py: roles, partnerships,
grants, assignments, authorizations), never from the policy or from the
store: one user with at most one membership, the resource's organization with
no partnership or one active partnership of either access (and, for a
product, every combination of granted rights; for an invoice, of its paying
organization), and the actions of the vocabulary. Facts outside these shapes (a user with two memberships, a
customer with two partners, invitations, partnerships) are simply evaluated
when they are first asked. Every entry is computed by Polar, exactly as a
live decision on such facts would be, so the table changes no answer, only
when it is computed.
"""
from __future__ import annotations

from typing import Any, Iterator

from service.decide.facts import Invoice, Organization, Partnership, Product, User
from service.decide.vocabulary import actions_for

ROLES = ("legal_representative", "administrator", "collaborator", "external")
# ids of the made-up facts; only their equalities matter (the memo renames them)
_USER, _RESOURCE_ORG, _PARTNER, _OTHER_ORG, _PARTNERSHIP, _PRODUCT, _INVOICE = 1, 2, 3, 4, 5, 6, 7
# (access, technical granted, statistical granted) of the one partnership, if any
_ACCOUNT_TERMS = [("full", False, False), ("limited", False, False)]
_PRODUCT_TERMS = [("full", False, False)] + [("limited", t, s) for t in (False, True) for s in (False, True)]

Shape = tuple[User, str, Any]  # (user, action, resource)


def _organizations(terms: list[tuple[str, bool, bool]]) -> Iterator[Organization]:
    """The resource's organization: partner or not, with no active partnership or one."""
    for is_partner in (False, True):
        yield Organization(_RESOURCE_ORG, is_partner, [])
        for access, technical, statistical in terms:
            payment = "partner" if access == "full" else "customer"
            term = Partnership(_PARTNERSHIP, _PARTNER, _RESOURCE_ORG, "active", access, payment)
            yield Organization(_RESOURCE_ORG, is_partner, [term.as_term(technical, statistical)])


def _users(org: Organization, product: int | None, assignable: bool = True) -> Iterator[User]:
    """Users with no membership or one (in the organization, its partner or elsewhere), with or
    without the billing right, assigned to the organization through their own or not (facts.load_question
    loads assignments for accounts and products only), and, for a product, authorized for it or not."""
    yield User(_USER)
    places = [_RESOURCE_ORG, _OTHER_ORG] + ([_PARTNER] if org.partnerships else [])
    for place in places:
        for role in ROLES:
            for billing in (frozenset(), frozenset({place})):
                for assigned in ((False, True) if assignable and place != _RESOURCE_ORG else (False,)):
                    for authorized in ((False, True) if product is not None else (False,)):
                        yield User(_USER, {place: role}, billing,
                                   frozenset({product}) if authorized else frozenset(),
                                   frozenset({(place, _RESOURCE_ORG)}) if assigned else frozenset())


def common_shapes() -> Iterator[Shape]:
    """Every (user, action, resource) of the shapes above, for organizations, products and invoices."""
    for org in _organizations(_ACCOUNT_TERMS):
        for user in _users(org, None):
            for action in actions_for("organization"):
                yield user, action, org
    for org in _organizations(_PRODUCT_TERMS):
        product = Product(_PRODUCT, org)
        for user in _users(org, _PRODUCT):
            for action in actions_for("product"):
                yield user, action, product
    for org in _organizations(_ACCOUNT_TERMS):  # the paying organization's partnerships are facts too
        invoice = Invoice(_INVOICE, org)
        for user in _users(invoice.organization, None, assignable=False):
            for action in actions_for("invoice"):
                yield user, action, invoice
