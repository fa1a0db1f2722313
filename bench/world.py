"""A seeded benchmark world in the format of data/demo.yaml (see service/store/world.py).

Shape (defaults): 50 partners x 200 customers x 3 products = 10,000 customers.
Each partner has a legal representative, an administrator and 5 collaborators,
each collaborator assigned to ~10% of the partner's customers (so ~20 each);
every customer has a legal representative and one partnership with its partner:
40% full / 60% limited (random technical/statistical grants, narrower than a
random request), 10% of them ended. Invoices exist on both sides.

`scale` multiplies the number of partners, not the customers per partner, so an
administrator still reaches ~200 customers and a collaborator ~20 in the 10x
world: listing cost should follow the result size, not the world size.

Besides the dict for load_world(), generate() returns a small index of who is
who (BenchWorld.partners) that bench/checks.py samples decisions from; it holds
keys only and says nothing about who may do what.
"""
from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

CATEGORIES = ("hosting", "mail", "domain", "cloud_drive")
FULL_SHARE = 0.4
ENDED_SHARE = 0.1
ASSIGNED_SHARE = 0.1
COLLABORATORS = 5
PARTNER_INVOICES = 3


@dataclass(slots=True)
class CustomerSpec:
    org: str
    lr: str
    products: list[str]
    invoice: str


@dataclass(slots=True)
class PartnerSpec:
    org: str
    lr: str
    admin: str
    collaborators: list[str]
    customers: list[CustomerSpec] = field(default_factory=list)
    assigned: dict[str, list[str]] = field(default_factory=dict)  # collaborator key -> customer org keys
    invoices: list[str] = field(default_factory=list)
    product: str = ""


@dataclass(slots=True)
class BenchWorld:
    data: dict[str, Any]
    partners: list[PartnerSpec]

    @property
    def customer_count(self) -> int:
        return sum(len(p.customers) for p in self.partners)


def _rights(rng: random.Random) -> tuple[bool, bool]:
    """A random non-empty pair (technical, statistical)."""
    return [(True, False), (False, True), (True, True)][rng.randrange(3)]


def _limited_access(rng: random.Random, products: list[str]) -> tuple[dict, dict]:
    """A random limited request and a grant that is narrower (subset of products and rights)."""
    requested = []
    granted = []
    for product in products:
        if rng.random() < 0.8:
            technical, statistical = _rights(rng)
            requested.append({"product": product, "technical": technical, "statistical": statistical})
            # the customer keeps each requested right with probability 0.6 (never adds one)
            g_tech = technical and rng.random() < 0.6
            g_stat = statistical and rng.random() < 0.6
            if g_tech or g_stat:
                granted.append({"product": product, "technical": g_tech, "statistical": g_stat})
    if not requested:
        requested.append({"product": products[0], "technical": True, "statistical": True})
    return ({"access": "limited", "products": requested},
            {"access": "limited", "products": granted})


