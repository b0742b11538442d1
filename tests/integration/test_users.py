"""Users and roles (reference §13.3): CRUD, userByName, filters, the current user and its
password, role references and their effect, role checks, and no password ever answered."""
import itertools

import pytest

from certhelp import assert_error

USER_MEDIA = "application/vnd.com.nsn.cumulocity.user+json"
_seq = itertools.count(1)


@pytest.fixture
def tenant(shared_server):
    """A fresh tenant: (tenant id, its admin session)."""
    return shared_server.create_tenant("users%d" % next(_seq))


def new_user(admin, tid, name, password="user-secret-1", **kw):
    b = {"userName": name, "password": password, "email": "%s@example.com" % name}
    b.update(kw)
    r = admin.post("/user/%s/users" % tid, json=b)
    assert r.status_code == 201, r.text
    return r.json()


def role_names(user_json):
    return {ref["role"]["id"] for ref in user_json["roles"]["references"]}


def test_crud(shared_server, tenant):
    tid, admin = tenant
    r = admin.post("/user/%s/users" % tid, json={
        "userName": "jane", "password": "jane-secret-1", "email": "jane@example.com",
        "firstName": "Jane", "lastName": "Roe", "phone": "+1 555 0100"})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith(USER_MEDIA)
    assert r.headers["Location"] == "%s/user/%s/users/jane" % (shared_server.base, tid)
    u = r.json()
    assert u["id"] == "jane" and u["userName"] == "jane" and u["enabled"] is True
    assert u["self"] == "%s/user/%s/users/jane" % (shared_server.base, tid)
    assert u["email"] == "jane@example.com" and u["displayName"] == "Jane Roe"
    assert role_names(u) == {"ROLE_USER_MANAGEMENT_OWN_READ", "ROLE_USER_MANAGEMENT_OWN_ADMIN"}
    assert "password" not in u and "jane-secret-1" not in r.text

    for path in ("/user/%s/users/jane" % tid, "/user/%s/userByName/jane" % tid):
        g = admin.get(path)
        assert g.status_code == 200 and g.json()["lastName"] == "Roe", g.text
        assert "jane-secret-1" not in g.text

    p = admin.put("/user/%s/users/jane" % tid, json={"firstName": "Janet", "phone": "+1 555 0199"})
    assert p.status_code == 200 and p.json()["firstName"] == "Janet"
    assert admin.get("/user/%s/users/jane" % tid).json()["phone"] == "+1 555 0199"

    jane = shared_server.session("%s/jane" % tid, "jane-secret-1")
    assert jane.get("/user/currentUser").status_code == 200
    assert admin.put("/user/%s/users/jane" % tid, json={"enabled": False}).json()["enabled"] is False
    assert_error(jane.get("/user/currentUser"), 401, "security/Unauthorized")
    assert admin.put("/user/%s/users/jane" % tid, json={"enabled": True}).status_code == 200
    assert jane.get("/user/currentUser").status_code == 200

    # An administrator may set another user's password.
    r = admin.put("/user/%s/users/jane" % tid, json={"password": "jane-secret-2"})
    assert r.status_code == 200 and "jane-secret-2" not in r.text
    assert_error(jane.get("/user/currentUser"), 401, "security/Unauthorized")
    assert shared_server.session("%s/jane" % tid, "jane-secret-2").get(
        "/user/currentUser").status_code == 200

    d = admin.delete("/user/%s/users/jane" % tid)
    assert d.status_code == 204 and d.content == b""
    assert_error(admin.get("/user/%s/users/jane" % tid), 404, "users/Not Found", "jane")
    assert_error(admin.delete("/user/%s/users/jane" % tid), 404, "users/Not Found")
    assert_error(admin.put("/user/%s/users/jane" % tid, json={"firstName": "x"}), 404,
                 "users/Not Found")


