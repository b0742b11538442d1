"""Trusted certificates (reference §2): upload, bulk upload, list, get, update, delete, with
the TrustedCertificate JSON, the Accept rule, errors, paging, roles and tenant isolation."""
import base64
import datetime
import uuid

import pytest
from cryptography.hazmat.primitives import hashes

from certhelp import (assert_error, audit_records, c8y_pem, key_body_lines, tc_path, upload,
                      upload_ok, user_without_cert_roles)
from pkiutil import DAY, TestPKI, utcnow

GO_C8Y_CLI_ACCEPT = "application/vnd.com.nsn.cumulocity.customTrustedCertificateCollection+json"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = TestPKI(tmp_path_factory.mktemp("pki"))
    p.s = p.standard()
    return p


@pytest.fixture
def tenant(shared_server):
    """A fresh tenant: (id, its admin session)."""
    return shared_server.create_tenant("tc-" + uuid.uuid4().hex[:10])


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# ---- the model -------------------------------------------------------------------------------

def test_upload_answers_201_with_location_and_the_cumulocity_model(shared_server, tenant, pki):
    tid, admin = tenant
    root = pki.s["root"]
    r = upload(admin, tid, root, name="my root", autoRegistrationEnabled=True)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    c = r.json()
    fp = root.cert.fingerprint(hashes.SHA1()).hex()
    assert c["fingerprint"] == fp and fp == fp.lower() and len(fp) == 40
    assert c["self"] == "%s%s" % (shared_server.base, tc_path(tid, fp))
    assert r.headers["Location"] == c["self"]
    assert c["name"] == "my root"
    assert c["status"] == "ENABLED"
    assert c["autoRegistrationEnabled"] is True
    assert c["serialNumber"] == str(root.cert.serial_number)
    assert c["algorithmName"] == "SHA256withECDSA"
    assert c["version"] == 3
    assert c["subject"] == "CN=Acme Root CA, O=certgate tests"
    assert c["issuer"] == "CN=Acme Root CA, O=certgate tests"
    assert c["notBefore"] == iso(root.cert.not_valid_before)
    assert c["notAfter"] == iso(root.cert.not_valid_after)
    # certInPemFormat: base64 of the DER, a newline every 64 characters, no armour
    assert c["certInPemFormat"] == c8y_pem(root.der)
    assert "BEGIN" not in c["certInPemFormat"]
    assert base64.b64decode(c["certInPemFormat"]) == root.der
    assert c["proofOfPossessionValid"] is False
    code = c["proofOfPossessionUnsignedVerificationCode"]
    assert len(code) >= 32 and code.isalnum()
    until = datetime.datetime.strptime(c["proofOfPossessionVerificationCodeUsableUntil"],
                                       "%Y-%m-%dT%H:%M:%S.%fZ")
    assert until > utcnow()
    assert c["tenantCertificateAuthority"] is False
    assert set(c) == {
        "name", "status", "autoRegistrationEnabled", "fingerprint", "serialNumber",
        "algorithmName", "version", "issuer", "subject", "notBefore", "notAfter",
        "certInPemFormat", "proofOfPossessionValid", "proofOfPossessionUnsignedVerificationCode",
        "proofOfPossessionVerificationCodeUsableUntil", "tenantCertificateAuthority", "self"}
    # GET answers the same object
    g = admin.get(tc_path(tid, fp))
    assert g.status_code == 200 and g.json() == c


def test_rsa_certificate_with_a_large_serial(tenant, pki):
    tid, admin = tenant
    serial = 304307049989715896618044547121406628655049752690
    ca = pki.ca("rsa-big-serial", "RSA Big Serial", key_kind="rsa2048", serial=serial)
    c = upload_ok(admin, tid, ca)
    assert c["serialNumber"] == str(serial)
    assert c["algorithmName"] == "SHA256withRSA"
    assert c["name"] == "RSA Big Serial"  # defaults to the subject's CN
    assert c["autoRegistrationEnabled"] is False and c["status"] == "ENABLED"


def test_seed_upload_body_with_string_boolean_and_newlines_removed(tenant, pki):
    """The seed's REST upload: "autoRegistrationEnabled" : "true" as a string, and the PEM
    with its BEGIN/END lines but the new line symbols removed."""
    tid, admin = tenant
    root = pki.s["root"]
    one_line = root.pem.replace("\n", "")
    assert one_line.startswith("-----BEGIN CERTIFICATE-----MII")
    r = admin.post(tc_path(tid), json={"status": "ENABLED", "name": "certificateName",
                                       "autoRegistrationEnabled": "true",
                                       "certInPemFormat": one_line})
    assert r.status_code == 201, r.text
    assert r.json()["autoRegistrationEnabled"] is True
    assert r.json()["name"] == "certificateName"


