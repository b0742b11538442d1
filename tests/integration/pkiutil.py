"""A test PKI for integration tests, built with python3-cryptography (Debian's, v38).

    pki = TestPKI(tmp_path / "pki")
    root = pki.ca("root", "Acme Root CA")
    inter = pki.ca("inter", "Acme Issuing CA", issuer=root)
    dev = pki.device("dev", "dev-0001", issuer=inter)
    chain = pki.chain_file("dev-chain", dev, inter)      # leaf first
    std = pki.standard()                                # the usual good and bad cases

Every certificate is written as <name>.pem with its key as <name>.key (PKCS#8 PEM, no
passphrase) into the directory; the returned `Issued` carries both objects and both paths.
Certificates the library cannot make (X.509 v1) are made by shelling out to `openssl`.
Nothing here talks to the server: it only makes files.
"""
import dataclasses
import datetime
import os
import pathlib
import subprocess
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = datetime.timedelta(days=1)
EKU = {"clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH, "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


@dataclasses.dataclass
class Issued:
    """A certificate and its key, in memory and on disk."""
    name: str
    cert: x509.Certificate
    key: object
    cert_path: pathlib.Path
    key_path: pathlib.Path

    @property
    def serial_hex(self):
        """The serial as lowercase hex without leading zeros (certgate's normal form)."""
        return format(self.cert.serial_number, "x")

    @property
    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self):
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def fingerprint(self):
        """Lowercase hex SHA-1 of the DER, as the REST API reports it."""
        return self.cert.fingerprint(hashes.SHA1()).hex()


def new_key(kind="ec256"):
    """ec256, ec384, rsa1024, rsa2048, ed25519."""
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key kind {kind}")