def test_list_filters_and_paging(shared_server, tenant):
    tid, admin = tenant
    for n in ("alpha1", "alpha2", "alpha3", "beta"):
        new_user(admin, tid, n)
    csv = "ID;CREDENTIALS;AUTH_TYPE\nlistdev;dev-secret-1;BASIC\n"
    assert admin.post("/devicecontrol/bulkNewDeviceRequests",
                      files={"file": ("b.csv", csv)}).json()["numberOfCreated"] == 1
    r = admin.get("/user/%s/users" % tid, params={"pageSize": 100})
    assert r.headers["Content-Type"].startswith(
        "application/vnd.com.nsn.cumulocity.usercollection+json")
    names = [u["userName"] for u in r.json()["users"]]
    assert names == sorted(names) and "device_listdev" not in names
    assert {"admin", "alpha1", "alpha2", "alpha3", "beta"} <= set(names)

    r = admin.get("/user/%s/users" % tid, params={"username": "alpha", "pageSize": 2,
                                                  "withTotalElements": "true",
                                                  "withTotalPages": "true"})
    c = r.json()
    assert [u["userName"] for u in c["users"]] == ["alpha1", "alpha2"]
    assert c["statistics"]["totalElements"] == 3 and c["statistics"]["totalPages"] == 2
    assert [u["userName"] for u in admin.get(c["next"]).json()["users"]] == ["alpha3"]
    # LIKE's wildcards in the prefix are literal.
    assert admin.get("/user/%s/users" % tid, params={"username": "alph%"}).json()["users"] == []

    devs = admin.get("/user/%s/users" % tid, params={"onlyDevices": "true"}).json()["users"]
    assert [u["userName"] for u in devs] == ["device_listdev"]
    assert devs[0]["deviceId"] == "listdev"
    assert "dev-secret-1" not in admin.get("/user/%s/users" % tid,
                                           params={"onlyDevices": "true"}).text
    assert_error(admin.get("/user/%s/users" % tid, params={"onlyDevices": "maybe"}), 422,
                 "general/Invalid Data", "onlyDevices must be true or false")


@pytest.mark.parametrize("change, status, error, message", [
    ({"userName": None}, 422, "users/Unprocessable Entity", "userName is required"),
    ({"userName": "a/b"}, 422, "users/Unprocessable Entity", "contains '/'"),
    ({"userName": "a b"}, 422, "users/Unprocessable Entity", "whitespace"),
    ({"userName": "a:b"}, 422, "users/Unprocessable Entity", "contains ':'"),
    ({"userName": "device_fake"}, 422, "users/Unprocessable Entity", "reserved for device users"),
    ({"userName": 42}, 422, "users/Unprocessable Entity", "userName must be a string"),
    ({"password": None}, 422, "users/Unprocessable Entity", "password is required"),
    ({"password": None, "sendPasswordResetEmail": True}, 422, "users/Unprocessable Entity",
     "certgate sends no password reset e-mail"),
    ({"password": "short"}, 422, "users/Unprocessable Entity", "password must be 6 to"),
    ({"email": None}, 422, "users/Unprocessable Entity", "email is required"),
    ({"email": "nope"}, 422, "users/Unprocessable Entity", "email must be an e-mail address"),
    ({"enabled": "perhaps"}, 422, "users/Unprocessable Entity", "enabled must be true or false"),
    ({"roles": {"references": [{"role": {"id": "ROLE_NOPE"}}]}}, 422,
     "users/Unprocessable Entity", "there is no role 'ROLE_NOPE'"),
    ({"roles": "ROLE_AUDIT_READ"}, 422, "users/Unprocessable Entity", "roles must be"),
])
def test_bad_input(shared_server, tenant, change, status, error, message):
    tid, admin = tenant
    b = {"userName": "badinput", "password": "user-secret-1", "email": "b@example.com"}
    for k, v in change.items():
        if v is None:
            b.pop(k, None)
        else:
            b[k] = v
    assert_error(admin.post("/user/%s/users" % tid, json=b), status, error, message)


def test_conflicts_and_readonly_name(shared_server, tenant):
    tid, admin = tenant
    new_user(admin, tid, "dupe")
    assert_error(admin.post("/user/%s/users" % tid, json={
        "userName": "dupe", "password": "user-secret-1", "email": "d@example.com"}), 409,
        "users/Conflict", "user dupe already exists")
    assert_error(admin.put("/user/%s/users/dupe" % tid, json={"userName": "renamed"}), 422,
                 "users/Unprocessable Entity", "userName cannot be changed")
    assert_error(admin.delete("/user/%s/users/admin" % tid), 422,
                 "users/Unprocessable Entity", "cannot delete yourself")
    assert_error(admin.put("/user/%s/users/admin" % tid, json={"enabled": False}), 422,
                 "users/Unprocessable Entity", "cannot disable yourself")


