"""`certgate pki`: what it makes must satisfy the openssl command line and real TLS stacks,
and its proof-of-possession answers must match the openssl recipes of Cumulocity and Azure.

Run: CERTGATE_BIN=build/src/cli/certgate /usr/bin/python3 -m pytest tests/integration/test_pki.py
"""
import base64
import datetime
import os
import socket
import ssl
import stat
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_TYPES = ["ec-p256", "ec-p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"]
AZURE_CODE = "75B86466DA34D2B04C0C4C9557A119687ADAE7D4732BDDB3"
# A Cumulocity-style code: about 130 characters of the base64 alphabet.
C8Y_CODE = ("sQ3mK9z/8vLr+TbXo1uEe0Jc7aHqW2yNf4PdGi5RkMx6lUjVn3tSgCwYhB8ZpDFAQ" "IOo0bcX" * 2)[:130]


def openssl(*args, input=None, check=True, env=None):
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run(["openssl", *map(str, args)], input=input, capture_output=True,
                          env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"openssl {' '.join(map(str, args))} failed:\n{proc.stderr.decode()}")
    return proc


def load_cert(path):
    return x509.load_pem_x509_certificate(open(path, "rb").read())


def load_certs(data):
    """Every PEM certificate in data, in order (cryptography 38 has no helper for this)."""
    end = b"-----END CERTIFICATE-----"
    return [x509.load_pem_x509_certificate(block + end)
            for block in data.split(end) if b"-----BEGIN CERTIFICATE-----" in block]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Pki:
    """A root -> intermediate PKI made with certgate in a temporary directory."""

    def __init__(self, certgate, d, key_type="ec-p256"):
        self.certgate, self.d = certgate, d
        self.root, self.root_key = d / "root.pem", d / "root.key"
        self.int, self.int_key = d / "int.pem", d / "int.key"
        certgate("pki", "ca", "--subject", "CN=Test Root CA,O=Acme", "--key-type", key_type,
                 "--out-cert", self.root, "--out-key", self.root_key, check=0)
        certgate("pki", "intermediate", "--ca-cert", self.root, "--ca-key", self.root_key,
                 "--subject", "CN=Test Devices CA,O=Acme", "--pathlen", "0",
                 "--key-type", key_type, "--out-cert", self.int, "--out-key", self.int_key, check=0)

    def device(self, cn, *extra, out_dir=None, check=0):
        out_dir = out_dir or self.d
        return self.certgate("pki", "device", "--ca-cert", self.int, "--ca-key", self.int_key,
                             "--cn", cn, "--out-dir", out_dir, *extra, check=check)


@pytest.fixture
def pki(certgate, tmp_path):
    return Pki(certgate, tmp_path)


# ---- issuing ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_openssl_verifies_root_intermediate_device(certgate, tmp_path, key_type):
    p = Pki(certgate, tmp_path, key_type)
    out = p.device("dev-0001", "--key-type", key_type, "--days", "30").stdout
    assert "dev-0001.pem: CN=dev-0001" in out
    dev = tmp_path / "dev-0001.pem"
    res = openssl("verify", "-CAfile", p.root, "-untrusted", p.int, "-purpose", "sslclient", dev)
    assert res.stdout.decode().strip() == f"{dev}: OK"
    openssl("verify", "-CAfile", p.root, p.int)

    cert = load_cert(dev)
    assert cert.version == x509.Version.v3
    assert cert.subject.rfc4514_string() == "CN=dev-0001"
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert not (ku.value.key_cert_sign or ku.value.key_encipherment or ku.value.crl_sign)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    int_ski = load_cert(p.int).extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == int_ski.digest and ski.digest != int_ski.digest
    assert 0 < cert.serial_number < 2**127 and cert.serial_number.bit_length() > 120
    life = cert.not_valid_after - cert.not_valid_before
    assert life == datetime.timedelta(days=30, minutes=5)

    inter = load_cert(p.int)
    bc = inter.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = inter.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert mode(tmp_path / "dev-0001.key") == 0o600
    assert mode(p.root_key) == 0o600 and mode(p.int_key) == 0o600


