"""Bulk registration (reference §8 and the seed "Registering devices using certificates"):
the CSV dialects, per-row results with masked lines, custom properties, header errors,
the TENANT column, roles, and a 100,000-row file."""
import itertools
import re
import time

import pytest

from certhelp import assert_error

BULK = "/devicecontrol/bulkNewDeviceRequests"
BULK_MEDIA = "application/vnd.com.nsn.cumulocity.bulknewdevicerequest+json"
_seq = itertools.count(1)


@pytest.fixture
def tenant(shared_server):
    return shared_server.create_tenant("bulk%d" % next(_seq))


def post(session, csv, name="bulk.csv", **kw):
    data = csv.encode() if isinstance(csv, str) else csv
    return session.post(BULK, files={"file": (name, data, "text/csv")}, **kw)


def post_ok(session, csv):
    r = post(session, csv)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith(BULK_MEDIA)
    return r.json()


def device(session, ext, id_type="c8y_Serial"):
    r = session.get("/identity/externalIds/%s/%s" % (id_type, ext))
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return session.get(r.json()["managedObject"]["self"]).json()


def test_seed_certificate_registration(shared_server, tenant):
    """The seed: AUTH_TYPE=CERTIFICATES, CREDENTIALS absent or empty."""
    tid, admin = tenant
    res = post_ok(admin, "ID;AUTH_TYPE;TYPE;NAME\n"
                         "seed-dev-1;CERTIFICATES;c8y_MQTTDevice;Seed device 1\n"
                         "seed-dev-2;CERTIFICATES;c8y_MQTTDevice;Seed device 2\n")
    assert res == {"numberOfAll": 2, "numberOfCreated": 2, "numberOfFailed": 0,
                   "numberOfSuccessful": 2, "credentialUpdatedList": [],
                   "failedCreationList": []}
    res = post_ok(admin, "ID,CREDENTIALS,AUTH_TYPE\nseed-dev-3,,CERTIFICATES\n")
    assert res["numberOfCreated"] == 1
    for ext in ("seed-dev-1", "seed-dev-2", "seed-dev-3"):
        mo = device(admin, ext)
        assert mo["owner"] == "device_" + ext
        assert mo["certgate_Registration"]["authType"] == "CERTIFICATES"
        assert mo["certgate_Registration"]["registration"] == "bulk"
    assert device(admin, "seed-dev-1")["type"] == "c8y_MQTTDevice"
    # The device user exists (as a device user: hidden from the plain list) but has no
    # password, so it cannot sign in with one.
    users = admin.get("/user/%s/users" % tid, params={"onlyDevices": "true",
                                                      "pageSize": 100}).json()["users"]
    assert {"device_seed-dev-1", "device_seed-dev-3"} <= {u["userName"] for u in users}


def test_basic_devices_and_masked_failures(shared_server, tenant):
    tid, admin = tenant
    csv = ("ID;CREDENTIALS;AUTH_TYPE;NAME;TYPE\n"
           "ok-basic;good-secret-1;BASIC;Basic one;t\n"
           "ok-default;good-secret-2;;Default auth;t\n"
           "short;abc12;BASIC;;\n"
           "cert-with-pw;leaked-secret-9;CERTIFICATES;;\n"
           ";orphan-secret-1;BASIC;;\n"
           "bad/id;slash-secret-1;BASIC;;\n"
           "weird;weird-secret-1;KERBEROS;;\n")
    res = post_ok(admin, csv)
    assert (res["numberOfAll"], res["numberOfCreated"], res["numberOfFailed"],
            res["numberOfSuccessful"]) == (7, 2, 5, 2)
    failed = {f["deviceId"]: f for f in res["failedCreationList"]}
    assert set(failed) == {"short", "cert-with-pw", "", "bad/id", "weird"}
    assert all(f["bulkNewDeviceStatus"] == "FAILED" for f in failed.values())
    assert "line 4" in failed["short"]["failureReason"]
    assert "6 to 1024 characters" in failed["short"]["failureReason"]
    assert "must be empty when AUTH_TYPE is CERTIFICATES" in failed["cert-with-pw"]["failureReason"]
    assert "ID is empty" in failed[""]["failureReason"]
    assert "'/'" in failed["bad/id"]["failureReason"]
    assert "AUTH_TYPE must be BASIC or CERTIFICATES" in failed["weird"]["failureReason"]
    # The answer never echoes a credential, not even of failed rows.
    for secret in ("good-secret-1", "good-secret-2", "abc12", "leaked-secret-9",
                   "orphan-secret-1", "slash-secret-1", "weird-secret-1"):
        assert secret not in str(res)
        assert secret not in shared_server.log_text()
    assert "credentials='******'" in failed["short"]["line"]
    assert failed["short"]["line"].startswith("DeviceInfo{line=4, id='short'")

    me = shared_server.session("%s/device_ok-basic" % tid, "good-secret-1").get("/user/currentUser")
    assert me.status_code == 200 and me.json()["deviceId"] == "ok-basic"
    assert "ROLE_DEVICE" in {r["id"] for r in me.json()["effectiveRoles"]}
    assert device(admin, "ok-default")["certgate_Registration"]["authType"] == "BASIC"
    assert device(admin, "short") is None and device(admin, "cert-with-pw") is None


