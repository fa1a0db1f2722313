"""Policy versions in the store: activation, the active version, the version in force at a revision."""
from __future__ import annotations

from service.authz import policy_store
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
