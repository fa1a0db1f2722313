"""Properties of the policy over random small worlds (hypothesis).

Each example builds a world as a dict, loads it with load_world() into one
SQLite store that is emptied between examples (rows deleted in a transaction
that bumps the store revision, so revisions only ever grow and the engine's
revision-keyed decision cache can never serve a previous example's answer),
and checks one invariant against Engine.decide().

The invariants are implications read from docs/rules.md, computed from the world
dict alone; most are safety properties ("never allowed unless ..."), each
paired with a liveness check so that a policy that denies everything fails too.
"""
from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from policy_edits import edited_copy
from service.decide.engine import Engine
from service.decide.engine import POLICY_DIR, DecisionCache
from service.store import bump_revision, database, init_schema, open_database
from service.store import models as m
from service.store.world import load_world

ROLES = ("legal_representative", "administrator", "collaborator", "external")
MANAGERS = ("legal_representative", "administrator")
PRODUCT_ACTIONS = ("manage_product", "view_statistics")
RIGHT_OF = {"technical": "manage_product", "statistical": "view_statistics"}

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# -- random worlds ----------------------------------------------------------------


def _access(draw: Any, customer_products: list[str]) -> dict[str, Any]:
    """A random access description: full (with a payment mode) or limited (products with rights)."""
    if draw(st.booleans()):
        return {"access": "full", "payment_mode": draw(st.sampled_from(["customer", "partner"]))}
    products = []
    for product in customer_products:
        if draw(st.booleans()):
            products.append({"product": product, "technical": draw(st.booleans()),
                             "statistical": draw(st.booleans())})
    return {"access": "limited", "products": products}


@st.composite
def worlds(draw: Any, *, force_active: bool = False) -> dict[str, Any]:
    partners = [f"p{i}" for i in range(draw(st.integers(1, 2)))]
    customers = [f"c{i}" for i in range(draw(st.integers(1, 2)))]
    world: dict[str, list[dict[str, Any]]] = {
        "organizations": [{"key": k, "partner": True} for k in partners] + [{"key": k} for k in customers],
        "users": [], "memberships": [], "products": [], "product_authorizations": [],
        "assignments": [], "partnerships": [], "invitations": [], "invoices": [],
    }
    members: dict[str, list[tuple[str, str]]] = {}
    for org in partners + customers:
        members[org] = []
        for i in range(draw(st.integers(1, 2))):
            user, role = f"{org}_u{i}", draw(st.sampled_from(ROLES))
            world["users"].append({"key": user})
            world["memberships"].append({"user": user, "organization": org, "role": role,
                                         "billing": draw(st.booleans())})
            members[org].append((user, role))
        world["invoices"].append({"key": f"{org}_invoice", "organization": org})
    # sometimes a partner-side user is also a member of a customer (or of the other partner)
    if draw(st.booleans()):
        user = draw(st.sampled_from([u for p in partners for u, _ in members[p]]))
        org = draw(st.sampled_from([o for o in partners + customers if user not in {u for u, _ in members[o]}]))
        role = draw(st.sampled_from(ROLES))
        world["memberships"].append({"user": user, "organization": org, "role": role,
                                     "billing": draw(st.booleans())})
        members[org].append((user, role))
    products: dict[str, list[str]] = {}
    for org in partners + customers:
        count = draw(st.integers(1, 2)) if org in customers else draw(st.integers(0, 1))
        products[org] = [f"{org}_x{i}" for i in range(count)]
        world["products"] += [{"key": p, "organization": org} for p in products[org]]
        for user, role in members[org]:
            if role in ("collaborator", "external"):
                world["product_authorizations"] += [
                    {"user": user, "product": p} for p in products[org] if draw(st.booleans())]
    pairs = list(itertools.product(partners, customers))
    for n, (partner, customer) in enumerate(pairs):
        state = "active" if force_active and n == 0 else draw(
            st.sampled_from(["none", "active", "ended", "ended_then_active", "pending"]))
        requested = _access(draw, products[customer])
        if state in ("ended", "ended_then_active"):
            world["partnerships"].append({"partner": partner, "customer": customer, "status": "ended",
                                          **_access(draw, products[customer])})
        if state in ("active", "ended_then_active"):
            world["partnerships"].append({"partner": partner, "customer": customer, "status": "active",
                                          "requested": requested, **_access(draw, products[customer])})
        if state == "pending":
            world["invitations"].append({"partner": partner, "customer": customer, "requested": requested,
                                         "inviting_side": draw(st.sampled_from(["partner", "customer"]))})
        for user, _role in members[partner]:
            if draw(st.booleans()):
                world["assignments"].append({"partner": partner, "user": user, "customer": customer})
    return world