def test_reregistration_updates_credentials(shared_server, tenant):
    tid, admin = tenant
    post_ok(admin, "ID;CREDENTIALS\nagain;first-secret-1\n")
    res = post_ok(admin, "ID;CREDENTIALS\nagain;second-secret-1\nnew-one;third-secret-1\n")
    assert (res["numberOfAll"], res["numberOfCreated"], res["numberOfSuccessful"]) == (2, 1, 2)
    assert res["credentialUpdatedList"] == [{"bulkNewDeviceStatus": "CREDENTIAL_UPDATED",
                                             "deviceId": "again"}]
    assert_error(shared_server.session("%s/device_again" % tid, "first-secret-1").get(
        "/user/currentUser"), 401, "security/Unauthorized")
    assert shared_server.session("%s/device_again" % tid, "second-secret-1").get(
        "/user/currentUser").status_code == 200


def test_csv_dialects(shared_server, tenant):
    tid, admin = tenant
    variants = {
        "tab": "ID\tAUTH_TYPE\tNAME\ntab-1\tCERTIFICATES\tTab device\n",
        "comma-crlf": "ID,AUTH_TYPE,NAME\r\ncomma-1,CERTIFICATES,\"Comma, quoted\"\r\n",
        "semicolon-bom": "\ufeffID;AUTH_TYPE;NAME\nsemi-1;CERTIFICATES;Semi \"raw\" quote\n\n",
        "lowercase-headers": " id ; auth_type ; name \nlower-1;certificates;Lower\n",
    }
    for label, csv in variants.items():
        assert post_ok(admin, csv)["numberOfCreated"] == 1, label
    assert device(admin, "tab-1")["name"] == "Tab device"
    assert device(admin, "comma-1")["name"] == "Comma, quoted"
    assert device(admin, "semi-1")["name"] == 'Semi "raw" quote'
    assert device(admin, "lower-1")["certgate_Registration"]["authType"] == "CERTIFICATES"
    # "ANSI" (Windows-1252) text becomes UTF-8.
    ansi = "ID;AUTH_TYPE;NAME\nansi-1;CERTIFICATES;Z\xe4hler \u20ac\n".encode("cp1252")
    assert b"\xe4" in ansi and b"\x80" in ansi
    r = post(admin, ansi)
    assert r.status_code == 201 and r.json()["numberOfCreated"] == 1, r.text
    assert device(admin, "ansi-1")["name"] == "Zähler €"


def test_custom_properties(shared_server, tenant):
    tid, admin = tenant
    csv = ("ID;AUTH_TYPE;NAME;TYPE;IDTYPE;ICCID;PATH;SHELL;com_cumulocity_model_Agent.active;"
           "c8y_Hardware.model;c8y_Hardware.serialNumber;note;external-c8y_Imei\n"
           "prop-1;CERTIFICATES;Prop one;c8y_Thing;c8y_Serial;89440001;g1/g2;1;true;X100;SN-1;"
           "hello;356938035643809\n"
           "prop-2;CERTIFICATES;Prop two;c8y_Thing;;;;0;;;;;\n")
    assert post_ok(admin, csv)["numberOfCreated"] == 2
    mo = device(admin, "prop-1")
    assert mo["c8y_Mobile"] == {"iccid": "89440001"}
    assert mo["certgate_GroupPath"] == "g1/g2"
    assert mo["c8y_SupportedOperations"] == ["c8y_Command"]
    assert mo["com_cumulocity_model_Agent"] == {"active": "true"}
    assert mo["c8y_Hardware"] == {"model": "X100", "serialNumber": "SN-1"}
    assert mo["note"] == "hello" and mo["external-c8y_Imei"] == "356938035643809"
    assert device(admin, "356938035643809", "c8y_Imei")["id"] == mo["id"]
    plain = device(admin, "prop-2")
    for frag in ("c8y_Mobile", "c8y_SupportedOperations", "c8y_Hardware", "note",
                 "com_cumulocity_model_Agent", "external-c8y_Imei", "certgate_GroupPath"):
        assert frag not in plain, frag


