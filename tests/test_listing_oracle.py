"""policies/ against an independent reading: /v1/list under the repository's policy equals the
hand-written SQL of tests/listing_oracle.py for every user, action and resource type of the demo and
fixture worlds (the policy's behaviour pinned by a second copy that lives only in the tests)."""
from __future__ import annotations

from pathlib import Path

import pytest

from listing_oracle import TABLES, list_ids as oracle_list_ids
from service.decide.vocabulary import ACTIONS
from service.store import models as m
from service.store.world import load_world, read_world_file

from conftest import activate_repo_policy
from test_api_support import Api, api  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
WORLDS = [ROOT / "data" / "demo.yaml", *sorted((ROOT / "tests" / "policy" / "worlds").glob("*.yaml"))]


@pytest.mark.parametrize("world", WORLDS, ids=[w.stem for w in WORLDS])
def test_v1_list_equals_the_hand_written_oracle(api: Api, world: Path) -> None:
    load_world(read_world_file(world))
    activate_repo_policy()
    users = [row.id for row in m.User.select(m.User.id).order_by(m.User.id)]
    compared = 0
    for kind, actions in ACTIONS.items():
        assert kind in TABLES, kind
        for action in actions:
            for user in users:
                answer = api.post("/v1/list", {"actor": f"user:{user}", "action": action, "resource_type": kind,
                                               "page_size": 1000})
                assert answer.status_code == 200, answer.json
                expected = [f"{kind}:{i}" for i in oracle_list_ids(user, action, kind, limit=1000)]
                assert answer.json["ids"] == expected, (user, action, kind)
                compared += 1
    assert compared > 0
