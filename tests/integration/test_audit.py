"""Audit records (reference §13.7): what the API's changes leave behind, filters, order,
paging, one record by id, roles, and where tenant-level records live."""
import datetime
import itertools
import time

import pytest

from certhelp import assert_error

AUDIT_MEDIA = "application/vnd.com.nsn.cumulocity.auditrecord+json"
_seq = itertools.count(1)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def records(session, **params):
    params.setdefault("pageSize", 2000)
    r = session.get("/audit/auditRecords", params=params)
    assert r.status_code == 200, r.text
    return r.json()["auditRecords"]


@pytest.fixture
def tenant(shared_server):
    tid, admin = shared_server.create_tenant("audit%d" % next(_seq))
    r = admin.post("/user/%s/users" % tid, json={"userName": "bob", "password": "bob-secret-11",
                                                  "email": "bob@example.com"})
    assert r.status_code == 201
    assert admin.post("/tenant/options", json={"category": "c", "key": "k",
                                               "value": "v"}).status_code == 200
    r = admin.post("/devicecontrol/bulkNewDeviceRequests",
                   files={"file": ("b.csv", "ID;AUTH_TYPE\naud-dev;CERTIFICATES\n")})
    assert r.status_code == 201
    return tid, admin


def test_changes_are_recorded_newest_first(shared_server, tenant):
    tid, admin = tenant
    r = admin.get("/audit/auditRecords")
    assert r.headers["Content-Type"].startswith(
        "application/vnd.com.nsn.cumulocity.auditrecordcollection+json")
    recs = records(admin)
    assert [(a["type"], a["activity"]) for a in recs] == [
        ("Inventory", "Devices bulk-registered"), ("Option", "Option created"),
        ("User", "User created")]
    a = recs[2]
    assert a["user"] == "admin" and a["source"] == {"id": "bob"}
    assert a["application"] == "certgate" and a["severity"] == "INFORMATION"
    assert a["self"] == "%s/audit/auditRecords/%s" % (shared_server.base, a["id"])
    assert a["time"] == a["creationTime"] and a["time"].endswith("Z")
    assert "User bob created" in a["text"]
    times = [x["time"] for x in recs]
    assert times == sorted(times, reverse=True)
    assert [x["id"] for x in records(admin, revert="true")] == [x["id"] for x in reversed(recs)]


def test_filters(shared_server, tenant):
    tid, admin = tenant
    assert [a["activity"] for a in records(admin, type="User")] == ["User created"]
    assert [a["activity"] for a in records(admin, source="bob")] == ["User created"]
    assert len(records(admin, user="admin")) == 3
    assert records(admin, user="bob") == []
    assert len(records(admin, application="certgate")) == 3
    assert records(admin, application="other") == []

    recs = records(admin, revert="true")
    t_mid = recs[1]["time"]
    after = records(admin, dateFrom=t_mid)
    assert recs[0]["id"] not in [a["id"] for a in after] and recs[1]["id"] in [a["id"] for a in after]
    before = records(admin, dateTo=t_mid)
    assert recs[2]["id"] not in [a["id"] for a in before] and recs[1]["id"] in [a["id"] for a in before]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert records(admin, dateFrom=iso(now + datetime.timedelta(hours=1))) == []
    assert len(records(admin, dateFrom=iso(now - datetime.timedelta(hours=1)),
                       dateTo=iso(now + datetime.timedelta(hours=1)))) == 3
    assert len(records(admin, dateFrom=now.strftime("%Y-%m-%d"))) == 3

    assert_error(admin.get("/audit/auditRecords", params={"dateFrom": "yesterday"}), 422,
                 "general/Invalid Data", "dateFrom must be an ISO 8601 date-time")
    assert_error(admin.get("/audit/auditRecords", params={"dateFrom": "2030-01-01",
                                                          "dateTo": "2020-01-01"}), 422,
                 "general/Invalid Data", "dateFrom must not be after dateTo")
    assert_error(admin.get("/audit/auditRecords", params={"revert": "sideways"}), 422,
                 "general/Invalid Data", "revert must be true or false")