def test_subject_is_rfc4514_text(certgate, tmp_path):
    subject = "CN=Acme\\, Inc. Root,OU=Devices,O=Acme,C=DE"
    certgate("pki", "ca", "--subject", subject, "--out-cert", tmp_path / "r.pem",
             "--out-key", tmp_path / "r.key", check=0)
    res = openssl("x509", "-in", tmp_path / "r.pem", "-noout", "-subject", "-nameopt", "RFC2253")
    assert res.stdout.decode().strip() == "subject=" + subject
    # And the openssl -subj form is understood too, in its own order.
    certgate("pki", "ca", "--subject", "/C=DE/O=Acme/CN=Slash Root", "--out-cert",
             tmp_path / "s.pem", "--out-key", tmp_path / "s.key", check=0)
    res = openssl("x509", "-in", tmp_path / "s.pem", "-noout", "-subject", "-nameopt", "RFC2253")
    assert res.stdout.decode().strip() == "subject=CN=Slash Root,O=Acme,C=DE"


def test_fleet_with_count(pki, tmp_path):
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    out = pki.certgate("pki", "device", "--ca-cert", pki.int, "--ca-key", pki.int_key,
                       "--prefix", "dev-", "--count", "5", "--out-dir", fleet, "--chain",
                       "--ca-chain", pki.root, "--include-root", check=0).stdout
    assert out.count("\n") == 5
    names = sorted(os.listdir(fleet))
    expect = sorted(f"dev-000{i}{ext}" for i in range(1, 6)
                    for ext in (".pem", ".key", ".chain.pem"))
    assert names == expect
    serials, keys = set(), set()
    for i in range(1, 6):
        cert = load_cert(fleet / f"dev-000{i}.pem")
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"dev-000{i}"
        serials.add(cert.serial_number)
        keys.add(cert.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
        assert mode(fleet / f"dev-000{i}.key") == 0o600
        # The chain file: leaf, intermediate, root, in that order.
        chain = load_certs(open(fleet / f"dev-000{i}.chain.pem", "rb").read())
        assert [c.subject.rfc4514_string() for c in chain] == [
            f"CN=dev-000{i}", "CN=Test Devices CA,O=Acme", "CN=Test Root CA,O=Acme"]
        openssl("verify", "-CAfile", pki.root, "-untrusted", pki.int, fleet / f"dev-000{i}.pem")
    assert len(serials) == 5 and len(keys) == 5


def test_fleet_numbering_and_chain_without_root(pki, tmp_path):
    pki.certgate("pki", "device", "--ca-cert", pki.int, "--ca-key", pki.int_key, "--prefix",
                 "sensor", "--count", "3", "--start", "98", "--digits", "2", "--out-dir",
                 tmp_path, "--chain", "--ca-chain", pki.root, check=0)
    for n in ("98", "99", "100"):
        chain = load_certs(open(tmp_path / f"sensor{n}.chain.pem", "rb").read())
        # Without --include-root the self-signed root is left out.
        assert [c.subject.rfc4514_string() for c in chain] == [
            f"CN=sensor{n}", "CN=Test Devices CA,O=Acme"]


def test_count_zero_and_other_usage_errors(pki, tmp_path):
    base = ["pki", "device", "--ca-cert", pki.int, "--ca-key", pki.int_key, "--out-dir", tmp_path]
    res = pki.certgate(*base, "--prefix", "d", "--count", "0", check=2)
    assert "--count must be between 1 and" in res.stderr
    res = pki.certgate(*base, "--prefix", "d", "--count", "many", check=2)
    assert "'many' is not a number" in res.stderr
    res = pki.certgate(*base, check=2)
    assert "one of --cn or --prefix is required" in res.stderr
    res = pki.certgate(*base, "--cn", "a", "--prefix", "b", check=2)
    assert "cannot be used together" in res.stderr
    res = pki.certgate(*base, "--cn", "../evil", check=2)
    assert "cannot be used as a file name" in res.stderr
    res = pki.certgate(*base, "--cn", "d1", "--key-type", "dsa", check=2)
    assert "unknown key type 'dsa'" in res.stderr
    res = pki.certgate(*base, "--cn", "d1", "--frobnicate", check=2)
    assert "unknown option '--frobnicate'" in res.stderr
    res = pki.certgate("pki", "device", "--cn", "d1", check=2)
    assert "option --ca-cert is required" in res.stderr
    assert not (tmp_path / "d1.pem").exists()


def test_bad_subject_is_a_usage_error(certgate, tmp_path):
    for subject, message in [("CN=x,Q=1", "unknown attribute 'Q'"),
                             ("CN=", "the value of CN is empty"),
                             ("C=Germany,CN=x", "two-letter country code"),
                             ("CN=a,", "ends with a separator"),
                             ("CN=" + "x" * 65, "string too long")]:
        res = certgate("pki", "ca", "--subject", subject, "--out-cert", tmp_path / "r.pem",
                       "--out-key", tmp_path / "r.key", check=2)
        assert message in res.stderr, res.stderr
    assert os.listdir(tmp_path) == []


def test_existing_files_need_force(pki, tmp_path):
    before = open(pki.root, "rb").read()
    res = pki.certgate("pki", "ca", "--subject", "CN=Other", "--out-cert", pki.root,
                       "--out-key", tmp_path / "other.key", check=1)
    assert f"'{pki.root}' already exists (add --force to replace it)" in res.stderr
    assert open(pki.root, "rb").read() == before
    assert not (tmp_path / "other.key").exists()

    pki.certgate("pki", "ca", "--subject", "CN=Other", "--out-cert", pki.root,
                 "--out-key", pki.root_key, "--force", check=0)
    assert load_cert(pki.root).subject.rfc4514_string() == "CN=Other"
    assert mode(pki.root_key) == 0o600
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


def test_fleet_checks_every_output_first(pki, tmp_path):
    (tmp_path / "dev-0003.key").write_text("precious")
    res = pki.certgate("pki", "device", "--ca-cert", pki.int, "--ca-key", pki.int_key,
                       "--prefix", "dev-", "--count", "5", "--out-dir", tmp_path, check=1)
    assert "dev-0003.key' already exists" in res.stderr
    assert not [n for n in os.listdir(tmp_path) if n.startswith("dev-") and n != "dev-0003.key"]
    assert (tmp_path / "dev-0003.key").read_text() == "precious"


def test_output_may_not_overwrite_an_input(pki, tmp_path):
    res = pki.certgate("pki", "intermediate", "--ca-cert", pki.root, "--ca-key", pki.root_key,
                       "--subject", "CN=x", "--out-cert", tmp_path / "x.pem",
                       "--out-key", pki.root_key, "--force", check=1)
    assert "is both an input and an output" in res.stderr


def test_encrypted_keys(certgate, tmp_path):
    env = {"ROOT_PASS": "correct horse battery", "WRONG": "incorrect horse"}
    certgate("pki", "ca", "--subject", "CN=Enc Root", "--out-cert", tmp_path / "root.pem",
             "--out-key", tmp_path / "root.key", "--key-password-env", "ROOT_PASS",
             "--key-type", "rsa2048", env=env, check=0)
    key_text = (tmp_path / "root.key").read_text()
    assert key_text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert mode(tmp_path / "root.key") == 0o600
    # openssl opens it with the passphrase (PKCS#8 v2 with AES-256), and not without.
    info = openssl("asn1parse", "-in", tmp_path / "root.key").stdout.decode()
    assert "aes-256-cbc" in info and "PBKDF2" in info
    openssl("pkey", "-in", tmp_path / "root.key", "-passin", "env:ROOT_PASS", "-noout", env=env)
    assert openssl("pkey", "-in", tmp_path / "root.key", "-passin", "pass:nope", "-noout",
                   check=False).returncode != 0

    base = ["pki", "device", "--ca-cert", tmp_path / "root.pem", "--ca-key", tmp_path / "root.key",
            "--out-dir", tmp_path]
    res = certgate(*base, "--cn", "d1", env=env, check=1)
    assert f"'{tmp_path / 'root.key'}' is encrypted: its passphrase is needed" in res.stderr
    assert "--ca-key-password-env" in res.stderr
    res = certgate(*base, "--cn", "d1", "--ca-key-password-env", "WRONG", env=env, check=1)
    assert f"wrong passphrase for '{tmp_path / 'root.key'}'" in res.stderr
    assert "incorrect horse" not in res.stderr + res.stdout
    res = certgate(*base, "--cn", "d1", "--ca-key-password-env", "UNSET_VAR_XYZ", check=1)
    assert "UNSET_VAR_XYZ is not set" in res.stderr
    assert not (tmp_path / "d1.pem").exists()

    passfile = tmp_path / "pass.txt"
    passfile.write_text("correct horse battery\n")
    certgate(*base, "--cn", "d1", "--ca-key-password-file", passfile,
             "--key-password-file", passfile, check=0)
    assert (tmp_path / "d1.key").read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    openssl("verify", "-CAfile", tmp_path / "root.pem", tmp_path / "d1.pem")


def test_passwords_are_refused_on_the_command_line(pki, tmp_path):
    res = pki.certgate("pki", "p12", "--cert", tmp_path / "x", "--key", tmp_path / "y", "--out",
                       tmp_path / "z", "--password", "hunter2", check=2)
    assert "--password-env VARIABLE or --password-file FILE" in res.stderr
    res = pki.certgate("pki", "ca", "--subject", "CN=x", "--out-cert", tmp_path / "a",
                       "--out-key", tmp_path / "b", "--key-password=hunter2", check=2)
    assert "--key-password-env" in res.stderr
    assert not (tmp_path / "a").exists()


def test_missing_or_mismatched_ca_key(pki, tmp_path):
    res = pki.device("d1", "--ca-key", tmp_path / "nope.key", check=2)  # given twice
    assert "given more than once" in res.stderr
    res = pki.certgate("pki", "device", "--ca-cert", pki.int, "--ca-key", tmp_path / "nope.key",
                       "--cn", "d1", "--out-dir", tmp_path, check=1)
    assert f"cannot open '{tmp_path / 'nope.key'}'" in res.stderr
    res = pki.certgate("pki", "device", "--ca-cert", pki.int, "--ca-key", pki.root_key,
                       "--cn", "d1", "--out-dir", tmp_path, check=1)
    assert f"the CA key '{pki.root_key}' does not match the CA certificate '{pki.int}'" \
        in res.stderr
    res = pki.certgate("pki", "device", "--ca-cert", pki.int_key, "--ca-key", pki.int_key,
                       "--cn", "d1", "--out-dir", tmp_path, check=1)
    assert "holds no certificate" in res.stderr
    assert not (tmp_path / "d1.pem").exists()


def test_issuer_rules(pki, tmp_path):
    # pathlen 0 on the intermediate: no CA below it.
    res = pki.certgate("pki", "intermediate", "--ca-cert", pki.int, "--ca-key", pki.int_key,
                       "--subject", "CN=Sub", "--out-cert", tmp_path / "s.pem",
                       "--out-key", tmp_path / "s.key", check=1)
    assert "pathlen 0: it may not sign another CA" in res.stderr
    # A device certificate cannot sign.
    pki.device("d1")
    res = pki.certgate("pki", "device", "--ca-cert", tmp_path / "d1.pem", "--ca-key",
                       tmp_path / "d1.key", "--cn", "d2", "--out-dir", tmp_path, check=1)
    assert "is not a CA" in res.stderr
    # ... unless a broken test fixture is wanted on purpose.
    pki.certgate("pki", "device", "--ca-cert", tmp_path / "d1.pem", "--ca-key",
                 tmp_path / "d1.key", "--cn", "d2", "--out-dir", tmp_path, "--unchecked",
                 check=0)
    res = openssl("verify", "-CAfile", pki.root, "-untrusted", pki.int, "-untrusted",
                  tmp_path / "d1.pem", tmp_path / "d2.pem", check=False)
    assert res.returncode != 0
    # Not beyond the issuer's own expiry.
    res = pki.device("d3", "--days", "3000", check=1)
    assert "would outlive its CA" in res.stderr


def test_expired_fixture_dates(pki, tmp_path):
    pki.device("old", "--not-before", "2020-01-01", "--not-after", "2020-06-30T12:00:00Z")
    cert = load_cert(tmp_path / "old.pem")
    assert cert.not_valid_before == datetime.datetime(2020, 1, 1)
    assert cert.not_valid_after == datetime.datetime(2020, 6, 30, 12)
    res = openssl("verify", "-CAfile", pki.root, "-untrusted", pki.int, tmp_path / "old.pem",
                  check=False)
    assert "certificate has expired" in res.stdout.decode() + res.stderr.decode()
    res = pki.device("bad", "--not-before", "yesterday", check=2)
    assert "is not a date" in res.stderr


# ---- chain and keystore -------------------------------------------------------------------------

def test_chain_command_checks_order(pki, tmp_path):
    pki.device("d1")
    out = tmp_path / "chain.pem"
    res = pki.certgate("pki", "chain", "--out", out, tmp_path / "d1.pem", pki.int, pki.root,
                       check=0)
    assert "3 certificates in chain order" in res.stdout
    assert [c.subject.rfc4514_string() for c in load_certs(out.read_bytes())] == ["CN=d1", "CN=Test Devices CA,O=Acme", "CN=Test Root CA,O=Acme"]
    res = pki.certgate("pki", "chain", "--out", tmp_path / "bad.pem", tmp_path / "d1.pem",
                       pki.root, pki.int, check=1)
    assert ("certificate 2 (CN=Test Root CA,O=Acme) did not issue certificate 1 (CN=d1): "
            "certificate 1 names 'CN=Test Devices CA,O=Acme' as its issuer") in res.stderr
    assert not (tmp_path / "bad.pem").exists()
    res = pki.certgate("pki", "chain", "--out", tmp_path / "bad.pem", pki.int,
                       tmp_path / "d1.pem", check=1)
    assert "certificate 2 (CN=d1) did not issue certificate 1" in res.stderr
    pki.certgate("pki", "chain", "--out", out, check=2)


def test_p12_opens_with_openssl(pki, tmp_path):
    pki.device("d1", "--key-type", "rsa2048")
    env = {"P12_PASS": "keystore-secret"}
    p12 = tmp_path / "d1.p12"
    res = pki.certgate("pki", "p12", "--cert", tmp_path / "d1.pem", "--key", tmp_path / "d1.key",
                       "--chain", pki.int, "--chain", pki.root, "--out", p12,
                       "--password-env", "P12_PASS", "--name", "devicekeyentry", env=env,
                       check=0)
    assert "2 CA certificates" in res.stdout
    assert mode(p12) == 0o600
    info = openssl("pkcs12", "-info", "-in", p12, "-passin", "env:P12_PASS", "-nodes", env=env)
    text = info.stdout.decode() + info.stderr.decode()
    assert text.count("-----BEGIN CERTIFICATE-----") == 3
    assert "friendlyName: devicekeyentry" in text
    assert "PBES2, PBKDF2, AES-256-CBC" in text
    # The key in the keystore is the device key.
    key_pem = openssl("pkcs12", "-in", p12, "-passin", "env:P12_PASS", "-nocerts", "-nodes",
                      env=env).stdout
    from_p12 = serialization.load_pem_private_key(key_pem, None).public_key()
    cert = load_cert(tmp_path / "d1.pem")
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert from_p12.public_bytes(*der) == cert.public_key().public_bytes(*der)
    assert openssl("pkcs12", "-info", "-in", p12, "-passin", "pass:wrong", "-noout",
                   check=False).returncode != 0


def test_p12_errors(pki, tmp_path):
    pki.device("d1")
    pki.device("d2")
    env = {"P12_PASS": "keystore-secret", "SHORT": "abc"}
    base = ["pki", "p12", "--cert", tmp_path / "d1.pem", "--out", tmp_path / "x.p12"]
    res = pki.certgate(*base, "--key", tmp_path / "d2.key", "--password-env", "P12_PASS",
                       env=env, check=1)
    assert "does not match the certificate" in res.stderr
    res = pki.certgate(*base, "--key", tmp_path / "d1.key", check=2)
    assert "a keystore password is needed" in res.stderr
    res = pki.certgate(*base, "--key", tmp_path / "d1.key", "--password-env", "SHORT", env=env,
                       check=1)
    assert "at least 4 characters" in res.stderr
    res = pki.certgate(*base, "--key", tmp_path / "d1.key", "--chain", pki.root, "--chain",
                       pki.int, "--password-env", "P12_PASS", env=env, check=1)
    assert "not in chain order" in res.stderr
    assert not (tmp_path / "x.p12").exists()


# ---- proof of possession --------------------------------------------------------------------------

def public_key(cert_path, out):
    out.write_bytes(openssl("x509", "-in", cert_path, "-pubkey", "-noout").stdout)
    return out


@pytest.mark.parametrize("key_type", ["rsa2048", "ec-p256", "ec-p384"])
def test_sign_code_verifies_with_openssl_dgst(certgate, tmp_path, key_type):
    certgate("pki", "ca", "--subject", "CN=PoP CA", "--key-type", key_type, "--out-cert",
             tmp_path / "ca.pem", "--out-key", tmp_path / "ca.key", check=0)
    code = tmp_path / "code.txt"
    code.write_bytes(C8Y_CODE.encode())
    sig_b64 = certgate("pki", "sign-code", "--key", tmp_path / "ca.key", "--code-file", code,
                       check=0).stdout
    assert sig_b64.endswith("\n") and "\n" not in sig_b64[:-1]
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(sig_b64.strip(), validate=True))
    pub = public_key(tmp_path / "ca.pem", tmp_path / "pub.pem")
    res = openssl("dgst", "-sha256", "-verify", pub, "-signature", tmp_path / "sig.bin", code)
    assert res.stdout.decode().strip() == "Verified OK"

    # The openssl recipe's own output is accepted by certgate's verifier ...
    recipe = subprocess.run(
        f"openssl dgst -sha256 -sign '{tmp_path / 'ca.key'}' '{code}' | openssl base64 -A",
        shell=True, capture_output=True, check=True).stdout.decode()
    if key_type == "rsa2048":
        assert recipe == sig_b64.strip()  # PKCS#1 v1.5 is deterministic: byte-identical
    res = certgate("pki", "verify-code", "--ca-cert", tmp_path / "ca.pem", "--code", C8Y_CODE,
                   "--signature", recipe, check=0)
    assert res.stdout.startswith("valid:")
    (tmp_path / "recipe.txt").write_text(recipe)
    certgate("pki", "verify-code", "--ca-cert", tmp_path / "ca.pem", "--code-file", code,
             "--signature-file", tmp_path / "recipe.txt", check=0)
    certgate("pki", "verify-code", "--ca-cert", tmp_path / "ca.pem", "--code-file", code,
             "--signature-bin", tmp_path / "sig.bin", check=0)
    # ... and refused for another code or another CA.
    res = certgate("pki", "verify-code", "--ca-cert", tmp_path / "ca.pem", "--code",
                   C8Y_CODE[:-1] + "x", "--signature", recipe, check=1)
    assert "invalid: the signature does not match" in res.stderr
    certgate("pki", "ca", "--subject", "CN=PoP CA", "--key-type", key_type, "--out-cert",
             tmp_path / "other.pem", "--out-key", tmp_path / "other.key", check=0)
    certgate("pki", "verify-code", "--ca-cert", tmp_path / "other.pem", "--code", C8Y_CODE,
             "--signature", recipe, check=1)
    res = certgate("pki", "verify-code", "--ca-cert", tmp_path / "ca.pem", "--code", C8Y_CODE,
                   "--signature", recipe[:-8], check=1)
    assert "malformed" in res.stderr or "does not match" in res.stderr


