"""Revocation (reference §4): PUT /tenant/trusted-certificates/settings/crl with JSON, a CSV
file, or an X.509 CRL (certgate's extension); GET returns the DER CRL; revocation applies to
the next verification and is controlled by configuration/crl.offline.check.enabled, which
defaults to true in certgate."""
import json
import subprocess
import uuid

import pytest

from certhelp import (assert_error, audit_records, run_doc, set_option, upload_ok,
                      user_without_cert_roles, verify_file)
from pkiutil import TestPKI

CRL = "/tenant/trusted-certificates/settings/crl"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tenant(shared_server):
    return shared_server.create_tenant("crl-" + uuid.uuid4().hex[:10])


class Setup:
    """A tenant trusting a fresh root; two devices under it, chains leaf + root."""

    def __init__(self, pki, admin, tid):
        tag = uuid.uuid4().hex[:8]
        self.root = pki.ca("root-" + tag, "CRL Root " + tag)
        self.dev = [pki.device("d%d-%s" % (i, tag), "dev%d-%s" % (i, tag), self.root)
                    for i in range(3)]
        self.chain = [pki.chain_file("c%d-%s" % (i, tag), d, self.root)
                      for i, d in enumerate(self.dev)]
        upload_ok(admin, tid, self.root)


def crl_text(session, tmp_path, name="crl.der"):
    """GET the CRL and print it with `openssl crl -inform DER -noout -text`."""
    r = session.get(CRL)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/pkix-crl"
    path = tmp_path / name
    path.write_bytes(r.content)
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(path), "-noout", "-text"],
                       capture_output=True, text=True, check=True)
    return p.stdout, path


def listed(text, serial):
    """Whether `openssl crl -text` lists the serial (it prints uppercase hex, even digits)."""
    h = format(serial, "X")
    h = ("0" + h) if len(h) % 2 else h
    return "Serial Number: %s" % h in text


def test_json_revocation_applies_to_the_next_verification(shared_server, tenant, pki):
    tid, admin = tenant
    s = Setup(pki, admin, tid)
    api = shared_server.api
    assert verify_file(api, s.chain[0]).status_code == 200
    r = admin.put(CRL, json={"crls": [{"serialNumberInHex": s.dev[0].serial_hex,
                                       "revocationDate": "2023-01-11T16:12:36.288Z"}]})
    assert r.status_code == 204 and r.content == b""
    body = assert_error(verify_file(api, s.chain[0]), 401, "security/Unauthorized", "revoked")
    assert body["message"].startswith("Invalid certificate chain!")
    assert verify_file(api, s.chain[1]).status_code == 200  # the others are unaffected
    # a date is optional; serials in either case, with 0x or colons
    odd = s.dev[1].serial_hex.upper()
    r = admin.put(CRL, json={"crls": [{"serialNumberInHex": "0x" + odd}]})
    assert r.status_code == 204, r.text
    assert verify_file(api, s.chain[1]).status_code == 401


def test_offline_check_option_defaults_on_and_can_be_turned_off(shared_server, tenant, pki):
    tid, admin = tenant
    s = Setup(pki, admin, tid)
    api = shared_server.api
    r = admin.get("/tenant/options/configuration/crl.offline.check.enabled")
    if r.status_code == 200:  # a stored option; absent means the default, true
        assert r.json()["value"] == "true"
    assert admin.put(CRL, json={"crls": [{"serialNumberInHex": s.dev[0].serial_hex}]}) \
        .status_code == 204
    assert verify_file(api, s.chain[0]).status_code == 401
    set_option(admin, "configuration", "crl.offline.check.enabled", "false")
    r = verify_file(api, s.chain[0])
    assert r.status_code == 200 and r.json()["tenantId"] == tid
    set_option(admin, "configuration", "crl.offline.check.enabled", "true")
    assert verify_file(api, s.chain[0]).status_code == 401


@pytest.mark.parametrize("date", ["2023-01-11", "2023-01-11T16:12:36Z", "2023-01-11T16:12:36.288",
                                  "2023-01-11T16:12:36.288+01:00", "11.01.2023", 12345])
