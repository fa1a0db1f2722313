"""schemathesis against the SERVED app (`authz serve`'s gunicorn, a real socket) on each backend:
0 responses of 5xx, 0 answers that break the spec, 0 `allowed: true` to a malformed request.

Single operations, positive and negative, EXAMPLES each, derandomized (the seed is hypothesis' fixed one).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from live_servers import instances
from service.store.world import load_world, read_world_file

from test_api_schemathesis import CHECKS, _allowed_true
from test_api_support import make_api

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 12 if os.environ.get("CI") else 6


@pytest.fixture
def served(store_url: str, tmp_path: Path):
    load_world(read_world_file(ROOT / "data" / "demo.yaml"))
    api = make_api(store_url, tmp_path)
    with instances(store_url, 1) as [base]:
        yield api, base


def test_the_served_api_conforms_to_its_spec(served) -> None:
    api, base = served
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    calls = {"n": 0}
    for result in schema.get_all_operations():
        operation = result.ok()
        scope = operation.definition.raw.get("x-scope")
        headers = api.headers(scope) if scope in ("check", "write") else {}
        raw = operation.definition.raw
        negatable = "requestBody" in raw or "parameters" in raw  # nothing to break in GET /docs
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[:2 if negatable else 1]:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            def run(case) -> None:
                response = case.call(headers=headers)
                calls["n"] += 1
                case.validate_response(response, checks=CHECKS)
                if mode == GenerationMode.NEGATIVE:
                    assert not _allowed_true(response), (case.body, response.text)
            try:
                run()
            except Exception as exc:
                raise AssertionError(f"{operation.label} ({mode.value}): {exc}") from exc
    print(f"served schemathesis: {calls['n']} requests")
