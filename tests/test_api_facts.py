"""Facts CRUD through HTTP: shapes of the API contract, 201 with the revision, 404 unknown references,
409 duplicates, R3 (the last legal representative can be neither removed nor demoted)."""
from __future__ import annotations

from service.store import models as m
from test_api_support import Api, api  # noqa: F401  (fixture)


def _id(ref: str) -> int:
    return int(ref.split(":")[1])


def test_create_read_update_delete_every_fact(api: Api) -> None:
    org = api.write("POST", "/v1/organizations", {"name": "Agentur", "partner": True})
    assert org.status_code == 201 and org.json["id"].startswith("organization:") and org.json["partner"] is True
    customer = api.write("POST", "/v1/organizations", {"name": "Kunde"}).json
    assert customer["partner"] is False and customer["revision"] > org.json["revision"]
    user = api.write("POST", "/v1/users", {"email": "a@x.example", "name": "A"}).json
    user2 = api.write("POST", "/v1/users", {"email": "b@x.example", "name": "B"}).json
    ms = api.write("POST", "/v1/memberships", {"user": user["id"], "organization": org.json["id"],
                                               "role": "legal_representative", "billing": True})
    assert ms.status_code == 201 and ms.json["role"] == "legal_representative" and ms.json["billing"] is True
    ms2 = api.write("POST", "/v1/memberships", {"user": user2["id"], "organization": org.json["id"],
                                                "role": "collaborator"}).json
    product = api.write("POST", "/v1/products", {"organization": org.json["id"], "category": "hosting",
                                                 "name": "agentur.example"}).json
    auth = api.write("POST", "/v1/product-authorizations", {"user": user2["id"], "product": product["id"]})
    assert auth.status_code == 201 and auth.json["product"] == product["id"]
    # an assignment needs an active partnership (made by the invitation workflow elsewhere)
    m.Partnership.create(partner=_id(org.json["id"]), customer=_id(customer["id"]), access="full",
                         payment_mode="customer")
    assignment = api.write("POST", "/v1/assignments", {"partner": org.json["id"], "user": user2["id"],
                                                       "customer": customer["id"]})
    assert assignment.status_code == 201 and assignment.json["customer"] == customer["id"]
    invoice = api.write("POST", "/v1/invoices", {"organization": customer["id"]})
    assert invoice.status_code == 201 and invoice.json["id"].startswith("invoice:")

    for path, created in (("organizations", org.json), ("users", user), ("memberships", ms2),
                          ("products", product), ("product-authorizations", auth.json),
                          ("assignments", assignment.json), ("invoices", invoice.json)):
        read = api.get(f"/v1/{path}/{_id(created['id'])}")
        assert read.status_code == 200 and {k: v for k, v in read.json.items() if k != "revision"} == \
            {k: v for k, v in created.items() if k != "revision"}, path

    renamed = api.write("PATCH", f"/v1/organizations/{_id(org.json['id'])}", {"name": "Agentur Nord"})
    assert renamed.status_code == 200 and renamed.json["name"] == "Agentur Nord" and renamed.json["partner"] is True
    put = api.write("PUT", f"/v1/users/{_id(user2['id'])}", {"name": "Bea"})
    assert put.json["name"] == "Bea" and put.json["email"] == "b@x.example"
    promoted = api.write("PATCH", f"/v1/memberships/{_id(ms2['id'])}", {"role": "administrator"})
    assert promoted.status_code == 200 and promoted.json["role"] == "administrator"
    assert api.write("PATCH", f"/v1/products/{_id(product['id'])}", {"category": "mail"}).json["category"] == "mail"

    deleted = api.write("DELETE", f"/v1/invoices/{_id(invoice.json['id'])}")
    assert deleted.status_code == 200 and deleted.json["deleted"] is True
    assert deleted.json["revision"] > promoted.json["revision"]
    assert api.get(f"/v1/invoices/{_id(invoice.json['id'])}").status_code == 404
    assert api.write("DELETE", f"/v1/invoices/{_id(invoice.json['id'])}").status_code == 404


def test_writes_change_the_next_decision(api: Api, demo) -> None:
    body = {"actor": demo["dirk"], "action": "access_account", "resource": demo["baeckerei"]}
    assert api.post("/v1/check", body).json["allowed"] is False
    created = api.write("POST", "/v1/assignments", {"partner": demo["webwerk"], "user": demo["dirk"],
                                                    "customer": demo["baeckerei"]}).json
    after = api.post("/v1/check", {**body, "min_revision": created["revision"]})
    assert after.status_code == 200 and after.json["allowed"] is True and after.json["reasons"][0]["rule"] == "R13"


