"""The web UI: static files, sign-in sessions and CSRF (with requests), and the pages in
headless Chromium (tests/web/*.js, playwright-core with Debian's /usr/bin/chromium) against a
real server. No mocks: every page talks to the REST API of the server started here.

Needs node, `npm ci --prefix tests/web` and Debian's chromium (scripts/deps.sh --test and
scripts/check.sh install them). CERTGATE_UI_SCREENSHOTS=<dir> makes the browser specs save
the screenshots of docs/ui/ there.
"""
import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest
import requests

from cgserver import ADMIN_PASSWORD, Api
from pkiutil import TestPKI

ROOT = pathlib.Path(__file__).resolve().parents[2]
WEB_TESTS = ROOT / "tests" / "web"
CHROMIUM = os.environ.get("CERTGATE_CHROMIUM", "/usr/bin/chromium")
TENANT_PASSWORD = "tenant-secret-1"


# ---- fixtures -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(shared_server):
    return shared_server


@pytest.fixture(scope="module")
def tenant(srv):
    """A tenant of its own for this module: (tenant id, its admin's Api)."""
    return srv.create_tenant("webui", password=TENANT_PASSWORD)


def browser_ready():
    """Fail (not skip) with what to install when the browser tests cannot run."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node (Debian package nodejs/npm)")
    if not (WEB_TESTS / "node_modules" / "playwright-core").is_dir():
        missing.append("playwright-core (npm ci --prefix tests/web)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("%s (Debian package chromium)" % CHROMIUM)
    if missing:
        pytest.fail("the browser tests need: " + ", ".join(missing) +
                    "; scripts/deps.sh --test and scripts/check.sh install them")


def run_spec(srv, spec, tmp_path, tenant_id, *extra, user="admin", password=TENANT_PASSWORD):
    browser_ready()
    args = ["node", str(WEB_TESTS / (spec + ".js")), "--base", srv.base, "--tenant", tenant_id,
            "--user", user, "--password", password, "--work", str(tmp_path)]
    shots = os.environ.get("CERTGATE_UI_SCREENSHOTS")
    if shots:
        args += ["--screenshots", str(pathlib.Path(shots).resolve())]
    args += [str(a) for a in extra]
    started = time.time()
    p = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=str(WEB_TESTS))
    print(p.stdout)
    assert p.returncode == 0, "%s.js failed after %.1fs:\n%s\n%s\nserver log:\n%s" % (
        spec, time.time() - started, p.stdout[-6000:], p.stderr[-6000:],
        "\n".join(srv.log_lines[-40:]))
    return p.stdout


def login(srv, tenant_id, user="admin", password=TENANT_PASSWORD):
    """A requests session signed in to the web UI: (session, csrf token, response)."""
    s = Api(srv.base, srv.ca_path)  # verify= per request: the environment cannot override it
    r = s.post(srv.base + "/ui/session", json={"tenant": tenant_id, "user": user,
                                               "password": password},
               headers={"Accept": "application/json"}, timeout=30)
    assert r.status_code == 201, r.text
    return s, r.json()["csrfToken"], r


# ---- static files -----------------------------------------------------------------------------

def test_index_is_served_with_security_headers(srv):
    for path in ("/", "/ui"):
        r = requests.get(srv.base + path, verify=srv.ca_path, timeout=10)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["ETag"].startswith('"')
        assert "<main" in r.text and 'lang="en"' in r.text
    # no external references anywhere in the UI
    assert not re.search(r"(src|href)=\"(https?:)?//", r.text)


def test_assets_have_types_versions_and_etags(srv):
    index = requests.get(srv.base + "/", verify=srv.ca_path, timeout=10).text
    version = re.search(r"/ui/app\.js\?v=([0-9a-f]{16})", index).group(1)
    assert "__CERTGATE_UI_VERSION__" not in index
    types = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8",
             "favicon.svg": "image/svg+xml"}
    for name, media in types.items():
        r = requests.get("%s/ui/%s?v=%s" % (srv.base, name, version), verify=srv.ca_path,
                         timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"] == media
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        text = r.text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a fetch
        assert "http://" not in text and "https://" not in text, name
        # without the current version: revalidate, and a matching ETag answers 304
        r2 = requests.get("%s/ui/%s" % (srv.base, name), verify=srv.ca_path, timeout=10)
        assert r2.headers["Cache-Control"] == "no-cache"
        r3 = requests.get("%s/ui/%s" % (srv.base, name), verify=srv.ca_path, timeout=10,
                          headers={"If-None-Match": r2.headers["ETag"]})
        assert r3.status_code == 304 and r3.content == b""
    # the embedded bytes are web/'s files, with the version filled in
    for f in sorted((ROOT / "web").iterdir()):
        r = requests.get("%s/ui/%s" % (srv.base, f.name), verify=srv.ca_path, timeout=10)
        assert r.status_code == 200, f.name
        assert r.content == f.read_bytes().replace(b"__CERTGATE_UI_VERSION__",
                                                   version.encode()), f.name
    stale = requests.get(srv.base + "/ui/app.js?v=0000000000000000", verify=srv.ca_path,
                         timeout=10)
    assert stale.headers["Cache-Control"] == "no-cache"
    for bad in ("/ui/nope.js", "/ui/..%2Fserver-ca.pem", "/ui/%2e%2e"):
        r = requests.get(srv.base + bad, verify=srv.ca_path, timeout=10)
        assert r.status_code in (400, 404), bad


# ---- sessions and CSRF --------------------------------------------------------------------------

def test_sign_in_sets_a_protected_cookie_and_keeps_no_password(srv, tenant):
    tid, _ = tenant
    s, csrf, r = login(srv, tid)
    cookie = r.headers["Set-Cookie"]
    assert re.match(r"certgate_session=[A-Za-z0-9_-]{43};", cookie)
    for attr in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attr in cookie
    body = r.json()
    assert body["tenant"] == tid and body["user"] == "admin"
    assert re.match(r"^[A-Za-z0-9_-]{43}$", csrf)
    assert TENANT_PASSWORD not in r.text and TENANT_PASSWORD not in cookie
    assert "ROLE_TENANT_ADMIN" in body["roles"]
    me = s.get(srv.base + "/ui/session", timeout=10)
    assert me.status_code == 200 and me.json()["csrfToken"] == csrf
    # the cookie authenticates the REST API
    cur = s.get(srv.base + "/user/currentUser", headers={"Accept": "application/json"},
                timeout=10)
    assert cur.status_code == 200 and cur.json()["userName"] == "admin"
    assert TENANT_PASSWORD not in srv.log_text()


def test_cookie_post_without_xsrf_token_is_refused(srv, tenant, tmp_path):
    tid, _ = tenant
    s, csrf, _ = login(srv, tid)
    ca = TestPKI(tmp_path / "pki").ca("csrf-ca", "CSRF Test CA")
    url = "%s/tenant/tenants/%s/trusted-certificates" % (srv.base, tid)
    body = {"certInPemFormat": ca.pem, "status": "ENABLED", "name": "csrf"}
    h = {"Accept": "application/json"}
    r = s.post(url, json=body, headers=h, timeout=10)
    assert r.status_code == 403, r.text
    assert "X-XSRF-TOKEN" in r.json()["message"]
    wrong = csrf[:-1] + ("B" if csrf[-1] == "A" else "A")
    r = s.post(url, json=body, headers=dict(h, **{"X-XSRF-TOKEN": wrong}), timeout=10)
    assert r.status_code == 403
    other, other_csrf, _ = login(srv, tid)
    r = s.post(url, json=body, headers=dict(h, **{"X-XSRF-TOKEN": other_csrf}), timeout=10)
    assert r.status_code == 403, "another session's token must not do"
    # X-HTTP-METHOD does not turn a POST into something that escapes the check
    r = s.post(url + "/" + ca.fingerprint, headers=dict(h, **{"X-HTTP-METHOD": "DELETE"}),
               timeout=10)
    assert r.status_code == 403
    # nothing was created by the refused requests
    assert tenant[1].get("/tenant/tenants/%s/trusted-certificates/%s" %
                         (tid, ca.fingerprint)).status_code == 404
    r = s.post(url, json=body, headers=dict(h, **{"X-XSRF-TOKEN": csrf}), timeout=10)
    assert r.status_code == 201, r.text
    # GET needs no token; DELETE does
    assert s.get(url, headers=h, timeout=10).status_code == 200
    assert s.delete(url + "/" + ca.fingerprint, timeout=10).status_code == 403
    assert s.delete(url + "/" + ca.fingerprint, headers={"X-XSRF-TOKEN": csrf},
                    timeout=10).status_code == 204


def test_authorization_header_wins_over_the_cookie(srv, tenant):
    tid, _ = tenant
    s, _, _ = login(srv, tid)
    # Basic credentials with the cookie: the cookie is not looked at, so no token is needed,
    # and wrong Basic credentials are not rescued by the cookie.
    r = s.post(srv.base + "/user/logout", auth=("%s/admin" % tid, TENANT_PASSWORD), timeout=10)
    assert r.status_code == 200
    r = s.get(srv.base + "/user/currentUser", auth=("%s/admin" % tid, "wrong-password"),
              headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 401


def test_sign_in_failures(srv, tenant):
    tid, _ = tenant
    url = srv.base + "/ui/session"
    r = requests.post(url, json={"tenant": tid, "user": "admin", "password": "nope-nope"},
                      verify=srv.ca_path, timeout=10)
    assert r.status_code == 401
    assert "WWW-Authenticate" not in r.headers  # no browser password dialog
    assert "Set-Cookie" not in r.headers
    assert r.json()["error"] == "security/Unauthorized"
    # a cross-site form cannot post JSON: other media types are refused before any check
    r = requests.post(url, data={"tenant": tid, "user": "admin", "password": TENANT_PASSWORD},
                      verify=srv.ca_path, timeout=10)
    assert r.status_code == 415
    r = requests.post(url, json={"tenant": tid, "user": "admin"}, verify=srv.ca_path, timeout=10)
    assert r.status_code == 422
    r = requests.get(url, verify=srv.ca_path, timeout=10)
    assert r.status_code == 401 and "WWW-Authenticate" not in r.headers
    r = requests.get(url, verify=srv.ca_path, timeout=10,
                     cookies={"certgate_session": "A" * 43})
    assert r.status_code == 401
    # an unknown cookie does not fall back to anything else
    r = requests.get(srv.base + "/user/currentUser", verify=srv.ca_path, timeout=10,
                     cookies={"certgate_session": "A" * 43}, headers={"Accept": "application/json"})
    assert r.status_code == 401 and "WWW-Authenticate" not in r.headers
    # an API client without cookie still gets the Basic challenge
    r = requests.get(srv.base + "/user/currentUser", verify=srv.ca_path, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")


def test_sign_in_is_rate_limited(srv):
    tid, _ = srv.create_tenant("webui-limit", password=TENANT_PASSWORD)
    url = srv.base + "/ui/session"
    codes = []
    for _ in range(30):
        r = requests.post(url, json={"tenant": tid, "user": "admin", "password": "wrong-wrong"},
                          verify=srv.ca_path, timeout=10)
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.headers.get("Retry-After")
            break
    assert codes[-1] == 429, codes


def test_sign_out_ends_the_session(srv, tenant):
    tid, _ = tenant
    s, csrf, _ = login(srv, tid)
    assert s.delete(srv.base + "/ui/session", timeout=10).status_code == 403  # needs the token
    r = s.delete(srv.base + "/ui/session", headers={"X-XSRF-TOKEN": csrf}, timeout=10)
    assert r.status_code == 204
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    # the old cookie value is dead on the server, whatever the browser keeps
    assert s.get(srv.base + "/ui/session", timeout=10).status_code == 401
    assert s.get(srv.base + "/user/currentUser", headers={"Accept": "application/json"},
                 timeout=10).status_code == 401


def test_disabling_the_user_ends_the_session(srv, tenant):
    tid, admin = tenant
    r = admin.post("/user/%s/users" % tid, json={"userName": "viewer", "email": "v@example.com",
                                                 "password": "viewer-secret-1"})
    assert r.status_code == 201, r.text
    s, _, _ = login(srv, tid, "viewer", "viewer-secret-1")
    assert s.get(srv.base + "/ui/session", timeout=10).status_code == 200
    r = admin.put("/user/%s/users/viewer" % tid, json={"enabled": False})
    assert r.status_code == 200, r.text
    assert s.get(srv.base + "/ui/session", timeout=10).status_code == 401
    assert s.get(srv.base + "/user/currentUser", headers={"Accept": "application/json"},
                 timeout=10).status_code == 401


def test_overview_endpoint(srv, tenant):
    tid, admin = tenant
    r = admin.get("/certgate/overview")
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["tenant"] == tid and "devices" in o and "trustedCertificates" in o
    assert o["broker"]["wired"] is True
    # a tenant admin sees its own tenant's figures; the management tenant the instance's
    assert o["broker"]["scope"] == "tenant" and "devicesOnline" in o["broker"]
    assert o["connectedNow"] == o["broker"]["devicesOnline"]
    m = srv.api.get("/certgate/overview").json()
    assert m["broker"]["scope"] == "instance"
    assert "refusedLastMinute" in m["broker"] and "connectsLastMinute" in m["broker"]
    # a refused password connect shows in the tenant's refusals
    before = o["broker"]["refusedLastMinute"]["credentials"]
    p = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(srv.mqtt_port),
                        "--cafile", srv.ca_path, "-i", "ov-bad", "-u", "%s/admin" % tid,
                        "-P", "wrong-password", "-t", "x", "-m", "x"], capture_output=True,
                       timeout=30)
    assert p.returncode != 0
    after = admin.get("/certgate/overview").json()["broker"]["refusedLastMinute"]["credentials"]
    assert after == before + 1
    assert admin.get("/certgate/devices/connected?ids=a,b").json()["connected"] == []


# ---- the pages, in Chromium -------------------------------------------------------------------

def test_seed_flow_from_sign_in_to_complete(srv, tenant, certgate, tmp_path):
    """Management -> Trusted certificates -> Add certificate -> details -> Proof of
    Possession: a wrong signature refused with the server's message, then the code signed
    with `certgate pki sign-code`: Incomplete -> Complete; sign out."""
    tid, _ = tenant
    certgate("pki", "ca", "--subject", "CN=Seed Root CA,O=Acme,C=DE", "--out-cert",
             tmp_path / "ca.pem", "--out-key", tmp_path / "ca.key", check=0)
    other = TestPKI(tmp_path / "other").ca("other", "Someone Else's CA")
    run_spec(srv, "pop", tmp_path, tid, "--ca-cert", tmp_path / "ca.pem", "--ca-key",
             tmp_path / "ca.key", "--wrong-key", other.key_path, "--other-cert", other.cert_path,
             "--certgate", certgate.binary,
             "--name", "Acme Root CA")


def test_bulk_registration_and_devices(srv, tenant, tmp_path):
    tid, _ = tenant
    run_spec(srv, "devices", tmp_path, tid, "--prefix", "web-dev")


def test_revocation_audit_overview_phone_and_tenants(srv, tenant, tmp_path):
    tid, _ = tenant
    csv = tmp_path / "revoke.csv"
    csv.write_text("SERIAL NO.,REVOCATION DATE\n1a2b3c4d5e,\n99ff00aa,\n")
    run_spec(srv, "admin", tmp_path, tid, "--mgmt-password", ADMIN_PASSWORD,
             "--serial", "0b8a5b9dd501a88775399b9a048811a3", "--crl-csv", csv,
             "--domain", "webui-created")


def test_device_connecting_is_shown_connected(srv, tenant, tmp_path):
    """A device connects with mosquitto_pub over mutual TLS (auto-registered through its
    CA) and the devices page shows it connected while the connection lasts."""
    tid, admin = tenant
    assert srv.api.get("/certgate/overview").json()["broker"]["wired"] and srv.mqtt_port
    pki = TestPKI(tmp_path / "pki")
    root = pki.ca("root", "Web UI Device CA")
    dev = pki.device("dev", "web-connected-01", issuer=root)
    r = admin.post("/tenant/tenants/%s/trusted-certificates" % tid, json={
        "certInPemFormat": root.pem, "status": "ENABLED", "autoRegistrationEnabled": True,
        "name": "device CA"})
    assert r.status_code == 201, r.text
    chain = pki.chain_file("dev-chain", dev, root)
    # -l: publish stdin lines and stay connected until stdin closes
    pub = subprocess.Popen(
        ["mosquitto_pub", "-h", "localhost", "-p", str(srv.mqtt_port), "--cafile", srv.ca_path,
         "--cert", str(chain), "--key", str(dev.key_path), "-i", "web-connected-01",
         "-t", "s/us", "-l", "-q", "1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pub.stdin.write("200,c8y_Temperature,T,21\n")
        pub.stdin.flush()
        deadline = time.time() + 15
        while time.time() < deadline:
            c = admin.get("/certgate/devices/connected?ids=web-connected-01").json()
            if c["connected"] == ["web-connected-01"]:
                break
            assert pub.poll() is None, "mosquitto_pub exited: %s" % pub.stderr.read()
            time.sleep(0.2)
        else:
            pytest.fail("the device never showed as connected; server log:\n" +
                        "\n".join(srv.log_lines[-30:]))
        run_spec(srv, "connected", tmp_path, tid, "--device", "web-connected-01")
    finally:
        pub.stdin.close()
        try:
            pub.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pub.kill()
            pub.wait()
