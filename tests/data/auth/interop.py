#!/usr/bin/python3
"""Independent ES256 JWT implementation (python3-cryptography) for cross-checking src/auth.

Run with Debian's /usr/bin/python3 from the repository root:

  tests/data/auth/interop.py make-interop   # new interop-key.pem, interop-token.jwt, interop-jwks.json
  tests/data/auth/interop.py make-fuzz      # new fuzz-key.pem and tests/fuzz/corpus/jwt/* seeds
  tests/data/auth/interop.py fuzz-extra     # only the seeds that need no signature
  tests/data/auth/interop.py check KEY.pem TOKEN-FILE
                                            # verify a token signed by certgate's C code

The files it makes are committed; rerunning make-* replaces them (and then test_jwt.c and
fuzz_jwt.c must be updated with the new values it prints). Test keys only.
"""
import base64
import hashlib
import hmac
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FAR_FUTURE = 4102444800  # 2100-01-01T00:00:00Z
NOW = 1700000000         # the fixed "now" the C tests and the fuzzer verify with


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(text: str) -> bytes:
    if "=" in text:
        raise ValueError("padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def coords(key):
    nums = key.public_key().public_numbers()
    return nums.x.to_bytes(32, "big"), nums.y.to_bytes(32, "big")


def thumbprint(key) -> str:
    x, y = coords(key)
    canon = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (b64u(x), b64u(y))
    return b64u(hashlib.sha256(canon.encode()).digest())


def jwk(key) -> dict:
    x, y = coords(key)
    return {"kty": "EC", "crv": "P-256", "x": b64u(x), "y": b64u(y),
            "kid": thumbprint(key), "use": "sig", "alg": "ES256"}


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def es256_sign(key, header: dict, claims: dict) -> str:
    signing_input = b64u(compact(header)) + "." + b64u(compact(claims))
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def es256_verify(pub, token: str) -> dict:
    h, p, s = token.split(".")
    header = json.loads(b64u_dec(h))
    if header.get("alg") != "ES256":
        raise ValueError("alg %r" % header.get("alg"))
    sig = b64u_dec(s)
    if len(sig) != 64:
        raise ValueError("signature length %d" % len(sig))
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub.verify(der, (h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
    return header, json.loads(b64u_dec(p))


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def write_pem(key, path):
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with open(path, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)


def make_interop():
    key = new_key()
    write_pem(key, os.path.join(HERE, "interop-key.pem"))
    header = {"alg": "ES256", "typ": "JWT", "kid": thumbprint(key)}
    claims = {"iss": "python-interop", "sub": "device_py-1", "ten": "t100", "iat": NOW,
              "nbf": NOW, "exp": FAR_FUTURE, "jti": "cHl0aG9uLWludGVyb3A"}
    token = es256_sign(key, header, claims)
    with open(os.path.join(HERE, "interop-token.jwt"), "w") as f:
        f.write(token + "\n")
    with open(os.path.join(HERE, "interop-jwks.json"), "w") as f:
        f.write(json.dumps({"keys": [jwk(key)]}, indent=1) + "\n")
    print("kid", header["kid"])


def make_fuzz():
    key = new_key()
    write_pem(key, os.path.join(HERE, "fuzz-key.pem"))
    kid = thumbprint(key)
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    out = os.path.join(ROOT, "tests", "fuzz", "corpus", "jwt")
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        os.unlink(os.path.join(out, name))
    hdr = {"alg": "ES256", "typ": "JWT", "kid": kid}
    valid = [
        es256_sign(key, hdr, {"sub": "device_a", "ten": "t1", "exp": FAR_FUTURE}),
        es256_sign(key, {"alg": "ES256", "kid": kid},
                   {"sub": "device_b", "ten": "t2", "iss": "certgate", "iat": NOW, "nbf": NOW,
                    "exp": FAR_FUTURE, "jti": "AAAAAAAAAAAAAAAAAAAAAA", "x": [1, {"y": None}]}),
        es256_sign(key, hdr, {"exp": 4102444800.5, "u": "\u00e9\u6f22"}),
    ]
    claims = {"sub": "device_a", "ten": "t1", "exp": FAR_FUTURE}
    body = b64u(compact(claims))
    invalid = {
        "alg-none": b64u(compact({"alg": "none", "typ": "JWT"})) + "." + body + ".",
        "rs256": b64u(compact({"alg": "RS256", "typ": "JWT", "kid": kid})) + "." + body + "." +
        b64u(b"\x01" * 256),
        "expired": es256_sign(key, hdr, {"sub": "device_a", "exp": NOW - 3600}),
        "crit": es256_sign(key, {"alg": "ES256", "kid": kid, "crit": ["exp"]}, claims),
        "dup-claims": valid[0].split(".")[0] + "." +
        b64u(b'{"exp":4102444800,"exp":4102444800}') + "." + valid[0].split(".")[2],
        "padding": valid[0] + "==",
        "four-segments": valid[0] + ".AAAA",
    }
    hs_hdr = b64u(compact({"alg": "HS256", "typ": "JWT", "kid": kid}))
    mac = hmac.new(pub_pem, (hs_hdr + "." + body).encode(), hashlib.sha256).digest()
    invalid["hs256-pubkey"] = hs_hdr + "." + body + "." + b64u(mac)
    h, p, s = valid[0].split(".")
    sig = b64u_dec(s)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    invalid["der-signature"] = h + "." + p + "." + b64u(der)
    extra_seeds(out, kid)
    for i, tok in enumerate(valid):
        with open(os.path.join(out, "valid-%d" % i), "w") as f:
            f.write(tok)
    for name, tok in invalid.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(tok)
    print("kid", kid)
    print("/* valid seeds (paste into tests/fuzz/fuzz_jwt.c) */")
    for tok in valid:
        print('    "%s",' % tok)


def extra_seeds(out, kid):
    """Seeds that need no key: claims objects (for the sign/verify round trip) and a token
    just over the 8 KiB cap (so libFuzzer's max_len reaches past it)."""
    seeds = {
        "claims-1": compact({"sub": "device_a", "ten": "t1", "exp": 1}),
        "claims-2": compact({"a": [1, 2.5, None, True, {"b": "\u00e9"}], "iat": "x"}),
    }
    hdr = b64u(compact({"alg": "ES256", "typ": "JWT", "kid": kid}))
    body = b64u(compact({"exp": FAR_FUTURE, "pad": "p" * 6200}))
    seeds["oversize"] = (hdr + "." + body + "." + "A" * 86).encode()
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def check(key_path, token_path):
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    with open(token_path) as f:
        token = f.read().strip()
    header, claims = es256_verify(key.public_key(), token)
    if header.get("kid") != thumbprint(key):
        raise SystemExit("kid %r is not the RFC 7638 thumbprint %r" % (header.get("kid"),
                                                                       thumbprint(key)))
    print("OK: signature valid, header", json.dumps(header), "claims", json.dumps(claims))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "make-interop":
        make_interop()
    elif len(sys.argv) >= 2 and sys.argv[1] == "make-fuzz":
        make_fuzz()
    elif len(sys.argv) >= 2 and sys.argv[1] == "fuzz-extra":
        with open(os.path.join(HERE, "fuzz-key.pem"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        extra_seeds(os.path.join(ROOT, "tests", "fuzz", "corpus", "jwt"), thumbprint(key))
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
