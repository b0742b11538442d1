"""Device access tokens (issue 5, reference §6): a device trades its client certificate for a
JWT; the JWT authenticates REST calls as the device until it expires or is logged out."""
import base64
import json
import pathlib
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature, \
    decode_dss_signature

from certhelp import set_option, upload_ok
from pkiutil import TestPKI

TOKEN_PATH = "/devicecontrol/deviceAccessToken"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


@pytest.fixture
def fleet(server, tmp_path):
    """A tenant whose root CA is uploaded with auto-registration, and devices under its
    intermediate."""
    tid, admin = server.create_tenant("tok%d" % int(time.time() * 1000 % 1000000))
    pki = TestPKI(tmp_path / "pki")
    s = pki.standard()
    upload_ok(admin, tid, s["root"], autoRegistrationEnabled=True)
    return {"server": server, "tenant": tid, "admin": admin, "pki": pki, **s}


def device_session(srv, chain_path, key_path):
    return srv.session(cert=(str(chain_path), str(key_path)))


def get_token(f, chain=None, key=None, headers=None):
    s = device_session(f["server"], chain or f["device_chain"], key or f["device"].key_path)
    return s.post(TOKEN_PATH, headers=headers or {})


def bearer(srv, token):
    s = srv.session()
    s.headers["Authorization"] = "Bearer " + token
    return s


def test_token_with_curl_and_its_claims(fleet, tmp_path):
    srv = fleet["server"]
    out = subprocess.run(
        ["curl", "-s", "--cacert", srv.ca_path, "--cert", str(fleet["device_chain"]),
         "--key", str(fleet["device"].key_path), "-X", "POST", "-H", "Accept: application/json",
         srv.base + TOKEN_PATH], capture_output=True, text=True, timeout=30)
    body = json.loads(out.stdout)
    token = body["accessToken"]
    assert body["expiresIn"] == 3600
    header, claims, sig = split(token)
    assert header["alg"] == "ES256" and header["typ"] == "JWT" and header["kid"]
    assert claims["sub"] == "device_dev-0001"
    assert claims["ten"] == fleet["tenant"]
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iss"].startswith("https://")
    assert len(claims["jti"]) >= 16
    assert len(sig) == 64