def test_roles_catalogue(shared_server):
    api = shared_server.api
    r = api.get("/user/roles", params={"pageSize": 2000, "withTotalElements": "true"})
    assert r.status_code == 200
    roles = r.json()["roles"]
    names = [x["name"] for x in roles]
    assert {"ROLE_TENANT_ADMIN", "ROLE_AUDIT_READ", "ROLE_DEVICE", "ROLE_INVENTORY_READ",
            "ROLE_USER_MANAGEMENT_ADMIN", "ROLE_TENANT_MANAGEMENT_ADMIN"} <= set(names)
    assert r.json()["statistics"]["totalElements"] == len(names)
    assert all(x["id"] == x["name"] and x["self"] == shared_server.base + "/user/roles/" + x["id"]
               for x in roles)
    one = api.get("/user/roles/ROLE_AUDIT_READ")
    assert one.status_code == 200 and one.json()["id"] == "ROLE_AUDIT_READ"
    assert_error(api.get("/user/roles/ROLE_NOPE"), 404, "roles/Not Found")
    assert_error(api.get("/user/roles/AUDIT_READ"), 404, "roles/Not Found")
    page = api.get("/user/roles", params={"pageSize": 3, "currentPage": 2}).json()
    assert [x["name"] for x in page["roles"]] == names[3:6]


def test_role_assignment_and_its_effect(shared_server, tenant):
    tid, admin = tenant
    new_user(admin, tid, "auditor", password="auditor-secret-1")
    auditor = shared_server.session("%s/auditor" % tid, "auditor-secret-1")
    assert_error(auditor.get("/audit/auditRecords"), 403, "security/Forbidden")

    role_self = shared_server.base + "/user/roles/ROLE_AUDIT_READ"
    r = admin.post("/user/%s/users/auditor/roles" % tid, json={"role": {"self": role_self}})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith(
        "application/vnd.com.nsn.cumulocity.rolereference+json")
    ref_self = "%s/user/%s/users/auditor/roles/ROLE_AUDIT_READ" % (shared_server.base, tid)
    assert r.headers["Location"] == ref_self
    assert r.json() == {"self": ref_self, "role": {"id": "ROLE_AUDIT_READ",
                                                   "name": "ROLE_AUDIT_READ", "self": role_self}}
    assert "ROLE_AUDIT_READ" in role_names(admin.get("/user/%s/users/auditor" % tid).json())
    assert auditor.get("/audit/auditRecords").status_code == 200
    me = auditor.get("/user/currentUser").json()
    assert "ROLE_AUDIT_READ" in {x["id"] for x in me["effectiveRoles"]}

    assert_error(admin.post("/user/%s/users/auditor/roles" % tid,
                            json={"role": {"id": "ROLE_AUDIT_READ"}}),
                 409, "users/Conflict", "already has role ROLE_AUDIT_READ")
    assert_error(admin.post("/user/%s/users/auditor/roles" % tid,
                            json={"role": {"self": shared_server.base + "/user/roles/ROLE_X"}}),
                 422, "users/Unprocessable Entity", "there is no role 'ROLE_X'")
    assert_error(admin.post("/user/%s/users/auditor/roles" % tid, json={"rolle": {}}), 422,
                 "users/Unprocessable Entity", "the body must be")
    assert_error(admin.post("/user/%s/users/nobody/roles" % tid,
                            json={"role": {"id": "ROLE_AUDIT_READ"}}), 404, "users/Not Found")

    d = admin.delete("/user/%s/users/auditor/roles/ROLE_AUDIT_READ" % tid)
    assert d.status_code == 204
    assert_error(auditor.get("/audit/auditRecords"), 403, "security/Forbidden")
    assert_error(admin.delete("/user/%s/users/auditor/roles/ROLE_AUDIT_READ" % tid), 404,
                 "users/Not Found", "Cannot find the specified role.")
    assert_error(admin.delete("/user/%s/users/auditor/roles/ROLE_BOGUS" % tid), 404,
                 "users/Not Found")

    acts = [a["activity"] for a in admin.get("/audit/auditRecords", params={
        "type": "User", "source": "auditor", "pageSize": 20}).json()["auditRecords"]]
    assert acts[:3] == ["User updated", "User updated", "User created"]


