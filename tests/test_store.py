"""Store tests: schema constraints hold on SQLite and PostgreSQL."""
from __future__ import annotations

import peewee
import pytest

from service.store import current_revision, database, init_schema
from service.store import models as m


def _org(name: str, partner: bool = False) -> m.Organization:
    return m.Organization.create(name=name, is_partner=partner)


def test_init_schema_is_idempotent(store_url: str) -> None:
    init_schema()
    init_schema()
    assert current_revision() == 0


def test_r11_one_active_partnership_per_pair_is_in_the_schema(store_url: str) -> None:
    partner, customer = _org("p", True), _org("c")
    m.Partnership.create(partner=partner, customer=customer, access="full", payment_mode="customer")
    with pytest.raises(peewee.IntegrityError):
        with database.atomic():
            m.Partnership.create(partner=partner, customer=customer, access="full", payment_mode="partner")


def test_r11_an_ended_partnership_does_not_block_a_new_one(store_url: str) -> None:
    partner, customer = _org("p", True), _org("c")
    m.Partnership.create(partner=partner, customer=customer, access="full", payment_mode="customer", status="ended")
    m.Partnership.create(partner=partner, customer=customer, access="full", payment_mode="partner")
    assert m.Partnership.select().count() == 2


@pytest.mark.parametrize("field, value", [("access", "everything"), ("status", "paused"), ("payment_mode", "nobody")])
def test_enums_are_checked_by_the_schema(store_url: str, field: str, value: str) -> None:
    partner, customer = _org("p", True), _org("c")
    row = {"partner": partner, "customer": customer, "access": "full", "payment_mode": "customer", field: value}
    with pytest.raises(peewee.IntegrityError):
        with database.atomic():
            m.Partnership.create(**row)


def test_limited_access_is_always_paid_by_the_customer(store_url: str) -> None:
    partner, customer = _org("p", True), _org("c")
    with pytest.raises(peewee.IntegrityError):
        with database.atomic():
            m.Partnership.create(partner=partner, customer=customer, access="limited", payment_mode="partner")


def test_membership_role_is_checked_and_unique_per_organization(store_url: str) -> None:
    org = _org("o")
    user = m.User.create(email="u@example.test", name="u")
    with pytest.raises(peewee.IntegrityError):
        with database.atomic():
            m.Membership.create(user=user, organization=org, role="owner")
    m.Membership.create(user=user, organization=org, role="administrator")
    with pytest.raises(peewee.IntegrityError):
        with database.atomic():
            m.Membership.create(user=user, organization=org, role="collaborator")


def test_foreign_keys_are_enforced(store_url: str) -> None:
    with pytest.raises(peewee.IntegrityError):
        with database.atomic():
            m.Product.create(organization=999_999, category="hosting", name="x")


def test_loading_the_demo_world_bumps_the_revision(demo: dict[str, str]) -> None:
    assert current_revision() == 2  # the load, then the fixture's policy activation
    assert demo["webwerk"].startswith("organization:")
    assert m.Partnership.select().where(m.Partnership.status == "active").count() == 5


def test_init_schema_migrates_a_version_1_store_and_readiness_says_so(store_url: str) -> None:
    from service.decide.engine import Engine
    from service.store import schema_is_current
    from service.store.world import load_world

    refs = load_world({"organizations": [{"key": "o", "partner": True}], "users": [{"key": "u"}],
                       "memberships": [{"user": "u", "organization": "o", "role": "legal_representative"}]})
    # make it the store a version-1 release left behind: no epoch column, version 1
    database.execute_sql("ALTER TABLE store_revision DROP COLUMN epoch")
    m.SchemaVersion.update(version=1).execute()
    assert not schema_is_current()
    assert Engine().decide(refs["u"], "add_customer", refs["o"]).error  # fails closed on the old schema
    init_schema()
    assert schema_is_current()
    decision = Engine().decide(refs["u"], "add_customer", refs["o"])
    assert decision.allowed and decision.revision == 1
