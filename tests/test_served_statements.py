"""The served engine's statements per decision (what docs/scaling.md counts), on both backends:
a cached decision reads the active version and the revision stamp in one statement; a question no
cache holds is one statement too, reading the facts with the stamp and the active version. Also: threads sharing one engine get the same
answers as one thread (one Oso query at a time per engine)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from service.policy.active import ActiveEngine
from service.store import database
from service.store.fast_sql import StatementCounter

CHECKS = [("bernd", "access_account", "baeckerei"), ("carla", "manage_product", "anwalt_web"),
          ("carla", "view_invoice", "webwerk_invoice_metzgerei"), ("flora", "accept", "webwerk_blumen_invite")]
UNCACHED = 1  # the facts with the stamp and the active version of their state


def test_a_cached_served_decision_is_one_statement(demo: dict[str, str], monkeypatch) -> None:
    from service.policy import active as active_policy
    monkeypatch.setattr(active_policy, "_cache", None)  # engines built afresh: no answers kept from another store
    engine = ActiveEngine()
    engine.readiness()  # builds the active version's engine, as a worker does at start
    actor, action, resource = demo["bernd"], "access_account", demo["baeckerei"]
    with StatementCounter() as first:
        assert engine.decide(actor, action, resource).allowed
    with StatementCounter() as again:
        assert engine.decide(actor, action, resource).allowed
    assert first.count == UNCACHED, first.statements
    assert again.count == 1, again.statements
    assert "membership" not in again.statements[0], again.statements  # the stamp alone: answered from the cache


@pytest.mark.parametrize("explain", [True, False], ids=["explained", "plain"])
def test_threads_sharing_the_served_engine_answer_as_one_thread(demo: dict[str, str], store_url: str,
                                                                explain: bool, monkeypatch) -> None:
    """Explained decisions go to Polar every time; plain ones take the one-statement path for a new
    question and the decision cache after it, with the threads racing on both."""
    from service.policy import active as active_policy
    checks = [(demo[a], action, demo[r]) for a, action, r in CHECKS] * 25
    checks += [("user:999999", "access_account", demo["baeckerei"])] * 10  # unknown actor: denied
    alone = [ActiveEngine().decide(*check, explain=explain).as_dict() for check in checks]
    monkeypatch.setattr(active_policy, "_cache", None)  # a new engine: the threads start with an empty cache
    engine = ActiveEngine()

    def decide(check: tuple[str, str, str]) -> dict:
        with database.connection_context():  # each thread its own connection, as a gthread worker's
            return engine.decide(*check, explain=explain).as_dict()

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(decide, checks))
    assert together == alone
    assert any(answer["allowed"] for answer in alone) and not all(answer["allowed"] for answer in alone)
