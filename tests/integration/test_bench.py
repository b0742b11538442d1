"""certgate bench: every mode runs for a second or two against a real server and prints
JSON that parses. No performance thresholds: figures are measured by bench/run.sh, never by
tests (docs/benchmarks.md).

The MQTT modes (connect, hold, pubsub) run against certgate when `serve` has an MQTT
listener, else against a Mosquitto started here (the Debian package), else they are skipped.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

import pytest

from cgserver import CertgateServer, free_port

NDEV = 24


@pytest.fixture(scope="module")
def pki(certgate_bin, tmp_path_factory):
    """root -> intermediate (pathlen 0) -> NDEV devices, chain.pem beside them; and a server
    root + certificate for Mosquitto. ECDSA P-256, made with certgate pki."""
    d = tmp_path_factory.mktemp("benchpki")

    def run(*args):
        subprocess.run([certgate_bin, "pki", *args], cwd=d, check=True, capture_output=True,
                       timeout=300)

    run("ca", "--subject", "CN=bench test root", "--out-cert", "root.pem", "--out-key", "root.key")
    run("intermediate", "--ca-cert", "root.pem", "--ca-key", "root.key", "--pathlen", "0",
        "--subject", "CN=bench test CA", "--out-cert", "int.pem", "--out-key", "int.key")
    (d / "devices").mkdir()
    run("device", "--ca-cert", "int.pem", "--ca-key", "int.key", "--prefix", "bt-",
        "--count", str(NDEV), "--out-dir", "devices")
    shutil.copy(d / "int.pem", d / "devices" / "chain.pem")
    run("ca", "--subject", "CN=bench test server root", "--out-cert", "server-root.pem",
        "--out-key", "server-root.key")
    run("server-cert", "--ca-cert", "server-root.pem", "--ca-key", "server-root.key",
        "--dns", "localhost", "--ip", "127.0.0.1", "--out-cert", "server.pem",
        "--out-key", "server.key")
    return d


@pytest.fixture(scope="module")
def bench_server(certgate_bin, tmp_path_factory, pki):
    """certgate with a tenant trusting the device root (auto-registration on, open MQTT ACL)."""
    srv = CertgateServer(certgate_bin, tmp_path_factory.mktemp("benchsrv")).start()
    try:
        tid, admin = srv.create_tenant("benchtest")
        r = admin.post("/tenant/tenants/%s/trusted-certificates" % tid, json={
            "name": "bench root", "certInPemFormat": (pki / "root.pem").read_text(),
            "status": "ENABLED", "autoRegistrationEnabled": True})
        assert r.status_code == 201, r.text
        r = admin.post("/tenant/options", json={"category": "mqtt", "key": "acl.mode",
                                                "value": "open"})
        assert r.status_code in (200, 201), r.text
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def mqtt_target(bench_server, pki, tmp_path_factory):
    """(port, cafile, pid) of an MQTT/TLS broker: certgate's listener, or Mosquitto."""
    if bench_server.mqtt_port:
        yield bench_server.mqtt_port, bench_server.ca_path, bench_server.proc.pid
        return
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(mosquitto, os.X_OK):
        pytest.skip("certgate has no MQTT listener yet and mosquitto is not installed")
    d = tmp_path_factory.mktemp("mosquitto")
    port = free_port()
    conf = d / "mosquitto.conf"
    conf.write_text("\n".join([
        "per_listener_settings false", "persistence false", "log_dest stderr",
        "log_type error", "user %s" % pwd.getpwuid(os.getuid()).pw_name,
        "allow_anonymous false", "listener %d 127.0.0.1" % port,
        "cafile %s" % (pki / "root.pem"), "certfile %s" % (pki / "server.pem"),
        "keyfile %s" % (pki / "server.key"), "require_certificate true",
        "use_identity_as_username true", ""]))
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield port, str(pki / "server-root.pem"), proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def bench(certgate, *args):
    """Run certgate bench ... --json; return the parsed object (exit status 0 required)."""
    p = certgate("bench", *args, "--json", timeout=120)
    assert p.returncode == 0, "bench %s failed:\n%s\n%s" % (" ".join(args), p.stdout, p.stderr)
    return json.loads(p.stdout)


def common(pki, port_args, cafile, pid):
    return [*port_args, "--cafile", cafile, "--devices", str(pki / "devices"),
            "--server-pid", str(pid), "--threads", "2"]


@pytest.mark.parametrize("mode", ["verify", "connect", "hold", "pubsub", "token", "register"])
def test_help(certgate, mode):
    p = certgate("bench", mode, "--help")
    assert p.returncode == 0
    assert "usage: certgate bench %s" % mode in p.stdout


