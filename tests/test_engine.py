"""Engine tests: strict policy loading, fail-closed decisions, query budget, exact cache."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from service.authz import Engine, PolicyError
from service.authz.engine import POLICY_DIR
from service.store import bump_revision, database
from service.store import models as m
from service.store.fast_sql import StatementCounter

# Statements one uncached decision may issue: the revision (to look in the cache), then in one
# read snapshot BEGIN, the revision again, the resource (with the customer's partnerships and
# their grants), the user (with memberships, assignments, product authorization), COMMIT.
# A cached decision reads only the revision.
SNAPSHOT = 3  # BEGIN, the revision inside the snapshot, COMMIT
QUERY_BUDGET = {kind: 1 + SNAPSHOT + n for kind, n in
                {"organization": 2, "product": 2, "invoice": 2, "invitation": 2, "partnership": 2}.items()}


# every statement, through peewee and through the decision path's own helpers (fast_sql.py)
QueryCounter = StatementCounter


@pytest.fixture
def fresh_engine() -> Engine:
    return Engine(cache_size=0)


def test_the_policy_loads_strictly_and_has_a_version(fresh_engine: Engine) -> None:
    assert len(fresh_engine.policy_version) == 16
    assert {p.name for p in fresh_engine.files} >= {"main.polar", "products.polar", "customers.polar"}


def _copy_policy(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    for path in [*POLICY_DIR.glob("*.polar"), POLICY_DIR / "manifest"]:
        (folder / path.name).write_text(path.read_text())
    return folder


def test_a_syntax_error_refuses_to_load(tmp_path: Path) -> None:
    folder = _copy_policy(tmp_path)
    (folder / "broken.polar").write_text("grant(user: User, \"x\", org: Organization, why) if and;\n")
    with pytest.raises(PolicyError):
        Engine(folder)


def test_a_policy_without_allow_is_refused_because_oso_only_warns(tmp_path: Path) -> None:
    folder = _copy_policy(tmp_path)
    text = (folder / "main.polar").read_text()
    (folder / "main.polar").write_text(text.replace("allow(actor, action, resource) if", "permit(actor, action, resource) if"))
    with pytest.raises(PolicyError, match="warning"):
        Engine(folder)


@pytest.mark.parametrize("key, action, resource_key", [
    ("bernd", "access_account", "baeckerei"),
    ("carla", "manage_product", "anwalt_web"),
    ("carla", "view_invoice", "webwerk_invoice_metzgerei"),
    ("flora", "accept", "webwerk_blumen_invite"),
    ("alma", "end", "webwerk_anwalt"),
])
def test_a_decision_stays_within_its_query_budget(demo: dict[str, str], fresh_engine: Engine,
                                                  key: str, action: str, resource_key: str) -> None:
    resource = demo[resource_key]
    with QueryCounter() as counter:
        decision = fresh_engine.decide(demo[key], action, resource)
    assert decision.allowed
    assert counter.count <= QUERY_BUDGET[resource.split(":")[0]], counter.count


def test_a_cached_decision_reads_only_the_revision(demo: dict[str, str]) -> None:
    engine = Engine(cache_size=100)
    engine.decide(demo["bernd"], "access_account", demo["baeckerei"])
    with QueryCounter() as counter:
        assert engine.decide(demo["bernd"], "access_account", demo["baeckerei"]).allowed
    assert counter.count == 1


def test_the_cache_never_serves_a_decision_older_than_the_last_write(demo: dict[str, str]) -> None:
    engine = Engine(cache_size=100)
    bernd, baeckerei = demo["bernd"], demo["baeckerei"]
    assert engine.decide(bernd, "access_account", baeckerei).allowed
    with database.atomic():
        m.Partnership.update(status="ended").where(m.Partnership.id == int(demo["webwerk_baeckerei"].split(":")[1])).execute()
        bump_revision()
    assert not engine.decide(bernd, "access_account", baeckerei).allowed


def test_an_error_while_deciding_is_a_logged_deny(demo: dict[str, str], fresh_engine: Engine,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    def explode(*_args, **_kwargs):
        raise RuntimeError("store went away")

    monkeypatch.setattr("service.authz.facts.load_user", explode)
    decision = fresh_engine.decide(demo["anna"], "add_customer", demo["webwerk"])
    assert decision.allowed is False and decision.error is True
    assert "decision failed" in caplog.text


def test_allowed_actions_lists_exactly_what_decide_allows(demo: dict[str, str], fresh_engine: Engine) -> None:
    from service.authz.vocabulary import actions_for
    for actor_key in ("anna", "bernd", "carla", "dirk", "erik", "berta"):
        for resource_key in ("webwerk", "baeckerei", "anwalt_web", "webwerk_anwalt"):
            actor, resource = demo[actor_key], demo[resource_key]
            expected = [a for a in actions_for(resource.split(":")[0])
                        if fresh_engine.decide(actor, a, resource).allowed]
            assert fresh_engine.allowed_actions(actor, resource) == expected


def test_the_cache_never_serves_a_decision_from_another_store(store_url: str, tmp_path) -> None:
    """Two fresh stores both reach revision 1; a shared engine must not mix them up."""
    from conftest import DEMO_WORLD
    from service.store import init_schema, open_database
    from service.store.world import load_world, read_world_file

    engine = Engine(cache_size=100)
    refs = load_world(read_world_file(DEMO_WORLD))
    assert engine.decide(refs["anna"], "manage_users", refs["webwerk"]).allowed
    open_database(f"sqlite:///{tmp_path / 'other.db'}")
    init_schema()
    other = load_world({"organizations": [{"key": "solo"}], "users": [{"key": "nobody"}]})
    assert other["nobody"] == refs["anna"] and other["solo"] == refs["webwerk"]
    assert not engine.decide(refs["anna"], "manage_users", refs["webwerk"]).allowed


def test_a_decision_reads_one_snapshot_even_when_a_write_commits_midway(
        demo: dict[str, str], store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No torn reads: a write committed between the decision's queries is not seen half."""
    from service.authz import facts
    from service.store.db import make_database

    bernd, webwerk, baeckerei = demo["bernd"], demo["webwerk"], demo["baeckerei"]
    other = make_database(store_url)  # another connection, as another worker would have
    real_load_user = facts.load_user

    def load_user_after_a_concurrent_write(*args, **kwargs):
        with other.atomic():
            other.execute_sql(
                "DELETE FROM membership WHERE user_id = %d AND organization_id = %d"
                % (int(bernd.split(":")[1]), int(webwerk.split(":")[1])))
            other.execute_sql("UPDATE store_revision SET value = value + 1 WHERE id = 1")
        monkeypatch.setattr(facts, "load_user", real_load_user)
        return real_load_user(*args, **kwargs)

    monkeypatch.setattr(facts, "load_user", load_user_after_a_concurrent_write)
    engine = Engine(cache_size=0)
    during = engine.decide(bernd, "access_account", baeckerei)
    after = engine.decide(bernd, "access_account", baeckerei)
    other.close()
    # the first decision saw the store before the write, whole: the partnership and the membership
    # revision 2: the demo load, then the fixture's policy activation
    assert during.allowed and during.revision == 2
    assert not after.allowed and after.revision == 3


