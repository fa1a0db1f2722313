"""Answers as of any past moment (issue 11), on SQLite and PostgreSQL.

A hypothesis state machine applies random fact writes and workflow steps to the demo
world through the HTTP API and, after each step, asks a fixed set of questions (a
batch of checks, subjects, lists, an explained check). At the end of each run every
recorded answer is asked again with `at_revision` of its step and with `at` set
between that step and the next: all must be identical (reasons included). Afterwards
every decision recorded during the test replays identically (`authz replay`'s code).
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from service.audit.replay import replay
from service.audit.recorder import get_recorder
from service.store.audit_models import DecisionRecord
from service.store.models import utcnow
from test_api_support import Api, api, make_api  # noqa: F401  (fixture)

USERS = [f"user:{i}" for i in range(1, 19)]
ORGS = [f"organization:{i}" for i in range(1, 11)]
PRODUCTS = [f"product:{i}" for i in range(1, 16)]
ROLES = ["legal_representative", "administrator", "collaborator", "external"]
ACTORS = ["user:1", "user:3", "user:8", "user:13", "user:11"]
QUESTIONS = [("access_account", "organization:5"), ("access_account", "organization:9"),
             ("manage_product", "product:8"), ("view_statistics", "product:9"), ("view_billing", "organization:3"),
             ("accept", "invitation:1")]
SUBJECTS = [("access_account", "organization:5"), ("manage_product", "product:8"), ("view_invoice", "invoice:1")]
LISTS = [("user:3", "access_account", "organization"), ("user:8", "manage_product", "product"),
         ("user:7", "accept", "invitation")]


def _access(draw_full: bool, products: list[str], technical: bool, statistical: bool) -> dict[str, Any]:
    if draw_full:
        return {"access": "full", "payment_mode": "partner" if technical else "customer"}
    return {"access": "limited",
            "products": [{"product": p, "technical": technical, "statistical": statistical} for p in products]}


def _strip(answer: dict[str, Any]) -> Any:
    """An answer without its decision ids (new for every question)."""
    if isinstance(answer, dict):
        return {k: _strip(v) for k, v in answer.items() if k != "decision_id"}
    if isinstance(answer, list):
        return [_strip(v) for v in answer]
    return answer


class Figures:
    steps = writes = asked_again = mismatches = 0


def ask_all(api: Api, past: dict[str, Any]) -> list[Any]:
    """The fixed questions, as of `past` ({} for now)."""
    answers = [api.post("/v1/check/batch", {"checks": [{"actor": a, "action": act, "resource": res}
                                                       for a in ACTORS for act, res in QUESTIONS], **past})]
    answers += [api.post("/v1/check", {"actor": "user:3", "action": "access_account", "resource": "organization:5",
                                       "explain": True, **past})]
    answers += [api.post("/v1/subjects", {"action": act, "resource": res, **past}) for act, res in SUBJECTS]
    answers += [api.post("/v1/list", {"actor": a, "action": act, "resource_type": t, **past}) for a, act, t in LISTS]
    assert all(r.status_code == 200 for r in answers), [r.json for r in answers if r.status_code != 200]
    return [_strip(r.json) for r in answers]


class History(RuleBasedStateMachine):
    api: Api

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[int, str, list[Any]]] = []  # (revision, a time before the next step, answers)

    def _write(self, method: str, path: str, body: Any = None) -> None:
        answer = self.api.write(method, path, body)
        assert answer.status_code < 500, answer.json
        Figures.writes += answer.status_code < 300

    @rule(user=st.sampled_from(USERS), org=st.sampled_from(ORGS), role=st.sampled_from(ROLES),
          billing=st.booleans(), acting=st.none() | st.sampled_from(ACTORS))
    def add_membership(self, user, org, role, billing, acting):
        body = {"user": user, "organization": org, "role": role, "billing": billing}
        self._write("POST", "/v1/memberships", {**body, **({"acting_user": acting} if acting else {})})

    @rule(mid=st.integers(1, 30), role=st.sampled_from(ROLES), billing=st.booleans())
    def change_membership(self, mid, role, billing):
        self._write("PATCH", f"/v1/memberships/{mid}", {"role": role, "billing": billing})

    @rule(mid=st.integers(1, 30))
    def remove_membership(self, mid):
        self._write("DELETE", f"/v1/memberships/{mid}")

    @rule(org=st.integers(1, 10), partner=st.booleans())
    def partner_flag(self, org, partner):
        self._write("PATCH", f"/v1/organizations/{org}", {"partner": partner})

    @rule(user=st.sampled_from(USERS), product=st.sampled_from(PRODUCTS))
    def authorize_product(self, user, product):
        self._write("POST", "/v1/product-authorizations", {"user": user, "product": product})

    @rule(pid=st.integers(1, 12))
    def remove_product_authorization(self, pid):
        self._write("DELETE", f"/v1/product-authorizations/{pid}")

    @rule(user=st.sampled_from(USERS), partner=st.sampled_from(ORGS[:2]), customer=st.sampled_from(ORGS[2:]))
    def assign(self, user, partner, customer):
        self._write("POST", "/v1/assignments", {"partner": partner, "user": user, "customer": customer})

    @rule(aid=st.integers(1, 8))
    def unassign(self, aid):
        self._write("DELETE", f"/v1/assignments/{aid}")

    @rule(org=st.sampled_from(ORGS))
    def add_product(self, org):
        self._write("POST", "/v1/products", {"organization": org, "category": "web", "name": "New site"})

    @rule(acting=st.sampled_from(["user:1", "user:6", "user:13", "user:15", "user:9"]),
          partner=st.sampled_from(ORGS[:2]), customer=st.sampled_from(ORGS[2:]), full=st.booleans(),
          products=st.lists(st.sampled_from(PRODUCTS), max_size=2, unique=True), technical=st.booleans())
    def invite(self, acting, partner, customer, full, products, technical):
        self._write("POST", "/v1/invitations", {"acting_user": acting, "partner": partner, "customer": customer,
                                                "requested": _access(full, products, technical, True)})

    @rule(inv=st.integers(1, 8), acting=st.sampled_from(["user:13", "user:15", "user:6", "user:18", "user:9"]),
          accept=st.booleans())
    def answer_invitation(self, inv, acting, accept):
        self._write("POST", f"/v1/invitations/{inv}/{'accept' if accept else 'refuse'}", {"acting_user": acting})

    @rule(pid=st.integers(1, 8), acting=st.sampled_from(["user:13", "user:9", "user:17", "user:10"]),
          full=st.booleans(), products=st.lists(st.sampled_from(PRODUCTS), max_size=2, unique=True),
          technical=st.booleans(), statistical=st.booleans())
    def change_access(self, pid, acting, full, products, technical, statistical):
        self._write("PUT", f"/v1/partnerships/{pid}/access",
                    {"acting_user": acting, "granted": _access(full, products, technical, statistical)})

    @rule(pid=st.integers(1, 8), acting=st.sampled_from(["user:1", "user:13", "user:9", "user:6"]))
    def end_partnership(self, pid, acting):
        self._write("POST", f"/v1/partnerships/{pid}/end", {"acting_user": acting})

    @invariant()
    def ask(self):
        answers = ask_all(self.api, {})
        revision = answers[0]["revision"]
        self.steps.append((revision, utcnow().isoformat() + "Z", answers))
        Figures.steps += 1

    def teardown(self):
        for revision, between, answers in self.steps:
            for past in ({"at_revision": revision}, {"at": between}):
                again = ask_all(self.api, past)
                Figures.asked_again += 1
                if again != answers:
                    Figures.mismatches += 1
                    pytest.fail(f"as of {past}: {json.dumps(again)[:800]} != {json.dumps(answers)[:800]}")


def test_every_step_is_answered_again_exactly_as_of_its_revision_and_time(store_url, tmp_path, demo) -> None:
    History.api = make_api(store_url, tmp_path)
    Figures.steps = Figures.writes = Figures.asked_again = Figures.mismatches = 0
    run_state_machine_as_test(History, settings=settings(
        max_examples=6, stateful_step_count=10, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
    assert Figures.mismatches == 0 and Figures.asked_again >= Figures.steps and Figures.writes > 0
    replayed, differing = replay_everything()
    print(f"\n[{store_url.split(':')[0]}] steps {Figures.steps}, writes {Figures.writes}, answers asked again {Figures.asked_again}, "
          f"mismatches {Figures.mismatches}; decisions replayed {replayed}, differing {differing}")
    assert replayed > 0 and differing == []


def replay_everything() -> tuple[int, list[str]]:
    """Replay every decision recorded in the store; (how many, the ids that did not reproduce)."""
    get_recorder().flush()
    ids = [row.decision_id for row in DecisionRecord.select(DecisionRecord.decision_id)]
    differing = [decision_id for decision_id in ids if not replay(decision_id).reproduces]
    return len(ids), differing


def test_moments_outside_the_history_are_422_naming_the_field(api: Api, demo) -> None:
    check = {"actor": demo["anna"], "action": "add_customer", "resource": demo["webwerk"]}
    future = (utcnow() + dt.timedelta(hours=1)).isoformat() + "Z"
    ancient = "2001-01-01T00:00:00Z"
    for path, body in (("/v1/check", check), ("/v1/check/batch", {"checks": [check]}),
                       ("/v1/subjects", {"action": "add_customer", "resource": demo["webwerk"]}),
                       ("/v1/list", {"actor": demo["anna"], "action": "add_customer",
                                     "resource_type": "organization"})):
        for past, field in (({"at_revision": 10**6}, "at_revision"), ({"at": future}, "at"),
                            ({"at": ancient}, "at"), ({"at": "yesterday"}, "at"),
                            ({"at": "2026-11-03T12:00:00"}, "at"), ({"at": "0001-01-01T00:00:00+05:00"}, "at"),
                            ({"at_revision": 0, "at": future}, "at")):
            answer = api.post(path, {**body, **past})
            assert answer.status_code == 422 and answer.json["error"]["field"] == field, (path, past, answer.json)
    now = api.post("/v1/check", check).json
    # the empty store, before the demo loaded and before any activation: no policy was in force then
    # (the files on disk never decide), so the question is outside what the history can answer
    before = api.post("/v1/check", {**check, "at_revision": 0})
    assert now["allowed"] is True and before.status_code == 422, before.json
    assert before.json["error"]["field"] == "at_revision" and "no policy version was in force" in \
        before.json["error"]["message"]


def test_a_store_older_than_its_history_starts_it_at_the_current_revision(store_url, demo) -> None:
    from service.store import current_revision, database, init_schema
    from service.store.history import HISTORY_TABLES, history_table
    from service.store.models import SchemaVersion
    from service.store.audit_models import RevisionMoment
    with database.atomic():  # as a v2 store was: no history, no moments
        for table in HISTORY_TABLES:
            database.execute_sql(f"DELETE FROM {history_table(table)}")
        RevisionMoment.delete().execute()
        SchemaVersion.update(version=2).execute()
    init_schema()
    app = make_api(store_url, Path(tempfile.mkdtemp()))
    check = {"actor": demo["carla"], "action": "access_account", "resource": demo["anwalt"]}
    revision = current_revision()
    assert app.post("/v1/check", {**check, "at_revision": revision}).json["allowed"] is True
    assert app.post("/v1/check", {**check, "at_revision": revision - 1}).status_code == 422