def test_unknown_references_404_and_duplicates_409(api: Api, demo) -> None:
    missing = api.write("POST", "/v1/memberships", {"user": "user:999999", "organization": demo["webwerk"],
                                                    "role": "collaborator"})
    assert missing.status_code == 404 and missing.json["error"]["field"] == "user"
    assert "allowed" not in missing.json
    assert api.write("POST", "/v1/invoices", {"organization": "organization:999999"}).status_code == 404
    assert api.get("/v1/organizations/999999").status_code == 404
    assert api.write("PATCH", "/v1/users/999999", {"name": "x"}).status_code == 404
    duplicate = api.write("POST", "/v1/users", {"email": "anna@webwerk.example", "name": "Anna 2"})
    assert duplicate.status_code == 409 and duplicate.json["error"]["code"] == "conflict"
    assert api.write("POST", "/v1/memberships", {"user": demo["anna"], "organization": demo["webwerk"],
                                                 "role": "collaborator"}).status_code == 409
    assert api.write("POST", "/v1/product-authorizations",
                     {"user": demo["erik"], "product": demo["webwerk_site"]}).status_code == 409
    # an organization that is still in a partnership cannot be deleted (its history stays)
    assert api.write("DELETE", f"/v1/organizations/{_id(demo['zahnarzt'])}").status_code == 409
    invalid = api.write("POST", "/v1/memberships", {"user": demo["anna"], "organization": demo["baeckerei"],
                                                    "role": "owner"})
    assert invalid.status_code == 422 and invalid.json["error"]["field"] == "role"
    assert api.write("POST", "/v1/organizations", {"name": "bad\u0007name"}).status_code == 422
    assert api.write("POST", "/v1/organizations", {"name": "x", "partner": "yes"}).status_code == 400


def _membership_id(demo, user: str, org: str) -> int:
    from service.store.models import Membership
    return Membership.get((Membership.user == _id(demo[user])) & (Membership.organization == _id(demo[org]))).id


def test_r3_last_legal_representative(api: Api, demo) -> None:
    max_ms = _membership_id(demo, "max", "metzgerei")
    demote = api.write("PATCH", f"/v1/memberships/{max_ms}", {"role": "administrator"})
    assert demote.status_code == 409 and demote.json["error"]["code"] == "last_legal_representative"
    assert api.write("DELETE", f"/v1/memberships/{max_ms}").status_code == 409
    assert api.write("DELETE", f"/v1/users/{_id(demo['max'])}").status_code == 409
    assert api.write("PATCH", f"/v1/memberships/{max_ms}", {"billing": False}).status_code == 200
    # with a second legal representative, the first may go
    api.write("POST", "/v1/memberships", {"user": demo["bernd"], "organization": demo["metzgerei"],
                                          "role": "legal_representative"})
    assert api.write("PATCH", f"/v1/memberships/{max_ms}", {"role": "administrator"}).status_code == 200
    bernd_ms = _membership_id(demo, "bernd", "metzgerei")
    assert api.write("DELETE", f"/v1/memberships/{bernd_ms}").status_code == 409


def test_r3_with_an_acting_user_only_a_legal_representative_appoints_one(api: Api, demo) -> None:
    body = {"user": demo["dirk"], "organization": demo["pixelhaus"], "role": "legal_representative"}
    denied = api.write("POST", "/v1/memberships", {**body, "acting_user": demo["peter"]})  # an administrator
    assert denied.status_code == 403 and denied.json["error"]["field"] == "acting_user"
    assert denied.json["reasons"][0]["rule"] == "R20"
    stranger = api.write("POST", "/v1/memberships", {**body, "acting_user": demo["anna"]})  # another org's LR
    assert stranger.status_code == 403
    allowed = api.write("POST", "/v1/memberships", {**body, "acting_user": demo["paula"]})  # the LR
    assert allowed.status_code == 201 and allowed.json["role"] == "legal_representative"
    assert "acting_user" not in allowed.json


def test_r1_with_an_acting_user_administrators_manage_other_memberships(api: Api, demo) -> None:
    created = api.write("POST", "/v1/memberships", {"user": demo["dirk"], "organization": demo["pixelhaus"],
                                                    "role": "collaborator", "acting_user": demo["peter"]})
    assert created.status_code == 201
    path = f"/v1/memberships/{_id(created.json['id'])}"
    promote = api.write("PATCH", path, {"role": "legal_representative", "acting_user": demo["peter"]})
    assert promote.status_code == 403  # R3: an administrator cannot make a legal representative
    by_collaborator = api.write("PATCH", path, {"billing": True, "acting_user": demo["pia"]})
    assert by_collaborator.status_code == 403
    assert api.write("PATCH", path, {"billing": True, "acting_user": demo["peter"]}).json["billing"] is True