def test_other_date_formats_are_400(tenant, date):
    tid, admin = tenant
    r = admin.put(CRL, json={"crls": [{"serialNumberInHex": "1000", "revocationDate": date}]})
    body = assert_error(r, 400, "Device Certificates/Bad Request")
    assert body["message"].startswith(
        "Unsupported date time format, supported format:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")


@pytest.mark.parametrize("crls,status,words", [
    ([{"serialNumberInHex": "xyz"}], 422, "not hexadecimal"),
    ([{"serialNumberInHex": ""}], 422, "serialNumberInHex is required"),
    ([{"revocationDate": "2023-01-11T16:12:36.288Z"}], 422, "serialNumberInHex is required"),
    (["1000"], 400, "must be an object"),
    ("1000", 400, "crls is required"),
])
def test_bad_json_entries(tenant, crls, status, words):
    tid, admin = tenant
    r = admin.put(CRL, json={"crls": crls})
    assert_error(r, status, "Device Certificates/" +
                 ("Bad Request" if status == 400 else "Unprocessable Entity"), words)


def test_one_bad_entry_revokes_nothing(shared_server, tenant, pki, tmp_path):
    tid, admin = tenant
    s = Setup(pki, admin, tid)
    r = admin.put(CRL, json={"crls": [{"serialNumberInHex": s.dev[0].serial_hex},
                                      {"serialNumberInHex": "nothex"}]})
    assert_error(r, 422, "Device Certificates/Unprocessable Entity", "crls[1]")
    assert verify_file(shared_server.api, s.chain[0]).status_code == 200
    text, _ = crl_text(admin, tmp_path)
    assert not listed(text, s.dev[0].cert.serial_number)


def test_csv_file_with_the_reference_header(shared_server, tenant, pki, tmp_path):
    tid, admin = tenant
    s = Setup(pki, admin, tid)
    csv = ("SERIAL NO.,REVOCATION DATE\r\n%s,2023-01-11T16:12:36.288Z\r\n%s,\r\n"
           % (s.dev[0].serial_hex, s.dev[1].serial_hex.upper()))
    r = admin.put(CRL, files={"file": ("crl.csv", csv.encode(), "text/csv")})
    assert r.status_code == 204, r.text
    api = shared_server.api
    assert verify_file(api, s.chain[0]).status_code == 401
    assert verify_file(api, s.chain[1]).status_code == 401
    assert verify_file(api, s.chain[2]).status_code == 200
    text, _ = crl_text(admin, tmp_path)
    assert listed(text, s.dev[0].cert.serial_number) and listed(text, s.dev[1].cert.serial_number)
    assert not listed(text, s.dev[2].cert.serial_number)
    assert "Jan 11 16:12:36 2023 GMT" in text  # the given revocation date


def test_csv_variants(shared_server, tenant, pki):
    tid, admin = tenant
    s = Setup(pki, admin, tid)
    api = shared_server.api
    # go-c8y's header and ';' separators
    r = admin.put(CRL, files={"file": ("a.csv", ("SERIALNO;DATE\n%s;\n" % s.dev[0].serial_hex)
                                       .encode())})
    assert r.status_code == 204, r.text
    assert verify_file(api, s.chain[0]).status_code == 401
    # no header row at all: the first line is a serial and is not lost
    r = admin.put(CRL, files={"file": ("b.csv", ("%s\n" % s.dev[1].serial_hex).encode())})
    assert r.status_code == 204, r.text
    assert verify_file(api, s.chain[1]).status_code == 401
    # a bad date names the line
    r = admin.put(CRL, files={"file": ("c.csv", b"SERIAL NO.,REVOCATION DATE\n1000,today\n")})
    body = assert_error(r, 400, "Device Certificates/Bad Request", "line 2")
    assert body["message"].startswith("Unsupported date time format")
    r = admin.put(CRL, files={"file": ("d.csv", b"SERIAL NO.,REVOCATION DATE\nzz99,\n")})
    assert_error(r, 422, "Device Certificates/Unprocessable Entity", "line 2")
    # a missing file field
    assert_error(admin.put(CRL, files={"other": ("x", b"1000")}), 400,
                 "Device Certificates/Bad Request", "'file'")
    assert verify_file(api, s.chain[2]).status_code == 200