def test_sign_code_ed25519_is_pure(certgate, tmp_path):
    certgate("pki", "ca", "--subject", "CN=Ed CA", "--key-type", "ed25519", "--out-cert",
             tmp_path / "ca.pem", "--out-key", tmp_path / "ca.key", check=0)
    code = tmp_path / "code.txt"
    code.write_bytes(AZURE_CODE.encode())
    ours = certgate("pki", "sign-code", "--key", tmp_path / "ca.key", "--code", AZURE_CODE,
                    check=0).stdout.strip()
    theirs = subprocess.run(
        f"openssl pkeyutl -sign -rawin -inkey '{tmp_path / 'ca.key'}' -in '{code}' "
        "| openssl base64 -A", shell=True, capture_output=True, check=True).stdout.decode()
    assert ours == theirs
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(ours))
    pub = public_key(tmp_path / "ca.pem", tmp_path / "pub.pem")
    res = openssl("pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", pub, "-in", code,
                  "-sigfile", tmp_path / "sig.bin")
    assert "Signature Verified Successfully" in res.stdout.decode()
    certgate("pki", "verify-code", "--ca-cert", tmp_path / "ca.pem", "--code", AZURE_CODE,
             "--signature", theirs, check=0)


def test_sign_code_newlines_and_output_file(certgate, pki, tmp_path):
    # A code file written with `echo` ends in a newline; the code does not.
    code_nl = tmp_path / "code-nl.txt"
    code_nl.write_text(AZURE_CODE + "\n")
    code = tmp_path / "code.txt"
    code.write_text(AZURE_CODE)
    out = tmp_path / "signed.txt"
    certgate("pki", "sign-code", "--key", pki.root_key, "--code-file", code_nl, "--out", out,
             check=0)
    signed = out.read_text()
    assert "\n" not in signed  # exactly what `openssl base64 -A` writes
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(signed))
    pub = public_key(pki.root, tmp_path / "pub.pem")
    openssl("dgst", "-sha256", "-verify", pub, "-signature", tmp_path / "sig.bin", code)
    certgate("pki", "sign-code", "--key", pki.root_key, "--code", AZURE_CODE, "--out", out,
             check=1)  # exists
    # --raw signs the file's bytes as they are, newline included, like openssl dgst.
    raw = certgate("pki", "sign-code", "--key", pki.root_key, "--code-file", code_nl, "--raw",
                   check=0).stdout
    (tmp_path / "raw.bin").write_bytes(base64.b64decode(raw))
    openssl("dgst", "-sha256", "-verify", pub, "-signature", tmp_path / "raw.bin", code_nl)
    certgate("pki", "sign-code", "--key", pki.root_key, "--code", AZURE_CODE, "--raw", check=2)
    certgate("pki", "sign-code", "--key", pki.root_key, check=2)
    res = certgate("pki", "verify-code", "--ca-cert", pki.root, "--code", AZURE_CODE, check=2)
    assert "one of --signature" in res.stderr