class TestPKI:
    __test__ = False  # not a pytest class

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._serial = 0x1000

    # ---- building blocks ---------------------------------------------------------------

    def _next_serial(self):
        self._serial += 1
        return self._serial

    def _write(self, name, cert, key):
        cert_path = self.dir / f"{name}.pem"
        key_path = self.dir / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.chmod(key_path, 0o600)
        return Issued(name, cert, key, cert_path, key_path)

    def cert(self, name, cn, issuer=None, *, ca=False, pathlen=None, key=None, key_kind="ec256",
             not_before=None, not_after=None, serial=None, eku=("clientAuth",), org="certgate tests",
             basic_constraints=True, key_usage=None, digest="sha256"):
        """Make a certificate. issuer: an Issued or None (self-signed). ca/pathlen set
        basicConstraints (omitted when basic_constraints is False); key_usage: a dict of
        x509.KeyUsage arguments to override the default (CA: keyCertSign+cRLSign, leaf:
        digitalSignature); eku: names from EKU or None; digest: sha256, sha384 or sha1."""
        key = key or new_key(key_kind)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                             x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        issuer_name = issuer.cert.subject if issuer else subject
        signing_key = issuer.key if issuer else key
        nb = not_before or (utcnow() - DAY)
        na = not_after or (nb + 365 * DAY)
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
             .public_key(key.public_key()).serial_number(serial or self._next_serial())
             .not_valid_before(nb).not_valid_after(na))
        if basic_constraints:
            b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None),
                                critical=True)
        ku = dict(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                  data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                  encipher_only=False, decipher_only=False)
        ku.update(key_usage or {})
        b = b.add_extension(x509.KeyUsage(**ku), critical=True)
        if eku and not ca:
            b = b.add_extension(x509.ExtendedKeyUsage([EKU[e] for e in eku]), critical=False)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            signing_key.public_key()), critical=False)
        algo = None
        if not isinstance(signing_key, ed25519.Ed25519PrivateKey):
            algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha1": hashes.SHA1()}[digest]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SHA-1 is deprecated, which is the point
            cert = b.sign(signing_key, algo)
        return self._write(name, cert, key)

    def ca(self, name, cn, issuer=None, **kw):
        """A CA certificate (self-signed root when issuer is None). Valid from two years ago
        for ten years unless told otherwise, so that devices' validity lies within it."""
        kw.setdefault("eku", None)
        kw.setdefault("not_before", utcnow() - 730 * DAY)
        kw.setdefault("not_after", utcnow() + 3650 * DAY)
        return self.cert(name, cn, issuer, ca=True, **kw)

    def device(self, name, cn, issuer, **kw):
        """A device (leaf) certificate: CA:FALSE, digitalSignature, EKU clientAuth."""
        return self.cert(name, cn, issuer, ca=False, **kw)

    def v1_device(self, name, cn, issuer, days=30):
        """An X.509 v1 device certificate (no extensions), made with the openssl command."""
        key = new_key("ec256")
        cert_path = self.dir / f"{name}.pem"
        key_path = self.dir / f"{name}.key"
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.chmod(key_path, 0o600)
        csr = self.dir / f"{name}.csr"
        subprocess.run(["openssl", "req", "-new", "-key", str(key_path), "-subj",
                        f"/O=certgate tests/CN={cn}", "-out", str(csr)], check=True,
                       capture_output=True)
        # `openssl x509 -req` without an extension file makes a v1 certificate
        subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(issuer.cert_path),
                        "-CAkey", str(issuer.key_path), "-set_serial", str(self._next_serial()),
                        "-days", str(days), "-sha256", "-out", str(cert_path)],
                       check=True, capture_output=True)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        assert cert.version == x509.Version.v1
        return Issued(name, cert, key, cert_path, key_path)

    # ---- files made of several certificates -------------------------------------------

    def chain_file(self, name, *issued):
        """Concatenated PEM of the given certificates, in that order (leaf first)."""
        path = self.dir / f"{name}.pem"
        path.write_text("".join(i.pem for i in issued))
        return path

    bundle = chain_file

    def crl(self, name, issuer, serials, der=False):
        """An X.509 CRL signed by issuer revoking the given integer serials."""
        now = utcnow()
        b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
             .last_update(now - DAY).next_update(now + 30 * DAY))
        for s in serials:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(s)
                                          .revocation_date(now - DAY).build())
        algo = None if isinstance(issuer.key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
        crl = b.sign(issuer.key, algo)
        path = self.dir / (f"{name}.crl" if der else f"{name}.crl.pem")
        path.write_bytes(crl.public_bytes(serialization.Encoding.DER if der
                                          else serialization.Encoding.PEM))
        return path

    def serial_list(self, name, serials):
        """A text file with one hex serial per line (the Cumulocity CRL API's form)."""
        path = self.dir / f"{name}.txt"
        path.write_text("# revoked serials\n" + "".join(f"{s:x}\n" for s in serials))
        return path

    # ---- the standard set ----------------------------------------------------------------

    def standard(self):
        """The usual integration-test PKI, as a dict of Issued (and a few paths):

        root, intermediate       the tenant's CA (root uploaded; intermediate sent by devices)
        device                   good device under intermediate; device_chain: leaf+intermediate
        expired                  expired device under intermediate
        revoked                  device whose serial is listed in revoked_list / revoked_crl
        other_root, wrong_tenant a second tenant's root and a device under it
        not_ca_signer, under_not_ca   an intermediate with CA:FALSE and a device it signed
        pathlen_root, pathlen_inter, pathlen_device
                                 root with pathlen 0 -> intermediate -> device (violates it)
        """
        s = {}
        s["root"] = self.ca("root", "Acme Root CA")
        s["intermediate"] = self.ca("intermediate", "Acme Device CA", s["root"])
        s["device"] = self.device("device", "dev-0001", s["intermediate"])
        s["device_chain"] = self.chain_file("device-chain", s["device"], s["intermediate"])
        s["expired"] = self.device("expired", "dev-expired", s["intermediate"],
                                   not_before=utcnow() - 400 * DAY,
                                   not_after=utcnow() - 10 * DAY)
        s["expired_chain"] = self.chain_file("expired-chain", s["expired"], s["intermediate"])
        s["revoked"] = self.device("revoked", "dev-revoked", s["intermediate"])
        s["revoked_chain"] = self.chain_file("revoked-chain", s["revoked"], s["intermediate"])
        s["revoked_list"] = self.serial_list("revoked", [s["revoked"].cert.serial_number])
        s["revoked_crl"] = self.crl("revoked", s["intermediate"], [s["revoked"].cert.serial_number])
        s["other_root"] = self.ca("other-root", "Other Tenant Root")
        s["wrong_tenant"] = self.device("wrong-tenant", "dev-other", s["other_root"])
        # CA:FALSE but still with keyCertSign, as careless tools make them
        s["not_ca_signer"] = self.cert("not-ca-signer", "Not A CA", s["root"], ca=False, eku=None,
                                       key_usage={"key_cert_sign": True})
        s["under_not_ca"] = self.device("under-not-ca", "dev-under-not-ca", s["not_ca_signer"])
        s["under_not_ca_chain"] = self.chain_file("under-not-ca-chain", s["under_not_ca"],
                                                  s["not_ca_signer"])
        s["pathlen_root"] = self.ca("pathlen-root", "Pathlen Root", pathlen=0)
        s["pathlen_inter"] = self.ca("pathlen-inter", "Pathlen Intermediate", s["pathlen_root"])
        s["pathlen_device"] = self.device("pathlen-device", "dev-pathlen", s["pathlen_inter"])
        s["pathlen_chain"] = self.chain_file("pathlen-chain", s["pathlen_device"],
                                             s["pathlen_inter"])
        return s