def test_row_rules_of_certgate(shared_server, tenant):
    tid, admin = tenant
    csv = ("ID;AUTH_TYPE;NAME;TYPE;ICCID;SHELL;ENROLLMENT_OTP\n"
           "rule-ok;CERTIFICATES;Ok;t;8944;1;\n"
           "rule-iccid;CERTIFICATES;;;8944;;\n"
           "rule-shell;CERTIFICATES;N;t;;yes;\n"
           "rule-otp;CERTIFICATES;N;t;;;otp-123\n"
           "rule-extra;CERTIFICATES;N;t;;;;surplus\n")
    res = post_ok(admin, csv)
    assert res["numberOfCreated"] == 1 and res["numberOfFailed"] == 4
    why = {f["deviceId"]: f["failureReason"] for f in res["failedCreationList"]}
    assert "TYPE and NAME are required" in why["rule-iccid"]
    assert "SHELL must be 1" in why["rule-shell"]
    assert "ENROLLMENT_OTP is not supported" in why["rule-otp"]
    assert "more values than the header" in why["rule-extra"]
    assert all(re.match(r"line \d+: ", w) for w in why.values())
    assert device(admin, "rule-ok") is not None and device(admin, "rule-iccid") is None


@pytest.mark.parametrize("csv, status, message", [
    ("AUTH_TYPE;NAME\nCERTIFICATES;x\n", 422, "needs an ID column"),
    ("ID;ID\na;b\n", 422, "column ID appears twice"),
    ("ID;owner\na;b\n", 422, "would overwrite the managed object's own property 'owner'"),
    ("ID;c8y_Hardware;c8y_Hardware.model\na;b;c\n", 422, "would write the same property"),
    ("ID;ICCID;c8y_Mobile.iccid\na;b;c\n", 422, "would write the same property"),
    ("ID;a..b\nx;y\n", 422, "is not a usable property name"),
    ("ID;;NAME\nx;;y\n", 422, "has no name"),
    ("ID;external-\nx;y\n", 422, "needs an id type"),
    ("ID;AUTH_TYPE\n", 422, "no data rows"),
    ("", 422, "bulk CSV"),
    ("ID;NAME\nunterminated-1;ok\nunterminated-2;\"open quote\n", 422, "line 3"),
])
def test_file_level_errors_register_nothing(shared_server, tenant, csv, status, message):
    tid, admin = tenant
    err = assert_error(post(admin, csv), status, "devicecontrol/Unprocessable Entity", message)
    assert admin.get("/inventory/managedObjects").json()["managedObjects"] == [], err


def test_request_shape_errors(shared_server, tenant):
    tid, admin = tenant
    assert_error(admin.post(BULK, data="ID\nx\n", headers={"Content-Type": "text/csv"}), 415,
                 "devicecontrol/Unsupported Media Type", "multipart/form-data")
    assert_error(admin.post(BULK, json={"ID": "x"}), 415, "devicecontrol/Unsupported Media Type")
    assert_error(admin.post(BULK, files={"csv": ("b.csv", "ID\nx\n")}), 422,
                 "devicecontrol/Unprocessable Entity", "no part named 'file'")
    assert_error(admin.post(BULK, data=b"--zzz\r\nbroken",
                            headers={"Content-Type": "multipart/form-data; boundary=zzz"}), 400,
                 "devicecontrol/Bad Request", "malformed")
    # curl's form with an extra field and a Processing-Mode header is fine.
    r = admin.post(BULK, files={"file": ("b.csv", "ID;AUTH_TYPE\nform-1;CERTIFICATES\n")},
                   data={"note": "x"}, headers={"X-Cumulocity-Processing-Mode": "PERSISTENT"})
    assert r.status_code == 201 and r.json()["numberOfCreated"] == 1


def test_roles(shared_server, tenant):
    tid, admin = tenant
    r = admin.post("/user/%s/users" % tid, json={"userName": "nobulk",
                                                  "password": "nobulk-secret-1",
                                                  "email": "n@example.com"})
    assert r.status_code == 201
    plain = shared_server.session("%s/nobulk" % tid, "nobulk-secret-1")
    assert_error(post(plain, "ID;AUTH_TYPE\nx;CERTIFICATES\n"), 403, "security/Forbidden")
    assert device(admin, "x") is None
    post_ok(admin, "ID;CREDENTIALS\nbulkdev;bulkdev-secret-1\n")
    dev = shared_server.session("%s/device_bulkdev" % tid, "bulkdev-secret-1")
    assert_error(post(dev, "ID;AUTH_TYPE\ny;CERTIFICATES\n"), 403, "security/Forbidden")
    assert admin.post("/user/%s/users/nobulk/roles" % tid,
                      json={"role": {"id": "ROLE_DEVICE_CONTROL_ADMIN"}}).status_code == 201
    assert post(plain, "ID;AUTH_TYPE\nx;CERTIFICATES\n").status_code == 201
    assert device(admin, "x") is not None


