"""verify-cert-chain (reference §5): the chain as a multipart file or in the
X-Cumulocity-Client-Cert-Chain header, the optional tenant, the answers (200, 400, 401, 403,
404), and the multi-tenant rule: a certificate held by one tenant belongs to it; among
several holders the only one with completed proof of possession wins; otherwise the chain is
refused as ambiguous."""
import uuid

import pytest

from certhelp import (assert_error, header_chain, openssl_sign, pop_path, tc_path, upload_ok,
                      user_without_cert_roles, verify_file, write_code)
from pkiutil import DAY, TestPKI, utcnow

VERIFY = "/tenant/trusted-certificates/verify-cert-chain"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tenant(shared_server):
    return shared_server.create_tenant("vc-" + uuid.uuid4().hex[:10])


class Hierarchy:
    """root -> intermediate -> device, fresh per test so that tests sharing the server do
    not share trust anchors."""

    def __init__(self, pki, tag=None):
        tag = tag or uuid.uuid4().hex[:8]
        self.root = pki.ca("root-" + tag, "Root " + tag, key_kind="rsa2048")
        self.inter = pki.ca("inter-" + tag, "Issuing " + tag, self.root)
        self.device = pki.device("dev-" + tag, "device-" + tag, self.inter)
        self.chain = pki.chain_file("chain-" + tag, self.device, self.inter)
        self.full_chain = pki.chain_file("full-" + tag, self.device, self.inter, self.root)
        self.tag = tag


def expect_ok(r, tenant_id, h):
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"successfullyValidated": True, "tenantId": tenant_id,
                        "subject": "CN=device-%s,O=certgate tests" % h.tag,
                        "issuer": "CN=Issuing %s,O=certgate tests" % h.tag}


def expect_refused(r, words=None):
    body = assert_error(r, 401, "security/Unauthorized")
    assert body["message"].startswith("Invalid certificate chain!"), body
    if words:
        assert words in body["message"], body["message"]
    return body


def confirm_pop(srv, tid, fp):
    r = srv.api.post(pop_path(tid, fp, "confirmed"))
    assert r.status_code == 200, r.text


# ---- input forms -----------------------------------------------------------------------------

def test_multipart_file_names_the_tenant(shared_server, tenant, pki):
    tid, admin = tenant
    h = Hierarchy(pki)
    upload_ok(admin, tid, h.root)
    expect_ok(verify_file(shared_server.api, h.chain), tid, h)
    expect_ok(verify_file(shared_server.api, h.full_chain), tid, h)  # root included
    expect_ok(verify_file(shared_server.api, h.chain, tenant_id=tid), tid, h)
    # the answer is the point of this POST: it comes without an Accept header too
    r = shared_server.api.post("/tenant/trusted-certificates/verify-cert-chain",
                               files={"file": ("c.pem", h.chain.read_bytes())},
                               headers={"Accept": None})
    expect_ok(r, tid, h)


def test_header_form(shared_server, tenant, pki):
    tid, admin = tenant
    h = Hierarchy(pki)
    upload_ok(admin, tid, h.root)
    value = header_chain(h.device, h.inter, h.root)
    assert "\n" not in value and value.count(",") == 2
    api = shared_server.api
    expect_ok(api.post(VERIFY, headers={"X-Cumulocity-Client-Cert-Chain": value}), tid, h)
    expect_ok(api.post(VERIFY, headers={"X-Cumulocity-Client-Cert-Chain": value,
                                        "X-Cumulocity-TenantId": tid}), tid, h)
    # the file wins over the header
    r = api.post(VERIFY, headers={"X-Cumulocity-Client-Cert-Chain": "garbage"},
                 files={"file": ("c.pem", h.chain.read_bytes())})
    expect_ok(r, tid, h)