def test_decide_many_answers_each_check_as_decide_does(demo: dict[str, str], fresh_engine: Engine) -> None:
    checks = [(demo[u], a, demo[r]) for u in ("anna", "bernd", "carla", "dirk", "alma")
              for a, r in (("access_account", "baeckerei"), ("manage_product", "anwalt_web"),
                           ("view_statistics", "anwalt_web"), ("view_invoice", "webwerk_invoice_metzgerei"),
                           ("end", "webwerk_anwalt"), ("accept", "webwerk_blumen_invite"))]
    checks.append((demo["anna"], "fly_to_the_moon", demo["webwerk"]))
    batch = fresh_engine.decide_many(checks)
    assert [(d.allowed, d.reasons) for d in batch] == \
        [(d.allowed, d.reasons) for d in (fresh_engine.decide(*c) for c in checks)]
    assert any(d.allowed for d in batch) and not all(d.allowed for d in batch)


def test_decide_many_denies_only_the_check_that_fails(demo: dict[str, str], fresh_engine: Engine,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from service.authz import facts
    real = facts.load_invoice

    def broken(*_args, **_kwargs):
        raise RuntimeError("invoice table unreadable")

    monkeypatch.setattr(facts, "load_invoice", broken)
    monkeypatch.setitem(facts.RESOURCE_LOADERS, "invoice", broken)
    good, bad = fresh_engine.decide_many([
        (demo["anna"], "add_customer", demo["webwerk"]),
        (demo["anna"], "view_invoice", demo["webwerk_invoice_metzgerei"])])
    assert good.allowed and not good.error
    assert not bad.allowed and bad.error
    monkeypatch.setitem(facts.RESOURCE_LOADERS, "invoice", real)