def test_signature_checks_out_against_the_jwks(fleet):
    srv = fleet["server"]
    token = get_token(fleet).json()["accessToken"]
    jwks = srv.session().get("/.well-known/jwks.json").json()
    header, _, sig = split(token)
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and jwk["alg"] == "ES256"
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url_decode(jwk["x"]), "big"),
                                        int.from_bytes(b64url_decode(jwk["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    signing_input = token.rsplit(".", 1)[0].encode()
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))  # raises if invalid


def test_first_token_request_auto_registers_the_device(fleet):
    admin = fleet["admin"]
    assert get_token(fleet).status_code == 200
    users = admin.get("/user/%s/users" % fleet["tenant"], params={"onlyDevices": "true"}).json()
    assert "device_dev-0001" in [u["userName"] for u in users["users"]]


def test_bearer_authenticates_as_the_device(fleet):
    srv = fleet["server"]
    token = get_token(fleet).json()["accessToken"]
    me = bearer(srv, token).get("/user/currentUser")
    assert me.status_code == 200, me.text
    assert me.json()["userName"] == "device_dev-0001"
    assert "ROLE_DEVICE" in [r["name"] for r in me.json()["effectiveRoles"]]
    # and nothing a tenant admin may do
    r = bearer(srv, token).get("/tenant/tenants/%s/trusted-certificates" % fleet["tenant"])
    assert r.status_code == 403


def test_lifetime_follows_the_tenant_option(fleet):
    set_option(fleet["admin"], "oauth.internal", "device-token.lifespan.seconds", "600")
    body = get_token(fleet).json()
    assert body["expiresIn"] == 600
    _, claims, _ = split(body["accessToken"])
    assert claims["exp"] - claims["iat"] == 600
    r = fleet["admin"].put("/tenant/options/oauth.internal/device-token.lifespan.seconds",
                           json={"value": "299"})
    assert r.status_code == 422


# ---- tokens that must fail ---------------------------------------------------------------

def server_key(srv):
    (path,) = sorted((pathlib.Path(srv.data_dir) / "jwt").glob("*.pem"))[-1:]
    return serialization.load_pem_private_key(path.read_bytes(), None)


def forge(srv, header, claims, key=None):
    """Sign header.claims with the server's own key (the test reads it from the data dir):
    the signature is right, so the refusal must come from the claim checks."""
    key = key or server_key(srv)
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def assert_refused(srv, token, words=None):
    r = bearer(srv, token).get("/user/currentUser")
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "security/Unauthorized"
    if words:
        assert words in r.json()["message"], r.json()["message"]


def test_expired_token_is_refused(fleet):
    srv = fleet["server"]
    header, claims, _ = split(get_token(fleet).json()["accessToken"])
    claims["iat"] -= 7200
    claims["nbf"] -= 7200
    claims["exp"] = int(time.time()) - 120  # beyond the 60 s skew
    assert_refused(srv, forge(srv, header, claims), "expired")


def test_tampered_payload_is_refused(fleet):
    srv = fleet["server"]
    token = get_token(fleet).json()["accessToken"]
    h, p, s = token.split(".")
    claims = json.loads(b64url_decode(p))
    claims["sub"] = "device_someone-else"
    assert_refused(srv, h + "." + b64url(json.dumps(claims).encode()) + "." + s)


def test_alg_none_is_refused(fleet):
    srv = fleet["server"]
    token = get_token(fleet).json()["accessToken"]
    _, p, _ = token.split(".")
    none = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    assert_refused(srv, none + "." + p + ".")


def test_hmac_with_the_public_key_is_refused(fleet):
    import hmac
    srv = fleet["server"]
    header, claims, _ = split(get_token(fleet).json()["accessToken"])
    header["alg"] = "HS256"
    pub = server_key(srv).public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    mac = hmac.new(pub, signing_input.encode(), "sha256").digest()
    assert_refused(srv, signing_input + "." + b64url(mac))


def test_wrong_tenant_is_refused(fleet):
    srv = fleet["server"]
    other, _ = srv.create_tenant("tokother%d" % int(time.time() * 1000 % 100000))
    header, claims, _ = split(get_token(fleet).json()["accessToken"])
    claims["ten"] = other
    assert_refused(srv, forge(srv, header, claims))


def test_logout_revokes_the_token(fleet):
    srv = fleet["server"]
    token = get_token(fleet).json()["accessToken"]
    s = bearer(srv, token)
    assert s.get("/user/currentUser").status_code == 200
    r = s.post("/user/logout", headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.content == b""
    assert_refused(srv, token, "logged out")
    # a new token still works
    assert bearer(srv, get_token(fleet).json()["accessToken"]).get(
        "/user/currentUser").status_code == 200


def test_logout_survives_a_restart(fleet):
    srv = fleet["server"]
    token = get_token(fleet).json()["accessToken"]
    assert bearer(srv, token).post("/user/logout").status_code == 200
    srv.restart()
    assert_refused(srv, token, "logged out")


def test_deleted_device_loses_its_token(fleet):
    srv, admin = fleet["server"], fleet["admin"]
    token = get_token(fleet).json()["accessToken"]
    ext = admin.get("/identity/externalIds/c8y_Serial/dev-0001")
    assert ext.status_code == 200, ext.text
    mo = ext.json()["managedObject"]["id"]
    assert admin.delete("/inventory/managedObjects/%s" % mo).status_code == 204
    assert_refused(srv, token, "no longer registered")


def test_disabled_ca_invalidates_tokens(fleet):
    srv, admin = fleet["server"], fleet["admin"]
    token = get_token(fleet).json()["accessToken"]
    fp = fleet["root"].fingerprint
    r = admin.put("/tenant/tenants/%s/trusted-certificates/%s" % (fleet["tenant"], fp),
                  json={"status": "DISABLED"})
    assert r.status_code == 200, r.text
    assert_refused(srv, token, "disabled")
    assert get_token(fleet).status_code == 401  # and no new token


def test_revoked_serial_invalidates_tokens(fleet):
    srv, admin = fleet["server"], fleet["admin"]
    token = get_token(fleet).json()["accessToken"]
    r = admin.put("/tenant/trusted-certificates/settings/crl",
                  json={"crls": [{"serialNumberInHex": fleet["device"].serial_hex}]})
    assert r.status_code == 204, r.text
    assert_refused(srv, token, "revoked")


# ---- the endpoint's own refusals ------------------------------------------------------------

def test_no_client_certificate_is_401(fleet):
    r = fleet["server"].session().post(TOKEN_PATH)
    assert r.status_code == 401


def test_untrusted_chain_is_401(fleet):
    r = get_token(fleet, chain=fleet["wrong_tenant"].cert_path, key=fleet["wrong_tenant"].key_path)
    assert r.status_code == 401
    assert r.json()["message"] == "Invalid certificate chain!"


def test_expired_device_is_401(fleet):
    r = get_token(fleet, chain=fleet["expired_chain"], key=fleet["expired"].key_path)
    assert r.status_code == 401


def test_auto_registration_off_is_422(fleet):
    f = fleet
    fp = f["root"].fingerprint
    r = f["admin"].put("/tenant/tenants/%s/trusted-certificates/%s" % (f["tenant"], fp),
                       json={"autoRegistrationEnabled": False})
    assert r.status_code == 200
    r = get_token(f)
    assert r.status_code == 422, r.text
    assert "not registered" in r.json()["message"]


def test_x_ssl_cert_chain_supplies_the_intermediate(fleet):
    """The TLS handshake carries only the leaf; the intermediate comes in X-Ssl-Cert-Chain
    (PEM with newlines replaced by spaces, with or without the leaf)."""
    f = fleet
    leaf_only = f["device"].cert_path
    assert get_token(f, chain=leaf_only).status_code == 401
    inter = f["intermediate"].pem.strip().replace("\n", " ")
    r = get_token(f, chain=leaf_only, headers={"X-Ssl-Cert-Chain": inter})
    assert r.status_code == 200, r.text
    with_leaf = f["device"].pem.strip().replace("\n", " ") + " " + inter
    r = get_token(f, chain=leaf_only, headers={"X-SSL-CERT-CHAIN": with_leaf})
    assert r.status_code == 200, r.text
    r = get_token(f, chain=leaf_only, headers={"X-Ssl-Cert-Chain": "-----BEGIN CERTIFICATE----- garbage"})
    assert r.status_code == 400
    assert r.json()["error"] == "Device Certificates/Bad Request"


def test_key_rotation_keeps_old_tokens_valid(fleet):
    srv = fleet["server"]
    old = get_token(fleet).json()["accessToken"]
    r = srv.api.post("/certgate/token-keys/rotate")
    assert r.status_code == 200, r.text
    kid = r.json()["kid"]
    new = get_token(fleet).json()["accessToken"]
    assert split(new)[0]["kid"] == kid != split(old)[0]["kid"]
    kids = [k["kid"] for k in srv.session().get("/.well-known/jwks.json").json()["keys"]]
    assert kid in kids and split(old)[0]["kid"] in kids
    assert bearer(srv, old).get("/user/currentUser").status_code == 200
    assert bearer(srv, new).get("/user/currentUser").status_code == 200
    # key files stay private
    for p in (pathlib.Path(srv.data_dir) / "jwt").glob("*.pem"):
        assert p.stat().st_mode & 0o077 == 0
    # a tenant admin may not rotate
    assert fleet["admin"].post("/certgate/token-keys/rotate").status_code == 403


def test_token_is_never_logged(fleet):
    srv = fleet["server"]
    token = get_token(fleet).json()["accessToken"]
    bearer(srv, token).get("/user/currentUser")
    bearer(srv, token + "x").get("/user/currentUser")
    assert token.split(".")[2] not in srv.log_text()