def test_csv_at_most_5000_entries(tenant, tmp_path):
    tid, admin = tenant
    rows = "".join("%x,\n" % (0x100000 + i) for i in range(5001))
    r = admin.put(CRL, files={"file": ("big.csv", ("SERIAL NO.,REVOCATION DATE\n" + rows)
                                       .encode())})
    assert_error(r, 422, "Device Certificates/Unprocessable Entity", "more than 5000")
    text, _ = crl_text(admin, tmp_path, "none.der")
    assert "Serial Number" not in text  # nothing was revoked
    rows = "".join("%x,\n" % (0x100000 + i) for i in range(5000))
    r = admin.put(CRL, files={"file": ("ok.csv", ("SERIAL NO.,REVOCATION DATE\n" + rows)
                                       .encode())})
    assert r.status_code == 204, r.text
    text, _ = crl_text(admin, tmp_path, "all.der")
    assert text.count("Serial Number:") == 5000


def test_x509_crl_upload(shared_server, tenant, pki):
    tid, admin = tenant
    s = Setup(pki, admin, tid)
    api = shared_server.api
    pem_crl = pki.crl("pem-" + tid, s.root, [s.dev[0].cert.serial_number])
    r = admin.put(CRL, files={"file": ("ca.crl.pem", pem_crl.read_bytes())})
    assert r.status_code == 204, r.text
    assert verify_file(api, s.chain[0]).status_code == 401
    der_crl = pki.crl("der-" + tid, s.root, [s.dev[1].cert.serial_number], der=True)
    r = admin.put(CRL, data=der_crl.read_bytes(), headers={"Content-Type": "application/pkix-crl"})
    assert r.status_code == 204, r.text
    assert verify_file(api, s.chain[1]).status_code == 401
    # a DER CRL as the multipart file works too
    der2 = pki.crl("der2-" + tid, s.root, [s.dev[2].cert.serial_number], der=True)
    r = admin.put(CRL, files={"file": ("ca.crl", der2.read_bytes(), "application/pkix-crl")})
    assert r.status_code == 204, r.text
    assert verify_file(api, s.chain[2]).status_code == 401


def test_x509_crl_from_a_stranger_is_refused(shared_server, tenant, pki):
    tid, admin = tenant
    s = Setup(pki, admin, tid)
    stranger = pki.ca("stranger-" + tid, s.root.cert.subject.rfc4514_string().split("CN=")[1]
                      .split(",")[0])  # same name as the tenant's root, another key
    forged = pki.crl("forged-" + tid, stranger, [s.dev[0].cert.serial_number])
    r = admin.put(CRL, files={"file": ("f.pem", forged.read_bytes())})
    assert_error(r, 422, "Device Certificates/Unprocessable Entity",
                 "not issued and signed by any trusted certificate of tenant %s" % tid)
    r = admin.put(CRL, data=b"\x30\x03\x02\x01\x00",
                  headers={"Content-Type": "application/pkix-crl"})
    assert_error(r, 422, "Device Certificates/Unprocessable Entity", "not an X.509 CRL")
    assert verify_file(shared_server.api, s.chain[0]).status_code == 200


def test_get_crl_is_der_signed_by_the_server_ca(shared_server, tenant, pki, tmp_path):
    tid, admin = tenant
    s = Setup(pki, admin, tid)
    assert admin.put(CRL, json={"crls": [{"serialNumberInHex": s.dev[0].serial_hex}]}) \
        .status_code == 204
    text, path = crl_text(admin, tmp_path)
    assert listed(text, s.dev[0].cert.serial_number)
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(path), "-noout",
                        "-CAfile", shared_server.ca_path], capture_output=True, text=True)
    assert p.returncode == 0 and "verify OK" in (p.stdout + p.stderr), p.stdout + p.stderr
    # tenants see only their own serials
    tid_b, admin_b = shared_server.create_tenant("crl-" + uuid.uuid4().hex[:10])
    text_b, _ = crl_text(admin_b, tmp_path, "b.der")
    assert not listed(text_b, s.dev[0].cert.serial_number)
    # and a revocation in B does not affect A
    assert admin_b.put(CRL, json={"crls": [{"serialNumberInHex": s.dev[1].serial_hex}]}) \
        .status_code == 204
    assert verify_file(shared_server.api, s.chain[1]).status_code == 200


