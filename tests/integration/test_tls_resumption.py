"""TLS session resumption with certificate devices, over MQTT, with Python's ssl client.

certgate resumes TLS sessions from its server-side cache: the verdict on the device
certificate, taken at the full handshake, is kept with the session and re-checked against the
registry on every resumption. These tests hold it to that: a resumed device is admitted while
nothing changed, refused once its serial is revoked or its CA disabled, a refused certificate
never comes back certificate-less through resumption, and every resumption gets a new ticket
(clients such as OpenSSL's use each TLS 1.3 ticket once)."""
import socket
import ssl
import struct
import subprocess
import uuid

import pytest

from certhelp import upload_ok
from pkiutil import TestPKI

CRL = "/tenant/trusted-certificates/settings/crl"


@pytest.fixture(scope="module")
def srv(shared_server):
    assert shared_server.mqtt_port, "certgate serve opened no MQTT listener"
    return shared_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("resume-pki"))


def tag():
    return uuid.uuid4().hex[:8]


def mqtt_string(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def connect_packet(client_id, user=None, password=None):
    flags = 0x02  # clean session
    payload = mqtt_string(client_id)
    if user is not None:
        flags |= 0xC0
        payload += mqtt_string(user) + mqtt_string(password)
    body = mqtt_string("MQTT") + bytes([4, flags]) + struct.pack("!H", 30) + payload
    assert len(body) < 128
    return bytes([0x10, len(body)]) + body


def mqtt_connect(srv, ctx, client_id, session=None, user=None, password=None):
    """(CONNACK return code or None if the server closed first, resumed?, the session to
    offer next time)."""
    raw = socket.create_connection(("127.0.0.1", srv.mqtt_port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    try:
        resumed = s.session_reused
        s.sendall(connect_packet(client_id, user, password))
        ack = b""
        while len(ack) < 4:
            chunk = s.recv(4 - len(ack))
            if not chunk:
                break
            ack += chunk
        rc = ack[3] if len(ack) == 4 and ack[0] == 0x20 else None
        if rc == 0:
            s.sendall(b"\xe0\x00")  # DISCONNECT
        nxt = s.session
        try:
            s.unwrap()  # close_notify: the session stays resumable on the client side
        except (OSError, ssl.SSLError):
            pass
        return rc, resumed, nxt
    finally:
        s.close()


def client_ctx(srv, chain, key):
    ctx = ssl.create_default_context(cafile=srv.ca_path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(chain), str(key))
    return ctx


class Fleet:
    def __init__(self, srv, pki):
        self.t = tag()
        self.password = "tenant-secret-1"
        self.tid, self.admin = srv.create_tenant("rs-" + self.t, password=self.password)
        self.user = "%s/admin" % self.tid
        self.root = pki.ca("root-" + self.t, "Resume Root " + self.t)
        self.inter = pki.ca("inter-" + self.t, "Resume Devices " + self.t, self.root)
        self.root_fp = upload_ok(self.admin, self.tid, self.root,
                                 autoRegistrationEnabled=True)["fingerprint"]
        self.pki = pki

    def device(self, cn):
        d = self.pki.device("%s-%s" % (cn, self.t), cn, self.inter)
        return d, self.pki.chain_file("%s-%s-chain" % (cn, self.t), d, self.inter)


def resumed_device(srv, f, cn):
    """A device that connected once (full handshake) and then resumed; (ctx, session)."""
    d, chain = f.device(cn)
    ctx = client_ctx(srv, chain, d.key_path)
    rc, resumed, sess = mqtt_connect(srv, ctx, cn)
    assert (rc, resumed) == (0, False)
    rc, resumed, sess = mqtt_connect(srv, ctx, cn, session=sess)
    assert (rc, resumed) == (0, True), "the second connect did not resume"
    return d, ctx, sess


def test_every_resumption_gets_a_new_ticket(srv, pki):
    f = Fleet(srv, pki)
    d, ctx, sess = resumed_device(srv, f, "rs-many")
    seen = {sess.id}
    for _ in range(4):
        rc, resumed, sess = mqtt_connect(srv, ctx, "rs-many", session=sess)
        assert (rc, resumed) == (0, True)
        seen.add(sess.id)
    assert len(seen) == 5, "a resumption did not issue a new session ticket"


def test_revocation_reaches_resumed_sessions(srv, pki):
    f = Fleet(srv, pki)
    d, ctx, sess = resumed_device(srv, f, "rs-rev")
    r = f.admin.put(CRL, json={"crls": [{"serialNumberInHex": d.serial_hex}]})
    assert r.status_code == 204, r.text
    rc, resumed, _ = mqtt_connect(srv, ctx, "rs-rev", session=sess)
    assert resumed and rc == 5
    # ... even with the tenant's user name and password beside the certificate
    rc, resumed, _ = mqtt_connect(srv, ctx, "rs-rev", session=sess, user=f.user,
                                  password=f.password)
    assert resumed and rc == 5
    srv.wait_log(r"resumed session refused: serial %s was revoked" % d.serial_hex)


def test_disabled_ca_reaches_resumed_sessions(srv, pki):
    f = Fleet(srv, pki)
    d, ctx, sess = resumed_device(srv, f, "rs-dis")
    r = f.admin.put("/tenant/tenants/%s/trusted-certificates/%s" % (f.tid, f.root_fp),
                    json={"status": "DISABLED"})
    assert r.status_code == 200, r.text
    rc, resumed, _ = mqtt_connect(srv, ctx, "rs-dis", session=sess)
    assert resumed and rc == 5


def test_a_refused_certificate_does_not_resume_into_a_password_login(srv, pki):
    f = Fleet(srv, pki)
    stranger_root = pki.ca("stranger-" + f.t, "Stranger " + f.t)
    stranger = pki.device("stranger-dev-" + f.t, "stranger", stranger_root)
    ctx = client_ctx(srv, stranger.cert_path, stranger.key_path)
    # The certificate wins over the user name and password: refused.
    rc, resumed, sess = mqtt_connect(srv, ctx, "stranger", user=f.user, password=f.password)
    assert (rc, resumed) == (5, False)
    # Offering whatever session the client kept must not turn into a password login.
    rc, resumed, _ = mqtt_connect(srv, ctx, "stranger", session=sess, user=f.user,
                                  password=f.password)
    assert rc == 5
    assert not resumed, "a refused certificate was given a resumable session"


def verify_cache(srv):
    r = srv.api.get("/certgate/overview")
    assert r.status_code == 200, r.text
    return r.json()["broker"]["verifyCache"]


def test_verified_intermediates_are_cached_and_revocation_still_applies(srv, pki):
    """Full handshakes of devices under one intermediate: the first verifies the whole path
    and remembers it, the next ones take it from the cache (the instance overview counts
    hits); a revoked device under the cached intermediate is still refused, and so is one
    whose certificate the intermediate did not sign."""
    f = Fleet(srv, pki)
    before = verify_cache(srv)
    for i in range(3):
        d, chain = f.device("vc-%d" % i)
        rc, resumed, _ = mqtt_connect(srv, client_ctx(srv, chain, d.key_path), "vc-%d" % i)
        assert (rc, resumed) == (0, False)
    after = verify_cache(srv)
    assert after["hits"] >= before["hits"] + 2, (before, after)
    assert after["entries"] >= 1 and after["capacity"] > 0
    # the same device again, full handshake: its leaf's signature is known
    rc, resumed, _ = mqtt_connect(srv, client_ctx(srv, chain, d.key_path), "vc-2")
    assert (rc, resumed) == (0, False)
    assert verify_cache(srv)["signatureHits"] >= after["signatureHits"] + 1
    # revoked under the cached intermediate
    d, chain = f.device("vc-revoked")
    r = f.admin.put(CRL, json={"crls": [{"serialNumberInHex": d.serial_hex}]})
    assert r.status_code == 204, r.text
    rc, _, _ = mqtt_connect(srv, client_ctx(srv, chain, d.key_path), "vc-revoked")
    assert rc != 0
    # a leaf naming the intermediate but signed by another key of the same name
    impostor = pki.ca("impostor-" + f.t, "Resume Devices " + f.t)
    forged = pki.device("vc-forged-" + f.t, "vc-forged", impostor)
    chain = pki.chain_file("vc-forged-chain-" + f.t, forged, f.inter)
    try:
        rc, _, _ = mqtt_connect(srv, client_ctx(srv, chain, forged.key_path), "vc-forged")
    except (OSError, ssl.SSLError):
        rc = None  # refused during the handshake
    assert rc != 0
    # a tenant's own overview does not show the instance-wide cache
    assert "verifyCache" not in f.admin.get("/certgate/overview").json()["broker"]


def test_tls13_prefers_aes128(srv):
    """The server's TLS 1.3 order puts TLS_AES_128_GCM_SHA256 first (a SHA-256 key schedule);
    a client that offers only another suite still gets that one."""
    ctx = ssl.create_default_context(cafile=srv.ca_path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", srv.mqtt_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.cipher()[0] == "TLS_AES_128_GCM_SHA256"
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.mqtt_port,
                        "-CAfile", srv.ca_path, "-tls1_3", "-ciphersuites",
                        "TLS_CHACHA20_POLY1305_SHA256"],
                       input=b"", capture_output=True, timeout=30)
    assert b"TLS_CHACHA20_POLY1305_SHA256" in p.stdout, p.stdout[-2000:]