# -- reading a world dict -------------------------------------------------------------


@dataclass
class View:
    """Plain lookups over a world dict (what the store holds, not who may do what)."""

    world: dict[str, Any]
    roles: dict[tuple[str, str], str] = field(default_factory=dict)
    billing: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        for ms in self.world["memberships"]:
            self.roles[(ms["user"], ms["organization"])] = ms["role"]
            if ms.get("billing"):
                self.billing.add((ms["user"], ms["organization"]))

    @property
    def users(self) -> list[str]:
        return [u["key"] for u in self.world["users"]]

    @property
    def orgs(self) -> list[str]:
        return [o["key"] for o in self.world["organizations"]]

    def role(self, user: str, org: str) -> str | None:
        return self.roles.get((user, org))

    def products_of(self, org: str) -> list[str]:
        return [p["key"] for p in self.world["products"] if p["organization"] == org]

    def active(self) -> list[dict[str, Any]]:
        return [p for p in self.world["partnerships"] if p.get("status", "active") == "active"]

    def active_partners_of(self, customer: str) -> list[str]:
        return [p["partner"] for p in self.active() if p["customer"] == customer]

    def assigned(self, user: str, partner: str, customer: str) -> bool:
        return {"partner": partner, "user": user, "customer": customer} in self.world["assignments"]

    def customer_resources(self, customer: str) -> list[tuple[str, str]]:
        """(action, key) of everything a partner could reach in a customer."""
        return [("access_account", f"organization:{customer}")] + [
            (a, f"product:{p}") for p in self.products_of(customer) for a in PRODUCT_ACTIONS]


def rights(spec: dict[str, Any], view: View, customer: str) -> set[tuple[str, str]]:
    """(product, action) pairs an access description names."""
    if spec["access"] == "full":
        return {(p, a) for p in view.products_of(customer) for a in PRODUCT_ACTIONS}
    return {(p["product"], RIGHT_OF[r]) for p in spec.get("products", []) for r in RIGHT_OF if p.get(r)}


# -- the store and the engine -------------------------------------------------------------


class Store:
    """One SQLite file for the whole module, emptied between examples."""

    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"
        self.db = open_database(self.url)
        init_schema()

    def load(self, world: dict[str, Any]) -> dict[str, str]:
        if database.obj is not self.db:  # another module rebound the proxy
            self.db = open_database(self.url)
        with database.atomic():
            for model in reversed(m.MODELS):
                if model not in (m.StoreRevision, m.SchemaVersion):
                    model.delete().execute()
            bump_revision()
        return load_world(world)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    yield Store(tmp_path_factory.mktemp("properties") / "authz.db")
    if not database.is_closed():
        database.close()


@pytest.fixture(scope="module")
def engine() -> Engine:
    # Our own engine (cache on, as in production): it only ever sees this module's store,
    # whose revision grows monotonically, so the revision-keyed cache stays exact.
    return Engine()


class Asker:
    def __init__(self, engine: Engine, refs: dict[str, str]) -> None:
        self.engine, self.refs = engine, refs

    def __call__(self, user: str, action: str, resource: str) -> bool:
        kind, key = resource.split(":", 1)
        return self.engine.decide(self.refs[user], action, self.refs[key]).allowed


# -- the invariants (plain functions, so that the mutation tests below can reuse them) ----


def no_partner_side_access_without_active_partnership(world: dict, store: Store, engine: Engine) -> None:
    view, allowed = View(world), Asker(engine, store.load(world))
    for customer in view.orgs:
        through = set(view.active_partners_of(customer))
        for user in view.users:
            if view.role(user, customer) or any(view.role(user, p) for p in through):
                continue
            for action, resource in view.customer_resources(customer):
                assert not allowed(user, action, resource), (user, action, resource)


