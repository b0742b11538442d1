"""Helpers shared by the certificate API tests (test_trusted_certs, test_pop, test_verify_chain,
test_crl): uploads, the seed's openssl recipes, users without roles, tenant options, audit.

Nothing here asserts on the behaviour under test except where a step must succeed for the
test to mean anything (then it asserts with the response text, so a failure says why).
"""
import base64
import os
import pathlib
import re
import shutil
import subprocess

import pytest

CERT_ERR_INFO = "https://www.cumulocity.com/guides/reference-guide/#error_reporting"


def tc_path(tenant, fp=None):
    p = "/tenant/tenants/%s/trusted-certificates" % tenant
    return p if fp is None else "%s/%s" % (p, fp)


def pop_path(tenant, fp, action):
    return "/tenant/tenants/%s/trusted-certificates-pop/%s/%s" % (tenant, fp, action)


def upload(session, tenant, issued, status="ENABLED", **fields):
    """POST one trusted certificate (issued: an Issued or PEM text); returns the response."""
    pem = issued if isinstance(issued, str) else issued.pem
    body = {"certInPemFormat": pem, "status": status}
    body.update(fields)
    return session.post(tc_path(tenant), json=body)


def upload_ok(session, tenant, issued, **fields):
    r = upload(session, tenant, issued, **fields)
    assert r.status_code == 201, r.text
    return r.json()