def test_unknown_mode_and_non_loopback(certgate, pki):
    assert certgate("bench", "nosuchmode").returncode == 2
    p = certgate("bench", "connect", "--host", "192.0.2.1", "--cafile", "x", "--devices",
                 str(pki / "devices"))
    assert p.returncode == 2
    assert "loopback" in p.stderr


def test_verify(certgate):
    out = bench(certgate, "verify", "--seconds", "1")
    assert out["mode"] == "verify"


def test_register(certgate, tmp_path):
    d = tmp_path / "reg"
    d.mkdir()
    out = bench(certgate, "register", "--seconds", "1", "--threads", "4", "--dir", str(d))
    assert out["mode"] == "register"
    assert out["result"]["registrations"] > 0 and out["result"]["failures"] == 0
    assert out["result"]["durable"] is True
    # every registration is in the database: the devices and their users
    import sqlite3
    db = sqlite3.connect(str(d / "certgate.db"))
    n = db.execute("SELECT COUNT(*) FROM devices").fetchone()[0]
    users = db.execute("SELECT COUNT(*) FROM users WHERE is_device = 1").fetchone()[0]
    assert n == users == out["result"]["registrations"]
    # a used directory is refused
    p = certgate("bench", "register", "--seconds", "1", "--dir", str(d))
    assert p.returncode == 2


def test_token(certgate, pki, bench_server):
    c = common(pki, ["--https-port", str(bench_server.https_port)], bench_server.ca_path,
               bench_server.proc.pid)
    out = bench(certgate, "token", *c, "--seconds", "1", "--warmup", "0.3",
                "--concurrency", "2", "--device-limit", "8")
    assert out["mode"] == "token"
    assert out["result"]["tokens"] > 0
    assert out["result"]["status"]["2xx"] == out["result"]["tokens"]
    assert "server_cpu_us_per_op" in out["window"]
    out = bench(certgate, "token", *c, "--seconds", "1", "--warmup", "0.3",
                "--concurrency", "2", "--device-limit", "8", "--requests-per-connection", "10")
    assert out["params"]["keepalive"] is True
    assert out["result"]["tokens"] > 0


def test_token_once_registers_new_devices(certgate, pki, bench_server):
    c = common(pki, ["--https-port", str(bench_server.https_port)], bench_server.ca_path,
               bench_server.proc.pid)
    out = bench(certgate, "token", *c, "--seconds", "5", "--once", "--concurrency", "2",
                "--device-offset", "16", "--device-limit", "4")
    assert out["result"]["tokens"] == 4  # each of the 4 devices once, then the run ends


def test_tls_handshakes_on_https(certgate, pki, bench_server):
    c = common(pki, ["--port", str(bench_server.https_port)], bench_server.ca_path,
               bench_server.proc.pid)
    out = bench(certgate, "connect", *c, "--handshake-only", "--seconds", "1", "--warmup",
                "0.3", "--concurrency", "2", "--device-limit", "8")
    assert out["result"]["connects"] > 0
    assert out["result"]["failures_total"] == 0


def test_connect(certgate, pki, mqtt_target):
    port, ca, pid = mqtt_target
    c = common(pki, ["--port", str(port)], ca, pid)
    out = bench(certgate, "connect", *c, "--seconds", "1", "--warmup", "0.3",
                "--concurrency", "2", "--device-limit", "8")
    assert out["result"]["connack"].get("0", 0) == out["result"]["connects"] > 0
    out = bench(certgate, "connect", *c, "--seconds", "1", "--warmup", "0.5", "--resume",
                "--concurrency", "2", "--device-limit", "4")
    assert out["params"]["resume"] is True
    out = bench(certgate, "connect", *c, "--seconds", "1", "--warmup", "0.3", "--rate", "20",
                "--device-limit", "8")
    assert out["params"]["rate"] == 20


def test_hold(certgate, pki, mqtt_target):
    port, ca, pid = mqtt_target
    out = bench(certgate, "hold", *common(pki, ["--port", str(port)], ca, pid),
                "--connections", "10", "--seconds", "1", "--settle", "0.2")
    assert out["result"]["held"] == 10
    assert "server_rss_held_kb" in out["result"]


@pytest.mark.parametrize("qos,mode", [(1, "fan-in"), (0, "fan-out")])
def test_pubsub(certgate, pki, mqtt_target, qos, mode):
    port, ca, pid = mqtt_target
    out = bench(certgate, "pubsub", *common(pki, ["--port", str(port)], ca, pid),
                "--qos", str(qos), "--topic-mode", mode, "--publishers", "2", "--subscribers",
                "2", "--rate", "200", "--seconds", "1", "--warmup", "0.3", "--drain", "1",
                "--device-offset", "8")
    r = out["result"]
    assert r["setup_ok"] and r["delivered_total"] > 0
    assert r["duplicates"] >= 0 and r["foreign_payloads"] == 0