@pytest.mark.parametrize("form", ["bare-base64", "bare-single-line", "crlf", "der-base64-c8y"])
def test_pem_forms_accepted(tenant, pki, form):
    tid, admin = tenant
    root = pki.s["root"]
    b64 = base64.b64encode(root.der).decode()
    text = {"bare-base64": "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)),
            "bare-single-line": b64,
            "crlf": root.pem.replace("\n", "\r\n"),
            "der-base64-c8y": c8y_pem(root.der)}[form]
    c = upload_ok(admin, tid, text, autoRegistrationEnabled="false")
    assert c["fingerprint"] == root.fingerprint
    assert c["autoRegistrationEnabled"] is False


# ---- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize("case,words", [
    ("not-a-certificate", "not a certificate"),
    ("garbage-base64", "not a certificate"),
    ("ca-false", "not a CA certificate"),
    ("expired", "expired"),
    ("v1", "version 1"),
    ("rsa1024", "1024-bit RSA key"),
    ("two-certificates", "holds 2 certificates"),
])
def test_unacceptable_certificates_are_422_with_the_reason(tenant, pki, case, words):
    tid, admin = tenant
    s = pki.s
    text = {
        "not-a-certificate": "hello, I am not a certificate",
        "garbage-base64": "TUlJQmJHTkRRUT09",
        "ca-false": s["device"].pem,
        "expired": pki.ca("expired-ca-" + case, "Expired CA", not_before=utcnow() - 800 * DAY,
                          not_after=utcnow() - DAY).pem,
        "v1": pki.v1_device("v1-" + case, "v1 cert", s["root"]).pem,
        "rsa1024": pki.ca("weak-ca", "Weak CA", key_kind="rsa1024").pem,
        "two-certificates": s["root"].pem + s["intermediate"].pem,
    }[case]
    r = upload(admin, tid, text)
    assert_error(r, 422, "certificate/Unprocessable Entity", words)
    lst = admin.get(tc_path(tid)).json()
    assert lst["certificates"] == []


@pytest.mark.parametrize("body,words", [
    ({"status": "ENABLED"}, "certInPemFormat is required"),
    ({"certInPemFormat": "PEM"}, "status is required"),
    ({"certInPemFormat": "PEM", "status": "enabled"}, "ENABLED or DISABLED"),
    ({"certInPemFormat": "PEM", "status": "ENABLED", "autoRegistrationEnabled": "maybe"},
     "autoRegistrationEnabled"),
    ({"certInPemFormat": "PEM", "status": "ENABLED", "name": 42}, "name must be a string"),
    ({"certInPemFormat": 17, "status": "ENABLED"}, "certInPemFormat is required"),
])
def test_bad_bodies_are_422(tenant, pki, body, words):
    tid, admin = tenant
    body = {k: (pki.s["root"].pem if v == "PEM" else v) for k, v in body.items()}
    r = admin.post(tc_path(tid), json=body)
    assert_error(r, 422, "certificate/Unprocessable Entity", words)


def test_malformed_json_is_400(tenant):
    tid, admin = tenant
    r = admin.post(tc_path(tid), data="{not json", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "general/Bad Request")


@pytest.mark.parametrize("shape", ["in-json", "with-cert", "raw-body", "broken-json",
                                   "bulk", "update"])
def test_private_key_is_refused_never_stored_or_echoed(shared_server, tenant, pki, shape):
    tid, admin = tenant
    root = pki.s["root"]
    if shape == "update":
        upload_ok(admin, tid, root)
    key_text = root.key_path.read_text()
    secret_lines = key_body_lines(root.key_path)
    assert secret_lines
    if shape == "in-json":
        r = upload(admin, tid, key_text)
    elif shape == "with-cert":
        r = upload(admin, tid, key_text + root.pem)
    elif shape == "raw-body":
        r = admin.post(tc_path(tid), data=key_text, headers={"Content-Type": "application/json"})
    elif shape == "broken-json":  # a multi-line key pasted into JSON: not valid JSON
        r = admin.post(tc_path(tid), data='{"status": "ENABLED", "certInPemFormat": "%s"}'
                       % key_text, headers={"Content-Type": "application/json"})
    elif shape == "bulk":
        r = admin.post(tc_path(tid) + "/bulk", json={"certificates": [
            {"certInPemFormat": pki.s["other_root"].pem, "status": "ENABLED"},
            {"certInPemFormat": key_text, "status": "ENABLED"}]})
    else:
        r = admin.put(tc_path(tid, root.fingerprint), data='{"name": "%s"}' % key_text,
                      headers={"Content-Type": "application/json"})
    body = assert_error(r, 422, "certificate/Unprocessable Entity", "private key")
    assert "not stored" in body["message"]
    listing = admin.get(tc_path(tid), params={"pageSize": 100})
    for line in secret_lines:
        assert line not in r.text
        assert line not in listing.text
        assert line not in shared_server.log_text()
    if shape != "update":
        assert listing.json()["certificates"] == []