def test_verification_certificate_flow(pki, tmp_path):
    vc = tmp_path / "verify.pem"
    res = pki.certgate("pki", "verification-cert", "--ca-cert", pki.root, "--ca-key",
                       pki.root_key, "--code", AZURE_CODE, "--out-cert", vc, check=0)
    assert f"CN={AZURE_CODE}" in res.stdout
    cert = load_cert(vc)
    assert cert.subject.rfc4514_string() == f"CN={AZURE_CODE}"
    assert cert.issuer == load_cert(pki.root).subject
    openssl("verify", "-CAfile", pki.root, vc)
    assert sorted(os.listdir(tmp_path)) == ["int.key", "int.pem", "root.key", "root.pem",
                                            "verify.pem"]  # the key was not kept

    ok = pki.certgate("pki", "verify-code", "--ca-cert", pki.root, "--code", AZURE_CODE,
                      "--verification-cert", vc, check=0)
    assert ok.stdout.startswith("valid:")
    res = pki.certgate("pki", "verify-code", "--ca-cert", pki.root, "--code", "0" * 48,
                       "--verification-cert", vc, check=1)
    assert (f"the verification certificate's CN is '{AZURE_CODE}' but the verification code "
            f"is '{'0' * 48}'") in res.stderr
    res = pki.certgate("pki", "verify-code", "--ca-cert", pki.int, "--code", AZURE_CODE,
                       "--verification-cert", vc, check=1)
    assert "not signed by the CA's key" in res.stderr

    # Made by the intermediate, kept key, checked against the intermediate.
    pki.certgate("pki", "verification-cert", "--ca-cert", pki.int, "--ca-key", pki.int_key,
                 "--code", AZURE_CODE, "--out-cert", tmp_path / "v2.pem",
                 "--out-key", tmp_path / "v2.key", "--key-type", "rsa2048", check=0)
    assert mode(tmp_path / "v2.key") == 0o600
    pki.certgate("pki", "verify-code", "--ca-cert", pki.int, "--code", AZURE_CODE,
                 "--verification-cert", tmp_path / "v2.pem", check=0)

    # Expired.
    pki.certgate("pki", "verification-cert", "--ca-cert", pki.root, "--ca-key", pki.root_key,
                 "--code", AZURE_CODE, "--out-cert", tmp_path / "old.pem", "--not-before",
                 "2021-01-01", "--not-after", "2021-02-01", "--unchecked", check=0)
    res = pki.certgate("pki", "verify-code", "--ca-cert", pki.root, "--code", AZURE_CODE,
                       "--verification-cert", tmp_path / "old.pem", check=1)
    assert "expired on 2021-02-01T00:00:00.000Z" in res.stderr

    res = pki.certgate("pki", "verification-cert", "--ca-cert", pki.root, "--ca-key",
                       pki.root_key, "--code", C8Y_CODE, "--out-cert", tmp_path / "x.pem", check=2)
    assert "at most 64" in res.stderr


