"""The benchmark's world generator: deterministic, shaped as the issue says, loadable by load_world."""
from __future__ import annotations

from bench.world import generate
from service.decide.engine import Engine
from service.store import models as m
from service.store.world import load_world


def test_the_world_is_deterministic_and_shaped_as_specified() -> None:
    world = generate(4, 50, 3, seed=5)
    assert world.data == generate(4, 50, 3, seed=5).data
    assert world.data != generate(4, 50, 3, seed=6).data
    assert world.customer_count == 200
    statuses = [p.get("status", "active") for p in world.data["partnerships"]]
    accesses = [p["access"] for p in world.data["partnerships"]]
    assert 0.05 <= statuses.count("ended") / len(statuses) <= 0.15
    assert 0.3 <= accesses.count("full") / len(accesses) <= 0.5
    for partner in world.partners:
        assert len(partner.collaborators) == 5
        for collaborator in partner.collaborators:
            assert 0 < len(partner.assigned[collaborator]) <= 0.2 * len(partner.customers)


def test_limited_grants_never_exceed_their_request() -> None:
    for p in generate(3, 40, 3, seed=9).data["partnerships"]:
        if p["access"] != "limited" or p.get("requested", {}).get("access") != "limited":
            continue
        requested = {(r["product"], right) for r in p["requested"]["products"]
                     for right in ("technical", "statistical") if r.get(right)}
        granted = {(g["product"], right) for g in p["products"] for right in ("technical", "statistical")
                   if g.get(right)}
        assert granted <= requested


def test_the_world_loads_and_its_administrators_reach_their_customers(store_url: str) -> None:
    world = generate(2, 20, 2, seed=3)
    refs = load_world(world.data)
    assert m.Organization.select().count() == 2 + 40
    engine = Engine(cache_size=0)
    partner = world.partners[0]
    active = {p["customer"] for p in world.data["partnerships"]
              if p["partner"] == partner.org and p.get("status", "active") == "active"}
    for customer in partner.customers:
        allowed = engine.decide(refs[partner.admin], "access_account", refs[customer.org]).allowed
        assert allowed == (customer.org in active)
