"""list and subjects agree with decide(): for every actor x action x resource of the demo world and
of the policy fixture worlds, a resource is listed exactly when decide() allows it; paging with
page sizes 1, 2 and 1000 gives the same set; /v1/subjects names exactly the users decide() allows."""
from __future__ import annotations

from pathlib import Path

import pytest

from service.decide.vocabulary import ACTIONS
from service.store.world import load_world, read_world_file

from test_api_support import Api, api  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
WORLDS = [ROOT / "data" / "demo.yaml", *sorted((ROOT / "tests" / "policy" / "worlds").glob("*.yaml"))]
TABLES = {"organization": "organization", "product": "product", "invoice": "invoice",
          "invitation": "invitation", "partnership": "partnership"}


def _all_ids(api: Api, resource_type: str) -> list[int]:
    from service.store.db import database
    with api.app.app_context():
        return [r[0] for r in database.execute_sql(f"SELECT id FROM {TABLES[resource_type]} ORDER BY id").fetchall()]


def _engine(api: Api):
    # the app's own engine: a session-wide one would serve its revision-keyed cache across fresh stores
    return api.app.extensions["authz_engine"]


def _users(api: Api) -> list[int]:
    from service.store.db import database
    return [r[0] for r in database.execute_sql("SELECT id FROM users ORDER BY id").fetchall()]


