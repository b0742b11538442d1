"""Proof of possession (reference §3): Cumulocity's signed verification code (made exactly as
the seed says, with openssl, and with `certgate pki sign-code`), the Azure/AWS-style
verification certificate (made as the Azure seed does, and with `certgate pki
verification-cert`), the management tenant's /confirmed override and self-attested upload."""
import json
import time
import uuid

import pytest

from cgserver import CertgateServer
from certhelp import (DOC_BLOCKS_CRL, DOC_BLOCKS_POP, assert_error, audit_records,
                      azure_verification_cert, doc_blocks, key_body_lines, openssl_sign,
                      openssl_sign_ed25519, pop_path, run_doc, set_option, tc_path, upload,
                      upload_ok, user_without_cert_roles, write_code)
from pkiutil import TestPKI


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tenant(shared_server):
    return shared_server.create_tenant("pop-" + uuid.uuid4().hex[:10])


def new_code(session, tid, fp):
    r = session.post(pop_path(tid, fp, "verification-code"))
    assert r.status_code == 200, r.text
    return r.json()


def submit(session, tid, fp, signature):
    return session.post(pop_path(tid, fp, "pop"),
                        json={"proofOfPossessionSignedVerificationCode": signature})


# ---- Cumulocity style ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rsa2048", "ec256", "ec384"])
def test_seed_recipe_with_openssl(tenant, pki, tmp_path, kind):
    """Upload, get the code, sign it with `openssl dgst -sha256 -sign ca.key code.txt |
    openssl base64 -A`, upload the signature: proofOfPossessionValid flips to true."""
    tid, admin = tenant
    ca = pki.ca("seed-" + kind + tid, "Seed CA " + kind, key_kind=kind)
    up = upload_ok(admin, tid, ca)
    assert up["proofOfPossessionValid"] is False
    c = new_code(admin, tid, ca.fingerprint)
    code = c["proofOfPossessionUnsignedVerificationCode"]
    assert code != up["proofOfPossessionUnsignedVerificationCode"]  # a new code
    assert c["proofOfPossessionVerificationCodeUsableUntil"] >= \
        up["proofOfPossessionVerificationCodeUsableUntil"]
    assert c["proofOfPossessionValid"] is False
    sig = openssl_sign(ca.key_path, write_code(tmp_path, code))
    r = submit(admin, tid, ca.fingerprint, sig)
    assert r.status_code == 200, r.text
    assert r.json()["proofOfPossessionValid"] is True
    assert r.json()["fingerprint"] == ca.fingerprint
    assert admin.get(tc_path(tid, ca.fingerprint)).json()["proofOfPossessionValid"] is True


def test_code_from_upload_can_be_signed_directly(tenant, pki, tmp_path):
    """The UI lets the user download the code right after the upload."""
    tid, admin = tenant
    ca = pki.ca("direct" + tid, "Direct CA")
    up = upload_ok(admin, tid, ca)
    code_file = write_code(tmp_path, up["proofOfPossessionUnsignedVerificationCode"])
    r = submit(admin, tid, ca.fingerprint, openssl_sign(ca.key_path, code_file))
    assert r.status_code == 200 and r.json()["proofOfPossessionValid"] is True


def test_ed25519_ca(tenant, pki, tmp_path):
    tid, admin = tenant
    ca = pki.ca("ed" + tid, "Ed25519 CA", key_kind="ed25519")
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    r = submit(admin, tid, ca.fingerprint,
               openssl_sign_ed25519(ca.key_path, write_code(tmp_path, code)))
    assert r.status_code == 200, r.text
    assert r.json()["proofOfPossessionValid"] is True


@pytest.mark.parametrize("kind", ["rsa2048", "ec256", "ed25519"])
def test_certgate_pki_sign_code(certgate, tenant, pki, tmp_path, kind):
    tid, admin = tenant
    ca = pki.ca("cli-" + kind + tid, "CLI CA " + kind, key_kind=kind)
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    # a code file with a trailing newline, as an editor saves it: sign-code drops it
    (tmp_path / "code-nl.txt").write_text(code + "\n")
    out = tmp_path / "signed.txt"
    certgate("pki", "sign-code", "--key", ca.key_path, "--code-file", tmp_path / "code-nl.txt",
             "--out", out, check=0)
    r = submit(admin, tid, ca.fingerprint, out.read_text())
    assert r.status_code == 200, r.text
    assert r.json()["proofOfPossessionValid"] is True