def requested_but_not_granted_never_allowed(world: dict, store: Store, engine: Engine) -> None:
    view, allowed = View(world), Asker(engine, store.load(world))
    for ps in view.active():
        partner, customer = ps["partner"], ps["customer"]
        others = [p for p in view.active_partners_of(customer) if p != partner]
        granted = rights(ps, view, customer)
        missing = rights(ps["requested"], view, customer) - granted
        for user in view.users:
            role = view.role(user, partner)
            if not role or view.role(user, customer) or any(view.role(user, o) for o in others):
                continue
            for product, action in missing:
                assert not allowed(user, action, f"product:{product}"), (user, action, product, ps)
            if role in MANAGERS:  # liveness: what was granted does work
                for product, action in granted:
                    assert allowed(user, action, f"product:{product}"), (user, action, product, ps)


def collaborators_never_reach_unassigned_customers(world: dict, store: Store, engine: Engine) -> None:
    view, allowed = View(world), Asker(engine, store.load(world))
    for customer in view.orgs:
        through = view.active_partners_of(customer)
        for user in view.users:
            roles = {view.role(user, p) for p in through} - {None}
            if view.role(user, customer) or roles & set(MANAGERS) or not roles:
                continue
            assigned = any(view.role(user, p) == "collaborator" and view.assigned(user, p, customer)
                           for p in through)
            if assigned:  # liveness: an assigned collaborator does reach the customer
                assert allowed(user, "access_account", f"organization:{customer}"), (user, customer)
                continue
            for action, resource in view.customer_resources(customer):
                assert not allowed(user, action, resource), (user, action, resource)


def ending_removes_access_on_the_next_decision(world: dict, store: Store, engine: Engine,
                                               data: st.DataObject) -> None:
    view = View(world)
    refs = store.load(world)
    allowed = Asker(engine, refs)
    ps = data.draw(st.sampled_from(view.active()), label="partnership to end")
    partner, customer = ps["partner"], ps["customer"]
    others = [p for p in view.active_partners_of(customer) if p != partner]
    outsiders = [u for u in view.users if view.role(u, partner) and not view.role(u, customer)
                 and not any(view.role(u, o) for o in others)]
    # asked before the end, so that a stale cache would answer afterwards
    before = {(u, a, r): allowed(u, a, r) for u in outsiders for a, r in view.customer_resources(customer)}
    managers = [u for u in outsiders if view.role(u, partner) in MANAGERS]
    for user in managers:  # liveness: the partnership did reach the customer
        assert before[(user, "access_account", f"organization:{customer}")], (user, ps)
    row = m.Partnership.get(m.Partnership.partner == int(refs[partner].split(":")[1]),
                            m.Partnership.customer == int(refs[customer].split(":")[1]),
                            m.Partnership.status == "active")
    with database.atomic():
        m.Partnership.update(status="ended", ended_at=m.utcnow()).where(m.Partnership.id == row.id).execute()
        bump_revision()
    ref = f"partnership:{row.id}"
    for user, action, resource in before:
        assert not allowed(user, action, resource), (user, action, resource, "after end")
    for user in managers:
        assert not engine.decide(refs[user], "review", ref).allowed, (user, "review after end")
    for user in view.users:
        if view.role(user, customer) in MANAGERS:  # the customer keeps the history (R1)
            assert engine.decide(refs[user], "review", ref).allowed, (user, "customer review after end")
        assert not engine.decide(refs[user], "end", ref).allowed, (user, "end twice")


def invoices_only_for_billing_members_of_payer(world: dict, store: Store, engine: Engine) -> None:
    view, allowed = View(world), Asker(engine, store.load(world))
    for invoice in world["invoices"]:
        org = invoice["organization"]
        for user in view.users:
            role = view.role(user, org)
            expected = role in MANAGERS or (role == "collaborator" and (user, org) in view.billing)
            assert allowed(user, "view_invoice", f"invoice:{invoice['key']}") == expected, (user, role, org)


# -- the properties ---------------------------------------------------------------------


