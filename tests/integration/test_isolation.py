"""Tenants never see each other: every attempt of tenant A on tenant B's tenant record, users,
roles, options, devices, identities and audit records — by path and by id — is answered
403 or 404 and changes nothing; B's data stays as it was."""
import pytest

from certhelp import assert_error

NOT_FOUND = (404,)


@pytest.fixture(scope="module")
def world(shared_server):
    """Tenants A and B, each with a user 'ops', an option, a BASIC device 'dev-<x>' and audit
    records."""
    out = {}
    for label in ("a", "b"):
        tid, admin = shared_server.create_tenant("iso%s" % label, password="iso-%s-secret-1" % label)
        r = admin.post("/user/%s/users" % tid, json={
            "userName": "ops", "password": "ops-%s-secret-1" % label, "email": "ops@example.com"})
        assert r.status_code == 201, r.text
        r = admin.post("/tenant/options", json={"category": "iso", "key": "only-" + label,
                                                "value": "secret-of-" + label})
        assert r.status_code == 200, r.text
        r = admin.post("/devicecontrol/bulkNewDeviceRequests", files={"file": (
            "b.csv", "ID;CREDENTIALS;NAME\ndev-%s;dev-%s-secret-1;Device %s\n" % (label, label,
                                                                              label))})
        assert r.json()["numberOfCreated"] == 1, r.text
        ext = admin.get("/identity/externalIds/c8y_Serial/dev-" + label).json()
        audit = admin.get("/audit/auditRecords", params={"pageSize": 2000}).json()["auditRecords"]
        out[label] = {"tid": tid, "admin": admin, "mo": ext["managedObject"]["id"],
                      "audit": [a["id"] for a in audit],
                      "device": shared_server.session("%s/device_dev-%s" % (tid, label),
                                                      "dev-%s-secret-1" % label)}
    return out


def snapshot(s, t):
    """B's data as B's admin sees it."""
    return {
        "tenant": s.get("/tenant/tenants/" + t["tid"]).json(),
        "users": s.get("/user/%s/users" % t["tid"], params={"pageSize": 2000}).json()["users"],
        "options": s.get("/tenant/options", params={"pageSize": 2000}).json()["options"],
        "mos": s.get("/inventory/managedObjects", params={"pageSize": 2000}).json()[
            "managedObjects"],
    }


def test_tenant_records(world):
    a, b = world["a"], world["b"]
    before = snapshot(b["admin"], b)
    s = a["admin"]
    for r in (s.get("/tenant/tenants/" + b["tid"]),
              s.put("/tenant/tenants/" + b["tid"], json={"company": "pwned"}),
              s.put("/tenant/tenants/" + b["tid"], json={"status": "SUSPENDED"}),
              s.delete("/tenant/tenants/" + b["tid"])):
        assert_error(r, 404, "security/Not Found", "There is no tenant with id = " + b["tid"])
    assert_error(s.get("/tenant/tenants"), 403, "security/Forbidden")
    assert snapshot(b["admin"], b) == before


def test_users_by_path(world):
    a, b = world["a"], world["b"]
    before = snapshot(b["admin"], b)
    s, tb = a["admin"], b["tid"]
    attempts = [
        s.get("/user/%s/users" % tb),
        s.post("/user/%s/users" % tb, json={"userName": "intruder", "password": "intr-secret-1",
                                            "email": "i@example.com"}),
        s.get("/user/%s/users/ops" % tb),
        s.get("/user/%s/userByName/ops" % tb),
        s.put("/user/%s/users/ops" % tb, json={"enabled": False}),
        s.put("/user/%s/users/ops" % tb, json={"password": "taken-over-1"}),
        s.delete("/user/%s/users/ops" % tb),
        s.post("/user/%s/users/ops/roles" % tb, json={"role": {"id": "ROLE_AUDIT_READ"}}),
        s.delete("/user/%s/users/admin/roles/ROLE_TENANT_ADMIN" % tb),
        s.get("/user/%s/users/nobody" % tb),
    ]
    for r in attempts:
        assert_error(r, 404, "security/Not Found", "There is no tenant with id = " + tb)
    assert snapshot(b["admin"], b) == before
    # B's users still sign in with their own passwords only.
    assert b["admin"].get("/user/currentUser").status_code == 200
    assert a["admin"].get("/user/%s/users/ops" % a["tid"]).status_code == 200


def test_same_user_name_in_both_tenants_stays_apart(shared_server, world):
    a, b = world["a"], world["b"]
    # A's ops password does not open B's ops, with or without the tenant prefix.
    assert_error(shared_server.session("%s/ops" % b["tid"], "ops-a-secret-1").get(
        "/user/currentUser"), 401, "security/Unauthorized")
    assert_error(shared_server.session("ops", "ops-a-secret-1").get("/user/currentUser"), 401,
                 "security/Unauthorized")
    me = shared_server.session("%s/ops" % a["tid"], "ops-a-secret-1").get("/user/currentUser")
    assert me.status_code == 200 and me.json()["tenant"] == a["tid"]