def test_paging(shared_server, tenant):
    tid, admin = tenant
    c = admin.get("/audit/auditRecords", params={"pageSize": 2, "withTotalElements": "true",
                                                 "withTotalPages": "true"}).json()
    assert len(c["auditRecords"]) == 2
    assert c["statistics"] == {"currentPage": 1, "pageSize": 2, "totalPages": 2,
                               "totalElements": 3}
    nxt = admin.get(c["next"]).json()
    assert len(nxt["auditRecords"]) == 1 and "prev" in nxt and "next" not in nxt
    ids = [a["id"] for a in c["auditRecords"] + nxt["auditRecords"]]
    assert ids == [a["id"] for a in records(admin)]


def test_one_record(shared_server, tenant):
    tid, admin = tenant
    a = records(admin)[0]
    r = admin.get("/audit/auditRecords/" + a["id"])
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(AUDIT_MEDIA)
    assert r.json() == a
    for bad in ("99999999", "abc", "1" * 30):
        assert_error(admin.get("/audit/auditRecords/" + bad), 404, "audit/Not Found")


def test_tenant_records_live_in_the_management_tenant(shared_server):
    api = shared_server.api
    tid, admin = shared_server.create_tenant("auditmg%d" % next(_seq))
    assert api.put("/tenant/tenants/" + tid, json={"status": "SUSPENDED"}).status_code == 200
    assert api.put("/tenant/tenants/" + tid, json={"status": "ACTIVE"}).status_code == 200
    assert api.put("/tenant/tenants/" + tid, json={"company": "Renamed"}).status_code == 200
    mine = records(api, type="Tenant", source=tid)
    assert [a["activity"] for a in mine] == ["Tenant updated", "Tenant activated",
                                             "Tenant suspended", "Tenant created"]
    assert all(a["user"] == "admin" for a in mine)
    # The tenant itself sees none of them, and the management tenant none of its records.
    assert records(admin, type="Tenant") == []
    admin.post("/user/%s/users" % tid, json={"userName": "zed", "password": "zed-secret-11",
                                             "email": "z@example.com"})
    assert records(admin, source="zed")[0]["activity"] == "User created"
    assert records(api, source="zed") == []


def test_roles(shared_server, tenant):
    tid, admin = tenant
    bob = shared_server.session("%s/bob" % tid, "bob-secret-11")
    rec = records(admin)[0]
    assert_error(bob.get("/audit/auditRecords"), 403, "security/Forbidden")
    assert_error(bob.get("/audit/auditRecords/" + rec["id"]), 403, "security/Forbidden")
    assert admin.post("/user/%s/users/bob/roles" % tid,
                      json={"role": {"id": "ROLE_AUDIT_READ"}}).status_code == 201
    assert bob.get("/audit/auditRecords/" + rec["id"]).json()["id"] == rec["id"]
    # Devices have no audit role.
    r = admin.post("/devicecontrol/bulkNewDeviceRequests",
                   files={"file": ("b.csv", "ID;CREDENTIALS\naud-basic;aud-secret-11\n")})
    assert r.json()["numberOfCreated"] == 1
    dev = shared_server.session("%s/device_aud-basic" % tid, "aud-secret-11")
    assert_error(dev.get("/audit/auditRecords"), 403, "security/Forbidden")


def test_failed_logins_are_recorded(shared_server, tenant):
    tid, admin = tenant
    bad = shared_server.session("%s/bob" % tid, "not-the-password")
    assert bad.get("/user/currentUser").status_code == 401
    deadline = time.time() + 5
    while time.time() < deadline:
        recs = records(admin, type="UserAuthentication")
        if recs:
            break
        time.sleep(0.05)
    assert recs and recs[0]["activity"] == "Login failed"
    assert "not-the-password" not in str(recs)
