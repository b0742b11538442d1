"""MQTT over TLS with real clients (mosquitto_pub/mosquitto_sub, paho): certificate
authentication with its chain variants and refusals, auto-registration and its durability,
bulk-registered devices, passwords, takeover, QoS 1/2 across reconnects, retained messages and
wills, tenant isolation, the ACL, tokens on s/uat, and live sessions closed by registry changes.
docs/mqtt.md's `sh` blocks are run as written (test_docs_*).

mosquitto_pub exits with the CONNACK code of a refused connection (4, 5), 0 on success: the
refusal tests use that. Paho clients (Debian's python3-paho-mqtt 1.6) drive sessions."""
import os
import pathlib
import queue
import re
import shutil
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from cryptography.x509.oid import NameOID

from certhelp import set_option, upload_ok
from pkiutil import DAY, TestPKI, utcnow

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "mqtt.md"
CRL = "/tenant/trusted-certificates/settings/crl"
BULK = "/devicecontrol/bulkNewDeviceRequests"


def require_mqtt(srv):
    assert srv.mqtt_port, "certgate serve opened no MQTT listener ('mqtt port 0')"


@pytest.fixture(scope="module")
def srv(shared_server):
    require_mqtt(shared_server)
    return shared_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("mqtt-pki"))


def tag():
    return uuid.uuid4().hex[:8]


def new_tenant(srv, prefix="mq"):
    """(tenant id, admin session, 'tid/admin', password)."""
    tid, admin = srv.create_tenant("%s-%s" % (prefix, tag()), password="tenant-secret-1")
    return tid, admin, "%s/admin" % tid, "tenant-secret-1"


# ---- mosquitto_pub / mosquitto_sub ---------------------------------------------------------

def mosq_args(srv, client_id, cert=None, key=None, user=None, password=None):
    args = ["-h", "localhost", "-p", str(srv.mqtt_port), "--cafile", srv.ca_path, "-i", client_id]
    if cert is not None:
        args += ["--cert", str(cert), "--key", str(key)]
    if user is not None:
        args += ["-u", user, "-P", password]
    return args


def pub(srv, client_id, topic="probe", message="x", qos=1, retain=False, **auth):
    """mosquitto_pub; returns (exit status = CONNACK code of a refusal, stderr)."""
    args = ["mosquitto_pub"] + mosq_args(srv, client_id, **auth) + ["-t", topic, "-m", message,
                                                                     "-q", str(qos)]
    if retain:
        args.append("-r")
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stderr


def connack(srv, client_id, **auth):
    return pub(srv, client_id, **auth)[0]


# ---- paho ---------------------------------------------------------------------------------