def test_no_privilege_escalation(shared_server, tenant):
    tid, admin = tenant
    new_user(admin, tid, "usermgr", password="usermgr-secret-1",
             roles={"references": [{"role": {"id": "ROLE_USER_MANAGEMENT_ADMIN"}},
                                   {"role": {"id": "ROLE_USER_MANAGEMENT_READ"}}]})
    mgr = shared_server.session("%s/usermgr" % tid, "usermgr-secret-1")
    # It manages users ...
    new_user(mgr, tid, "minion")
    r = mgr.post("/user/%s/users/minion/roles" % tid,
                 json={"role": {"id": "ROLE_USER_MANAGEMENT_READ"}})
    assert r.status_code == 201, r.text
    # ... but cannot hand out (to anyone, itself included) roles it does not hold.
    for who in ("minion", "usermgr"):
        assert_error(mgr.post("/user/%s/users/%s/roles" % (tid, who),
                              json={"role": {"id": "ROLE_TENANT_ADMIN"}}),
                     403, "security/Forbidden", "only roles you hold yourself")
    assert_error(mgr.post("/user/%s/users" % tid, json={
        "userName": "sneaky", "password": "user-secret-1", "email": "s@example.com",
        "roles": {"references": [{"role": {"id": "ROLE_AUDIT_ADMIN"}}]}}),
        403, "security/Forbidden", "ROLE_AUDIT_ADMIN")
    # A tenant admin cannot give out the management tenant's roles either ...
    assert_error(admin.post("/user/%s/users/minion/roles" % tid,
                            json={"role": {"id": "ROLE_TENANT_MANAGEMENT_ADMIN"}}),
                 403, "security/Forbidden")
    # ... and the management tenant cannot put them into another tenant.
    assert_error(shared_server.api.post("/user/%s/users/minion/roles" % tid,
                                        json={"role": {"id": "ROLE_TENANT_MANAGEMENT_ADMIN"}}),
                 422, "users/Unprocessable Entity", "exist only in the management tenant")


def test_user_without_roles(shared_server, tenant):
    tid, admin = tenant
    new_user(admin, tid, "plain", password="plain-secret-1")
    new_user(admin, tid, "other")
    plain = shared_server.session("%s/plain" % tid, "plain-secret-1")
    assert_error(plain.get("/user/%s/users" % tid), 403, "security/Forbidden")
    assert_error(plain.get("/user/%s/users/other" % tid), 403, "security/Forbidden")
    assert_error(plain.post("/user/%s/users" % tid, json={
        "userName": "x", "password": "user-secret-1", "email": "x@example.com"}), 403,
        "security/Forbidden")
    assert_error(plain.put("/user/%s/users/other" % tid, json={"firstName": "x"}), 403,
                 "security/Forbidden")
    assert_error(plain.delete("/user/%s/users/other" % tid), 403, "security/Forbidden")
    assert_error(plain.post("/user/%s/users/plain/roles" % tid,
                            json={"role": {"id": "ROLE_AUDIT_READ"}}), 403, "security/Forbidden")
    # Its own record: readable, profile changeable, but not enabled/roles/password.
    assert plain.get("/user/%s/users/plain" % tid).status_code == 200
    assert plain.put("/user/%s/users/plain" % tid, json={"lastName": "Self"}).json()[
        "lastName"] == "Self"
    assert_error(plain.put("/user/%s/users/plain" % tid, json={"enabled": False}), 403,
                 "security/Forbidden")
    assert_error(plain.put("/user/%s/users/plain" % tid, json={"password": "plain-secret-9"}),
                 403, "security/Forbidden", "/user/currentUser/password")
    assert plain.get("/user/currentUser").status_code == 200


