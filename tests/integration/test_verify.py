"""`certgate verify`: the offline chain validator, driven through the real binary."""
import datetime
import json

import pytest

from pkiutil import DAY, TestPKI, utcnow


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = TestPKI(tmp_path_factory.mktemp("verify-pki"))
    s = p.standard()
    s["pki"] = p
    s["dir"] = p.dir
    return s


def refused(proc, reason):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"refused: {reason}: "), proc.stdout
    return proc.stdout


def test_accepted_chain(certgate, pki):
    proc = certgate("verify", "--trust", pki["root"].cert_path, pki["device_chain"], check=0)
    first = proc.stdout.splitlines()[0]
    assert first == f"accepted: anchor CN=Acme Root CA, O=certgate tests ({pki['root'].fingerprint})"
    assert "CN=dev-0001" in proc.stdout


def test_accepted_with_untrusted_file_and_leaf_only(certgate, pki):
    certgate("verify", "--trust", pki["root"].cert_path, "--untrusted",
             pki["intermediate"].cert_path, pki["device"].cert_path, check=0)
    # leaf only: refused unless its issuer is uploaded
    refused(certgate("verify", "--trust", pki["root"].cert_path, pki["device"].cert_path),
            "untrusted")
    proc = certgate("verify", "--trust", pki["intermediate"].cert_path, pki["device"].cert_path,
                    check=0)
    assert pki["intermediate"].fingerprint in proc.stdout


def test_json_accepted_shape(certgate, pki):
    proc = certgate("verify", "--json", "--trust", pki["root"].cert_path, pki["device_chain"],
                    check=0)
    out = json.loads(proc.stdout)
    assert out["accepted"] is True
    assert out["anchor"]["fingerprint"] == pki["root"].fingerprint
    assert out["anchor"]["subject"] == "CN=Acme Root CA, O=certgate tests"
    assert [c["depth"] for c in out["chain"]] == [0, 1, 2]
    leaf = out["chain"][0]
    assert leaf["subject"] == "CN=dev-0001, O=certgate tests"
    assert leaf["issuer"] == "CN=Acme Device CA, O=certgate tests"
    assert leaf["fingerprint"] == pki["device"].fingerprint
    assert leaf["serialNumber"] == str(pki["device"].cert.serial_number)
    assert leaf["serialNumberHex"] == pki["device"].serial_hex
    assert leaf["algorithmName"] == "SHA256withECDSA"
    assert leaf["version"] == 3
    assert leaf["notAfter"].endswith("Z")


def test_json_refused_shape(certgate, pki):
    proc = certgate("verify", "--json", "--trust", pki["root"].cert_path, pki["expired_chain"])
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out == {"accepted": False, "reason": "expired", "message": out["message"], "depth": 0}
    assert out["message"].startswith("certificate 0 (CN=dev-expired, O=certgate tests) expired on ")
    proc = certgate("verify", "--json", "--trust", pki["root"].cert_path, "--max-chain-length",
                    "2", pki["device_chain"])
    out = json.loads(proc.stdout)
    assert out["reason"] == "chain-too-long" and out["depth"] is None


def test_refusals(certgate, pki):
    root = pki["root"].cert_path
    out = refused(certgate("verify", "--trust", root, pki["expired_chain"]), "expired")
    assert "certificate 0 (CN=dev-expired" in out
    refused(certgate("verify", "--trust", root, pki["wrong_tenant"].cert_path), "untrusted")
    out = refused(certgate("verify", "--trust", root, pki["under_not_ca_chain"]), "signer-not-ca")
    assert "certificate 1 (CN=Not A CA" in out
    out = refused(certgate("verify", "--trust", pki["pathlen_root"].cert_path,
                           pki["pathlen_chain"]), "pathlen-exceeded")
    assert "certificate 2 (CN=Pathlen Root" in out
    refused(certgate("verify", "--trust", root, "--max-chain-length", "2", pki["device_chain"]),
            "chain-too-long")
    certgate("verify", "--trust", root, "--max-chain-length", "3", pki["device_chain"], check=0)


def test_refusals_for_weak_and_odd_certificates(certgate, pki):
    p = pki["pki"]
    inter = pki["intermediate"]
    chain = lambda leaf: p.chain_file(leaf.name + "-chain", leaf, inter)
    root = pki["root"].cert_path
    weak = p.device("rsa1024", "dev-rsa1024", inter, key_kind="rsa1024")
    refused(certgate("verify", "--trust", root, chain(weak)), "weak-key")
    sha1 = p.device("sha1", "dev-sha1", inter, digest="sha1")
    refused(certgate("verify", "--trust", root, chain(sha1)), "weak-signature")
    v1 = p.v1_device("v1", "dev-v1", inter)
    refused(certgate("verify", "--trust", root, chain(v1)), "not-v3")
    server = p.device("server", "dev-server", inter, eku=("serverAuth",))
    refused(certgate("verify", "--trust", root, chain(server)), "purpose")
    certgate("verify", "--purpose", "server", "--trust", root, chain(server), check=0)
    certgate("verify", "--purpose", "any", "--trust", root, chain(server), check=0)
    leaf_ca = p.ca("leaf-ca", "dev-is-ca", inter)
    refused(certgate("verify", "--trust", root, chain(leaf_ca)), "leaf-is-ca")
    future = p.device("future", "dev-future", inter, not_before=utcnow() + 10 * DAY)
    refused(certgate("verify", "--trust", root, chain(future)), "not-yet-valid")
    ed = p.device("ed", "dev-ed25519", inter, key_kind="ed25519")
    certgate("verify", "--trust", root, chain(ed), check=0)