def test_tenant_column(shared_server):
    api = shared_server.api
    tid_a, a = shared_server.create_tenant("bulkta%d" % next(_seq))
    tid_b, b = shared_server.create_tenant("bulktb%d" % next(_seq))
    # A tenant's own upload: TENANT is ignored, the device lands in the caller's tenant.
    res = post_ok(a, "ID;AUTH_TYPE;TENANT\nta-dev;CERTIFICATES;%s\n" % tid_b)
    assert res["numberOfCreated"] == 1
    assert device(a, "ta-dev") is not None and device(b, "ta-dev") is None
    # The management tenant registers into the tenant named by TENANT.
    res = post_ok(api, "ID;AUTH_TYPE;TENANT\nmg-dev;CERTIFICATES;%s\nmg-bad;CERTIFICATES;"
                       "t99999999\n" % tid_b)
    assert res["numberOfCreated"] == 1 and res["numberOfFailed"] == 1
    assert "there is no tenant t99999999" in res["failedCreationList"][0]["failureReason"]
    assert device(b, "mg-dev") is not None and device(a, "mg-dev") is None
    assert device(api, "mg-dev") is None
    # ... but only for its tenant managers.
    r = api.post("/user/management/users", json={
        "userName": "dc-only%d" % next(_seq), "password": "dconly-secret-1",
        "email": "d@example.com",
        "roles": {"references": [{"role": {"id": "ROLE_DEVICE_CONTROL_ADMIN"}}]}})
    assert r.status_code == 201, r.text
    dc = shared_server.session("management/" + r.json()["userName"], "dconly-secret-1")
    res = post_ok(dc, "ID;AUTH_TYPE;TENANT\ndc-dev;CERTIFICATES;%s\n" % tid_b)
    assert res["numberOfFailed"] == 1
    assert "needs ROLE_TENANT_MANAGEMENT_ADMIN" in res["failedCreationList"][0]["failureReason"]
    assert device(b, "dc-dev") is None


def test_accept_rule(shared_server, tenant):
    tid, admin = tenant
    r = post(admin, "ID;AUTH_TYPE\nquiet-1;CERTIFICATES\n", headers={"Accept": None})
    assert r.status_code == 201 and r.content == b""
    assert device(admin, "quiet-1") is not None


def test_audit_record(shared_server, tenant):
    tid, admin = tenant
    post_ok(admin, "ID;AUTH_TYPE\naud-1;CERTIFICATES\naud-2;CERTIFICATES\n")
    recs = admin.get("/audit/auditRecords", params={"source": "bulkNewDeviceRequests"}).json()
    assert recs["auditRecords"][0]["activity"] == "Devices bulk-registered"
    assert "2 created" in recs["auditRecords"][0]["text"]


def test_hundred_thousand_certificate_rows(shared_server):
    tid, admin = shared_server.create_tenant("bulkbig")
    n = 100000
    lines = ["ID;AUTH_TYPE;NAME;TYPE"]
    lines += ["big-%06d;CERTIFICATES;Big device %d;c8y_Big" % (i, i) for i in range(n)]
    started = time.monotonic()
    r = admin.post(BULK, files={"file": ("big.csv", "\n".join(lines) + "\n", "text/csv")},
                   timeout=120)
    elapsed = time.monotonic() - started
    assert r.status_code == 201, r.text[:500]
    res = r.json()
    assert (res["numberOfAll"], res["numberOfCreated"], res["numberOfFailed"]) == (n, n, 0)
    assert elapsed < 60, "100,000 rows took %.1f s" % elapsed
    # Committed in chunks, with progress in the log.
    shared_server.wait_log(r"bulk registration for tenant %s: 50000 of 100000 rows done" % tid)
    shared_server.wait_log(r"bulk registration for tenant %s: 100000 of 100000 rows done" % tid)
    stats = admin.get("/inventory/managedObjects", params={
        "type": "c8y_Big", "withTotalElements": "true", "pageSize": 1}).json()["statistics"]
    assert stats["totalElements"] == n
    last = admin.get("/identity/externalIds/c8y_Serial/big-%06d" % (n - 1))
    assert last.status_code == 200
    # Registering the same file again only updates.
    r = admin.post(BULK, files={"file": ("big.csv", "\n".join(lines[:1001]) + "\n")})
    assert r.json()["numberOfCreated"] == 0 and len(r.json()["credentialUpdatedList"]) == 1000
