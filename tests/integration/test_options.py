"""Tenant options (reference §13.4): create (200), list, category map, get, update, delete;
validation of certgate's well-known options; masked credentials; roles; the Accept rule."""
import itertools

import pytest

from certhelp import assert_error

OPTION_MEDIA = "application/vnd.com.nsn.cumulocity.option+json"
_seq = itertools.count(1)


@pytest.fixture
def tenant(shared_server):
    return shared_server.create_tenant("opts%d" % next(_seq))


def test_create_get_list_update_delete(shared_server, tenant):
    tid, admin = tenant
    r = admin.post("/tenant/options", json={"category": "alarm.type.mapping", "key": "c8y_Temp",
                                            "value": "MAJOR|too hot"})
    assert r.status_code == 200, r.text  # 200, not 201 (reference §13.8)
    assert r.headers["Content-Type"].startswith(OPTION_MEDIA)
    self_url = shared_server.base + "/tenant/options/alarm.type.mapping/c8y_Temp"
    assert r.json() == {"category": "alarm.type.mapping", "key": "c8y_Temp",
                        "value": "MAJOR|too hot", "self": self_url}
    assert r.headers["Location"] == self_url

    g = admin.get("/tenant/options/alarm.type.mapping/c8y_Temp")
    assert g.status_code == 200 and g.json()["value"] == "MAJOR|too hot"

    p = admin.put("/tenant/options/alarm.type.mapping/c8y_Temp", json={"value": "MINOR|warm"})
    assert p.status_code == 200 and p.json()["value"] == "MINOR|warm"
    assert admin.get("/tenant/options/alarm.type.mapping/c8y_Temp").json()["value"] == "MINOR|warm"

    p = admin.put("/tenant/options/alarm.type.mapping", json={"c8y_Hum": "NONE|", "c8y_X": "WARNING|x"})
    assert p.status_code == 200, p.text
    assert p.json() == {"c8y_Hum": "NONE|", "c8y_Temp": "MINOR|warm", "c8y_X": "WARNING|x"}
    m = admin.get("/tenant/options/alarm.type.mapping")
    assert m.status_code == 200 and m.json() == p.json()
    assert admin.get("/tenant/options/no.such.category").json() == {}

    lst = admin.get("/tenant/options", params={"pageSize": 2, "withTotalElements": "true"})
    assert lst.headers["Content-Type"].startswith(
        "application/vnd.com.nsn.cumulocity.optioncollection+json")
    c = lst.json()
    assert [(o["category"], o["key"]) for o in c["options"]] == [
        ("alarm.type.mapping", "c8y_Hum"), ("alarm.type.mapping", "c8y_Temp")]
    assert c["statistics"]["totalElements"] == 3 and "next" in c
    assert [o["key"] for o in admin.get(c["next"]).json()["options"]] == ["c8y_X"]

    d = admin.delete("/tenant/options/alarm.type.mapping/c8y_Temp")
    assert d.status_code == 204 and d.content == b""
    assert_error(admin.get("/tenant/options/alarm.type.mapping/c8y_Temp"), 404,
                 "options/Not Found", "alarm.type.mapping/c8y_Temp")
    assert_error(admin.delete("/tenant/options/alarm.type.mapping/c8y_Temp"), 404,
                 "options/Not Found")

    acts = [a["activity"] for a in admin.get("/audit/auditRecords", params={
        "type": "Option", "pageSize": 50}).json()["auditRecords"]]
    assert acts[0] == "Option deleted" and "Option updated" in acts and "Option created" in acts


@pytest.mark.parametrize("category, key, value, message", [
    ("oauth.internal", "device-token.lifespan.seconds", "100", "whole number from 300 to"),
    ("oauth.internal", "device-token.lifespan.seconds", "1h", "whole number from 300 to"),
    ("configuration", "crl.offline.check.enabled", "yes", 'takes "true" or "false"'),
    ("configuration", "crl.online.check.enabled", "1", 'takes "true" or "false"'),
    ("trusted-certificates", "pop.self-attested.enabled", "on", 'takes "true" or "false"'),
    ("trusted-certificates", "max.chain.length", "11", "whole number from 1 to 10"),
    ("trusted-certificates", "max.chain.length", "0", "whole number from 1 to 10"),
    ("mqtt", "acl.mode", "closed", 'takes "default" or "open"'),
    ("bad category", "k", "v", "contains"),
    ("cat", "a/b", "v", "not allowed"),
    ("c" * 128, "k", "v", "option category must be 1 to 127 characters"),
])
def test_well_known_options_are_validated(shared_server, tenant, category, key, value, message):
    tid, admin = tenant
    if "/" not in key and " " not in category:
        r = admin.put("/tenant/options/%s/%s" % (category, key), json={"value": value})
        assert_error(r, 422, "options/Unprocessable Entity", message)
    r = admin.post("/tenant/options", json={"category": category, "key": key, "value": value})
    if len(category) > 127:
        assert_error(r, 422, "options/Unprocessable Entity", "category must be at most 127 bytes")
    else:
        assert_error(r, 422, "options/Unprocessable Entity", message)
    assert admin.get("/tenant/options", params={"pageSize": 2000}).json()["options"] == []


