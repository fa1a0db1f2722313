"""Shared fixtures for the API tests (no tests here): an app on a fresh store with one key per scope."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import activate_repo_policy
from service.api import create_app
from service.api.auth import create_key


@dataclass
class Api:
    app: Flask
    client: FlaskClient
    check_key: str
    write_key: str
    log_path: Path

    def headers(self, scope: str | None) -> dict[str, str]:
        if scope is None:
            return {}
        return {"Authorization": f"Bearer {self.check_key if scope == 'check' else self.write_key}"}

    def post(self, path: str, body: Any, scope: str | None = "check"):
        return self.client.post(path, json=body, headers=self.headers(scope))

    def get(self, path: str, scope: str | None = "write"):
        return self.client.get(path, headers=self.headers(scope))

    def write(self, method: str, path: str, body: Any = None):
        return self.client.open(path, method=method, json=body, headers=self.headers("write"))


def make_api(store_url: str, tmp_path: Path) -> Api:
    log_path = tmp_path / "decisions.log"
    app = create_app({"DATABASE_URL": store_url, "DECISION_LOG": str(log_path)})
    activate_repo_policy()
    _, check_key = create_key("test-check", "check")
    _, write_key = create_key("test-write", "write")
    return Api(app, app.test_client(), check_key, write_key, log_path)


def signed_in(api: Api, name: str = "reviewer") -> Api:
    """`api` with its client signed in to the review console by a new `review` key called `name`."""
    _, key = create_key(name, "review")
    answer = api.client.post("/review/sign-in", data={"key": key})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return api


@pytest.fixture
def api(store_url: str, tmp_path: Path) -> Api:
    return make_api(store_url, tmp_path)


READY_S = 60.0  # bound on waiting for a console answer computed in the background (under a second on the demo world)


def page_as_shown(client: FlaskClient, path: str, query: dict[str, str] | None = None) -> str:
    """A console page as a browser ends up showing it: a "being computed" answer (503 or 200 with a
    Refresh header, service/review/precompute.py) is asked again, as its Refresh says, until the page
    is there; bounded by READY_S (a loaded machine may take longer than the page's own 0.25 s wait)."""
    deadline = time.monotonic() + READY_S
    while True:
        answer = client.get(path, query_string=query or None)
        if answer.status_code == 200 and "Refresh" not in answer.headers:
            assert answer.mimetype == "text/html", (path, answer.mimetype)
            return answer.get_data(as_text=True)
        assert answer.status_code in (200, 503) and answer.headers.get("Refresh"), (path, answer.status_code)
        assert time.monotonic() < deadline, f"{path} still being computed after {READY_S} s"
        time.sleep(0.05)