def test_wrong_signature_is_400_with_the_reference_message(tenant, pki, tmp_path):
    tid, admin = tenant
    ca = pki.ca("wrong" + tid, "Wrong Sig CA")
    other = pki.ca("other" + tid, "Other CA")
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    code_file = write_code(tmp_path, code)
    expected = ("Wrong Proof Of Possession plaintext used for tenant <'%s'>. Certificate <'%s'>, "
                "usage not granted." % (tid, ca.fingerprint))
    # signed by another key
    r = submit(admin, tid, ca.fingerprint, openssl_sign(other.key_path, code_file))
    assert assert_error(r, 400, "tenants/Bad Request")["message"].startswith(expected)
    # the right key, but the code with a trailing newline (echo instead of printf)
    nl = tmp_path / "code-echo.txt"
    nl.write_text(code + "\n")
    r = submit(admin, tid, ca.fingerprint, openssl_sign(ca.key_path, nl))
    assert assert_error(r, 400, "tenants/Bad Request")["message"].startswith(expected)
    # a signature of an older code after a new one was generated
    new_code(admin, tid, ca.fingerprint)
    r = submit(admin, tid, ca.fingerprint, openssl_sign(ca.key_path, code_file))
    assert_error(r, 400, "tenants/Bad Request", "usage not granted")
    assert admin.get(tc_path(tid, ca.fingerprint)).json()["proofOfPossessionValid"] is False


@pytest.mark.parametrize("body,status,words", [
    ({"proofOfPossessionSignedVerificationCode": "%%% not base64 %%%"}, 422, "unusable"),
    ({"proofOfPossessionSignedVerificationCode": "AAAA"}, 422, "unusable"),
    ({"proofOfPossessionSignedVerificationCode": ""}, 422, "required"),
    ({}, 422, "proofOfPossessionSignedVerificationCode is required"),
    ({"proofOfPossessionSignedVerificationCode": 5}, 422, "required"),
])
def test_malformed_signature_is_422(tenant, pki, body, status, words):
    tid, admin = tenant
    ca = pki.ca("malformed%s" % uuid.uuid4().hex[:6], "Malformed CA", key_kind="rsa2048")
    upload_ok(admin, tid, ca)
    r = admin.post(pop_path(tid, ca.fingerprint, "pop"), json=body)
    assert_error(r, status, "tenants/Unprocessable Entity", words)


def test_expired_code_is_400(certgate_bin, tmp_path, pki):
    """A code is usable for pop_code_lifetime seconds: set it short and wait it out."""
    srv = CertgateServer(certgate_bin, tmp_path / "srv",
                         extra_args=["--set", "pop_code_lifetime=5"]).start()
    try:
        tid, admin = srv.create_tenant("pop-exp")
        ca = pki.ca("expiring", "Expiring CA")
        up = upload_ok(admin, tid, ca)
        code = up["proofOfPossessionUnsignedVerificationCode"]
        sig = openssl_sign(ca.key_path, write_code(tmp_path, code))
        vcert = azure_verification_cert(tmp_path, ca, code)
        time.sleep(6)
        r = submit(admin, tid, ca.fingerprint, sig)
        body = assert_error(r, 400, "tenants/Bad Request", "expired")
        assert "verification-code" in body["message"]  # says how to get a new one
        r = admin.post(pop_path(tid, ca.fingerprint, "verification-certificate"),
                       json={"certificate": vcert.read_text()})
        assert_error(r, 400, "tenants/Bad Request", "expired")
        # a new code works (signed and sent at once: it too lives 5 s)
        code = new_code(admin, tid, ca.fingerprint)["proofOfPossessionUnsignedVerificationCode"]
        r = submit(admin, tid, ca.fingerprint,
                   openssl_sign(ca.key_path, write_code(tmp_path, code, "new.txt")))
        assert r.status_code == 200 and r.json()["proofOfPossessionValid"] is True
    finally:
        srv.stop()


