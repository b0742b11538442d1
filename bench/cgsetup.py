#!/usr/bin/python3
"""Prepare a running certgate for the benchmarks (used by bench/run.sh).

    cgsetup.py --port HTTPS_PORT --ca SERVER_CA --admin-password PW --root DEVICE_ROOT.pem
               [--tenant bench] [--acl-open] [--wait-https 30]

Creates the tenant (as management/admin), uploads the device PKI's root as a trusted
certificate with auto-registration enabled, and (with --acl-open) sets the tenant option
mqtt/acl.mode = open, so that devices may publish and subscribe outside devices/<id>/ (the
pubsub topics). Prints the tenant id. Only the standard library: it runs with any python3.
"""
import argparse
import base64
import json
import ssl
import sys
import time
import urllib.error
import urllib.request


def call(base, ctx, auth, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    token = base64.b64encode(("%s:%s" % auth).encode()).decode()
    req.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        return e.code, text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True, help="the server's CA (data_dir/server-ca.pem)")
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--root", required=True, help="the device PKI's root certificate (PEM)")
    ap.add_argument("--tenant", default="bench")
    ap.add_argument("--acl-open", action="store_true")
    ap.add_argument("--wait-https", type=float, default=30)
    a = ap.parse_args()

    ctx = ssl.create_default_context(cafile=a.ca)
    base = "https://%s:%d" % (a.host, a.port)
    admin = ("management/admin", a.admin_password)
    deadline = time.time() + a.wait_https
    while True:
        try:
            status, _ = call(base, ctx, admin, "GET", "/tenant/currentTenant")
            if status == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            sys.exit("cgsetup: certgate does not answer on %s" % base)
        time.sleep(0.2)

    pw = "bench-tenant-secret-1"
    status, t = call(base, ctx, admin, "POST", "/tenant/tenants", {
        "company": a.tenant, "domain": a.tenant, "adminEmail": "%s@example.com" % a.tenant,
        "adminName": "admin", "adminPass": pw})
    if status != 201:
        sys.exit("cgsetup: creating the tenant failed: %s %s" % (status, t))
    tid = t["id"]
    tadmin = ("%s/admin" % tid, pw)
    with open(a.root) as f:
        pem = f.read()
    status, c = call(base, ctx, tadmin, "POST", "/tenant/tenants/%s/trusted-certificates" % tid, {
        "name": "bench device root", "certInPemFormat": pem, "status": "ENABLED",
        "autoRegistrationEnabled": True})
    if status != 201:
        sys.exit("cgsetup: uploading the device root failed: %s %s" % (status, c))
    if a.acl_open:
        status, o = call(base, ctx, tadmin, "POST", "/tenant/options", {
            "category": "mqtt", "key": "acl.mode", "value": "open"})
        if status not in (200, 201):
            sys.exit("cgsetup: setting mqtt/acl.mode failed: %s %s" % (status, o))
    print(tid)


if __name__ == "__main__":
    main()