@SETTINGS
@given(world=worlds())
def test_no_partner_side_access_without_an_active_partnership(world: dict, store: Store, engine: Engine) -> None:
    """R8, R12, R13, R19: outsiders of a customer reach it only through an active partnership of their own."""
    no_partner_side_access_without_active_partnership(world, store, engine)


@SETTINGS
@given(world=worlds(force_active=True))
def test_requested_but_not_granted_rights_are_never_allowed(world: dict, store: Store, engine: Engine) -> None:
    """R8, R15: only the grant takes effect, whatever was requested."""
    requested_but_not_granted_never_allowed(world, store, engine)


@SETTINGS
@given(world=worlds())
def test_collaborators_never_reach_unassigned_customers(world: dict, store: Store, engine: Engine) -> None:
    """R13: without a manager role or an assignment as collaborator, no partner member reaches a customer."""
    collaborators_never_reach_unassigned_customers(world, store, engine)


@SETTINGS
@given(world=worlds(force_active=True), data=st.data())
def test_ending_a_partnership_removes_access_on_the_very_next_decision(
        world: dict, data: st.DataObject, store: Store, engine: Engine) -> None:
    """R19: after `end` commits (with bump_revision), nobody reaches the customer through it; history stays."""
    ending_removes_access_on_the_next_decision(world, store, engine, data)


@SETTINGS
@given(world=worlds())
def test_invoices_are_visible_only_to_billing_members_of_the_paying_organization(
        world: dict, store: Store, engine: Engine) -> None:
    """R16 with R1, R2: exactly the paying organization's managers and billing collaborators; never a partner."""
    invoices_only_for_billing_members_of_payer(world, store, engine)


# -- each property can fail: a broken policy (or cache) is caught ------------------------------


class _StaleCache(DecisionCache):
    """A cache that forgets to compare revisions: the bug the ending property exists to catch."""

    def get(self, revision: int, key: tuple[str, str, str]) -> Any:
        return self.entries.get(key)

    def put(self, revision: int, key: tuple[str, str, str], decision: Any) -> None:
        if not key[2].startswith(self.UNCACHEABLE):
            self.entries[key] = decision


def _mutant_engine(tmp_path: Path, file: str | None, old: str, new: str) -> Engine:
    """An engine over a copy of policies/ with one textual change (or a stale cache when file is None)."""
    policy_dir = tmp_path / "policies"
    if file is None:
        shutil.copytree(POLICY_DIR, policy_dir)
    else:
        edited_copy(policy_dir, file, old, new)
    engine = Engine(policy_dir)
    if file is None:
        engine.cache = _StaleCache(10_000)
    return engine


MUTANTS = {
    "anyone_accesses_any_account": (
        no_partner_side_access_without_active_partnership, False, "customers.polar", "",
        '\n# MUTANT (deliberate: the strict checks refuse an unconditional grant otherwise)\ngrant(_user: User, "access_account", org: Organization, why) if why = {rule: "mutant", o: org.id};\n'),
    "technical_right_ignored": (
        requested_but_not_granted_never_allowed, True, "products.polar", "  p.granted.technical = true and\n", ""),
    "assignment_ignored": (
        collaborators_never_reach_unassigned_customers, False, "main.polar",
        "  user.is_assigned(p.partner_id, p.customer_id) and\n", "  user.id > 0 and\n"),
    "stale_decision_cache": (ending_removes_access_on_the_next_decision, True, None, "", ""),
    "billing_right_ignored": (
        invoices_only_for_billing_members_of_payer, False, "organizations.polar",
        "  user.has_billing_right(org) and\n", ""),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_each_property_catches_a_broken_policy(mutant: str, tmp_path: Path, store: Store) -> None:
    check, force_active, file, old, new = MUTANTS[mutant]
    engine = _mutant_engine(tmp_path, file, old, new)

    @settings(max_examples=200, deadline=None, phases=[Phase.generate], database=None,
              report_multiple_bugs=False, suppress_health_check=list(HealthCheck))
    @given(world=worlds(force_active=force_active), data=st.data())
    def run(world: dict, data: st.DataObject) -> None:
        if check is ending_removes_access_on_the_next_decision:
            check(world, store, engine, data)
        else:
            check(world, store, engine)

    with pytest.raises(AssertionError):
        run()