def test_valid_well_known_options_are_stored(shared_server, tenant):
    tid, admin = tenant
    good = [("oauth.internal", "device-token.lifespan.seconds", "900"),
            ("configuration", "crl.offline.check.enabled", "false"),
            ("configuration", "crl.online.check.enabled", "TRUE"),
            ("trusted-certificates", "pop.self-attested.enabled", "true"),
            ("trusted-certificates", "max.chain.length", "3"),
            ("mqtt", "acl.mode", "open")]
    for cat, key, value in good:
        r = admin.put("/tenant/options/%s/%s" % (cat, key), json={"value": value})
        assert r.status_code == 200 and r.json()["value"] == value, r.text
    stored = {(o["category"], o["key"]): o["value"]
              for o in admin.get("/tenant/options", params={"pageSize": 100}).json()["options"]}
    assert stored == {(c, k): v for c, k, v in good}


def test_category_put_is_checked_before_anything_is_written(shared_server, tenant):
    tid, admin = tenant
    r = admin.put("/tenant/options/configuration", json={"crl.online.check.enabled": "true",
                                                         "crl.offline.check.enabled": "maybe"})
    assert_error(r, 422, "options/Unprocessable Entity", "crl.offline.check.enabled")
    assert admin.get("/tenant/options/configuration").json() == {}
    r = admin.put("/tenant/options/configuration", json={"crl.online.check.enabled": True})
    assert_error(r, 422, "options/Unprocessable Entity", "must be a string")
    assert admin.get("/tenant/options/configuration").json() == {}


@pytest.mark.parametrize("body, message", [
    ({"key": "k", "value": "v"}, "category is required"),
    ({"category": "c", "value": "v"}, "key is required"),
    ({"category": "c", "key": "k"}, "value is required"),
    ({"category": "c", "key": "k", "value": 5}, "value must be a string"),
    ({"category": "c", "key": "k", "value": "x" * 5000}, "value must be at most 4095 bytes"),
])
def test_bad_create_bodies(shared_server, tenant, body, message):
    tid, admin = tenant
    assert_error(admin.post("/tenant/options", json=body), 422, "options/Unprocessable Entity",
                 message)
    assert_error(admin.put("/tenant/options/c/k", json={"val": "x"}), 422,
                 "options/Unprocessable Entity", '{"value": "..."}')


def test_credentials_are_never_returned(shared_server, tenant):
    tid, admin = tenant
    secret = "s3cr3t-token-value"
    r = admin.post("/tenant/options", json={"category": "ext", "key": "credentials.apikey",
                                            "value": secret})
    assert r.status_code == 200 and r.json()["value"] == "<<Encrypted>>"
    for path in ("/tenant/options/ext/credentials.apikey", "/tenant/options/ext",
                 "/tenant/options?pageSize=100", "/audit/auditRecords?pageSize=100"):
        t = admin.get(path).text
        assert secret not in t and "<<Encrypted>>" in t, path
    assert secret not in shared_server.log_text()


def test_roles(shared_server, tenant):
    tid, admin = tenant
    assert admin.post("/tenant/options", json={"category": "c", "key": "k",
                                               "value": "v"}).status_code == 200
    r = admin.post("/user/%s/users" % tid, json={"userName": "noopt", "password": "noopt-secret-1",
                                                  "email": "n@example.com"})
    assert r.status_code == 201
    plain = shared_server.session("%s/noopt" % tid, "noopt-secret-1")
    for resp in (plain.get("/tenant/options"), plain.get("/tenant/options/c"),
                 plain.get("/tenant/options/c/k"),
                 plain.post("/tenant/options", json={"category": "c", "key": "k2", "value": "v"}),
                 plain.put("/tenant/options/c/k", json={"value": "w"}),
                 plain.put("/tenant/options/c", json={"k": "w"}),
                 plain.delete("/tenant/options/c/k")):
        assert_error(resp, 403, "security/Forbidden")
    # Read-only role: reads, but does not write.
    assert admin.post("/user/%s/users/noopt/roles" % tid,
                      json={"role": {"id": "ROLE_OPTION_MANAGEMENT_READ"}}).status_code == 201
    assert plain.get("/tenant/options/c/k").json()["value"] == "v"
    assert_error(plain.put("/tenant/options/c/k", json={"value": "w"}), 403, "security/Forbidden")
    assert admin.get("/tenant/options/c/k").json()["value"] == "v"


def test_accept_rule(shared_server, tenant):
    tid, admin = tenant
    r = admin.post("/tenant/options", json={"category": "q", "key": "k", "value": "1"},
                   headers={"Accept": None})
    assert r.status_code == 200 and r.content == b""
    r = admin.put("/tenant/options/q/k", json={"value": "2"}, headers={"Accept": None})
    assert r.status_code == 200 and r.content == b""
    r = admin.put("/tenant/options/q", json={"k2": "3"}, headers={"Accept": None})
    assert r.status_code == 200 and r.content == b""
    assert admin.get("/tenant/options/q").json() == {"k": "2", "k2": "3"}
