"""Engine tests: strict policy loading, fail-closed decisions, query budget, exact cache."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from service.decide.engine import Engine, PolicyError
from service.decide.engine import POLICY_DIR
from service.store import bump_revision, database
from service.store import models as m
from service.store.fast_sql import StatementCounter

# Statements one uncached decision may issue: the revision (to look in the cache), then one
# statement reading the revision again with the resource (with the customer's partnerships and
# their grants) and the user (with memberships, assignments, product authorization).
# A cached decision reads only the revision.
QUERY_BUDGET = {kind: 2 for kind in ("organization", "product", "invoice", "invitation", "partnership")}


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

    monkeypatch.setattr("service.decide.facts.load_question", explode)
    decision = fresh_engine.decide(demo["anna"], "add_customer", demo["webwerk"])
    assert decision.allowed is False and decision.error is True
    assert "decision failed" in caplog.text


def test_allowed_actions_lists_exactly_what_decide_allows(demo: dict[str, str], fresh_engine: Engine) -> None:
    from service.decide.vocabulary import actions_for
    from service.queries.actions import allowed_actions
    for actor_key in ("anna", "bernd", "carla", "dirk", "erik", "berta"):
        for resource_key in ("webwerk", "baeckerei", "anwalt_web", "webwerk_anwalt"):
            actor, resource = demo[actor_key], demo[resource_key]
            expected = [a for a in actions_for(resource.split(":")[0])
                        if fresh_engine.decide(actor, a, resource).allowed]
            assert allowed_actions(fresh_engine, actor, resource).allowed == expected


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


def test_a_decision_names_the_state_its_facts_come_from_even_when_a_write_commits_midway(
        demo: dict[str, str], store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No torn reads, no stale cache entry: a write committed after the cache lookup and before
    the facts are read is seen whole, and the decision names (and is cached under) the state after it."""
    from service.decide import facts
    from service.store.db import make_database
    from service.store.schema import revision_stamp

    bernd, webwerk, baeckerei = demo["bernd"], demo["webwerk"], demo["baeckerei"]
    other = make_database(store_url)  # another connection, as another worker would have
    real_load_question = facts.load_question

    def load_question_after_a_concurrent_write(*args, **kwargs):
        with other.atomic():
            other.execute_sql(
                "DELETE FROM membership WHERE user_id = %d AND organization_id = %d"
                % (int(bernd.split(":")[1]), int(webwerk.split(":")[1])))
            other.execute_sql("UPDATE store_revision SET value = value + 1 WHERE id = 1")
        monkeypatch.setattr(facts, "load_question", real_load_question)
        return real_load_question(*args, **kwargs)

    engine = Engine(cache_size=100)
    before = revision_stamp()
    monkeypatch.setattr(facts, "load_question", load_question_after_a_concurrent_write)
    during = engine.decide(bernd, "access_account", baeckerei)
    other.close()
    # revision 2: the demo load, then the fixture's policy activation; the write made it 3
    assert before[1] == 2
    assert not during.allowed and during.revision == 3
    key = (bernd, "access_account", baeckerei)
    assert engine.cache.entries == {(revision_stamp(), *key): during}  # cached at revision 3 only


def test_the_facts_and_the_revision_are_read_in_one_statement(demo: dict[str, str]) -> None:
    """One statement is one state of the store on both backends: nothing can commit between the
    revision a decision names and the facts it was made on."""
    engine = Engine(cache_size=0)
    for resource in ("baeckerei", "anwalt_web", "webwerk_invoice_metzgerei", "webwerk_blumen_invite",
                     "webwerk_anwalt"):
        with QueryCounter() as counted:
            engine.decide(demo["bernd"], "access_account", demo[resource], explain=True)
        assert counted.count == 1, counted.statements
        assert "store_revision" in counted.statements[0], counted.statements


def test_an_explained_deny_reads_its_facts_once_and_everything_from_one_state(demo: dict[str, str]) -> None:
    """The explanation adds facts of its own (a user's partners, ended partnerships): read in the
    same snapshot as the decision's facts, which are not read again."""
    engine = Engine(cache_size=0)
    for actor, action, resource in (("carla", "access_account", "metzgerei"), ("anna", "view_statistics", "anwalt_web"),
                                    ("anna", "access_account", "zahnarzt")):
        with QueryCounter() as counted:
            decision = engine.decide(demo[actor], action, demo[resource], why_not=True)
        assert not decision.allowed and "missing" in decision.reasons[0], decision.reasons
        assert counted.statements[0].startswith("BEGIN") and counted.statements[-1] == "COMMIT", counted.statements
        assert sum("store_revision" in sql for sql in counted.statements) == 1, counted.statements


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
    from service.decide import facts
    real = facts._resource_from

    def broken_on_invoices(rows, ref, now):
        if ref.type == "invoice":
            raise RuntimeError("invoice rows unreadable")
        return real(rows, ref, now)

    monkeypatch.setattr(facts, "_resource_from", broken_on_invoices)
    good, bad = fresh_engine.decide_many([
        (demo["anna"], "add_customer", demo["webwerk"]),
        (demo["anna"], "view_invoice", demo["webwerk_invoice_metzgerei"])])
    assert good.allowed and not good.error
    assert not bad.allowed and bad.error


def test_a_batch_reads_the_facts_of_its_uncached_checks_in_one_statement(demo: dict[str, str]) -> None:
    engine = Engine(cache_size=100)
    checks = [(demo[u], a, demo[r]) for u in ("anna", "bernd", "carla", "dirk")
              for a, r in (("access_account", "baeckerei"), ("manage_product", "anwalt_web"),
                           ("view_invoice", "webwerk_invoice_metzgerei"), ("accept", "webwerk_blumen_invite"),
                           ("end", "webwerk_anwalt"))]
    with QueryCounter() as counted:
        first = engine.decide_many(checks)
    # BEGIN, the revision, the facts of all twenty checks, COMMIT
    assert counted.count == 4, counted.statements
    assert [(d.allowed, d.reasons) for d in first] == \
        [(d.allowed, d.reasons) for d in (Engine(cache_size=0).decide(*c) for c in checks)]


def test_the_decision_cache_keeps_the_latest_state_it_has_seen() -> None:
    from service.decide.engine import Decision, DecisionCache
    cache, question, other = DecisionCache(10), ("user:1", "access_account", "organization:2"), ("user:3", "end", "partnership:4")
    allowed = Decision(True, [{"rule": "R1"}], "v", 5)
    cache.put(("epoch", 5), question, allowed)
    assert cache.holds(question) and cache.get(("epoch", 5), question) == allowed
    cache.put(("epoch", 4), other, allowed)  # made at an older state: not kept, and the newer entries stay
    assert cache.holds(question) and not cache.holds(other)
    assert cache.get(("epoch", 4), question) is None and cache.holds(question)
    cache.put(("epoch", 6), other, allowed)  # a newer state: the older entries go
    assert cache.holds(other) and not cache.holds(question)
    cache.put(("another store", 1), question, allowed)  # another store's stamp: a new state too
    assert cache.holds(question) and not cache.holds(other)