def test_current_user_and_password(shared_server, tenant):
    tid, admin = tenant
    new_user(admin, tid, "self", password="self-secret-1")
    me = shared_server.session("%s/self" % tid, "self-secret-1")
    r = me.put("/user/currentUser", json={"firstName": "Sally", "email": "sally@example.com"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith(
        "application/vnd.com.nsn.cumulocity.currentuser+json")
    assert r.json()["firstName"] == "Sally" and r.json()["userName"] == "self"
    assert me.get("/user/currentUser").json()["email"] == "sally@example.com"
    assert_error(me.put("/user/currentUser", json={"password": "x-secret-12"}), 422,
                 "users/Unprocessable Entity", "/user/currentUser/password")
    assert_error(me.put("/user/currentUser", json={"email": "bad"}), 422,
                 "users/Unprocessable Entity", "email must be an e-mail address")

    pw = "/user/currentUser/password"
    assert_error(me.put(pw, json={"currentUserPassword": "wrong-pass-1",
                                  "newPassword": "self-secret-2"}),
                 422, "users/Unprocessable Entity", "currentUserPassword is not correct")
    assert_error(me.put(pw, json={"newPassword": "self-secret-2"}), 422,
                 "users/Unprocessable Entity", "currentUserPassword is required")
    assert_error(me.put(pw, json={"currentUserPassword": "self-secret-1", "newPassword": "tiny"}),
                 422, "users/Unprocessable Entity", "password must be 6 to")
    r = me.put(pw, json={"currentUserPassword": "self-secret-1", "newPassword": "self-secret-2"})
    assert r.status_code == 200 and r.content == b""
    assert_error(me.get("/user/currentUser"), 401, "security/Unauthorized")
    me2 = shared_server.session("%s/self" % tid, "self-secret-2")
    assert "lastPasswordChange" in me2.get("/user/currentUser").json()
    # Without Accept the profile change answers an empty body.
    r = me2.put("/user/currentUser", json={"lastName": "Quiet"}, headers={"Accept": None})
    assert r.status_code == 200 and r.content == b""
    assert me2.get("/user/currentUser").json()["lastName"] == "Quiet"
    for secret in ("self-secret-1", "self-secret-2"):
        assert secret not in shared_server.log_text()


def test_device_user_has_no_profile_to_change(shared_server, tenant):
    tid, admin = tenant
    csv = "ID;CREDENTIALS;AUTH_TYPE\nprofdev;dev-secret-1;BASIC\n"
    assert admin.post("/devicecontrol/bulkNewDeviceRequests",
                      files={"file": ("b.csv", csv)}).json()["numberOfCreated"] == 1
    dev = shared_server.session("%s/device_profdev" % tid, "dev-secret-1")
    assert dev.get("/user/currentUser").json()["deviceId"] == "profdev"
    assert_error(dev.put("/user/currentUser", json={"firstName": "x"}), 403, "security/Forbidden")
    assert_error(dev.put("/user/currentUser/password", json={
        "currentUserPassword": "dev-secret-1", "newPassword": "dev-secret-2"}), 403,
        "security/Forbidden")
    assert_error(dev.get("/user/%s/users" % tid), 403, "security/Forbidden")


def test_accept_rule_for_users(shared_server, tenant):
    tid, admin = tenant
    r = admin.post("/user/%s/users" % tid, json={"userName": "quiet", "password": "quiet-secret-1",
                                                  "email": "q@example.com"},
                   headers={"Accept": None})
    assert r.status_code == 201 and r.content == b""
    assert r.headers["Location"].endswith("/user/%s/users/quiet" % tid)
    r = admin.put("/user/%s/users/quiet" % tid, json={"firstName": "Q"}, headers={"Accept": None})
    assert r.status_code == 200 and r.content == b""
    r = admin.post("/user/%s/users/quiet/roles" % tid, json={"role": {"id": "ROLE_AUDIT_READ"}},
                   headers={"Accept": None})
    assert r.status_code == 201 and r.content == b""
    assert "ROLE_AUDIT_READ" in role_names(admin.get("/user/%s/users/quiet" % tid).json())


def test_special_characters_in_names_are_encoded(shared_server, tenant):
    tid, admin = tenant
    u = new_user(admin, tid, "jörg.o'neil@x")
    assert u["self"].endswith("/users/j%C3%B6rg.o%27neil%40x")
    assert admin.get(u["self"]).json()["userName"] == "jörg.o'neil@x"
