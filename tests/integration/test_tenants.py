"""Tenants (reference §13.2): create, list, get, update, suspend/activate, delete; roles; the
Accept rule; paging; never a password in an answer."""
import itertools
import json
import os
import pathlib
import re
import subprocess

import pytest

from certhelp import assert_error
from cgserver import ADMIN_PASSWORD

TENANT_MEDIA = "application/vnd.com.nsn.cumulocity.tenant+json"
_seq = itertools.count(1)


def uniq(prefix):
    return "%s%d" % (prefix, next(_seq))


def body(domain, **kw):
    b = {"company": "Company " + domain, "domain": domain, "adminEmail": "boss@%s.example" % domain,
         "adminName": "boss", "adminPass": "boss-secret-1"}
    b.update(kw)
    return b


def test_create_get_update_roundtrip(shared_server):
    api = shared_server.api
    dom = uniq("roundtrip")
    r = api.post("/tenant/tenants", json=body(dom, contactName="Jane Roe",
                                               contactPhone="+49 89 1234567",
                                               customProperties={"language": "de"}))
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith(TENANT_MEDIA)
    t = r.json()
    tid = t["id"]
    assert tid.startswith("t") and tid[1:].isdigit() and len(tid) == 9
    assert r.headers["Location"] == shared_server.base + "/tenant/tenants/" + tid
    assert t["self"] == shared_server.base + "/tenant/tenants/" + tid
    assert t["domain"] == dom and t["company"] == "Company " + dom
    assert t["status"] == "ACTIVE" and t["parent"] == "management"
    assert t["contactName"] == "Jane Roe" and t["contactPhone"] == "+49 89 1234567"
    assert t["customProperties"] == {"language": "de"}
    assert t["adminName"] == "boss"
    assert "adminPass" not in t and "boss-secret-1" not in r.text
    assert t["creationTime"].endswith("Z")

    g = api.get("/tenant/tenants/" + tid)
    assert g.status_code == 200 and g.headers["Content-Type"].startswith(TENANT_MEDIA)
    assert g.json()["domain"] == dom and "boss-secret-1" not in g.text

    # The new administrator can sign in with tenant/user and with the bare user name.
    boss = shared_server.session("%s/boss" % tid, "boss-secret-1")
    me = boss.get("/user/currentUser")
    assert me.status_code == 200 and me.json()["tenant"] == tid

    u = api.put("/tenant/tenants/" + tid, json={"company": "Renamed", "contactName": "John",
                                                "customProperties": {"language": "en"}})
    assert u.status_code == 200, u.text
    assert u.json()["company"] == "Renamed" and u.json()["contactName"] == "John"
    assert u.json()["customProperties"] == {"language": "en"}
    assert api.get("/tenant/tenants/" + tid).json()["company"] == "Renamed"

    # A GET -> PUT round trip of the whole object is accepted (read-only members ignored).
    whole = api.get("/tenant/tenants/" + tid).json()
    whole["company"] = "Round trip"
    u2 = api.put("/tenant/tenants/" + tid, json=whole)
    assert u2.status_code == 200, u2.text
    assert u2.json()["company"] == "Round trip" and u2.json()["id"] == tid