def test_crl_text_pem_and_der(certgate, pki):
    root = pki["root"].cert_path
    base = ["verify", "--trust", root, "--untrusted", pki["intermediate"].cert_path]
    certgate(*base, pki["revoked"].cert_path, check=0)
    for crl in (pki["revoked_list"], pki["revoked_crl"],
                pki["pki"].crl("revoked-der", pki["intermediate"],
                               [pki["revoked"].cert.serial_number], der=True)):
        out = refused(certgate(*base, "--crl", crl, pki["revoked"].cert_path), "revoked")
        assert pki["revoked"].serial_hex in out
        certgate(*base, "--crl", crl, pki["device"].cert_path, check=0)
    # several --crl files add up
    other = pki["pki"].serial_list("other", [pki["device"].cert.serial_number])
    refused(certgate(*base, "--crl", pki["revoked_list"], "--crl", other,
                     pki["device"].cert_path), "revoked")


def test_crl_with_bad_signature_is_a_usage_error(certgate, pki):
    # signed by a CA that is neither a trust anchor nor in the chain
    crl = pki["pki"].crl("foreign", pki["other_root"], [pki["revoked"].cert.serial_number])
    proc = certgate("verify", "--trust", pki["root"].cert_path, "--crl", crl,
                    pki["revoked_chain"], check=2)
    assert "not signed by any trust anchor" in proc.stderr
    bad = pki["dir"] / "bad-serials.txt"
    bad.write_text("1000\nnot-hex\n")
    proc = certgate("verify", "--trust", pki["root"].cert_path, "--crl", bad, pki["device_chain"],
                    check=2)
    assert "line 2" in proc.stderr


def test_at_time(certgate, pki):
    root = pki["root"].cert_path
    # the expired device was valid 200 days ago
    past = (utcnow() - 200 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    certgate("verify", "--trust", root, "--at", past, pki["expired_chain"], check=0)
    # and the good one was not valid yet five days ago
    five = int((utcnow() - 5 * DAY).replace(tzinfo=datetime.timezone.utc).timestamp())
    refused(certgate("verify", "--trust", root, "--at", f"@{five}", pki["device_chain"]),
            "not-yet-valid")
    far = (utcnow() + 3650 * DAY).strftime("%Y-%m-%d")
    refused(certgate("verify", "--trust", root, "--at", far, pki["device_chain"]), "expired")


def test_header_form_and_der_input(certgate, pki):
    # the X-Ssl-Cert-Chain form: newlines replaced by spaces, blocks separated by a comma
    text = pki["device"].pem.replace("\n", " ") + "," + pki["intermediate"].pem.replace("\n", " ")
    path = pki["dir"] / "header-form.txt"
    path.write_text(text)
    certgate("verify", "--trust", pki["root"].cert_path, path, check=0)
    der = pki["dir"] / "device.der"
    der.write_bytes(pki["device"].der)
    certgate("verify", "--trust", pki["intermediate"].cert_path, der, check=0)


def test_usage_errors(certgate, pki, tmp_path):
    root = pki["root"].cert_path
    chain = pki["device_chain"]
    cases = [
        (["verify", chain], "--trust FILE is required"),
        (["verify", "--trust", root], "missing CHAIN_FILE"),
        (["verify", "--trust", root, chain, chain], "exactly one"),
        (["verify", "--trust", root, "--at", "yesterday", chain], "--at"),
        (["verify", "--trust", root, "--max-chain-length", "0", chain], "--max-chain-length"),
        (["verify", "--trust", root, "--max-chain-length", "x", chain], "--max-chain-length"),
        (["verify", "--trust", root, "--purpose", "email", chain], "--purpose"),
        (["verify", "--trust", tmp_path / "missing.pem", chain], "missing.pem"),
        (["verify", "--trust", root, tmp_path / "nope.pem"], "nope.pem"),
        (["verify", "--bogus", "--trust", root, chain], "--help"),
    ]
    for args, text in cases:
        proc = certgate(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert text in proc.stderr, (args, proc.stderr)
        assert proc.stdout == ""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a certificate\n")
    proc = certgate("verify", "--trust", root, garbage, check=2)
    assert "garbage.pem" in proc.stderr
    # a private key pasted instead of a certificate: refused, and never echoed
    proc = certgate("verify", "--trust", root, pki["device"].key_path, check=2)
    assert "private key" in proc.stderr
    assert "PRIVATE" not in proc.stdout + proc.stderr.replace("private key", "")


def test_help(certgate):
    proc = certgate("verify", "--help", check=0)
    for word in ("--trust", "--untrusted", "--at", "--max-chain-length", "--purpose", "--crl",
                 "--json", "exit status", "untrusted", "expired"):
        assert word in proc.stdout
    assert proc.stderr == ""


def test_bench_verify_runs(certgate):
    proc = certgate("bench", "verify", "--seconds", "1", "--json", check=0)
    out = json.loads(proc.stdout)
    assert out["mode"] == "verify" and out["threads"] == 1
    assert [r["chain"] for r in out["results"]] == ["ecdsa-p256", "rsa-2048"]
    for r in out["results"]:
        assert r["validations"] > 0 and r["per_second"] > 0
    certgate("bench", "--help", check=0)
    certgate("bench", "verify", "--threads", "0", check=2)
    certgate("bench", "nope", check=2)