# ---- Azure / AWS style: a verification certificate -------------------------------------------

def test_verification_certificate_made_like_the_azure_seed(tenant, pki, tmp_path):
    tid, admin = tenant
    ca = pki.ca("az" + tid, "Azure Style CA", key_kind="rsa2048")
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    crt = azure_verification_cert(tmp_path, ca, code)
    r = admin.post(pop_path(tid, ca.fingerprint, "verification-certificate"),
                   json={"certificate": crt.read_text()})
    assert r.status_code == 200, r.text
    assert r.json()["proofOfPossessionValid"] is True


def test_verification_certificate_as_raw_pem_body(tenant, pki, tmp_path):
    tid, admin = tenant
    ca = pki.ca("raw" + tid, "Raw PEM CA")
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    crt = azure_verification_cert(tmp_path, ca, code)
    r = admin.post(pop_path(tid, ca.fingerprint, "verification-certificate"),
                   data=crt.read_bytes(), headers={"Content-Type": "application/x-pem-file"})
    assert r.status_code == 200, r.text
    assert r.json()["proofOfPossessionValid"] is True


def test_certgate_pki_verification_cert(certgate, tenant, pki, tmp_path):
    tid, admin = tenant
    ca = pki.ca("cliv" + tid, "CLI Verification CA")
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    out = tmp_path / "verify.pem"
    certgate("pki", "verification-cert", "--ca-cert", ca.cert_path, "--ca-key", ca.key_path,
             "--code", code, "--out-cert", out, check=0)
    r = admin.post(pop_path(tid, ca.fingerprint, "verification-certificate"),
                   json={"certificate": out.read_text()})
    assert r.status_code == 200, r.text
    assert r.json()["proofOfPossessionValid"] is True


def test_verification_certificate_refusals_say_which_rule(tenant, pki, tmp_path):
    tid, admin = tenant
    ca = pki.ca("vref" + tid, "Refusing CA")
    intruder = pki.ca("intruder" + tid, "Refusing CA")  # same subject name, another key
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    path = pop_path(tid, ca.fingerprint, "verification-certificate")
    # CN is not the code
    wrong_cn = azure_verification_cert(tmp_path, ca, "0123456789ABCDEF", "wrongcn")
    r = admin.post(path, json={"certificate": wrong_cn.read_text()})
    assert_error(r, 400, "tenants/Bad Request", "CN")
    # CN is the code, but signed by another key under the same issuer name
    forged = azure_verification_cert(tmp_path, intruder, code, "forged")
    r = admin.post(path, json={"certificate": forged.read_text()})
    assert_error(r, 400, "tenants/Bad Request", "not signed by the CA")
    # not a certificate at all, and a missing member
    assert_error(admin.post(path, json={"certificate": "nope"}), 422,
                 "tenants/Unprocessable Entity", "verification certificate")
    assert_error(admin.post(path, json={}), 422, "tenants/Unprocessable Entity",
                 "certificate is required")
    assert admin.get(tc_path(tid, ca.fingerprint)).json()["proofOfPossessionValid"] is False


def test_verification_certificate_private_key_never_echoed(shared_server, tenant, pki):
    tid, admin = tenant
    ca = pki.ca("vkey" + tid, "Key Paste CA")
    upload_ok(admin, tid, ca)
    path = pop_path(tid, ca.fingerprint, "verification-certificate")
    key = ca.key_path.read_text()
    responses = [admin.post(path, data=key, headers={"Content-Type": "application/x-pem-file"}),
                 admin.post(path, json={"certificate": key}),
                 admin.post(path, data='{"certificate": "%s"}' % key,
                            headers={"Content-Type": "application/json"})]
    for r in responses:
        assert r.status_code == 422, r.text
        assert "private key" in r.json()["message"]
        for line in key_body_lines(ca.key_path):
            assert line not in r.text
            assert line not in shared_server.log_text()


