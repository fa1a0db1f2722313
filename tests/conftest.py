"""Shared fixtures: a fresh store on a real SQLite file and, when TEST_POSTGRES_URL
is set, on a real PostgreSQL server; every store test runs on both."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import peewee
import pytest

from service.store import database, init_schema, open_database
from service.store.world import load_world, read_world_file

ROOT = Path(__file__).resolve().parents[1]
DEMO_WORLD = ROOT / "data" / "demo.yaml"


def _own_database(url: str | None) -> str | None:
    """Under pytest-xdist every worker process wipes and fills a PostgreSQL database of its own
    (`<name>_gw0`, `<name>_gw1`: created when missing), so two workers never share a schema."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    head, sep, query = url.partition("?")
    base, _, name = head.rpartition("/")
    own = f"{name}_{worker}"
    db = open_database(url)
    db.connect(reuse_if_open=True)
    if db.execute_sql("SELECT 1 FROM pg_database WHERE datname = %s", (own,)).fetchone() is None:
        db.execute_sql(f'CREATE DATABASE "{own}"')
    db.close()
    return f"{base}/{own}{sep}{query}"


POSTGRES_URL = _own_database(os.environ.get("TEST_POSTGRES_URL"))
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With `--dist loadgroup` a test file runs whole in one worker (its module-scoped servers boot once).
    Files marked `shares` (one external resource: the standby pair) are left out of the parallel pass and
    run one by one after it (`make test`: `-m "not shares"`, then `-p no:xdist -m shares`)."""
    for item in items:
        shared = item.get_closest_marker("shares")
        group = shared.args[0] if shared else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_report_header(config: pytest.Config) -> str:
    if POSTGRES_URL:
        return f"store backends: sqlite, postgres ({POSTGRES_URL})"
    return "store backends: sqlite only -- PostgreSQL SKIPPED (TEST_POSTGRES_URL not set)"


def stop_recorder() -> None:
    """Stop the process's decision recorder (its writer thread joined, its records written) before the
    store's pool is closed or its schema dropped: closing a pool while the writer thread commits on one
    of its connections once crashed the suite (a segfault in SQLite)."""
    from service.audit.recorder import shutdown
    shutdown()


def stop_background() -> None:
    """Stop the console's background computations (their thread joined, kept answers dropped) before the
    store is closed: no computation runs against a closed pool or outlives its test (open_database, as
    in fresh_store_url, stops them too)."""
    from service.review.precompute import stop_background as stop
    stop()


def reset_postgres(url: str) -> None:
    db = open_database(url)
    db.connect(reuse_if_open=True)
    db.execute_sql("DROP SCHEMA IF EXISTS public CASCADE")
    db.execute_sql("CREATE SCHEMA public")
    db.close()


def fresh_store_url(backend: str, tmp_dir: Path) -> str:
    """An empty store with the schema created; returns its URL (bound as the current database)."""
    stop_recorder()  # on every backend, before open_database() closes the pool bound until now
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir / 'authz.db'}"
    else:
        assert POSTGRES_URL
        url = POSTGRES_URL
        reset_postgres(url)
    open_database(url)
    init_schema()
    return url


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store (schema created) on each backend; its URL."""
    url = fresh_store_url(request.param, tmp_path)
    yield url
    stop_recorder()
    stop_background()
    if not database.is_closed():
        database.close()


def activate_repo_policy() -> None:
    """Make the repository's policies/ the store's active version (as `make run` does). Without waiting for
    serving workers to build it first (prepare.py: at least DISCOVERY_SECONDS, 3 s, even when there is none,
    as in a fresh test store): a worker that has not built it builds it on its next request."""
    from service.decide.engine import POLICY_DIR
    from service.analysis.candidates import activate, read_candidate
    activate(read_candidate(POLICY_DIR), "tests", if_changed=True, wait=0)


@pytest.fixture
def demo(store_url: str) -> dict[str, str]:
    """The demo world loaded into a fresh store whose active policy is policies/: key -> "type:id"."""
    refs = load_world(read_world_file(DEMO_WORLD))
    activate_repo_policy()
    return refs


@pytest.fixture
def reviewer_name() -> str:
    """The name of the review key `console` signs in with (a module overrides this fixture for another)."""
    return "reviewer"


@pytest.fixture
def console(store_url: str, demo, tmp_path: Path, reviewer_name: str):
    """The app on the demo world (test_api_support.Api: a key per scope) with its client signed in to the
    review console by a `review` key named `reviewer_name`: the console tests' one signed-in client."""
    from test_api_support import make_api, signed_in  # imported here: test_api_support imports this module
    return signed_in(make_api(store_url, tmp_path), reviewer_name)


@pytest.fixture(scope="session")
def engine():
    from service.decide.engine import Engine
    return Engine()