def test_chain_length_limits(shared_server, pki):
    h = Hierarchy(pki)
    certs = [h.device, h.inter, h.root, h.root, h.root, h.root]
    r = shared_server.api.post(VERIFY, headers={"X-Cumulocity-Client-Cert-Chain":
                                                header_chain(*certs)})
    assert_error(r, 400, "Device Certificates/Bad Request", "longer than 5")
    path = pki.chain_file("eleven", *([h.device, h.inter] + [h.root] * 9))
    assert_error(verify_file(shared_server.api, path), 400, "Device Certificates/Bad Request",
                 "longer than 10")


def test_unparsable_input_is_400(shared_server, pki):
    api = shared_server.api
    bad = pki.dir / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    assert_error(verify_file(api, bad), 400, "Device Certificates/Bad Request",
                 "Cannot parse X509 certificate.")
    assert_error(api.post(VERIFY), 400, "Device Certificates/Bad Request", "no certificate chain")
    assert_error(api.post(VERIFY, headers={"X-Cumulocity-Client-Cert-Chain": "x"}), 400,
                 "Device Certificates/Bad Request", "Cannot parse X509 certificate.")
    assert_error(api.post(VERIFY, files={"other": ("x", b"y")}), 400,
                 "Device Certificates/Bad Request", "no certificate chain")


def test_private_key_is_refused_and_not_echoed(shared_server, pki):
    h = Hierarchy(pki)
    r = verify_file(shared_server.api, h.device.key_path)
    assert_error(r, 400, "Device Certificates/Bad Request", "private key")
    key = h.device.key_path.read_text().splitlines()[1]
    assert key not in r.text and key not in shared_server.log_text()


# ---- refusals --------------------------------------------------------------------------------

def test_untrusted_and_expired_are_401(shared_server, tenant, pki):
    tid, admin = tenant
    h = Hierarchy(pki)
    expect_refused(verify_file(shared_server.api, h.chain), "untrusted")
    upload_ok(admin, tid, h.root)
    old = pki.device("old-" + h.tag, "old-" + h.tag, h.inter, not_before=utcnow() - 400 * DAY,
                     not_after=utcnow() - DAY)
    expect_refused(verify_file(shared_server.api, pki.chain_file("old-" + h.tag, old, h.inter)),
                   "expired")


def test_tenant_id_that_does_not_exist_is_404(shared_server, pki):
    h = Hierarchy(pki)
    for r in (verify_file(shared_server.api, h.chain, tenant_id="t99999999"),
              shared_server.api.post(VERIFY, headers={
                  "X-Cumulocity-Client-Cert-Chain": header_chain(h.device, h.inter),
                  "X-Cumulocity-TenantId": "t99999999"})):
        assert_error(r, 404, "Device Certificates/Not Found", "Tenant Id doesn't exists")


def test_tenant_id_restricts_the_search(shared_server, tenant, pki):
    tid, admin = tenant
    tid_b, _ = shared_server.create_tenant("vc-" + uuid.uuid4().hex[:10])
    h = Hierarchy(pki)
    upload_ok(admin, tid, h.root)
    expect_refused(verify_file(shared_server.api, h.chain, tenant_id=tid_b), "untrusted")
    expect_ok(verify_file(shared_server.api, h.chain, tenant_id=tid), tid, h)


def test_disabled_or_deleted_anchor_refuses(shared_server, tenant, pki):
    tid, admin = tenant
    h = Hierarchy(pki)
    upload_ok(admin, tid, h.root)
    api = shared_server.api
    assert admin.put(tc_path(tid, h.root.fingerprint), json={"status": "DISABLED"}).ok
    expect_refused(verify_file(api, h.chain))
    assert admin.put(tc_path(tid, h.root.fingerprint), json={"status": "ENABLED"}).ok
    expect_ok(verify_file(api, h.chain), tid, h)
    assert admin.delete(tc_path(tid, h.root.fingerprint)).status_code == 204
    expect_refused(verify_file(api, h.chain), "untrusted")


def test_intermediate_alone_as_anchor(shared_server, tenant, pki):
    """Uploading the issuing CA (not the root) is enough for a leaf-only chain."""
    tid, admin = tenant
    h = Hierarchy(pki)
    upload_ok(admin, tid, h.inter)
    leaf_only = pki.chain_file("leaf-" + h.tag, h.device)
    expect_ok(verify_file(shared_server.api, leaf_only), tid, h)