# ---- server certificates, in a real TLS handshake --------------------------------------------------

def test_server_cert_in_mutual_tls(pki, tmp_path):
    res = pki.certgate("pki", "server-cert", "--ca-cert", pki.int, "--ca-key", pki.int_key,
                       "--dns", "localhost", "--dns", "mqtt.example.com", "--ip", "127.0.0.1",
                       "--ip", "::1", "--out-cert", tmp_path / "server.pem",
                       "--out-key", tmp_path / "server.key",
                       "--out-chain", tmp_path / "server-chain.pem", check=0)
    assert "server.pem: CN=localhost" in res.stdout
    cert = load_cert(tmp_path / "server.pem")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "mqtt.example.com"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    openssl("verify", "-CAfile", pki.root, "-untrusted", pki.int, "-purpose", "sslserver",
            tmp_path / "server.pem")
    pki.device("dev-0001")

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server-chain.pem", tmp_path / "server.key")
    server_ctx.load_verify_locations(pki.root)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=str(pki.root))
    client_ctx.load_cert_chain(tmp_path / "dev-0001.pem", tmp_path / "dev-0001.key")

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = {}

    def serve():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            seen["peer"] = tls.getpeercert()
            tls.sendall(b"ok")

    # The device presents only its own certificate: the server must know the intermediate.
    server_ctx.load_verify_locations(pki.int)
    t = threading.Thread(target=serve)
    t.start()
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.recv(2) == b"ok"
    t.join(10)
    listener.close()
    assert dict(x[0] for x in seen["peer"]["subject"])["commonName"] == "dev-0001"