def _listed(api: Api, actor: str, action: str, resource_type: str, page_size: int) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(10_000):
        body = {"actor": actor, "action": action, "resource_type": resource_type, "page_size": page_size}
        if cursor:
            body["cursor"] = cursor
        answer = api.post("/v1/list", body)
        assert answer.status_code == 200, answer.json
        page = answer.json
        assert len(page["ids"]) <= page_size
        ids.extend(page["ids"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("world", WORLDS, ids=[w.stem for w in WORLDS])
def test_list_agrees_with_decide_on_every_pair(api: Api, world: Path) -> None:
    load_world(read_world_file(world))
    engine = _engine(api)
    users = _users(api)
    checked = allowed_total = 0
    for resource_type, actions in ACTIONS.items():
        resources = _all_ids(api, resource_type)
        assert resources, f"{world.stem} has no {resource_type}"
        for action in actions:
            for user_id in users:
                actor = f"user:{user_id}"
                expected = [f"{resource_type}:{rid}" for rid in resources
                            if engine.decide(actor, action, f"{resource_type}:{rid}").allowed]
                checked += len(resources)
                allowed_total += len(expected)
                assert _listed(api, actor, action, resource_type, 1000) == expected, (actor, action, resource_type)
                if expected:  # small pages only where there is something to page through
                    assert _listed(api, actor, action, resource_type, 1) == expected
                    assert _listed(api, actor, action, resource_type, 2) == expected
    assert checked > 1000 and allowed_total > 50  # the comparison covered real allows, not only denials


def test_list_of_unknown_type_or_action_is_empty(api: Api, demo) -> None:
    anna = demo["anna"]
    for body in ({"actor": anna, "action": "fly", "resource_type": "organization"},
                 {"actor": anna, "action": "manage_users", "resource_type": "spaceship"},
                 {"actor": anna, "action": "view_invoice", "resource_type": "organization"},
                 {"actor": "user:999999", "action": "manage_users", "resource_type": "organization"}):
        answer = api.post("/v1/list", body)
        assert answer.status_code == 200 and answer.json["ids"] == [] and answer.json["next_cursor"] is None


def test_list_rejects_oversized_pages_and_bad_cursors(api: Api, demo) -> None:
    base = {"actor": demo["anna"], "action": "access_account", "resource_type": "organization"}
    too_big = api.post("/v1/list", {**base, "page_size": 1001})
    assert too_big.status_code == 422 and too_big.json["error"]["field"] == "page_size"
    assert too_big.json["allowed"] is False
    bad_cursor = api.post("/v1/list", {**base, "cursor": "abc"})
    assert bad_cursor.status_code == 422 and bad_cursor.json["error"]["field"] == "cursor"


def test_list_reflects_the_next_write(api: Api, demo) -> None:
    """An assignment removed is gone from the next list (facts read fresh)."""
    body = {"actor": demo["carla"], "action": "access_account", "resource_type": "organization"}
    before = api.post("/v1/list", body).json["ids"]
    assert demo["baeckerei"] in before
    from service.store.models import Assignment
    row = Assignment.get(Assignment.customer == int(demo["baeckerei"].split(":")[1]))
    assert api.write("DELETE", f"/v1/assignments/{row.id}").status_code == 200
    after = api.post("/v1/list", body)
    assert demo["baeckerei"] not in after.json["ids"] and after.json["revision"] > 0


def test_subjects_agree_with_decide(api: Api, demo) -> None:
    engine = _engine(api)
    users = _users(api)
    nonempty = 0
    for resource_type, actions in ACTIONS.items():
        for rid in _all_ids(api, resource_type):
            resource = f"{resource_type}:{rid}"
            for action in actions:
                answer = api.post("/v1/subjects", {"action": action, "resource": resource})
                assert answer.status_code == 200, answer.json
                got = {s["user"]: s["reasons"] for s in answer.json["subjects"]}
                expected = {f"user:{u}" for u in users if engine.decide(f"user:{u}", action, resource).allowed}
                assert set(got) == expected, (action, resource)
                assert all(reasons and all("rule" in r for r in reasons) for reasons in got.values())
                nonempty += bool(got)
    assert nonempty > 30


def test_subjects_of_a_customer_name_both_sides(api: Api, demo) -> None:
    answer = api.post("/v1/subjects", {"action": "access_account", "resource": demo["baeckerei"]}).json
    who = {s["user"]: {r["rule"] for r in s["reasons"]} for s in answer["subjects"]}
    assert who == {demo["berta"]: {"R1"}, demo["bruno"]: {"R1"}, demo["anna"]: {"R12"},
                   demo["bernd"]: {"R12"}, demo["carla"]: {"R13"}}
    assert answer["decision_id"] and answer["policy_version"]
    unknown = api.post("/v1/subjects", {"action": "access_account", "resource": "spaceship:1"})
    assert unknown.status_code == 200 and unknown.json["subjects"] == []


def test_a_list_its_first_statement_answers_is_one_statement(api: Api, demo) -> None:
    """Once the stranger probe is known for the store's state, a list that ends in its first chunk reads
    the stamp, the version in force, its candidates, their facts and the user's in one statement (no
    snapshot around it: one statement sees one state); a longer one reads every chunk in one snapshot."""
    from service.queries import lists
    from service.queries.lists import list_allowed
    from service.store.fast_sql import StatementCounter
    chunks = lists.CHUNK_FIRST, lists.CHUNK_MOST
    from service.store.schema import revision_stamp
    engine = _engine(api)
    with api.app.app_context():
        user = int(demo["anna"].split(":")[1])
        expected = list_allowed(engine, user, "access_account", "organization", limit=1000).ids
        stamp = revision_stamp()
        with StatementCounter() as counted:
            found = list_allowed(engine, user, "access_account", "organization", limit=1000, stamp=stamp)
        assert found.ids == expected and counted.count == 1, counted.statements
        lists.CHUNK_FIRST, lists.CHUNK_MOST = 1, 2  # chunks of 1 and 2: the first statement cannot answer alone
        try:
            with StatementCounter() as counted:
                chunked = list_allowed(engine, user, "access_account", "organization", limit=1000, stamp=stamp)
        finally:
            lists.CHUNK_FIRST, lists.CHUNK_MOST = chunks
        assert chunked.ids == expected and len(expected) > 2
        begin = [i for i, sql in enumerate(counted.statements) if sql.startswith("BEGIN")]
        assert begin and counted.statements[-1] == "COMMIT", counted.statements  # the chunks in one snapshot


@pytest.mark.parametrize("limit", [1000, 2])
def test_every_action_of_a_type_listed_at_once_equals_each_list_alone(api: Api, demo, limit: int) -> None:
    """queries.lists.list_actions (the console's user page: every action of a type on one read) against
    list_allowed for each action alone and against the engine's decision on every pair; `limit` 2 also
    cuts some lists short while others of the same read go on."""
    from service.queries.lists import list_actions, list_allowed
    engine = _engine(api)
    with api.app.app_context():
        for resource_type, actions in ACTIONS.items():
            resources = _all_ids(api, resource_type)
            for user_id in _users(api):
                together = list_actions(engine, user_id, tuple(actions), resource_type, limit=limit)
                assert set(together) == set(actions)
                for action in actions:
                    alone = list_allowed(engine, user_id, action, resource_type, limit=limit)
                    decided = [rid for rid in resources
                               if engine.decide(f"user:{user_id}", action, f"{resource_type}:{rid}").allowed][:limit]
                    assert together[action].ids == alone.ids == decided, (user_id, action, resource_type)
