"""Sampling the (actor, action, resource) checks the benchmark asks.

A realistic mix over the benchmark world: partner legal representatives and
administrators, collaborators and customers' legal representatives asking about
customer accounts (access_account), products (manage_product,
view_statistics) and invoices (view_invoice), on their own side and across
(so both allows and denies occur). Which of them are allowed is for the
engine to say; this module only picks who asks about what.
"""
from __future__ import annotations

import bisect
import itertools
import random
from typing import Callable, Iterator

from .world import BenchWorld, PartnerSpec

Check = tuple[str, str, str]  # (actor ref, action, resource ref)
PRODUCT_ACTIONS = ("manage_product", "view_statistics")


def _candidates(world: BenchWorld, refs: dict[str, str], rng: random.Random) -> Iterator[Check]:
    """An endless stream of random checks, drawn from weighted kinds."""
    partners = world.partners

    def any_partner() -> PartnerSpec:
        return rng.choice(partners)

    def partner_manager(p: PartnerSpec) -> str:
        return rng.choice((p.lr, p.admin))

    def own_customer_account() -> tuple[str, str, str]:
        p = any_partner()
        return partner_manager(p), "access_account", rng.choice(p.customers).org

    def foreign_customer_account() -> tuple[str, str, str]:
        p, q = any_partner(), any_partner()
        return partner_manager(p), "access_account", rng.choice(q.customers).org

    def collaborator_assigned() -> tuple[str, str, str]:
        p = any_partner()
        collaborator = rng.choice(p.collaborators)
        return collaborator, "access_account", rng.choice(p.assigned[collaborator])

    def collaborator_any() -> tuple[str, str, str]:
        p = any_partner()
        return rng.choice(p.collaborators), "access_account", rng.choice(p.customers).org

    def customer_account() -> tuple[str, str, str]:
        p = any_partner()
        c = rng.choice(p.customers)
        target = c.org if rng.random() < 0.7 else rng.choice(any_partner().customers).org
        return c.lr, "access_account", target

    def partner_on_product() -> tuple[str, str, str]:
        p = any_partner()
        c = rng.choice(p.customers)
        actor = partner_manager(p) if rng.random() < 0.7 else rng.choice(p.collaborators)
        return actor, rng.choice(PRODUCT_ACTIONS), rng.choice(c.products)

    def customer_on_product() -> tuple[str, str, str]:
        c = rng.choice(any_partner().customers)
        other = rng.choice(any_partner().customers)
        product = rng.choice(c.products if rng.random() < 0.8 else other.products)
        return c.lr, rng.choice(PRODUCT_ACTIONS), product

    def invoice() -> tuple[str, str, str]:
        p = any_partner()
        c = rng.choice(p.customers)
        roll = rng.random()
        if roll < 0.35:
            return c.lr, "view_invoice", c.invoice
        if roll < 0.6:
            return partner_manager(p), "view_invoice", rng.choice(p.invoices)
        if roll < 0.8:
            return rng.choice(p.collaborators), "view_invoice", rng.choice(p.invoices)
        return partner_manager(p), "view_invoice", c.invoice

    kinds: list[tuple[Callable[[], tuple[str, str, str]], int]] = [
        (own_customer_account, 20), (foreign_customer_account, 5), (collaborator_assigned, 12),
        (collaborator_any, 8), (customer_account, 10), (partner_on_product, 20),
        (customer_on_product, 10), (invoice, 15),
    ]
    functions = [k for k, _ in kinds]
    weights = list(itertools.accumulate(w for _, w in kinds))
    while True:
        actor, action, resource = rng.choices(functions, cum_weights=weights)[0]()
        yield refs[actor], action, refs[resource]


def distinct_checks(world: BenchWorld, refs: dict[str, str], count: int, *, seed: int = 7) -> list[Check]:
    """`count` distinct checks in a seeded random order (bounded: gives up after 50x tries)."""
    seen: dict[Check, None] = {}
    for tries, check in enumerate(_candidates(world, refs, random.Random(seed))):
        if len(seen) >= count or tries > 50 * count:
            break
        seen.setdefault(check)
    return list(seen)


def zipf_sequence(items: list[Check], calls: int, *, s: float = 1.1, seed: int = 11) -> list[Check]:
    """`calls` draws from items with Zipf(s) popularity (item i has weight 1/(i+1)^s)."""
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(1.0 / (i + 1) ** s for i in range(len(items))))
    total = cumulative[-1]
    return [items[bisect.bisect_left(cumulative, rng.random() * total)] for _ in range(calls)]