def test_server_cert_errors(pki, tmp_path):
    base = ["pki", "server-cert", "--ca-cert", pki.int, "--ca-key", pki.int_key,
            "--out-cert", tmp_path / "s.pem", "--out-key", tmp_path / "s.key"]
    res = pki.certgate(*base, check=2)
    assert "at least one --dns" in res.stderr
    res = pki.certgate(*base, "--dns", "bad_host", check=2)
    assert "'bad_host' is not a DNS name" in res.stderr
    res = pki.certgate(*base, "--ip", "300.1.1.1", check=2)
    assert "'300.1.1.1' is not an IPv4 or IPv6 address" in res.stderr
    assert not (tmp_path / "s.pem").exists() and not (tmp_path / "s.key").exists()


# ---- help --------------------------------------------------------------------------------------

SUBCOMMANDS = ["ca", "intermediate", "device", "server-cert", "chain", "p12", "sign-code",
               "verify-code", "verification-cert"]


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_subcommand_has_help(certgate, sub):
    res = certgate("pki", sub, "--help", check=0)
    assert res.stdout.startswith(f"usage: certgate pki {sub} ")
    assert "examples:" in res.stdout and "--help" in res.stdout


def test_pki_usage(certgate):
    out = certgate("pki", "--help", check=0).stdout
    for sub in SUBCOMMANDS:
        assert f"  {sub} " in out
    certgate("pki", check=2)
    assert "unknown subcommand 'nope'" in certgate("pki", "nope", check=2).stderr
