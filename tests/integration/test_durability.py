"""What the API answered 2xx for survives `kill -9` of the server at any moment, and a
graceful restart keeps everything.

The kill test runs streams of creates (tenants, users, options, bulk-registered devices) in
threads, SIGKILLs the server at a random moment, restarts it on the same data directory and
checks that every create that was acknowledged with 2xx is there. It does this for several
rounds; the random seed is printed so a failure can be replayed (DURABILITY_SEED=...).
"""
import os
import random
import threading
import time

import requests

KINDS = ("tenant", "user", "option", "device", "role")


class Creator(threading.Thread):
    """Creates objects of every kind in turn until stopped or the server dies; `acked`
    collects what the server confirmed."""

    def __init__(self, srv, tid, tenant_password, tag):
        super().__init__(daemon=True)
        # Sessions bound to this server process's port: they die with it.
        self.api = srv.api
        self.admin = srv.session("%s/admin" % tid, tenant_password)
        self.tid = tid
        self.tag = tag
        self.acked = []
        self.stop = threading.Event()
        self.error = None

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                kind = KINDS[i % len(KINDS)]
                name = "%s-%d" % (self.tag, i)
                self.create(kind, name, i)
        except requests.RequestException:
            return  # the server was killed
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def create(self, kind, name, i):
        t = {"timeout": 10}
        if kind == "tenant":
            r = self.api.post("/tenant/tenants", json={
                "company": name, "domain": name, "adminEmail": "a@%s.example" % name,
                "adminPass": "dur-secret-1"}, **t)
            if r.status_code == 201:
                self.acked.append(("tenant", r.json()["id"], name))
        elif kind == "user":
            r = self.admin.post("/user/%s/users" % self.tid, json={
                "userName": name, "password": "dur-secret-1", "email": "u@example.com"}, **t)
            if r.status_code == 201:
                self.acked.append(("user", name, None))
        elif kind == "option":
            r = self.admin.post("/tenant/options", json={"category": "durability", "key": name,
                                                         "value": str(i)}, **t)
            if r.status_code == 200:
                self.acked.append(("option", name, str(i)))
        elif kind == "device":
            r = self.admin.post("/devicecontrol/bulkNewDeviceRequests", files={"file": (
                "d.csv", "ID;AUTH_TYPE;NAME\n%s;CERTIFICATES;%s\n" % (name, name))}, **t)
            if r.status_code == 201 and r.json()["numberOfCreated"] == 1:
                self.acked.append(("device", name, None))
        elif kind == "role":
            # A role assignment on the most recently acknowledged user.
            users = [a[1] for a in self.acked if a[0] == "user"]
            if not users:
                return
            r = self.admin.post("/user/%s/users/%s/roles" % (self.tid, users[-1]),
                                json={"role": {"id": "ROLE_AUDIT_READ"}}, **t)
            if r.status_code == 201:
                self.acked.append(("role", users[-1], "ROLE_AUDIT_READ"))
        if r.status_code >= 500:
            raise AssertionError("%s %s -> %d %s" % (kind, name, r.status_code, r.text))


def check_present(srv, tid, tenant_password, acked):
    api = srv.api
    admin = srv.session("%s/admin" % tid, tenant_password)
    missing = []
    for kind, key, extra in acked:
        if kind == "tenant":
            r = api.get("/tenant/tenants/" + key)
            ok = r.status_code == 200 and r.json()["domain"] == extra
        elif kind == "user":
            ok = admin.get("/user/%s/users/%s" % (tid, key)).status_code == 200
        elif kind == "option":
            r = admin.get("/tenant/options/durability/" + key)
            ok = r.status_code == 200 and r.json()["value"] == extra
        elif kind == "device":
            r = admin.get("/identity/externalIds/c8y_Serial/" + key)
            ok = r.status_code == 200 and admin.get(
                r.json()["managedObject"]["self"]).json()["name"] == key
        else:
            r = admin.get("/user/%s/users/%s" % (tid, key))
            ok = extra in {x["role"]["id"] for x in r.json()["roles"]["references"]}
        if not ok:
            missing.append((kind, key, extra))
    return missing