def test_duplicate_in_the_same_tenant_is_409_another_tenant_may_hold_it(shared_server, tenant,
                                                                          pki):
    tid, admin = tenant
    upload_ok(admin, tid, pki.s["root"])
    r = upload(admin, tid, pki.s["root"])
    assert_error(r, 409, "certificate/Duplicate", pki.s["root"].fingerprint)
    tid2, admin2 = shared_server.create_tenant("tc-" + uuid.uuid4().hex[:10])
    upload_ok(admin2, tid2, pki.s["root"])


# ---- the Accept rule -------------------------------------------------------------------------

def test_without_accept_post_and_put_answer_without_body(tenant, pki):
    tid, admin = tenant
    root = pki.s["root"]
    r = admin.post(tc_path(tid), json={"certInPemFormat": root.pem, "status": "ENABLED"},
                   headers={"Accept": None})
    assert r.status_code == 201
    assert r.content == b""
    assert r.headers["Location"].endswith(tc_path(tid, root.fingerprint))
    r = admin.put(tc_path(tid, root.fingerprint), json={"name": "renamed"},
                  headers={"Accept": None})
    assert r.status_code == 200 and r.content == b""
    assert admin.get(tc_path(tid, root.fingerprint)).json()["name"] == "renamed"
    # errors keep their body
    r = admin.post(tc_path(tid), json={"status": "ENABLED"}, headers={"Accept": None})
    assert_error(r, 422, "certificate/Unprocessable Entity")


def test_accept_that_excludes_json_is_406(tenant):
    tid, admin = tenant
    r = admin.get(tc_path(tid), headers={"Accept": "text/html"})
    assert_error(r, 406, "general/Not Acceptable")


# ---- list and paging -------------------------------------------------------------------------