def test_revocation_is_irreversible(tenant):
    tid, admin = tenant
    assert_error(admin.delete(CRL), 405, "general/Method Not Allowed")
    assert_error(admin.post(CRL, json={"crls": []}), 405, "general/Method Not Allowed")


def test_roles(shared_server, tenant):
    tid, admin = tenant
    reader = user_without_cert_roles(shared_server, tid, admin)
    assert_error(reader.get(CRL), 403, "security/Forbidden")
    assert_error(reader.put(CRL, json={"crls": [{"serialNumberInHex": "1000"}]}), 403,
                 "security/Forbidden")
    assert_error(shared_server.session().get(CRL), 401, "security/Unauthorized")


def test_unsupported_media_type(tenant):
    tid, admin = tenant
    r = admin.put(CRL, data=b"1000", headers={"Content-Type": "image/png"})
    assert_error(r, 415, "Device Certificates/Unsupported Media Type")


def test_revocation_is_audited(tenant):
    tid, admin = tenant
    assert admin.put(CRL, json={"crls": [{"serialNumberInHex": "abcdef"}]}).status_code == 204
    acts = [(r["activity"], r["text"]) for r in audit_records(admin, type="TrustedCertificates")]
    assert any(a == "Certificates revoked" and "abcdef" in t for a, t in acts), acts


# ---- docs/api/certificates.md, run as written ------------------------------------------------

def test_docs_verify_header(shared_server, tmp_path):
    tid, _ = shared_server.create_tenant("doc-" + uuid.uuid4().hex[:8], password="doc-secret-1")
    out = run_doc(shared_server, ["ca", "device", "upload", "verify-header"], tmp_path, tid,
                  "%s/admin:doc-secret-1" % tid)
    assert json.loads(out["verify-header"]) == {
        "successfullyValidated": True, "tenantId": tid, "subject": "CN=device0001,O=Example",
        "issuer": "CN=Example Root CA,O=Example"}


def test_docs_revocation_walkthrough(shared_server, tmp_path):
    """Verify, revoke with JSON, CSV and an X.509 CRL, see the chains refused, download the
    CRL."""
    tid, admin = shared_server.create_tenant("doc-" + uuid.uuid4().hex[:8],
                                             password="doc-secret-1")
    out = run_doc(shared_server, ["ca", "device", "upload", "verify-before", "revoke-json",
                                  "revoke-csv", "revoke-x509", "verify-after", "crl-download"],
                  tmp_path, tid, "%s/admin:doc-secret-1" % tid)
    assert json.loads(out["verify-before"]) == {
        "successfullyValidated": True, "tenantId": tid, "subject": "CN=device0001,O=Example",
        "issuer": "CN=Example Root CA,O=Example"}
    assert out["revoke-json"].strip() == "204"
    assert out["revoke-csv"].strip() == "204"
    assert out["revoke-x509"].strip().endswith("204")
    refused = [json.loads(line) for line in out["verify-after"].strip().splitlines()]
    assert len(refused) == 2
    for n, body in enumerate(refused, 1):
        assert body["error"] == "security/Unauthorized"
        assert body["message"] == ("Invalid certificate chain! : revoked: certificate 0 "
                                   "(CN=device000%d, O=Example) has serial 100%d, revoked by "
                                   "tenant %s" % (n, n, tid))
    assert [ln.strip() for ln in out["crl-download"].strip().splitlines()] == [
        "Serial Number: 1001", "Serial Number: 1002", "Serial Number: 2001",
        "Serial Number: 2002"]