def test_given_id_and_admin_password_alias(shared_server):
    api = shared_server.api
    tid = uniq("t77")
    r = api.post("/tenant/tenants", json={"id": tid, "company": "C", "domain": uniq("alias"),
                                          "adminEmail": "a@b.example",
                                          "adminPassword": "alias-secret-1"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == tid and r.json()["adminName"] == "admin"
    assert shared_server.session("%s/admin" % tid, "alias-secret-1").get(
        "/user/currentUser").status_code == 200
    r = api.post("/tenant/tenants", json=body(uniq("both"), adminPassword="other-secret-1"))
    assert_error(r, 422, "tenants/Unprocessable Entity", "adminPass and adminPassword differ")


def test_duplicates_are_409(shared_server):
    api = shared_server.api
    dom = uniq("dup")
    tid = uniq("t88")
    assert api.post("/tenant/tenants", json=body(dom, id=tid)).status_code == 201
    assert_error(api.post("/tenant/tenants", json=body(dom)), 409, "tenants/Conflict",
                 "domain %s already exists" % dom)
    assert_error(api.post("/tenant/tenants", json=body(uniq("dup"), id=tid)), 409,
                 "tenants/Conflict", "id %s already exists" % tid)
    # Changing the domain to one in use is a conflict too.
    other = api.post("/tenant/tenants", json=body(uniq("dup"))).json()["id"]
    assert_error(api.put("/tenant/tenants/" + other, json={"domain": dom}), 409,
                 "tenants/Conflict", dom)


@pytest.mark.parametrize("change, message", [
    ({"company": None}, "company is required"),
    ({"company": ""}, "company is required"),
    ({"company": 5}, "company must be a string"),
    ({"domain": None}, "domain is required"),
    ({"domain": "Upper"}, "start with a lowercase letter"),
    ({"domain": "under_score"}, "only lowercase letters, digits"),
    ({"adminEmail": None}, "adminEmail is required"),
    ({"adminEmail": "no-at-sign"}, "adminEmail is required and must be an e-mail address"),
    ({"adminPass": None}, "adminPass is required"),
    ({"adminPass": "short"}, "adminPass is required: 6 to 1024 characters"),
    ({"adminName": "has space"}, "adminName 'has space' contains whitespace"),
    ({"adminName": "a" * 51}, "adminName must be at most 50 characters"),
    ({"contactName": "x" * 31}, "contactName must be at most 30 characters"),
    ({"contactPhone": "call me"}, "contactPhone must be a phone number"),
    ({"customProperties": [1]}, "customProperties must be a JSON object"),
    ({"status": "PAUSED"}, "status must be ACTIVE or SUSPENDED"),
    ({"status": "SUSPENDED"}, "a tenant is created ACTIVE"),
    ({"id": "Tupper"}, "tenant id may contain only lowercase letters"),
    ({"id": "x"}, "tenant id must be 2 to 32 characters"),
    ({"id": "roles"}, "tenant id 'roles' is reserved"),
])
def test_bad_fields_are_422_with_a_clear_message(shared_server, change, message):
    b = body(uniq("bad"))
    for k, v in change.items():
        if v is None:
            b.pop(k, None)
        else:
            b[k] = v
    r = shared_server.api.post("/tenant/tenants", json=b)
    err = assert_error(r, 422, "tenants/Unprocessable Entity", message)
    assert "boss-secret-1" not in err["message"]


def test_bad_json_body_is_400(shared_server):
    r = shared_server.api.post("/tenant/tenants", data="{not json",
                               headers={"Content-Type": "application/json"})
    assert_error(r, 400, "general/Bad Request", "not a usable JSON object")
    r = shared_server.api.put("/tenant/tenants/management", json={"adminPass": "new-secret-1"})
    assert_error(r, 422, "tenants/Unprocessable Entity", "adminPass cannot be changed here")
    r = shared_server.api.put("/tenant/tenants/management", json={"id": "other"})
    assert_error(r, 422, "tenants/Unprocessable Entity", "id cannot be changed")


def test_missing_tenant_is_404(shared_server):
    api = shared_server.api
    for r in (api.get("/tenant/tenants/t00000001"),
              api.put("/tenant/tenants/t00000001", json={"company": "x"}),
              api.delete("/tenant/tenants/t00000001")):
        assert_error(r, 404, "security/Not Found", "There is no tenant with id = t00000001")


def test_tenant_admin_reads_only_its_own_tenant(shared_server):
    tid, admin = shared_server.create_tenant(uniq("own"))
    other, _ = shared_server.create_tenant(uniq("other"))
    r = admin.get("/tenant/tenants/" + tid)
    assert r.status_code == 200 and r.json()["id"] == tid
    # Management operations: 403 for its own tenant, 404 for any other.
    assert_error(admin.get("/tenant/tenants"), 403, "security/Forbidden")
    assert_error(admin.post("/tenant/tenants", json=body(uniq("sneaky"))), 403,
                 "security/Forbidden")
    assert_error(admin.put("/tenant/tenants/" + tid, json={"company": "x"}), 403,
                 "security/Forbidden")
    assert_error(admin.put("/tenant/tenants/" + tid, json={"status": "SUSPENDED"}), 403,
                 "security/Forbidden")
    assert_error(admin.delete("/tenant/tenants/" + tid), 403, "security/Forbidden")
    for r in (admin.get("/tenant/tenants/" + other),
              admin.put("/tenant/tenants/" + other, json={"company": "x"}),
              admin.delete("/tenant/tenants/" + other),
              admin.get("/tenant/tenants/management")):
        assert_error(r, 404, "security/Not Found", "There is no tenant with id = ")
    assert shared_server.api.get("/tenant/tenants/" + other).json()["company"] != "x"


def test_user_without_tenant_role_gets_403(shared_server):
    tid, admin = shared_server.create_tenant(uniq("plain"))
    r = admin.post("/user/%s/users" % tid, json={"userName": "plain", "password": "plain-secret-1",
                                                  "email": "p@example.com"})
    assert r.status_code == 201, r.text
    plain = shared_server.session("%s/plain" % tid, "plain-secret-1")
    assert_error(plain.get("/tenant/tenants/" + tid), 403, "security/Forbidden")
    assert plain.get("/tenant/currentTenant").status_code == 200


def test_list_is_paged_and_filtered(shared_server):
    api = shared_server.api
    company = uniq("PagedCo")
    ids = sorted(api.post("/tenant/tenants", json=body(uniq("paged"), company=company)).json()["id"]
                 for _ in range(3))
    r = api.get("/tenant/tenants", params={"company": company, "pageSize": 2,
                                           "withTotalElements": "true", "withTotalPages": "true"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "application/vnd.com.nsn.cumulocity.tenantcollection+json")
    c = r.json()
    assert [t["id"] for t in c["tenants"]] == ids[:2]
    assert c["statistics"] == {"currentPage": 1, "pageSize": 2, "totalPages": 2,
                               "totalElements": 3}
    assert "prev" not in c and "currentPage=2" in c["next"]
    c2 = api.get(c["next"]).json()
    assert [t["id"] for t in c2["tenants"]] == ids[2:]
    assert "next" not in c2 and "currentPage=1" in c2["prev"]
    # domain filter, and the management tenant is not its own subtenant.
    dom = api.get("/tenant/tenants/" + ids[0]).json()["domain"]
    assert [t["id"] for t in api.get("/tenant/tenants", params={"domain": dom}).json()["tenants"]] \
        == [ids[0]]
    assert "management" not in [t["id"] for t in api.get(
        "/tenant/tenants", params={"pageSize": 2000}).json()["tenants"]]
    # Paging parameters: too large is trimmed, zero or text is refused.
    assert api.get("/tenant/tenants", params={"pageSize": 5000}).json()["statistics"][
        "pageSize"] == 2000
    assert_error(api.get("/tenant/tenants", params={"pageSize": 0}), 422, "general/Invalid Data")
    assert_error(api.get("/tenant/tenants", params={"currentPage": "x"}), 422,
                 "general/Invalid Data")


def test_accept_rule(shared_server):
    api = shared_server.api
    r = api.post("/tenant/tenants", json=body(uniq("noaccept")), headers={"Accept": None})
    assert r.status_code == 201 and r.content == b""
    tid = r.headers["Location"].rsplit("/", 1)[1]
    assert api.get("/tenant/tenants/" + tid).status_code == 200
    r = api.put("/tenant/tenants/" + tid, json={"company": "quiet"}, headers={"Accept": None})
    assert r.status_code == 200 and r.content == b""
    assert api.get("/tenant/tenants/" + tid).json()["company"] == "quiet"
    # Errors keep their body without Accept.
    r = api.post("/tenant/tenants", json={"company": "x"}, headers={"Accept": None})
    assert_error(r, 422, "tenants/Unprocessable Entity")
    # Cumulocity's own media types are accepted; a non-JSON type is not.
    r = api.get("/tenant/tenants/" + tid, headers={"Accept": TENANT_MEDIA + ";ver=0.9"})
    assert r.status_code == 200
    assert_error(api.get("/tenant/tenants/" + tid, headers={"Accept": "text/csv"}), 406,
                 "general/Not Acceptable")
    # X-HTTP-METHOD lets a POST stand for PUT.
    r = api.post("/tenant/tenants/" + tid, json={"company": "via-override"},
                 headers={"X-HTTP-METHOD": "PUT"})
    assert r.status_code == 200 and r.json()["company"] == "via-override"


def test_suspend_and_activate(shared_server):
    api = shared_server.api
    tid, admin = shared_server.create_tenant(uniq("susp"))
    assert admin.get("/tenant/currentTenant").status_code == 200  # credentials now cached
    r = admin.post("/user/%s/users" % tid, json={"userName": "op", "password": "op-secret-11",
                                                  "email": "op@example.com"})
    assert r.status_code == 201
    op = shared_server.session("%s/op" % tid, "op-secret-11")
    csv = "ID;CREDENTIALS;AUTH_TYPE\nsusp-dev;dev-secret-1;BASIC\n"
    r = admin.post("/devicecontrol/bulkNewDeviceRequests", files={"file": ("b.csv", csv)})
    assert r.json()["numberOfCreated"] == 1, r.text
    dev = shared_server.session("%s/device_susp-dev" % tid, "dev-secret-1")
    assert dev.get("/user/currentUser").status_code == 200

    r = api.put("/tenant/tenants/" + tid, json={"status": "SUSPENDED"})
    assert r.status_code == 200 and r.json()["status"] == "SUSPENDED"
    assert api.get("/tenant/tenants/" + tid).json()["status"] == "SUSPENDED"
    for s in (admin, op, dev):
        assert_error(s.get("/user/currentUser"), 401, "security/Unauthorized")
    assert_error(admin.get("/tenant/currentTenant"), 401, "security/Unauthorized")
    # The management tenant still manages it.
    assert api.get("/user/%s/users" % tid).status_code == 200

    r = api.put("/tenant/tenants/" + tid, json={"status": "ACTIVE"})
    assert r.status_code == 200 and r.json()["status"] == "ACTIVE"
    for s in (admin, op, dev):
        assert s.get("/user/currentUser").status_code == 200

    acts = [a["activity"] for a in api.get("/audit/auditRecords", params={
        "type": "Tenant", "source": tid, "pageSize": 100}).json()["auditRecords"]]
    assert acts[:3] == ["Tenant activated", "Tenant suspended", "Tenant created"]


def test_management_tenant_cannot_be_suspended_or_deleted(shared_server):
    api = shared_server.api
    assert_error(api.put("/tenant/tenants/management", json={"status": "SUSPENDED"}), 422,
                 "tenants/Unprocessable Entity", "management tenant cannot be suspended")
    assert_error(api.delete("/tenant/tenants/management"), 422, "tenants/Unprocessable Entity",
                 "management tenant cannot be deleted")
    assert api.get("/user/currentUser").status_code == 200


def test_delete_removes_the_tenant_and_its_logins(shared_server):
    api = shared_server.api
    tid, admin = shared_server.create_tenant(uniq("gone"))
    assert admin.get("/user/currentUser").status_code == 200
    r = api.delete("/tenant/tenants/" + tid)
    assert r.status_code == 204 and r.content == b""
    assert_error(api.get("/tenant/tenants/" + tid), 404, "security/Not Found")
    assert_error(admin.get("/user/currentUser"), 401, "security/Unauthorized")
    assert_error(api.get("/user/%s/users" % tid), 404, "security/Not Found")
    assert_error(api.delete("/tenant/tenants/" + tid), 404, "security/Not Found")


def test_passwords_are_never_echoed_or_logged(shared_server):
    secret = "never-echo-me-42"
    r = shared_server.api.post("/tenant/tenants", json=body(uniq("secret"), adminPass=secret))
    assert r.status_code == 201 and secret not in r.text
    tid = r.json()["id"]
    for path in ("/tenant/tenants/" + tid, "/tenant/tenants?pageSize=2000",
                 "/user/%s/users" % tid, "/audit/auditRecords?pageSize=2000"):
        assert secret not in shared_server.api.get(path).text
    assert secret not in shared_server.log_text()
    assert ADMIN_PASSWORD not in shared_server.log_text()


# ---- docs/api/tenants-users.md, run as written ---------------------------------------------

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "api" / "tenants-users.md"
DOC_ORDER = ["tenant-create", "tenant-list", "tenant-get", "tenant-update", "tenant-suspend",
             "tenant-delete", "user-create", "user-list", "user-update", "roles", "current-user",
             "user-delete", "option-create", "option-list", "option-one", "bulk-csv",
             "inventory-list", "identity", "inventory-one", "audit"]


def doc_blocks():
    found = re.findall(r"<!-- test:([\w-]+) -->\n```sh\n(.*?)```", DOC.read_text(), re.S)
    assert len(dict(found)) == len(found), "a block name is used twice"
    return dict(found)


def test_docs_every_block_is_run():
    assert list(doc_blocks()) == DOC_ORDER


def test_docs_walkthrough(server, tmp_path):
    """Every sh block of the page, in order, in one bash with C8Y and PASSWORD set and
    ./certgate-data being the server's data directory (as after `certgate serve`)."""
    blocks = doc_blocks()
    (tmp_path / "certgate-data").symlink_to(server.data_dir)
    script = "set -euo pipefail\n" + "".join("echo '@@@%s'\n%s\n" % (n, blocks[n])
                                             for n in DOC_ORDER)
    env = dict(os.environ, C8Y=server.base, PASSWORD=ADMIN_PASSWORD)
    p = subprocess.run(["bash", "-c", script], cwd=str(tmp_path), env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, "stdout:\n%s\nstderr:\n%s" % (p.stdout, p.stderr)
    out = {}
    for part in p.stdout.split("@@@")[1:]:
        name, _, text = part.partition("\n")
        out[name] = text.strip()
    assert list(out) == DOC_ORDER

    created = json.loads(out["tenant-create"])
    assert created["id"] == "t07007007" and created["status"] == "ACTIVE"
    assert "Example-Admin-1" not in out["tenant-create"]
    listed = out["tenant-list"].split("\n]")[0]
    assert '"t07007007"' in listed and '"totalElements": 1' in out["tenant-list"]
    assert out["tenant-get"].split("\n") == ["example", "ACTIVE", "Example Ltd"]
    assert out["tenant-update"] == "Example Group"
    assert out["tenant-suspend"].split("\n") == ["SUSPENDED", "401", "ACTIVE"]
    assert out["tenant-delete"] == "204"
    user = json.loads(out["user-create"])
    assert user["id"] == "jdoe" and user["enabled"] is True
    assert user["roles"] == ["ROLE_USER_MANAGEMENT_OWN_ADMIN", "ROLE_USER_MANAGEMENT_OWN_READ"]
    assert out["user-list"].split("\n") == ["jdoe", "jdoe@example.com", "John Doe"]
    assert out["user-update"] == "+1 555 0100"
    assert out["roles"].split("\n") == ["ROLE_TENANT_MANAGEMENT_ADMIN",
                                        "ROLE_TENANT_MANAGEMENT_READ", "ROLE_TENANT_ADMIN",
                                        "ROLE_AUDIT_READ", "204"]
    assert out["current-user"].split("\n") == [
        "Johnny", "200",
        "ROLE_USER_MANAGEMENT_OWN_ADMIN,ROLE_USER_MANAGEMENT_OWN_READ,ROLE_AUDIT_READ"]
    assert out["user-delete"] == "204"
    opt = json.loads(out["option-create"])
    assert opt["value"] == "900" and opt["self"].endswith(
        "/tenant/options/oauth.internal/device-token.lifespan.seconds")
    assert out["option-list"].split("\n") == [
        '{"crl.offline.check.enabled":"true","crl.online.check.enabled":"false"}',
        "configuration/crl.offline.check.enabled=true",
        "configuration/crl.online.check.enabled=false",
        "oauth.internal/device-token.lifespan.seconds=900"]
    assert out["option-one"].split("\n") == [
        "3", 'option mqtt/acl.mode takes "default" or "open", not "closed"', "3", "204"]
    bulk = json.loads(out["bulk-csv"])
    assert (bulk["numberOfAll"], bulk["numberOfCreated"], bulk["numberOfFailed"]) == (4, 3, 1)
    failed = bulk["failedCreationList"][0]
    assert failed["deviceId"] == "broken01" and failed["failureReason"].startswith("line 5: ")
    assert "short" not in failed["line"] and "credentials='******'" in failed["line"]
    assert "Gateway-Secret-1" not in out["bulk-csv"]
    assert out["inventory-list"].split("\n") == ["Boiler sensor", "1"]
    assert out["identity"] == "c8y_Serial device0002"
    assert out["inventory-one"].split("\n") == ["device_device0002", "CERTIFICATES", "204",
                                                "device_gateway01"]
    assert out["audit"].split("\n") == ["Tenant activated", "Tenant suspended", "Tenant updated",
                                        "Tenant created", "User deleted", "temp"]


def test_suspension_shuts_out_certificate_and_token_devices(shared_server, tmp_path):
    import certhelp
    from pkiutil import TestPKI
    api = shared_server.api
    tid, admin = shared_server.create_tenant(uniq("suspcert"))
    pki = TestPKI(tmp_path / "pki")
    root = pki.ca("root", "Suspension Test Root")
    leaf = pki.device("dev", "susp-cert-dev", issuer=root)
    certhelp.upload_ok(admin, tid, root, autoRegistrationEnabled=True)
    by_cert = shared_server.session(cert=(str(pki.chain_file("chain", leaf, root)),
                                          str(leaf.key_path)))
    r = by_cert.post("/devicecontrol/deviceAccessToken")
    assert r.status_code == 200, r.text
    by_token = shared_server.session()
    by_token.headers["Authorization"] = "Bearer " + r.json()["accessToken"]
    for s in (by_cert, by_token):
        assert s.get("/inventory/managedObjects").status_code == 200

    assert api.put("/tenant/tenants/" + tid, json={"status": "SUSPENDED"}).status_code == 200
    for s in (by_cert, by_token):
        assert_error(s.get("/inventory/managedObjects"), 401, "security/Unauthorized")
    assert api.put("/tenant/tenants/" + tid, json={"status": "ACTIVE"}).status_code == 200
    for s in (by_cert, by_token):
        assert s.get("/inventory/managedObjects").status_code == 200
