"""Issue 12 item 8: meaningless facts are refused with 422 naming the field; a conflict (409)
names the field and the existing fact."""
from __future__ import annotations

import pytest

from test_api_support import Api, api  # noqa: F401  (fixture)


@pytest.mark.parametrize("partner, user, customer, field", [
    ("baeckerei", "bea", "metzgerei", "partner"),    # the "partner" is a customer, not a partner
    ("webwerk", "pia", "baeckerei", "user"),         # pia is a member of pixelhaus, not webwerk
    ("webwerk", "dirk", "cafe", "customer"),         # webwerk has no partnership with cafe
    ("webwerk", "dirk", "zahnarzt", "customer"),     # that partnership ended (R19)
])
def test_meaningless_assignments_are_422(api: Api, demo, partner: str, user: str, customer: str,
                                         field: str) -> None:
    answer = api.write("POST", "/v1/assignments", {"partner": demo[partner], "user": demo[user],
                                                   "customer": demo[customer]})
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["field"] == field and answer.json["error"]["code"] == "meaningless_fact"
    valid = api.write("POST", "/v1/assignments", {"partner": demo["webwerk"], "user": demo["dirk"],
                                                  "customer": demo["baeckerei"]})
    assert valid.status_code == 201


def test_a_product_authorization_needs_a_product_of_the_users_organization(api: Api, demo) -> None:
    foreign = api.write("POST", "/v1/product-authorizations", {"user": demo["erik"], "product": demo["cafe_web"]})
    assert foreign.status_code == 422 and foreign.json["error"]["field"] == "product"
    assert demo["cafe_web"] in foreign.json["error"]["message"]
    own = api.write("POST", "/v1/product-authorizations", {"user": demo["bea"], "product": demo["baeckerei_web"]})
    assert own.status_code == 201


@pytest.mark.parametrize("category", ["banana", "Hosting", "x" * 64])
def test_unknown_product_categories_are_422(api: Api, demo, category: str) -> None:
    answer = api.write("POST", "/v1/products", {"organization": demo["webwerk"], "category": category, "name": "x"})
    assert answer.status_code == 422 and answer.json["error"]["field"] == "category"
    product = demo["webwerk_site"].split(":")[1]
    changed = api.write("PATCH", f"/v1/products/{product}", {"category": category})
    assert changed.status_code == 422 and changed.json["error"]["field"] == "category"


def test_conflicts_name_the_field_and_the_existing_fact(api: Api, demo) -> None:
    email = api.write("POST", "/v1/users", {"email": "anna@webwerk.example", "name": "Anna 2"})
    assert email.status_code == 409 and email.json["error"]["field"] == "email"
    assert email.json["existing"] == demo["anna"]
    renamed = api.write("PATCH", f"/v1/users/{demo['bernd'].split(':')[1]}", {"email": "anna@webwerk.example"})
    assert renamed.status_code == 409 and renamed.json["existing"] == demo["anna"]
    member = api.write("POST", "/v1/memberships", {"user": demo["anna"], "organization": demo["webwerk"],
                                                   "role": "collaborator"})
    assert member.status_code == 409 and member.json["error"]["field"] == "user"
    assert member.json["existing"].startswith("membership:")
    assigned = api.write("POST", "/v1/assignments", {"partner": demo["webwerk"], "user": demo["carla"],
                                                     "customer": demo["baeckerei"]})
    assert assigned.status_code == 409 and assigned.json["existing"].startswith("assignment:")
    authorized = api.write("POST", "/v1/product-authorizations", {"user": demo["bea"],
                                                                  "product": demo["baeckerei_shop"]})
    assert authorized.status_code == 409 and authorized.json["error"]["field"] == "product"
    kept = api.write("DELETE", f"/v1/organizations/{demo['zahnarzt'].split(':')[1]}")
    assert kept.status_code == 409 and kept.json["existing"] == demo["webwerk_zahnarzt"]