class Client:
    """A paho MQTT 3.1.1 client over TLS with blocking helpers. Never reconnects by itself."""

    def __init__(self, srv, client_id, cert=None, key=None, user=None, password=None,
                 clean=True, will=None, keepalive=60):
        self.srv = srv
        self.keepalive = keepalive
        self.c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311)
        self.c.tls_set(ca_certs=srv.ca_path, certfile=None if cert is None else str(cert),
                       keyfile=None if key is None else str(key))
        if user is not None:
            self.c.username_pw_set(user, password)
        if will is not None:
            topic, payload, qos, retain = will
            self.c.will_set(topic, payload, qos, retain)
        self.messages = queue.Queue()
        self.acks = queue.Queue()
        self.connacks = queue.Queue()
        self.gone = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.messages.put(m)
        self.c.on_subscribe = lambda c, u, mid, granted: self.acks.put(("sub", mid, granted))
        self.c.on_unsubscribe = lambda c, u, mid: self.acks.put(("unsub", mid, None))
        self.c.on_publish = lambda c, u, mid: self.acks.put(("pub", mid, None))
        self.c.on_disconnect = lambda c, u, rc: self.gone.set()

    def _on_connect(self, c, userdata, flags, rc):
        self.connacks.put((rc, bool(flags.get("session present"))))
        if rc != 0:
            c.disconnect()

    def connect(self, timeout=10):
        """(CONNACK code, session present)."""
        self.c.connect("localhost", self.srv.mqtt_port, self.keepalive)
        self.c.loop_start()
        rc = self.connacks.get(timeout=timeout)
        if rc[0] != 0:
            self.c.loop_stop()
        return rc

    def _wait_ack(self, kind, mid, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            k, m, extra = self.acks.get(timeout=max(0.01, deadline - time.time()))
            if k == kind and m == mid:
                return extra
        raise AssertionError("no %s acknowledgement for %d" % (kind, mid))

    def subscribe(self, topic, qos=1):
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        return self._wait_ack("sub", mid)[0]

    def unsubscribe(self, topic):
        rc, mid = self.c.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        self._wait_ack("unsub", mid)

    def publish(self, topic, payload, qos=1, retain=False):
        info = self.c.publish(topic, payload, qos, retain)
        if qos > 0:
            self._wait_ack("pub", info.mid)

    def get(self, timeout=5):
        return self.messages.get(timeout=timeout)

    def nothing(self, seconds=0.5):
        try:
            m = self.messages.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError("unexpected message on %s: %r" % (m.topic, m.payload))

    def closed_within(self, seconds):
        return self.gone.wait(seconds)

    def disconnect(self):
        self.c.disconnect()
        self.gone.wait(5)
        self.c.loop_stop()

    def drop(self):
        """Close the socket without DISCONNECT (an abnormal end: the will is published)."""
        self.c.loop_stop()
        self.c.socket().close()


# ---- a tenant with a device PKI ----------------------------------------------------------

class Fleet:
    """A tenant trusting a fresh root (auto-registration on) with an intermediate that issues
    device certificates; chains on disk."""

    def __init__(self, srv, pki, autoreg=True, upload=True):
        self.srv = srv
        self.pki = pki
        self.t = tag()
        self.tid, self.admin, self.user, self.password = new_tenant(srv)
        self.root = pki.ca("root-" + self.t, "MQTT Root " + self.t)
        self.inter = pki.ca("inter-" + self.t, "MQTT Devices " + self.t, self.root)
        if upload:
            self.root_fp = upload_ok(self.admin, self.tid, self.root,
                                     autoRegistrationEnabled=autoreg)["fingerprint"]

    def device(self, cn, **kw):
        """(Issued, chain file leaf+intermediate)."""
        d = self.pki.device("%s-%s" % (cn, self.t), cn, self.inter, **kw)
        return d, self.pki.chain_file("%s-%s-chain" % (cn, self.t), d, self.inter)

    def client(self, device, chain, client_id=None, **kw):
        cn = device.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return Client(self.srv, client_id or cn, cert=chain, key=device.key_path, **kw)


def registered(admin, device_id):
    return admin.get("/identity/externalIds/c8y_Serial/%s" % device_id).status_code == 200


# ---- certificates: chains, auto-registration -------------------------------------------------

def test_chain_variants_are_accepted(srv, pki):
    f = Fleet(srv, pki)
    d1, chain = f.device("chain-a")
    # leaf + intermediate (root uploaded)
    assert connack(srv, "chain-a", cert=chain, key=d1.key_path) == 0
    # leaf + intermediate + root
    d2, _ = f.device("chain-b")
    full = pki.chain_file("chain-b-full-" + f.t, d2, f.inter, f.root)
    assert connack(srv, "chain-b", cert=full, key=d2.key_path) == 0
    # leaf only, its issuer uploaded
    g = Fleet(srv, pki, upload=False)
    upload_ok(g.admin, g.tid, g.inter, autoRegistrationEnabled=True)
    d3, _ = g.device("chain-c")
    assert connack(srv, "chain-c", cert=d3.cert_path, key=d3.key_path) == 0
    # leaf only, issuer not uploaded (only the root is): refused
    d4, _ = f.device("chain-d")
    assert connack(srv, "chain-d", cert=d4.cert_path, key=d4.key_path) == 5
    # the Cumulocity ClientId forms
    assert connack(srv, "d:chain-a", cert=chain, key=d1.key_path) == 0
    assert connack(srv, "d:chain-a:myTemplate", cert=chain, key=d1.key_path) == 0


def test_refusals_are_connack_5(srv, pki):
    f = Fleet(srv, pki)
    good, good_chain = f.device("ok-dev")
    assert connack(srv, "ok-dev", cert=good_chain, key=good.key_path) == 0
    # wrong ClientId, even with a valid user name and password beside the certificate
    assert connack(srv, "other-dev", cert=good_chain, key=good.key_path) == 5
    assert connack(srv, "other-dev", cert=good_chain, key=good.key_path, user=f.user,
                   password=f.password) == 5
    # untrusted
    stranger_root = pki.ca("stranger-" + f.t, "Stranger " + f.t)
    stranger = pki.device("stranger-dev-" + f.t, "stranger", stranger_root)
    assert connack(srv, "stranger", cert=stranger.cert_path, key=stranger.key_path,
                   user=f.user, password=f.password) == 5
    # expired
    old, old_chain = f.device("old-dev", not_before=utcnow() - 400 * DAY,
                              not_after=utcnow() - 10 * DAY)
    assert connack(srv, "old-dev", cert=old_chain, key=old.key_path) == 5
    # revoked
    rev, rev_chain = f.device("rev-dev")
    r = f.admin.put(CRL, json={"crls": [{"serialNumberInHex": rev.serial_hex}]})
    assert r.status_code == 204, r.text
    assert connack(srv, "rev-dev", cert=rev_chain, key=rev.key_path) == 5
    # unknown device, auto-registration off
    g = Fleet(srv, pki, autoreg=False)
    unknown, unknown_chain = g.device("unknown-dev")
    assert connack(srv, "unknown-dev", cert=unknown_chain, key=unknown.key_path) == 5
    assert not registered(g.admin, "unknown-dev")
    # ambiguous anchor: a second tenant uploads the same root, neither proved possession
    h_tid, h_admin, _, _ = new_tenant(srv)
    upload_ok(h_admin, h_tid, f.root, autoRegistrationEnabled=True)
    amb, amb_chain = f.device("amb-dev")
    assert connack(srv, "amb-dev", cert=amb_chain, key=amb.key_path) == 5
    # disabled CA
    g2 = Fleet(srv, pki)
    dis, dis_chain = g2.device("dis-dev")
    assert connack(srv, "dis-dev", cert=dis_chain, key=dis.key_path) == 0
    r = g2.admin.put("/tenant/tenants/%s/trusted-certificates/%s" % (g2.tid, g2.root_fp),
                     json={"status": "DISABLED"})
    assert r.status_code == 200, r.text
    assert connack(srv, "dis-dev", cert=dis_chain, key=dis.key_path) == 5
    # suspended tenant
    g3 = Fleet(srv, pki)
    sus, sus_chain = g3.device("sus-dev")
    assert connack(srv, "sus-dev", cert=sus_chain, key=sus.key_path) == 0
    r = srv.api.put("/tenant/tenants/" + g3.tid, json={"status": "SUSPENDED"})
    assert r.status_code == 200, r.text
    assert connack(srv, "sus-dev", cert=sus_chain, key=sus.key_path) == 5
    # the reasons are in the log
    srv.wait_log(r"refused with CONNACK 5 \(client-id-mismatch\)")


def test_auto_registration_is_durable(server, pki):
    require_mqtt(server)
    f = Fleet(server, pki)
    d, chain = f.device("durable-dev")
    assert not registered(f.admin, "durable-dev")
    assert connack(server, "durable-dev", cert=chain, key=d.key_path) == 0
    assert registered(f.admin, "durable-dev")
    # No more auto-registration; a restart: the device is still known and admitted.
    r = f.admin.put("/tenant/tenants/%s/trusted-certificates/%s" % (f.tid, f.root_fp),
                    json={"autoRegistrationEnabled": False})
    assert r.status_code == 200, r.text
    server.restart()
    f.admin = server.session(f.user, f.password)
    assert registered(f.admin, "durable-dev")
    assert connack(server, "durable-dev", cert=chain, key=d.key_path) == 0
    other, other_chain = f.device("new-dev")
    assert connack(server, "new-dev", cert=other_chain, key=other.key_path) == 5


def test_bulk_registered_certificate_devices(srv, pki):
    f = Fleet(srv, pki, autoreg=False)
    r = f.admin.post(BULK, files={"file": ("b.csv", "ID;AUTH_TYPE;NAME\nbulk-1;CERTIFICATES;B1\n"
                                                    "bulk-2;BASIC;B2\n")})
    assert r.status_code == 201, r.text
    d, chain = f.device("bulk-1")
    assert connack(srv, "bulk-1", cert=chain, key=d.key_path) == 0
    # registered for passwords: refused with a certificate
    d2, chain2 = f.device("bulk-2")
    assert connack(srv, "bulk-2", cert=chain2, key=d2.key_path) == 5


# ---- passwords -----------------------------------------------------------------------------

def test_user_names_and_passwords(srv):
    tid, admin, user, password = new_tenant(srv)
    assert connack(srv, "pw-1", user=user, password=password) == 0
    assert connack(srv, "pw-1", user=user, password="wrong-password") == 4
    assert connack(srv, "pw-1", user=tid + "/nobody", password=password) == 4
    assert connack(srv, "pw-1") == 4  # neither certificate nor credentials
    r = admin.post(BULK, files={"file": ("b.csv", "ID;AUTH_TYPE;CREDENTIALS\n"
                                                  "pwdev-1;BASIC;pwdev-secret-1\n")})
    assert r.status_code == 201, r.text
    assert connack(srv, "pwdev-1", user=tid + "/device_pwdev-1", password="pwdev-secret-1") == 0


# ---- sessions: takeover, QoS across reconnects, retained, will -----------------------------

def test_takeover(srv):
    tid, admin, user, password = new_tenant(srv)
    watcher = Client(srv, "watch", user=user, password=password)
    assert watcher.connect() == (0, False)
    assert watcher.subscribe("status/#", 1) == 1
    first = Client(srv, "same", user=user, password=password,
                   will=("status/same", "taken over", 1, False))
    assert first.connect()[0] == 0
    second = Client(srv, "same", user=user, password=password)
    assert second.connect()[0] == 0
    assert first.closed_within(3)
    m = watcher.get()
    assert (m.topic, m.payload) == ("status/same", b"taken over")
    second.publish("status/x", "still here")
    assert watcher.get().payload == b"still here"
    second.disconnect()
    watcher.disconnect()


def test_qos_1_and_2_across_reconnects(srv):
    tid, admin, user, password = new_tenant(srv)
    sub = Client(srv, "persist", user=user, password=password, clean=False)
    assert sub.connect() == (0, False)
    assert sub.subscribe("q/#", 2) == 2
    sub.disconnect()
    p = Client(srv, "publisher", user=user, password=password)
    assert p.connect()[0] == 0
    p.publish("q/0", "zero", 0)
    for i in range(5):
        p.publish("q/1", "one-%d" % i, 1)
        p.publish("q/2", "two-%d" % i, 2)
    sub = Client(srv, "persist", user=user, password=password, clean=False)
    assert sub.connect() == (0, True)
    got = [(m.topic, m.payload.decode(), m.qos) for m in (sub.get() for _ in range(10))]
    # paho hands a QoS 2 message over at PUBREL, so compare the order per QoS
    assert [g for g in got if g[2] == 1] == [("q/1", "one-%d" % i, 1) for i in range(5)]
    assert [g for g in got if g[2] == 2] == [("q/2", "two-%d" % i, 2) for i in range(5)]
    sub.nothing()  # the QoS 0 message for an offline session was dropped
    p.publish("q/2", "live", 2)
    assert sub.get().payload == b"live"
    sub.disconnect()
    p.disconnect()
    # a clean start forgets the session
    again = Client(srv, "persist", user=user, password=password, clean=True)
    assert again.connect() == (0, False)
    again.disconnect()


def test_retained_and_will(srv):
    tid, admin, user, password = new_tenant(srv)
    p = Client(srv, "r-pub", user=user, password=password)
    assert p.connect()[0] == 0
    p.publish("r/a", "kept", 1, retain=True)
    late = Client(srv, "r-late", user=user, password=password)
    assert late.connect()[0] == 0
    late.subscribe("r/#", 1)
    m = late.get()
    assert (m.topic, m.payload, m.retain) == ("r/a", b"kept", True)
    w = Client(srv, "w", user=user, password=password, will=("r/will", "gone", 1, False))
    assert w.connect()[0] == 0
    w.drop()
    m = late.get()
    assert (m.topic, m.payload, m.retain) == ("r/will", b"gone", False)
    w = Client(srv, "w", user=user, password=password, will=("r/will", "gone", 1, False))
    assert w.connect()[0] == 0
    w.disconnect()  # DISCONNECT: no will
    late.nothing()
    # mosquitto_sub sees the retained message too
    out = subprocess.run(["mosquitto_sub"] + mosq_args(srv, "r-sub", user=user, password=password)
                         + ["-t", "r/a", "-C", "1", "-W", "10", "-v"], capture_output=True,
                         text=True, timeout=30)
    assert out.stdout.strip() == "r/a kept", out.stderr
    p.disconnect()
    late.disconnect()


# ---- tenants and the ACL --------------------------------------------------------------------

def test_tenants_are_isolated(srv):
    a_tid, _, a_user, a_pw = new_tenant(srv)
    b_tid, _, b_user, b_pw = new_tenant(srv)
    a = Client(srv, "iso", user=a_user, password=a_pw)
    b = Client(srv, "iso", user=b_user, password=b_pw)  # same ClientId: no takeover
    assert a.connect()[0] == 0 and b.connect()[0] == 0
    a.subscribe("#", 1)
    b.subscribe("#", 1)
    a.publish("same/topic", "from a", 1, retain=True)
    assert a.get().payload == b"from a"
    b.nothing()
    b.publish("same/topic", "from b", 1)
    assert b.get().payload == b"from b"
    a.nothing()
    assert not a.closed_within(0.1) and not b.closed_within(0.1)
    a.disconnect()
    b.disconnect()


def test_acl_default_and_open(srv, pki):
    f = Fleet(srv, pki)
    d, chain = f.device("acl-dev")
    app = Client(srv, "acl-app", user=f.user, password=f.password)
    assert app.connect()[0] == 0
    app.subscribe("#", 1)
    dev = f.client(d, chain)
    assert dev.connect()[0] == 0
    assert dev.subscribe("devices/acl-dev/#", 1) == 1
    assert dev.subscribe("broadcast/#", 1) == 1
    assert dev.subscribe("devices/other/#", 1) == 128
    assert dev.subscribe("#", 1) == 128
    dev.publish("devices/other/x", "denied", 1)  # acknowledged, dropped
    dev.publish("devices/acl-dev/up", "allowed", 1)
    assert app.get().topic == "devices/acl-dev/up"
    assert dev.get().topic == "devices/acl-dev/up"
    app.nothing(0.3)
    dev.disconnect()
    # open mode: new connections may use the whole namespace
    set_option(f.admin, "mqtt", "acl.mode", "open")
    dev = f.client(d, chain)
    assert dev.connect()[0] == 0
    assert dev.subscribe("#", 1) == 1
    dev.publish("anything/goes", "open", 1)
    assert app.get().topic == "anything/goes"
    dev.disconnect()
    app.disconnect()


def test_token_over_mqtt(srv, pki):
    f = Fleet(srv, pki)
    d, chain = f.device("tok-dev")
    other, other_chain = f.device("tok-other")
    dev = f.client(d, chain)
    peer = f.client(other, other_chain)
    assert dev.connect()[0] == 0 and peer.connect()[0] == 0
    dev.subscribe("s/dat", 1)
    peer.subscribe("s/dat", 1)
    dev.publish("s/uat", b"", 1)
    m = dev.get(10)
    assert m.topic == "s/dat"
    code, token = m.payload.decode().split(",", 1)
    assert code == "71" and token.count(".") == 2
    # the token works as a Bearer token on the REST API
    r = srv.session().get("/user/currentUser", headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200, r.text
    assert r.json()["userName"] == "device_tok-dev"
    peer.nothing()
    dev.disconnect()
    peer.disconnect()


# ---- live sessions follow the registry --------------------------------------------------------

def closes_within_2s(client, action):
    t0 = time.time()
    action()
    assert client.closed_within(2.5), "the session was not closed"
    assert time.time() - t0 < 2.5


def test_live_sessions_closed_by_registry_changes(srv, pki):
    f = Fleet(srv, pki)
    # revoke a serial
    d, chain = f.device("live-rev")
    c = f.client(d, chain)
    assert c.connect()[0] == 0
    closes_within_2s(c, lambda: f.admin.put(CRL, json={"crls": [{"serialNumberInHex":
                                                                 d.serial_hex}]}))
    # delete the device
    d, chain = f.device("live-del")
    c = f.client(d, chain)
    assert c.connect()[0] == 0
    r = f.admin.get("/identity/externalIds/c8y_Serial/live-del")
    assert r.status_code == 200, r.text
    mo = r.json()["managedObject"]["self"]
    closes_within_2s(c, lambda: f.admin.delete(mo))
    # disable the CA, then delete another
    d, chain = f.device("live-ca")
    c = f.client(d, chain)
    assert c.connect()[0] == 0
    closes_within_2s(c, lambda: f.admin.put("/tenant/tenants/%s/trusted-certificates/%s" % (
        f.tid, f.root_fp), json={"status": "DISABLED"}))
    g = Fleet(srv, pki)
    d, chain = g.device("live-ca2")
    c = g.client(d, chain)
    assert c.connect()[0] == 0
    closes_within_2s(c, lambda: g.admin.delete("/tenant/tenants/%s/trusted-certificates/%s" % (
        g.tid, g.root_fp)))
    # disable a user
    h_tid, h_admin, h_user, h_pw = new_tenant(srv)
    r = h_admin.post("/user/%s/users" % h_tid, json={"userName": "op", "password": "op-secret-1",
                                                     "email": "op@example.com"})
    assert r.status_code == 201, r.text
    c = Client(srv, "op-1", user=h_tid + "/op", password="op-secret-1")
    assert c.connect()[0] == 0
    closes_within_2s(c, lambda: h_admin.put("/user/%s/users/op" % h_tid, json={"enabled": False}))
    # suspend the tenant: every session of it, certificate or password
    k = Fleet(srv, pki)
    d, chain = k.device("live-sus")
    c = k.client(d, chain)
    u = Client(srv, "sus-app", user=k.user, password=k.password)
    assert c.connect()[0] == 0 and u.connect()[0] == 0
    closes_within_2s(c, lambda: srv.api.put("/tenant/tenants/" + k.tid,
                                            json={"status": "SUSPENDED"}))
    assert u.closed_within(2)
    srv.wait_log(r"MQTT session of device_live-sus .* closed")


# ---- docs/mqtt.md, run as written -------------------------------------------------------------

def doc_blocks():
    found = re.findall(r"<!-- test:([\w-]+) -->\n```sh\n(.*?)```", DOC.read_text(), re.S)
    assert len(dict(found)) == len(found), "a block name is used twice"
    return dict(found)


DOC_ORDER = ["pki", "upload", "command", "telemetry", "refused", "password", "token"]


def test_docs_every_block_is_run():
    assert list(doc_blocks()) == DOC_ORDER


def test_docs_walkthrough(srv, tmp_path, certgate_bin):
    tid, admin, user, password = new_tenant(srv, "doc")
    shutil.copy(srv.ca_path, tmp_path / "server-ca.pem")
    blocks = doc_blocks()
    script = "set -euo pipefail\n" + "".join("echo '@@@%s'\n%s\n" % (n, blocks[n])
                                             for n in DOC_ORDER)
    env = dict(os.environ, C8Y=srv.base, TENANT=tid, AUTH="%s:%s" % (user, password),
               MQTT_HOST="localhost", MQTT_PORT=str(srv.mqtt_port), MQTT_USER=user,
               MQTT_PASS=password)
    env["PATH"] = str(pathlib.Path(certgate_bin).parent) + os.pathsep + env["PATH"]
    p = subprocess.run(["bash", "-c", script], cwd=str(tmp_path), env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, "stdout:\n%s\nstderr:\n%s" % (p.stdout, p.stderr)
    out = {}
    for part in p.stdout.split("@@@")[1:]:
        name, _, text = part.partition("\n")
        out[name] = text.strip()
    assert list(out) == DOC_ORDER
    assert out["upload"] == "ENABLED"
    assert out["command"] == 'devices/dev-0001/cmd/config {"interval": 60}'
    assert out["refused"] == "refused: exit status 5"
    assert out["password"] == "published\nrefused: exit status 4"
    assert out["token"] == "s/dat 71 <token>"
    assert "Connection Refused: not authorised." in p.stderr
    assert "Connection Refused: bad user name or password." in p.stderr
    assert registered(admin, "dev-0001")