def generate(partners: int = 50, customers_per_partner: int = 200, products_per_customer: int = 3,
             *, scale: int = 1, seed: int = 42) -> BenchWorld:
    """A deterministic world for (arguments, seed); `scale` multiplies the partners."""
    rng = random.Random(seed)
    orgs: list[dict] = []
    users: list[dict] = []
    memberships: list[dict] = []
    products: list[dict] = []
    assignments: list[dict] = []
    partnerships: list[dict] = []
    invoices: list[dict] = []
    specs: list[PartnerSpec] = []

    for i in range(partners * scale):
        p = f"p{i}"
        spec = PartnerSpec(org=f"org_{p}", lr=f"u_{p}_lr", admin=f"u_{p}_admin",
                           collaborators=[f"u_{p}_col{j}" for j in range(COLLABORATORS)])
        orgs.append({"key": spec.org, "name": f"Partner {i}", "partner": True})
        for key, role, billing in ([(spec.lr, "legal_representative", True), (spec.admin, "administrator", True)]
                                   + [(c, "collaborator", j == 0) for j, c in enumerate(spec.collaborators)]):
            users.append({"key": key, "name": key, "email": f"{key}@bench.example"})
            memberships.append({"user": key, "organization": spec.org, "role": role, "billing": billing})
        spec.product = f"prod_{p}"
        products.append({"key": spec.product, "organization": spec.org, "category": "hosting", "name": spec.product})
        for n in range(PARTNER_INVOICES):
            spec.invoices.append(f"inv_{p}_{n}")
            invoices.append({"key": spec.invoices[-1], "organization": spec.org})

        for k in range(customers_per_partner):
            c = f"c{i}_{k}"
            customer = CustomerSpec(org=f"org_{c}", lr=f"u_{c}_lr",
                                    products=[f"prod_{c}_{n}" for n in range(products_per_customer)],
                                    invoice=f"inv_{c}")
            orgs.append({"key": customer.org, "name": f"Customer {i}/{k}"})
            users.append({"key": customer.lr, "name": customer.lr, "email": f"{customer.lr}@bench.example"})
            memberships.append({"user": customer.lr, "organization": customer.org,
                                "role": "legal_representative", "billing": True})
            for n, prod in enumerate(customer.products):
                products.append({"key": prod, "organization": customer.org,
                                 "category": CATEGORIES[n % len(CATEGORIES)], "name": prod})
            invoices.append({"key": customer.invoice, "organization": customer.org})

            ps: dict[str, Any] = {"key": f"ps_{c}", "partner": spec.org, "customer": customer.org,
                                  "invited_by": spec.lr, "answered_by": customer.lr}
            if rng.random() < FULL_SHARE:
                mode = rng.choice(("customer", "partner"))
                ps.update(access="full", payment_mode=mode, requested={"access": "full", "payment_mode": mode})
            else:
                requested, granted = _limited_access(rng, customer.products)
                ps.update(granted, requested=requested)
            if rng.random() < ENDED_SHARE:
                ps["status"] = "ended"
            partnerships.append(ps)
            spec.customers.append(customer)

        per_collaborator = max(1, round(ASSIGNED_SHARE * customers_per_partner))
        for collaborator in spec.collaborators:
            chosen = rng.sample(spec.customers, min(per_collaborator, len(spec.customers)))
            spec.assigned[collaborator] = [cu.org for cu in chosen]
            assignments.extend({"partner": spec.org, "user": collaborator, "customer": cu.org} for cu in chosen)
        specs.append(spec)

    data = {"organizations": orgs, "users": users, "memberships": memberships, "products": products,
            "assignments": assignments, "partnerships": partnerships, "invoices": invoices}
    return BenchWorld(data, specs)


def row_count(world: BenchWorld) -> int:
    """Entities in the world dict (requests and grants of partnerships included)."""
    total = sum(len(v) for v in world.data.values())
    for ps in world.data["partnerships"]:
        total += len(ps.get("products", [])) + 1 + len(ps.get("requested", {}).get("products", []))
    return total


# -- the console benchmarks' store (bench/review_pages.py, bench/review_partner.py) ---------------------

@dataclass
class LoadedWorld:
    url: str
    world: BenchWorld
    refs: dict[str, str]  # world key -> "type:id"

    def id_of(self, key: str) -> int:
        return int(self.refs[key].split(":")[1])


@contextlib.contextmanager
def loaded_world(database_url: str | None, prefix: str, *, seed: int = 42) -> Iterator[LoadedWorld]:
    """The 10,000-customer world loaded into a fresh store -- a temporary SQLite file, or `database_url`
    (an EMPTY database) -- with the repository's policy activated (the console's pages ask the engine of
    the version in force: without one they refuse). The served configuration's shape table is on, as
    `authz serve` sets it (service/wsgi.py): it changes no decision, only what a fresh engine evaluates."""
    from service.store import init_schema, open_database
    from service.store.world import load_world
    from .run import activate_repository_policy
    os.environ.setdefault("AUTHZ_SHAPE_TABLE", "1")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        open_database(url)
        init_schema()
        world = generate(seed=seed)
        started = time.perf_counter()
        refs = load_world(world.data)
        print(f"world: {world.customer_count:,} customers, loaded in {time.perf_counter() - started:.1f} s "
              f"({url.split(':')[0]})")
        activate_repository_policy()
        yield LoadedWorld(url, world, refs)


def console_client(url: str, reviewer: str = "bench-reviewer") -> tuple[Any, Any]:
    """The app on `url` (decision log off) and a test client signed in to /review with a review key."""
    from service.api import create_app
    from service.api.auth import create_key
    app = create_app({"DATABASE_URL": url, "DECISION_LOG": "off"})
    _, key = create_key(reviewer, "review")
    client = app.test_client()
    assert client.post("/review/sign-in", data={"key": key}).status_code == 302
    return app, client
