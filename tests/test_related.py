"""One notion of "related": the SQL that proposes the candidates of lists and subjects
(service/queries/related.py) names exactly the pairs the in-memory walk of `authz impact`
(service/analysis/impact_facts.py) relates, on every fixture world and both backends."""
from __future__ import annotations

from pathlib import Path

import pytest

from service.analysis.impact_facts import load_store_facts
from service.decide.refs import parse_ref
from service.queries.related import RESOURCE_TABLES, resources_of, users_of
from service.store.world import load_world, read_world_file

ROOT = Path(__file__).resolve().parents[1]
WORLDS = [ROOT / "data" / "demo.yaml", *sorted((ROOT / "tests" / "policy" / "worlds").glob("*.yaml"))]


@pytest.mark.parametrize("world", WORLDS, ids=[w.stem for w in WORLDS])
def test_sql_and_impact_relate_the_same_pairs(store_url: str, world: Path) -> None:
    load_world(read_world_file(world))
    store = load_store_facts()
    related: dict[str, set[int]] = {}  # resource -> users, as authz impact relates them
    for subject in store.subjects:
        related[subject.ref] = store.related_users(subject)
        assert set(users_of(parse_ref(subject.ref))) == related[subject.ref], subject.ref
    for user_id in store.users:
        for kind in RESOURCE_TABLES:
            expected = sorted(int(ref.split(":")[1]) for ref, users in related.items()
                              if ref.startswith(kind + ":") and user_id in users)
            assert resources_of(user_id, kind, after=0, limit=10**9) == expected, (user_id, kind)
            if len(expected) > 2:  # paged: ascending ids above the cursor
                assert resources_of(user_id, kind, after=expected[0], limit=2) == expected[1:3]
