"""R8 over the workflow, as a hypothesis state machine: invite (limited with random rights, or
full), accept with a random narrower grant, change the access, end; after every step no
requested-but-not-granted right is allowed, and exactly the granted rights are (R8, R15, R18, R19).

Every run of the machine loads its own small world (a partner with a legal representative,
an administrator and an assigned collaborator; a customer with three products) into the store.
"""
from __future__ import annotations

import itertools

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from service import workflows as wf
from conftest import activate_repo_policy
from service.policy.active import decide
from service.store.world import load_world

RIGHTS = {"technical": "manage_product", "statistical": "view_statistics"}
PRODUCTS = ("p1", "p2", "p3")
ALL_RIGHTS = sorted(itertools.product(PRODUCTS, RIGHTS))
_worlds = itertools.count()

rights_sets = st.sets(st.sampled_from(ALL_RIGHTS), min_size=1)


def access_of(rights: set[tuple[str, str]], refs: dict[str, str]) -> dict:
    by_product: dict[str, dict[str, bool]] = {}
    for product, right in rights:
        by_product.setdefault(product, {"technical": False, "statistical": False})[right] = True
    return {"access": "limited",
            "products": [{"product": refs[p], **flags} for p, flags in sorted(by_product.items())]}


class PartnershipLifeCycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        n = next(_worlds)
        key = lambda name: f"{name}{n}"  # noqa: E731  (keys are unique across runs in one store)
        world = {
            "organizations": [{"key": key("partner"), "partner": True}, {"key": key("customer")}],
            "users": [{"key": key(u), "email": f"{u}{n}@r8.example"} for u in ("pl", "pa", "pc", "cl")],
            "memberships": [
                {"user": key("pl"), "organization": key("partner"), "role": "legal_representative"},
                {"user": key("pa"), "organization": key("partner"), "role": "administrator"},
                {"user": key("pc"), "organization": key("partner"), "role": "collaborator"},
                {"user": key("cl"), "organization": key("customer"), "role": "legal_representative"},
            ],
            "products": [{"key": key(p), "organization": key("customer")} for p in PRODUCTS],
            "assignments": [{"partner": key("partner"), "user": key("pc"), "customer": key("customer")}],
        }
        loaded = load_world(world)
        activate_repo_policy()  # the workflows decide with the store's active version
        self.refs = {name: loaded[key(name)] for name in ("partner", "customer", "pl", "pa", "pc", "cl", *PRODUCTS)}
        self.invitation: str | None = None
        self.partnership: str | None = None
        self.requested: set[tuple[str, str]] = set()
        self.granted: set[tuple[str, str]] = set()

    @precondition(lambda self: self.invitation is None and self.partnership is None)
    @rule(rights=rights_sets, full=st.booleans())
    def invite(self, rights: set[tuple[str, str]], full: bool) -> None:
        requested = {"access": "full", "payment_mode": "partner"} if full else access_of(rights, self.refs)
        inv = wf.create_invitation(self.refs["pl"], self.refs["partner"], self.refs["customer"], requested)
        self.invitation = inv["id"]
        self.requested = set(ALL_RIGHTS) if full else set(rights)

    @precondition(lambda self: self.invitation is not None)
    @rule(data=st.data())
    def accept_narrower(self, data: st.DataObject) -> None:
        narrower = data.draw(st.sets(st.sampled_from(sorted(self.requested)), min_size=1)
                             .filter(lambda g: g != self.requested or len(self.requested) == 1))
        answer = wf.accept_invitation(self.refs["cl"], self.invitation, access_of(narrower, self.refs))
        self.partnership, self.invitation, self.granted = answer["partnership"], None, set(narrower)

    @precondition(lambda self: self.invitation is not None)
    @rule()
    def refuse(self) -> None:
        wf.refuse_invitation(self.refs["cl"], self.invitation)
        self.invitation = None

    @precondition(lambda self: self.partnership is not None)
    @rule(rights=rights_sets)
    def change_access(self, rights: set[tuple[str, str]]) -> None:
        wf.change_access(self.refs["cl"], self.partnership, access_of(rights, self.refs))
        self.granted = set(rights)

    @precondition(lambda self: self.partnership is not None)
    @rule(by=st.sampled_from(["pl", "cl"]))
    def end(self, by: str) -> None:
        wf.end_partnership(self.refs[by], self.partnership)
        self.partnership, self.granted = None, set()

    @invariant()
    def only_the_grant_takes_effect(self) -> None:
        for actor in ("pl", "pa", "pc"):
            allowed = {(p, right) for p, right in ALL_RIGHTS
                       if decide(self.refs[actor], RIGHTS[right], self.refs[p]).allowed}
            assert not allowed & (self.requested - self.granted), (actor, allowed, self.requested, self.granted)
            assert allowed == self.granted, (actor, allowed, self.granted)


def test_r8_only_the_grant_ever_takes_effect(store_url: str) -> None:
    run_state_machine_as_test(PartnershipLifeCycle, settings=settings(
        max_examples=25, stateful_step_count=8, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