# ---- the management override -----------------------------------------------------------------

def test_confirmed_is_for_the_management_tenant_only(shared_server, tenant, pki):
    tid, admin = tenant
    ca = pki.ca("conf" + tid, "Confirm CA")
    upload_ok(admin, tid, ca)
    path = pop_path(tid, ca.fingerprint, "confirmed")
    assert_error(admin.post(path), 403, "security/Forbidden", "management tenant")
    assert admin.get(tc_path(tid, ca.fingerprint)).json()["proofOfPossessionValid"] is False
    mgmt = shared_server.api
    r = mgmt.post(path)
    assert r.status_code == 200, r.text
    assert r.json()["proofOfPossessionValid"] is True
    assert admin.get(tc_path(tid, ca.fingerprint)).json()["proofOfPossessionValid"] is True
    assert_error(mgmt.post(pop_path(tid, "ef" * 20, "confirmed")), 404, "certificate/Not Found")
    assert_error(mgmt.post(pop_path("t99999999", ca.fingerprint, "confirmed")), 404,
                 "security/Not Found")


# ---- self-attested upload --------------------------------------------------------------------

def test_self_attested_needs_the_tenant_option(tenant, pki):
    tid, admin = tenant
    ca = pki.ca("self" + tid, "Self Attested CA")
    r = upload(admin, tid, ca, proofOfPossessionValid=True)
    assert_error(r, 422, "certificate/Unprocessable Entity",
                 "trusted-certificates/pop.self-attested.enabled")
    assert admin.get(tc_path(tid)).json()["certificates"] == []
    set_option(admin, "trusted-certificates", "pop.self-attested.enabled", "true")
    c = upload_ok(admin, tid, ca, proofOfPossessionValid="true")
    assert c["proofOfPossessionValid"] is True
    # without the flag the option changes nothing
    c2 = upload_ok(admin, tid, pki.ca("self2" + tid, "Not Attested CA"))
    assert c2["proofOfPossessionValid"] is False


# ---- errors, roles, isolation, audit ---------------------------------------------------------

def test_unknown_fingerprint_is_404_on_every_pop_endpoint(tenant):
    tid, admin = tenant
    fp = "0a" * 20
    for action, kw in (("verification-code", {}),
                       ("pop", {"json": {"proofOfPossessionSignedVerificationCode": "AAAA"}}),
                       ("verification-certificate", {"json": {"certificate": "x"}})):
        r = admin.post(pop_path(tid, fp, action), **kw)
        body = assert_error(r, 404, "certificate/Not Found")
        assert body["message"] == "Cannot find certificate with fingerprint %s." % fp


def test_roles_and_isolation(shared_server, tenant, pki, tmp_path):
    tid, admin = tenant
    ca = pki.ca("iso" + tid, "Isolated CA")
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    sig = openssl_sign(ca.key_path, write_code(tmp_path, code))
    reader = user_without_cert_roles(shared_server, tid, admin)
    tid_b, admin_b = shared_server.create_tenant("pop-" + uuid.uuid4().hex[:10])
    for action in ("verification-code", "pop", "verification-certificate"):
        kw = {"json": {"proofOfPossessionSignedVerificationCode": sig,
                       "certificate": ca.pem}}
        assert_error(reader.post(pop_path(tid, ca.fingerprint, action), **kw), 403,
                     "security/Forbidden")
        assert_error(admin_b.post(pop_path(tid, ca.fingerprint, action), **kw), 404,
                     "security/Not Found")
        # B's own tenant does not hold A's certificate
        assert_error(admin_b.post(pop_path(tid_b, ca.fingerprint, action), **kw), 404,
                     "certificate/Not Found")
    assert_error(admin_b.post(pop_path(tid, ca.fingerprint, "confirmed")), 403,
                 "security/Forbidden")
    c = admin.get(tc_path(tid, ca.fingerprint)).json()
    assert c["proofOfPossessionValid"] is False
    assert c["proofOfPossessionUnsignedVerificationCode"] == code  # nobody else renewed it
    assert submit(admin, tid, ca.fingerprint, sig).json()["proofOfPossessionValid"] is True