# ---- the multi-tenant rule -------------------------------------------------------------------

def test_multi_tenant_resolution(shared_server, pki, tmp_path):
    api = shared_server.api
    tid_a, admin_a = shared_server.create_tenant("vc-a-" + uuid.uuid4().hex[:8])
    tid_b, admin_b = shared_server.create_tenant("vc-b-" + uuid.uuid4().hex[:8])
    tid_c, admin_c = shared_server.create_tenant("vc-c-" + uuid.uuid4().hex[:8])
    shared = Hierarchy(pki)
    only_c = Hierarchy(pki)

    # 1. a certificate held by one tenant only belongs to it, proof of possession or not
    upload_ok(admin_c, tid_c, only_c.root)
    expect_ok(verify_file(api, only_c.chain), tid_c, only_c)

    # 2. two holders, neither with proof of possession: ambiguous, refused
    upload_ok(admin_a, tid_a, shared.root)
    expect_ok(verify_file(api, shared.chain), tid_a, shared)  # while A is the only holder
    b_cert = upload_ok(admin_b, tid_b, shared.root)
    body = expect_refused(verify_file(api, shared.chain), "ambiguous-anchor")
    assert "held by 2 tenants" in body["message"]

    # 3. B proves possession (the seed's recipe): B wins
    code_file = write_code(tmp_path, b_cert["proofOfPossessionUnsignedVerificationCode"])
    r = admin_b.post(pop_path(tid_b, shared.root.fingerprint, "pop"), json={
        "proofOfPossessionSignedVerificationCode": openssl_sign(shared.root.key_path,
                                                                code_file)})
    assert r.status_code == 200 and r.json()["proofOfPossessionValid"] is True
    expect_ok(verify_file(api, shared.chain), tid_b, shared)
    # a third holder without proof changes nothing
    upload_ok(admin_c, tid_c, shared.root)
    expect_ok(verify_file(api, shared.chain), tid_b, shared)

    # 4. A proves possession too: two proven holders, ambiguous again
    confirm_pop(shared_server, tid_a, shared.root.fingerprint)
    expect_refused(verify_file(api, shared.chain), "ambiguous-anchor")

    # 5. B disables its copy: A is the only proven enabled holder
    assert admin_b.put(tc_path(tid_b, shared.root.fingerprint),
                       json={"status": "DISABLED"}).status_code == 200
    expect_ok(verify_file(api, shared.chain), tid_a, shared)


# ---- who may ---------------------------------------------------------------------------------

def test_tenant_admin_verifies_for_its_own_tenant_only(shared_server, tenant, pki):
    tid, admin = tenant
    tid_b, admin_b = shared_server.create_tenant("vc-" + uuid.uuid4().hex[:10])
    h = Hierarchy(pki)
    upload_ok(admin, tid, h.root)
    expect_ok(verify_file(admin, h.chain), tid, h)
    expect_ok(verify_file(admin, h.chain, tenant_id=tid), tid, h)
    assert_error(verify_file(admin, h.chain, tenant_id=tid_b), 403, "security/Forbidden")
    assert_error(verify_file(admin, h.chain, tenant_id="t99999999"), 403, "security/Forbidden")
    # B cannot learn anything about A's certificates
    body = expect_refused(verify_file(admin_b, h.chain))
    assert tid not in body["message"] and "untrusted" not in body["message"]
    assert tid_b in body["message"]


def test_user_without_role_is_403_and_anonymous_401(shared_server, tenant, pki):
    tid, admin = tenant
    h = Hierarchy(pki)
    upload_ok(admin, tid, h.root)
    reader = user_without_cert_roles(shared_server, tid, admin)
    assert_error(verify_file(reader, h.chain), 403, "security/Forbidden", "Access is denied.")
    assert_error(verify_file(shared_server.session(), h.chain), 401, "security/Unauthorized")
