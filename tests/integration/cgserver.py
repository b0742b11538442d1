"""Start and drive a real `certgate serve` for integration tests.

    srv = CertgateServer(binary, tmp_path)
    srv.start()            # free ports, fresh data dir, known admin password
    srv.api.get("/user/currentUser")           # requests, as management/admin
    srv.session("t123/admin", "pw").post(...)  # another user
    srv.stop()             # SIGTERM, waits; srv.kill() for SIGKILL

The server's CA is at srv.ca_path; requests verify the server certificate against it.
"""
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

import requests

ADMIN_PASSWORD = "admin-secret-1"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api(requests.Session):
    """A requests session bound to the server's base URL and CA."""

    def __init__(self, base, ca, auth=None):
        super().__init__()
        self.base = base
        self.verify = ca
        if auth is not None:
            self.auth = auth
        self.headers.update({"Accept": "application/json"})

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base + url
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("verify", self.verify)  # the environment must not override it
        return super().request(method, url, *args, **kwargs)


class CertgateServer:
    def __init__(self, binary, workdir, extra_args=(), env=None, config=None):
        self.binary = binary
        self.workdir = pathlib.Path(workdir)
        self.data_dir = self.workdir / "data"
        self.extra_args = list(extra_args)
        self.env = dict(os.environ)
        self.env["CERTGATE_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        if env:
            self.env.update(env)
        self.config = config
        self.proc = None
        self.https_port = None
        self.mqtt_port = None
        self.log_lines = []
        self.stdout_lines = []
        self._reader = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self, timeout=30):
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "serve", "--data-dir", str(self.data_dir), "--listen", "127.0.0.1",
                "--https-port", "0", "--mqtt-port", "0",
                "--set", "fast_password_hashing=true", "--set", "admission_address_rate=0"]
        if self.config:
            cfg = self.workdir / "certgate.conf"
            cfg.write_text(self.config)
            args += ["--config", str(cfg)]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=self.env, cwd=str(self.workdir))
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            self.stdout_lines.append(line)
            m = re.search(r"certgate ready: https port (\d+), mqtt port (\d+)", line)
            if m:
                self.https_port = int(m.group(1))
                self.mqtt_port = int(m.group(2))
                threading.Thread(target=self._read_stdout, daemon=True).start()
                return self
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("certgate did not start:\n" + "".join(self.stdout_lines) +
                           "\n".join(self.log_lines[-50:]))

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.log_lines.append(line.rstrip("\n"))

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.stdout_lines.append(line)

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("certgate did not stop within %ss after SIGTERM" % timeout)
        return self.proc.returncode if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    # -- clients ------------------------------------------------------------------------
    @property
    def base(self):
        return "https://localhost:%d" % self.https_port

    @property
    def ca_path(self):
        return str(self.data_dir / "server-ca.pem")

    @property
    def api(self):
        """A session authenticated as management/admin."""
        return Api(self.base, self.ca_path, ("management/admin", ADMIN_PASSWORD))

    def session(self, user=None, password=None, cert=None):
        """A session as user:password (user may be 'tenant/user'), or with a client
        certificate (cert=(certfile, keyfile)) and no credentials."""
        s = Api(self.base, self.ca_path, (user, password) if user else None)
        if cert is not None:
            s.cert = cert
        return s

    def log_text(self):
        return "\n".join(self.log_lines)

    def wait_log(self, pattern, timeout=5.0):
        deadline = time.time() + timeout
        rx = re.compile(pattern)
        while time.time() < deadline:
            for line in list(self.log_lines):
                if rx.search(line):
                    return line
            time.sleep(0.05)
        raise AssertionError("no log line matching %r; last lines:\n%s" %
                             (pattern, "\n".join(self.log_lines[-30:])))

    # -- common set-up --------------------------------------------------------------------
    def create_tenant(self, domain, admin="admin", password="tenant-secret-1", company=None):
        """Create a tenant with an administrator; returns (tenant_id, Api as its admin)."""
        r = self.api.post("/tenant/tenants", json={
            "company": company or domain, "domain": domain, "adminEmail": "%s@example.com" % domain,
            "adminName": admin, "adminPass": password})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        return tid, self.session("%s/%s" % (tid, admin), password)