def test_pop_is_audited(tenant, pki, tmp_path):
    tid, admin = tenant
    ca = pki.ca("aud" + tid, "Audited CA")
    code = upload_ok(admin, tid, ca)["proofOfPossessionUnsignedVerificationCode"]
    assert submit(admin, tid, ca.fingerprint, "QUJD" * 16).status_code in (400, 422)
    assert submit(admin, tid, ca.fingerprint,
                  openssl_sign(ca.key_path, write_code(tmp_path, code))).status_code == 200
    records = [r for r in audit_records(admin, type="TrustedCertificates")
               if ca.fingerprint in r.get("text", "")]
    acts = [r["activity"] for r in records]
    assert "Proof of possession completed" in acts, acts
    assert "Proof of possession failed" in acts, acts
    done = next(r for r in records if r["activity"] == "Proof of possession completed")
    assert "signature" in done["text"]


def test_sign_code_matches_openssl_for_rsa(certgate, pki, tmp_path):
    """RSA PKCS#1 v1.5 signatures are deterministic: `certgate pki sign-code` prints exactly
    what the seed's openssl pipeline prints."""
    ca = pki.ca("det", "Deterministic CA", key_kind="rsa2048")
    code_file = write_code(tmp_path, "75B86466DA34D2B04C0C4C9557A119687ADAE7D4732BDDB3")
    p = certgate("pki", "sign-code", "--key", ca.key_path, "--code-file", code_file, check=0)
    assert p.stdout.strip() == openssl_sign(ca.key_path, code_file)


# ---- docs/api/certificates.md, run as written ------------------------------------------------

def test_docs_every_block_is_run():
    assert set(doc_blocks()) == set(DOC_BLOCKS_POP) | set(DOC_BLOCKS_CRL)


def test_docs_seed_walkthrough(shared_server, tmp_path):
    """Upload the CA, get the code, sign it with openssl as the seed does, upload the
    signature, see "proofOfPossessionValid": true; then enable auto-registration."""
    tid, admin = shared_server.create_tenant("doc-" + uuid.uuid4().hex[:8],
                                             password="doc-secret-1")
    out = run_doc(shared_server, ["ca", "device", "upload", "code", "sign", "pop", "autoreg"],
                  tmp_path, tid, "%s/admin:doc-secret-1" % tid)
    up = json.loads(out["upload"])
    assert up["status"] == "ENABLED" and up["autoRegistrationEnabled"] is True
    assert up["proofOfPossessionValid"] is False
    fp = up["fingerprint"]
    uploaded = json.loads((tmp_path / "upload.json").read_text())
    assert uploaded["name"] == "certificateName"
    assert uploaded["subject"] == "CN=Example Root CA, O=Example"
    assert uploaded["algorithmName"] == "SHA256withRSA"
    code = (tmp_path / "verification_code.txt").read_bytes()
    assert not code.endswith(b"\n") and code.decode() == json.loads(
        (tmp_path / "code.json").read_text())["proofOfPossessionUnsignedVerificationCode"]
    assert out["code"].strip().endswith("Z")  # the usable-until time
    assert out["pop"].strip() == "true"
    assert out["autoreg"].strip() == "true"
    c = admin.get(tc_path(tid, fp)).json()
    assert c["proofOfPossessionValid"] is True and c["autoRegistrationEnabled"] is True


def test_docs_azure_walkthrough(shared_server, tmp_path):
    tid, admin = shared_server.create_tenant("doc-" + uuid.uuid4().hex[:8],
                                             password="doc-secret-1")
    out = run_doc(shared_server, ["ca", "upload", "code", "azure-cert", "azure-upload"],
                  tmp_path, tid, "%s/admin:doc-secret-1" % tid)
    assert json.loads(out["upload"])["proofOfPossessionValid"] is False
    assert out["azure-upload"].strip() == "true"
    fp = json.loads((tmp_path / "upload.json").read_text())["fingerprint"]
    assert admin.get(tc_path(tid, fp)).json()["proofOfPossessionValid"] is True
