"""schemathesis against /openapi.json, in process (WSGI): zero 5xx, zero answers that break the spec,
zero `allowed: true` to an unauthenticated or malformed request.

Bounded: 50 examples per operation when CI is set, fewer locally; positive and negative generation.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from service.store.world import load_world, read_world_file

from test_api_support import make_api

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 50 if os.environ.get("CI") else 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory):
    from conftest import fresh_store_url
    tmp = tmp_path_factory.mktemp("fuzz")
    url = fresh_store_url("sqlite", tmp)
    load_world(read_world_file(ROOT / "data" / "demo.yaml"))
    return make_api(url, tmp)


def _allowed_true(response) -> bool:
    try:
        body = response.json()
    except Exception:
        return False
    return isinstance(body, dict) and body.get("allowed") is True


def _only_headers_broken(case) -> bool:
    negated = {location for location, info in case.meta.components.items()
               if info.mode == GenerationMode.NEGATIVE}
    return negated <= {ParameterLocation.HEADER}


def _exercise(case, api, mode: GenerationMode) -> None:
    scope = case.operation.definition.raw.get("x-scope")
    authorized = api.headers(scope) if scope in ("check", "write") else {}
    if mode == GenerationMode.NEGATIVE and _only_headers_broken(case):
        # the broken part is the Authorization header: send it as generated, not a valid key over it
        authorized = {}
    response = case.call(headers=authorized)
    case.validate_response(response, checks=CHECKS)
    if mode == GenerationMode.NEGATIVE:
        # a request that breaks the spec is never answered allowed: true
        assert not _allowed_true(response), (case.body, response.text)
    if mode == GenerationMode.POSITIVE and scope in ("check", "write"):
        anonymous = case.call(headers={"Authorization": ""})
        case.validate_response(anonymous, checks=CHECKS)
        assert anonymous.status_code == 401 and not _allowed_true(anonymous), anonymous.text
        wrong = case.call(headers=api.headers("write" if scope == "check" else "check"))
        assert wrong.status_code == 403 and not _allowed_true(wrong), wrong.text


# schemathesis' pytest plugin (from_fixture) does not run under pytest 9, so the operations are
# driven directly with hypothesis, one bounded run per operation and generation mode.
def test_api_conforms_to_its_spec(fuzz_api) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        raw = operation.definition.raw
        negatable = "requestBody" in raw or "parameters" in raw  # nothing to break in GET /healthz
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[:2 if negatable else 1]:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
            def run(case) -> None:
                _exercise(case, fuzz_api, mode)
            try:
                run()
            except Exception as exc:
                raise AssertionError(f"{operation.label} ({mode.value}): {exc}") from exc
