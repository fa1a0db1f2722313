"""Scope `review` (schema v6): keys for the /review console, made by `authz keys create --scope review`,
and the migration that widens api_key's CHECK constraint on a store of an older version."""
from __future__ import annotations

from service.store.schema import SCHEMA_VERSION

import pytest
from click.testing import CliRunner

from service.api.auth import create_key
from service.cli import main as cli
from service.store import database, init_schema
from service.store import scope_migration
from service.store.models import ApiKey, SchemaVersion


def _narrow_to_old_scopes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the store back to a version-2 api_key (scopes check and write only)."""
    monkeypatch.setattr(scope_migration, "API_KEY_SCOPES", ("check", "write"))
    scope_migration.widen_api_key_scopes()
    monkeypatch.undo()
    SchemaVersion.update(version=2).execute()


def test_an_older_store_accepts_review_keys_after_migration(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _narrow_to_old_scopes(monkeypatch)
    _, old_key = create_key("old", "check")
    with pytest.raises(Exception), database.atomic():  # the old constraint refuses the new scope
        ApiKey.create(name="r", key_hash="x" * 64, scope="review")
    init_schema()
    assert SchemaVersion.get_by_id(1).version == SCHEMA_VERSION
    _, review_key = create_key("reviewer", "review")
    assert {k.scope for k in ApiKey.select()} == {"check", "review"}
    with pytest.raises(Exception), database.atomic():  # still a closed list
        ApiKey.create(name="bad", key_hash="y" * 64, scope="admin")
    with pytest.raises(Exception), database.atomic():  # the unique index on key_hash survived the rebuild
        ApiKey.create(name="dup", key_hash=ApiKey.get(ApiKey.name == "old").key_hash, scope="check")


def test_keys_create_scope_review(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", store_url)
    out = CliRunner().invoke(cli, ["keys", "create", "--name", "auditor", "--scope", "review"])
    assert out.exit_code == 0, out.output
    assert out.output.strip().splitlines()[-1].startswith("azk_")
    assert ApiKey.get(ApiKey.name == "auditor").scope == "review"