def test_list_paging_and_go_c8y_cli_accept(shared_server, tenant, pki):
    tid, admin = tenant
    fps = []
    for i in range(3):
        fps.append(upload_ok(admin, tid, pki.ca("list-%s-%d" % (tid, i), "List CA %d" % i))
                   ["fingerprint"])
    r = admin.get(tc_path(tid), headers={"Accept": GO_C8Y_CLI_ACCEPT},
                  params={"pageSize": 2, "withTotalElements": "true", "withTotalPages": "true"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    page1 = r.json()
    # ordered by upload time (then fingerprint, for uploads in the same millisecond)
    order = [c["fingerprint"] for c in admin.get(tc_path(tid)).json()["certificates"]]
    assert sorted(order) == sorted(fps)
    assert [c["fingerprint"] for c in page1["certificates"]] == order[:2]
    assert page1["statistics"] == {"currentPage": 1, "pageSize": 2, "totalPages": 2,
                                   "totalElements": 3}
    assert "prev" not in page1
    assert page1["next"].startswith(shared_server.base + tc_path(tid))
    assert "currentPage=2" in page1["next"] and "pageSize=2" in page1["next"]
    page2 = admin.get(page1["next"]).json()
    assert [c["fingerprint"] for c in page2["certificates"]] == order[2:]
    assert page2["statistics"]["currentPage"] == 2
    assert "currentPage=1" in page2["prev"]
    assert "next" not in page2
    # default page size 5, self link
    full = admin.get(tc_path(tid)).json()
    assert len(full["certificates"]) == 3 and full["statistics"]["pageSize"] == 5
    assert full["self"].startswith(shared_server.base + tc_path(tid))
    # the tenant CA filter of OAS-2026: certgate has none
    assert admin.get(tc_path(tid), params={"certificateAuthority": "true"}).json()[
        "certificates"] == []
    assert_error(admin.get(tc_path(tid), params={"pageSize": "x"}), 422, "general/Invalid Data")


# ---- get / update / delete -------------------------------------------------------------------

def test_get_unknown_is_404_and_fingerprint_case_is_ignored(tenant, pki):
    tid, admin = tenant
    root = pki.s["root"]
    upload_ok(admin, tid, root)
    assert admin.get(tc_path(tid, root.fingerprint.upper())).json()["fingerprint"] == \
        root.fingerprint
    missing = "ab" * 20
    r = admin.get(tc_path(tid, missing))
    assert_error(r, 404, "certificate/Not Found")
    assert r.json()["message"] == "Cannot find certificate with fingerprint %s." % missing


def test_update_changes_only_name_status_and_auto_registration(tenant, pki):
    tid, admin = tenant
    root = pki.s["root"]
    before = upload_ok(admin, tid, root, name="first", autoRegistrationEnabled=True)
    sent = dict(before)
    sent.update({"name": "second", "status": "DISABLED", "autoRegistrationEnabled": "false",
                 # read-only members are ignored
                 "fingerprint": "00" * 20, "certInPemFormat": pki.s["other_root"].pem,
                 "proofOfPossessionValid": True, "serialNumber": "1"})
    r = admin.put(tc_path(tid, root.fingerprint), json=sent)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["name"] == "second"
    assert after["status"] == "DISABLED"
    assert after["autoRegistrationEnabled"] is False
    for k in ("fingerprint", "certInPemFormat", "proofOfPossessionValid", "serialNumber",
              "subject", "proofOfPossessionUnsignedVerificationCode"):
        assert after[k] == before[k], k
    # partial update: only the given member changes
    r = admin.put(tc_path(tid, root.fingerprint), json={"status": "ENABLED"})
    assert r.json()["status"] == "ENABLED" and r.json()["name"] == "second"
    assert_error(admin.put(tc_path(tid, root.fingerprint), json={"status": "OFF"}), 422,
                 "certificate/Unprocessable Entity", "ENABLED or DISABLED")
    assert_error(admin.put(tc_path(tid, "cd" * 20), json={"name": "x"}), 404,
                 "certificate/Not Found", "Cannot find certificate with fingerprint")


def test_delete(tenant, pki):
    tid, admin = tenant
    root = pki.s["root"]
    upload_ok(admin, tid, root)
    r = admin.delete(tc_path(tid, root.fingerprint))
    assert r.status_code == 204 and r.content == b""
    assert_error(admin.get(tc_path(tid, root.fingerprint)), 404, "certificate/Not Found")
    assert_error(admin.delete(tc_path(tid, root.fingerprint)), 404, "certificate/Not Found")
    upload_ok(admin, tid, root)  # it can be uploaded again


# ---- bulk ------------------------------------------------------------------------------------

def test_bulk_upload(shared_server, tenant, pki):
    tid, admin = tenant
    a, b = pki.s["root"], pki.s["other_root"]
    r = admin.post(tc_path(tid) + "/bulk", json={"certificates": [
        {"certInPemFormat": a.pem, "status": "ENABLED", "name": "A",
         "autoRegistrationEnabled": "true"},
        {"certInPemFormat": b.pem, "status": "DISABLED"}]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert [c["fingerprint"] for c in body["certificates"]] == [a.fingerprint, b.fingerprint]
    assert body["certificates"][0]["autoRegistrationEnabled"] is True
    assert body["certificates"][1]["status"] == "DISABLED"
    assert r.headers["Location"] == shared_server.base + tc_path(tid)
    assert len(admin.get(tc_path(tid)).json()["certificates"]) == 2


def test_bulk_is_all_or_nothing(tenant, pki):
    tid, admin = tenant
    good, bad = pki.s["root"], pki.s["device"]
    r = admin.post(tc_path(tid) + "/bulk", json={"certificates": [
        {"certInPemFormat": good.pem, "status": "ENABLED"},
        {"certInPemFormat": bad.pem, "status": "ENABLED"}]})
    assert_error(r, 422, "certificate/Unprocessable Entity", "certificates[1]")
    assert admin.get(tc_path(tid)).json()["certificates"] == []
    # a bad entry shape, named by index
    r = admin.post(tc_path(tid) + "/bulk", json={"certificates": [
        {"certInPemFormat": good.pem, "status": "ENABLED"}, {"certInPemFormat": good.pem}]})
    assert_error(r, 422, "certificate/Unprocessable Entity", "certificates[1]: status")
    # one already uploaded: 409, and the other one is not stored either
    upload_ok(admin, tid, good)
    r = admin.post(tc_path(tid) + "/bulk", json={"certificates": [
        {"certInPemFormat": pki.s["other_root"].pem, "status": "ENABLED"},
        {"certInPemFormat": good.pem, "status": "ENABLED"}]})
    assert_error(r, 409, "certificate/Duplicate", good.fingerprint)
    assert [c["fingerprint"] for c in admin.get(tc_path(tid)).json()["certificates"]] == \
        [good.fingerprint]
    for body in ({}, {"certificates": []}, {"certificates": "x"}):
        assert_error(admin.post(tc_path(tid) + "/bulk", json=body), 422,
                     "certificate/Unprocessable Entity", "certificates must be an array")


# ---- who may ---------------------------------------------------------------------------------

def test_unauthenticated_is_401(shared_server, tenant):
    tid, _ = tenant
    r = shared_server.session().get(tc_path(tid))
    assert_error(r, 401, "security/Unauthorized")


def test_user_without_tenant_admin_role_is_403(shared_server, tenant, pki):
    tid, admin = tenant
    root = pki.s["root"]
    upload_ok(admin, tid, root)
    reader = user_without_cert_roles(shared_server, tid, admin)
    for r in (reader.get(tc_path(tid)),
              reader.get(tc_path(tid, root.fingerprint)),
              upload(reader, tid, pki.s["other_root"]),
              reader.post(tc_path(tid) + "/bulk", json={"certificates": []}),
              reader.put(tc_path(tid, root.fingerprint), json={"name": "x"}),
              reader.delete(tc_path(tid, root.fingerprint))):
        assert_error(r, 403, "security/Forbidden", "Access is denied.")
    assert admin.get(tc_path(tid, root.fingerprint)).json()["name"] == "Acme Root CA"


def test_tenants_are_isolated(shared_server, tenant, pki):
    tid_a, admin_a = tenant
    tid_b, admin_b = shared_server.create_tenant("tc-" + uuid.uuid4().hex[:10])
    root = pki.s["root"]
    upload_ok(admin_a, tid_a, root)
    fp = root.fingerprint
    # B on A's paths: A's tenant does not exist for B
    for r in (admin_b.get(tc_path(tid_a)),
              admin_b.get(tc_path(tid_a, fp)),
              upload(admin_b, tid_a, pki.s["other_root"]),
              admin_b.put(tc_path(tid_a, fp), json={"status": "DISABLED"}),
              admin_b.delete(tc_path(tid_a, fp)),
              admin_b.post(tc_path(tid_a) + "/bulk", json={"certificates": []})):
        assert_error(r, 404, "security/Not Found", "There is no tenant with id = %s" % tid_a)
    # B's own path does not reach A's certificate
    assert_error(admin_b.get(tc_path(tid_b, fp)), 404, "certificate/Not Found")
    assert_error(admin_b.delete(tc_path(tid_b, fp)), 404, "certificate/Not Found")
    assert admin_b.get(tc_path(tid_b)).json()["certificates"] == []
    # nothing changed in A
    c = admin_a.get(tc_path(tid_a, fp)).json()
    assert c["status"] == "ENABLED"
    # a non-existing tenant looks the same as a foreign one
    assert_error(admin_b.get(tc_path("t99999999")), 404, "security/Not Found")
    # the management tenant's tenant manager may read and change any tenant's certificates
    mgmt = shared_server.api
    lst = mgmt.get(tc_path(tid_a)).json()
    assert [x["fingerprint"] for x in lst["certificates"]] == [fp]
    r = mgmt.put(tc_path(tid_a, fp), json={"name": "set by management"})
    assert r.status_code == 200 and r.json()["name"] == "set by management"


# ---- audit -----------------------------------------------------------------------------------

def test_changes_are_audited(tenant, pki):
    tid, admin = tenant
    root = pki.s["root"]
    upload_ok(admin, tid, root)
    assert admin.put(tc_path(tid, root.fingerprint), json={"status": "DISABLED"}).status_code \
        == 200
    assert admin.delete(tc_path(tid, root.fingerprint)).status_code == 204
    records = audit_records(admin, type="TrustedCertificates")
    acts = [r["activity"] for r in records if root.fingerprint in r.get("text", "")]
    for a in ("Trusted certificate uploaded", "Trusted certificate updated",
              "Trusted certificate deleted"):
        assert a in acts, (a, acts)
    up = next(r for r in records if r["activity"] == "Trusted certificate uploaded")
    assert up["user"] == "admin"