def test_acknowledged_creates_survive_kill_9(server):
    seed = int(os.environ.get("DURABILITY_SEED", random.randrange(1 << 30)))
    print("DURABILITY_SEED=%d" % seed)
    rnd = random.Random(seed)
    tid, _ = server.create_tenant("durable", password="durable-secret-1")
    everything = []
    for rnd_no in range(4):
        creators = [Creator(server, tid, "durable-secret-1", "r%dw%d" % (rnd_no, w))
                    for w in range(3)]
        for c in creators:
            c.start()
        time.sleep(rnd.uniform(0.3, 2.0))
        server.kill()
        for c in creators:
            c.join(timeout=30)
            assert not c.is_alive(), "a creator thread hangs after the kill"
            assert c.error is None, repr(c.error)
            everything += c.acked
        acked_now = sum(len(c.acked) for c in creators)
        print("round %d: %d creates acknowledged before the kill" % (rnd_no, acked_now))
        assert acked_now > 0, "nothing was created before the kill (seed %d)" % seed
        server.start()
        missing = check_present(server, tid, "durable-secret-1", everything)
        assert missing == [], "lost after kill -9 in round %d (seed %d): %r" % (
            rnd_no, seed, missing[:20])
    kinds = {k for k, _, _ in everything}
    assert kinds >= {"tenant", "user", "option", "device"}, kinds


def normalized(srv, session, path):
    r = session.get(path)
    assert r.status_code == 200, (path, r.text)
    return r.text.replace(srv.base, "BASE")


def test_graceful_restart_keeps_everything(server):
    api = server.api
    tid, admin = server.create_tenant("keeper", password="keeper-secret-1")
    gone, _ = server.create_tenant("gone")
    sleepy, _ = server.create_tenant("sleepy")
    assert api.put("/tenant/tenants/" + sleepy, json={"status": "SUSPENDED"}).status_code == 200
    assert api.delete("/tenant/tenants/" + gone).status_code == 204
    assert api.put("/tenant/tenants/" + tid, json={"customProperties": {"k": "v"},
                                                   "contactName": "Kim"}).status_code == 200
    for name in ("ann", "ben", "cat"):
        assert admin.post("/user/%s/users" % tid, json={
            "userName": name, "password": name + "-secret-1", "email": name + "@x.example",
            "firstName": name.title()}).status_code == 201
    assert admin.post("/user/%s/users/ann/roles" % tid,
                      json={"role": {"id": "ROLE_AUDIT_READ"}}).status_code == 201
    assert admin.put("/user/%s/users/ben" % tid, json={"enabled": False}).status_code == 200
    assert admin.delete("/user/%s/users/cat" % tid).status_code == 204
    assert admin.put("/tenant/options/oauth.internal/device-token.lifespan.seconds",
                     json={"value": "900"}).status_code == 200
    assert admin.put("/tenant/options/app", json={"a": "1", "b": "2"}).status_code == 200
    r = admin.post("/devicecontrol/bulkNewDeviceRequests", files={"file": (
        "d.csv", "ID;CREDENTIALS;AUTH_TYPE;NAME;TYPE;ICCID;c8y_Hardware.model\n"
                 "keep-1;;CERTIFICATES;Keep one;c8y_K;8944;X1\n"
                 "keep-2;keep-secret-11;BASIC;Keep two;c8y_K;;\n")})
    assert r.json()["numberOfCreated"] == 2

    paths = ["/tenant/tenants/" + tid, "/tenant/tenants/" + sleepy,
             "/tenant/tenants?pageSize=2000", "/user/%s/users?pageSize=2000" % tid,
             "/user/%s/users?onlyDevices=true&pageSize=2000" % tid]
    tenant_paths = ["/tenant/options?pageSize=2000", "/tenant/options/app",
                    "/inventory/managedObjects?pageSize=2000",
                    "/identity/externalIds/c8y_Serial/keep-1",
                    "/audit/auditRecords?pageSize=2000"]
    before = [normalized(server, api, p) for p in paths + ["/audit/auditRecords?pageSize=2000"]]
    before += [normalized(server, admin, p) for p in tenant_paths]

    assert server.restart()
    api = server.api
    admin = server.session("%s/admin" % tid, "keeper-secret-1")
    after = [normalized(server, api, p) for p in paths + ["/audit/auditRecords?pageSize=2000"]]
    after += [normalized(server, admin, p) for p in tenant_paths]
    assert after == before
    # And the state still acts: logins, suspension, disabled user, deleted user and tenant.
    assert server.session("%s/ann" % tid, "ann-secret-1").get("/audit/auditRecords"
                                                               ).status_code == 200
    assert server.session("%s/ben" % tid, "ben-secret-1").get("/user/currentUser"
                                                               ).status_code == 401
    assert server.session("%s/cat" % tid, "cat-secret-1").get("/user/currentUser"
                                                               ).status_code == 401
    assert server.session("%s/admin" % sleepy, "tenant-secret-1").get("/user/currentUser"
                                                                       ).status_code == 401
    assert server.session("%s/device_keep-2" % tid, "keep-secret-11").get(
        "/user/currentUser").status_code == 200
    assert api.get("/tenant/tenants/" + gone).status_code == 404
    assert server.stop() == 0
