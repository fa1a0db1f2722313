"""Policy versions in the store: activation, the active version, the version in force at a revision."""
from __future__ import annotations

from service.policy import versions as policy_store
from service.store import current_revision


def test_no_policy_before_the_first_activation(store_url: str) -> None:
    assert policy_store.active_policy() is None
    assert policy_store.policy_at(current_revision()) is None
    assert policy_store.active_version_and_stamp()[0] is None


def test_activation_bumps_the_revision_and_keeps_history(store_url: str) -> None:
    before = current_revision()
    first = policy_store.record_activation({"a.polar": "allow(_, _, _) if false;"}, by="alice")
    assert first.revision == before + 1 == current_revision()
    assert len(first.version) == 16 and int(first.version, 16) >= 0
    second = policy_store.record_activation({"a.polar": "# changed\nallow(_, _, _) if false;"}, by="bob")
    assert second.revision == first.revision + 1
    assert policy_store.active_policy() == second
    assert [p.version for p in policy_store.history()] == [second.version, first.version]
    assert policy_store.policy_at(before) is None
    assert policy_store.policy_at(first.revision) == first
    assert policy_store.policy_at(second.revision + 5) == second
    version, stamp = policy_store.active_version_and_stamp()
    assert version == second.version and stamp[1] == second.revision
    assert second.files == {"a.polar": "# changed\nallow(_, _, _) if false;"}
    assert second.activated_by == "bob"


def test_the_engine_in_force_at_a_revision_decides_with_that_version(demo, store_url: str) -> None:
    from service.audit.policies import engine_for, version_at
    from service.policy.active import ActiveEngine
    first = policy_store.active_policy()  # policies/, activated by the demo fixture
    r4 = '  user.role_in(org) = "legal_representative" and\n  why = {rule: "R4"'
    narrowed = {**first.files, "customers.polar": first.files["customers.polar"].replace(
        r4, '  user.role_in(org) = "nobody" and\n  why = {rule: "R4"')}
    assert narrowed != first.files
    engine = ActiveEngine()
    assert engine.decide(demo["anna"], "add_customer", demo["webwerk"]).allowed
    second = policy_store.record_activation(narrowed, by="test")
    decision = engine.decide(demo["anna"], "add_customer", demo["webwerk"])  # the very next decision switches
    assert not decision.allowed and decision.policy_version == second.version
    # a past question takes the version activated at or before its revision (the audit's engines)
    assert engine_for(version_at(first.revision, "recorded")).policy_version == first.version
    assert engine_for(version_at(second.revision, "recorded")).policy_version == second.version
    assert version_at(first.revision - 1, "recorded") == "recorded"  # no activation yet: the recorded version


def test_a_question_new_to_the_process_is_decided_with_the_version_active_in_its_state(demo, store_url: str) -> None:
    """A question no cache holds is decided in one statement, which also reads the active version:
    asked right after an activation, it is answered by the new version, never by the engine of the
    process's previous decision."""
    from service.policy.active import ActiveEngine
    first = policy_store.active_policy()
    r4 = '  user.role_in(org) = "legal_representative" and\n  why = {rule: "R4"'
    narrowed = {**first.files, "customers.polar": first.files["customers.polar"].replace(
        r4, '  user.role_in(org) = "nobody" and\n  why = {rule: "R4"')}
    engine = ActiveEngine()
    assert engine.decide(demo["anna"], "access_account", demo["webwerk"]).allowed  # the first version's engine
    second = policy_store.record_activation(narrowed, by="test")
    decision = engine.decide(demo["anna"], "add_customer", demo["webwerk"])  # never asked: no cache holds it
    assert not decision.allowed and decision.policy_version == second.version
