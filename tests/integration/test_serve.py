"""certgate serve: start on defaults, configuration errors, graceful stop, SIGHUP."""
import os
import signal
import subprocess
import time

import requests

from cgserver import ADMIN_PASSWORD, CertgateServer


def test_starts_and_answers(server):
    r = requests.get(server.base + "/health", verify=server.ca_path, timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "UP"}
    me = server.api.get("/user/currentUser")
    assert me.status_code == 200
    assert me.json()["userName"] == "admin"
    names = {r["name"] for r in me.json()["effectiveRoles"]}
    assert "ROLE_TENANT_MANAGEMENT_ADMIN" in names


def test_server_ca_is_served_and_written(server):
    r = requests.get(server.base + "/server-ca.pem", verify=server.ca_path, timeout=10)
    assert r.status_code == 200
    assert r.text.startswith("-----BEGIN CERTIFICATE-----")
    assert r.text == open(server.ca_path).read()


def test_generated_password_is_printed_once(certgate_bin, tmp_path):
    srv = CertgateServer(certgate_bin, tmp_path / "s")
    del srv.env["CERTGATE_ADMIN_PASSWORD"]
    srv.start()
    try:
        out = "".join(srv.stdout_lines)
        assert "Sign in as management/admin with the password" in out
        password = out.split("password\n\n")[1].split()[0]
        r = srv.session("management/admin", password).get("/user/currentUser")
        assert r.status_code == 200
        assert password not in srv.log_text()  # never in the log
    finally:
        srv.stop()
    srv.start()
    try:
        assert "Sign in as management/admin" not in "".join(srv.stdout_lines[-5:])
    finally:
        srv.stop()


def test_bad_setting_names_the_setting(certgate, tmp_path):
    p = certgate("serve", "--data-dir", tmp_path, "--mqtt-port", "99999", check=2)
    assert "mqtt_port" in p.stderr and "99999" in p.stderr
    cfg = tmp_path / "c.conf"
    cfg.write_text("# comment\nworkers = 2\nnot_a_setting = 1\n")
    p = certgate("serve", "--config", cfg, check=2)
    assert "c.conf:3" in p.stderr and "not_a_setting" in p.stderr


def test_print_config_is_a_valid_config(certgate, tmp_path):
    p = certgate("serve", "--print-config", check=0)
    assert "https_port = 8443" in p.stdout and "mqtt_port = 8883" in p.stdout
    cfg = tmp_path / "all.conf"
    cfg.write_text(p.stdout)
    p2 = certgate("serve", "--config", cfg, "--print-config", check=0)
    assert p2.stdout == p.stdout


def test_sigterm_stops_gracefully(server):
    assert server.stop() == 0
    assert "stopped" in server.log_text()


def test_sighup_reloads_certificate(server):
    server.sighup()
    server.wait_log("reloaded the server certificate")
    r = requests.get(server.base + "/health", verify=server.ca_path, timeout=10)
    assert r.status_code == 200


def test_wrong_password_is_401_with_cumulocity_body(server):
    r = server.session("management/admin", "nope-nope").get("/user/currentUser")
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "security/Unauthorized"
    assert set(body) == {"error", "message", "info"}