def test_options(world):
    a, b = world["a"], world["b"]
    s = a["admin"]
    assert [o["key"] for o in s.get("/tenant/options").json()["options"]] == ["only-a"]
    assert s.get("/tenant/options/iso").json() == {"only-a": "secret-of-a"}
    assert_error(s.get("/tenant/options/iso/only-b"), 404, "options/Not Found")
    assert_error(s.delete("/tenant/options/iso/only-b"), 404, "options/Not Found")
    # Writing the same category/key in A creates A's own option, never B's.
    assert s.put("/tenant/options/iso/only-b", json={"value": "from-a"}).status_code == 200
    assert b["admin"].get("/tenant/options/iso/only-b").json()["value"] == "secret-of-b"
    assert "secret-of-b" not in s.get("/tenant/options", params={"pageSize": 2000}).text
    assert s.delete("/tenant/options/iso/only-b").status_code == 204
    assert b["admin"].get("/tenant/options/iso/only-b").status_code == 200


def test_devices_by_id_and_by_external_id(world):
    a, b = world["a"], world["b"]
    before = snapshot(b["admin"], b)
    s, bid = a["admin"], b["mo"]
    assert_error(s.get("/inventory/managedObjects/" + bid), 404, "inventory/Not Found")
    assert_error(s.delete("/inventory/managedObjects/" + bid), 404, "inventory/Not Found")
    assert_error(s.get("/identity/externalIds/c8y_Serial/dev-b"), 404, "identity/Not Found")
    assert_error(s.get("/identity/globalIds/%s/externalIds" % bid), 404, "identity/Not Found")
    for params in ({}, {"ids": bid}, {"owner": "device_dev-b"}, {"text": "dev-b"},
                   {"type": ""}, {"fragmentType": "c8y_IsDevice"}):
        params["pageSize"] = 2000
        names = [m["name"] for m in s.get("/inventory/managedObjects", params=params).json()[
            "managedObjects"]]
        assert "Device b" not in names, params
    # A's device sees nothing of B either.
    dev = a["device"]
    assert_error(dev.get("/inventory/managedObjects/" + bid), 404, "inventory/Not Found")
    assert_error(dev.get("/identity/externalIds/c8y_Serial/dev-b"), 404, "identity/Not Found")
    assert snapshot(b["admin"], b) == before


def test_bulk_cannot_target_another_tenant(world):
    a, b = world["a"], world["b"]
    r = a["admin"].post("/devicecontrol/bulkNewDeviceRequests", files={"file": (
        "b.csv", "ID;CREDENTIALS;AUTH_TYPE;TENANT\ndev-b;hijack-secret-1;BASIC;%s\n" % b["tid"])})
    assert r.status_code == 201 and r.json()["numberOfCreated"] == 1, r.text
    # It landed in A; B's device and its password are untouched.
    assert a["admin"].get("/identity/externalIds/c8y_Serial/dev-b").status_code == 200
    assert b["device"].get("/user/currentUser").status_code == 200
    assert b["admin"].get("/inventory/managedObjects/" + b["mo"]).json()["name"] == "Device b"
    assert a["admin"].delete(a["admin"].get("/identity/externalIds/c8y_Serial/dev-b").json()[
        "managedObject"]["self"]).status_code == 204
    assert b["device"].get("/user/currentUser").status_code == 200


def test_audit(world):
    a, b = world["a"], world["b"]
    s = a["admin"]
    mine = {x["id"] for x in s.get("/audit/auditRecords", params={"pageSize": 2000}).json()[
        "auditRecords"]}
    assert mine and not mine & set(b["audit"])
    for rid in b["audit"]:
        assert_error(s.get("/audit/auditRecords/" + rid), 404, "audit/Not Found")
    assert b["admin"].get("/audit/auditRecords/" + b["audit"][0]).status_code == 200


def test_device_of_one_tenant_cannot_reach_the_other(world):
    a, b = world["a"], world["b"]
    dev = b["device"]
    for r in (dev.get("/user/%s/users" % a["tid"]), dev.get("/tenant/tenants/" + a["tid"])):
        assert_error(r, 404, "security/Not Found")
    assert_error(dev.get("/inventory/managedObjects/" + a["mo"]), 404, "inventory/Not Found")


def test_management_tenant_sees_every_tenant(shared_server, world):
    api = shared_server.api
    b = world["b"]
    assert api.get("/tenant/tenants/" + b["tid"]).status_code == 200
    assert "ops" in [u["userName"] for u in api.get("/user/%s/users" % b["tid"]).json()["users"]]
    # ... yet options, devices and audit are per caller tenant even for it.
    assert "only-b" not in api.get("/tenant/options", params={"pageSize": 2000}).text
    assert_error(api.get("/inventory/managedObjects/" + b["mo"]), 404, "inventory/Not Found")