def assert_error(r, status, error, message_part=None):
    """A Cumulocity error body with this status and error type."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/vnd.com.nsn.cumulocity.error+json")
    body = r.json()
    assert set(body) == {"error", "message", "info"}, body
    assert body["error"] == error, body
    assert body["info"] == CERT_ERR_INFO
    if message_part is not None:
        assert message_part in body["message"], body["message"]
    return body


def write_code(directory, code, name="code.txt"):
    """The verification code as the UI download gives it: the bare code, no newline."""
    path = pathlib.Path(directory) / name
    path.write_bytes(code.encode())
    return path


def openssl_sign(key_path, code_path):
    """The seed's recipe, run by the shell exactly as written there:
    openssl dgst -sha256 -sign <private.key> <verification_code.txt> | openssl base64 -A"""
    p = subprocess.run("openssl dgst -sha256 -sign '%s' '%s' | openssl base64 -A"
                       % (key_path, code_path), shell=True, capture_output=True, text=True,
                       check=True)
    assert p.stdout and "\n" not in p.stdout.strip()
    return p.stdout.strip()


def openssl_sign_ed25519(key_path, code_path):
    """Ed25519 cannot use `openssl dgst -sha256`; pure Ed25519 over the code (pki/pop.h)."""
    p = subprocess.run("openssl pkeyutl -sign -rawin -inkey '%s' -in '%s' | openssl base64 -A"
                       % (key_path, code_path), shell=True, capture_output=True, text=True,
                       check=True)
    return p.stdout.strip()


def azure_verification_cert(directory, ca, code, name="pop"):
    """The Azure seed's steps with openssl: a new key, a CSR with CN = the code, a
    certificate signed by the CA's key. Returns the certificate's path."""
    d = pathlib.Path(directory)
    key, csr, crt = d / (name + ".key"), d / (name + ".csr"), d / (name + ".crt")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "genpkey", "-out", str(key), "-algorithm", "RSA", "-pkeyopt",
        "rsa_keygen_bits:2048")
    run("openssl", "req", "-new", "-key", str(key), "-out", str(csr), "-subj", "/CN=" + code)
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.cert_path), "-CAkey",
        str(ca.key_path), "-set_serial", "4242", "-days", "30", "-sha256", "-out", str(crt))
    return crt


def key_body_lines(key_path):
    """The base64 lines of a PEM private key: none of them may ever be echoed or logged."""
    return [ln for ln in pathlib.Path(key_path).read_text().splitlines()
            if ln and not ln.startswith("-----")]


def c8y_pem(der):
    """certInPemFormat as Cumulocity answers it: base64 DER, '\\n' every 64 characters."""
    b = base64.b64encode(der).decode()
    return "".join(b[i:i + 64] + "\n" for i in range(0, len(b), 64))


def user_without_cert_roles(srv, tenant, admin, name="reader", password="reader-secret-1"):
    """A user of `tenant` that holds none of the roles of the certificate API; returns a
    session as that user."""
    r = admin.post("/user/%s/users" % tenant, json={
        "userName": name, "password": password, "email": "%s@example.com" % name})
    assert r.status_code == 201, r.text
    s = srv.session("%s/%s" % (tenant, name), password)
    me = s.get("/user/currentUser")
    assert me.status_code == 200, me.text
    roles = {x["name"] for x in me.json()["effectiveRoles"]}
    assert not roles & {"ROLE_TENANT_ADMIN", "ROLE_TENANT_MANAGEMENT_ADMIN",
                        "ROLE_TENANT_MANAGEMENT_READ"}, roles
    return s


def set_option(session, category, key, value):
    r = session.put("/tenant/options/%s/%s" % (category, key), json={"value": value})
    assert r.status_code == 200, r.text


def header_chain(*issued):
    """X-Cumulocity-Client-Cert-Chain: each PEM with its line breaks replaced by spaces, the
    certificates separated by commas (reference §5)."""
    return ",".join(i.pem.strip().replace("\n", " ") for i in issued)


def verify_file(session, chain_path, tenant_id=None):
    files = {"file": ("chain.pem", pathlib.Path(chain_path).read_bytes(), "application/x-pem-file")}
    data = {"tenantId": tenant_id} if tenant_id else None
    return session.post("/tenant/trusted-certificates/verify-cert-chain", files=files, data=data)


def audit_records(session, **params):
    """Audit records of the caller's tenant, newest first; skips (with the reason) while
    GET /audit/auditRecords does not exist yet."""
    params.setdefault("pageSize", 2000)
    r = session.get("/audit/auditRecords", params=params)
    if r.status_code == 404 and "no resource at this path" in r.text:
        pytest.skip("GET /audit/auditRecords is not implemented yet (src/server/rest_audit.c "
                    "is not routed): audit records cannot be read back")
    assert r.status_code == 200, r.text
    return r.json()["auditRecords"]


# ---- docs/api/certificates.md: its `sh` blocks are run as written ----------------------------

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "api" / "certificates.md"
# Which test runs which block (test_docs_every_block_is_run checks that none is left out).
DOC_BLOCKS_POP = ("ca", "device", "upload", "code", "sign", "pop", "autoreg", "azure-cert",
                  "azure-upload")
DOC_BLOCKS_CRL = ("verify-before", "revoke-json", "revoke-csv", "revoke-x509", "verify-after",
                  "crl-download", "verify-header")


def doc_blocks():
    """{name: shell text} of every block marked <!-- test:name --> in the API page."""
    text = DOC.read_text()
    found = re.findall(r"<!-- test:([\w-]+) -->\n```sh\n(.*?)```", text, re.S)
    blocks = dict(found)
    assert len(blocks) == len(found), "a block name is used twice in %s" % DOC
    return blocks


def run_doc(srv, names, workdir, tenant, auth):
    """Run the named blocks, in order, in one bash (variables carry over, as in a reader's
    terminal) with C8Y, TENANT and AUTH set and server-ca.pem in the working directory.
    Returns {name: stdout of that block}."""
    blocks = doc_blocks()
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(srv.ca_path, workdir / "server-ca.pem")
    script = "set -euo pipefail\n"
    for n in names:
        script += "echo '@@@%s'\n%s\n" % (n, blocks[n])
    env = dict(os.environ, C8Y=srv.base, TENANT=tenant, AUTH=auth)
    p = subprocess.run(["bash", "-c", script], cwd=str(workdir), env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, "doc blocks failed:\nstdout:\n%s\nstderr:\n%s" % (p.stdout,
                                                                               p.stderr)
    out = {}
    for part in p.stdout.split("@@@")[1:]:
        name, _, text = part.partition("\n")
        out[name] = text
    assert list(out) == list(names), (list(out), names)
    return out
