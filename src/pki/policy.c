/* Policy checks, reason codes and the anchor check. See policy.h. */
#include "pki/policy.h"

#include "core/err.h"
#include "core/timeutil.h"
#include "pki/cert.h"
#include "pki/revocation.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

static const char *const reason_codes[PKI_R_COUNT_] = {
    [PKI_R_OK] = "accepted",
    [PKI_R_INTERNAL] = "internal",
    [PKI_R_MALFORMED] = "malformed",
    [PKI_R_CHAIN_TOO_LONG] = "chain-too-long",
    [PKI_R_UNTRUSTED] = "untrusted",
    [PKI_R_REVOKED] = "revoked",
    [PKI_R_NOT_V3] = "not-v3",
    [PKI_R_WEAK_KEY] = "weak-key",
    [PKI_R_WEAK_SIGNATURE] = "weak-signature",
    [PKI_R_BAD_SIGNATURE] = "bad-signature",
    [PKI_R_SIGNER_NOT_CA] = "signer-not-ca",
    [PKI_R_PATHLEN_EXCEEDED] = "pathlen-exceeded",
    [PKI_R_LEAF_IS_CA] = "leaf-is-ca",
    [PKI_R_PURPOSE] = "purpose",
    [PKI_R_NAME_CONSTRAINTS] = "name-constraints",
    [PKI_R_CRITICAL_EXTENSION] = "critical-extension",
    [PKI_R_NOT_YET_VALID] = "not-yet-valid",
    [PKI_R_EXPIRED] = "expired",
    [PKI_R_NOT_CA] = "not-ca",
};

const char *pki_reason_code(enum pki_reason r)
{
    if ((unsigned)r >= PKI_R_COUNT_ || reason_codes[r] == NULL) {
        return "internal";
    }
    return reason_codes[r];
}

int pki_reason_parse(const char *code, enum pki_reason *r)
{
    for (int i = 0; i < PKI_R_COUNT_; i++) {
        if (reason_codes[i] != NULL && strcmp(reason_codes[i], code) == 0) {
            *r = (enum pki_reason)i;
            return 0;
        }
    }
    return -EINVAL;
}

static int verdict_vset(struct pki_verdict *v, enum pki_reason r, int depth, const char *prefix,
                        const char *fmt, va_list ap)
{
    v->reason = r;
    v->depth = depth;
    size_t off = 0;
    if (prefix != NULL) {
        int n = snprintf(v->message, sizeof(v->message), "%s ", prefix);
        off = n > 0 ? (size_t)n : 0;
        if (off >= sizeof(v->message)) {
            off = sizeof(v->message) - 1;
        }
    }
    vsnprintf(v->message + off, sizeof(v->message) - off, fmt, ap);
    return r == PKI_R_OK ? 0 : CG_EDENIED;
}

int pki_verdict_set(struct pki_verdict *v, enum pki_reason r, int depth, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = verdict_vset(v, r, depth, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int pki_verdict_cert(struct pki_verdict *v, enum pki_reason r, X509 *cert, int depth,
                     const char *fmt, ...)
{
    char who[PKI_MESSAGE_MAX / 2];
    pki_cert_describe(cert, depth, who, sizeof(who));
    va_list ap;
    va_start(ap, fmt);
    int rc = verdict_vset(v, r, depth, who, fmt, ap);
    va_end(ap);
    return rc;
}

int pki_purpose_parse(const char *name, enum pki_purpose *p)
{
    if (strcmp(name, "client") == 0) {
        *p = PKI_PURPOSE_CLIENT;
    } else if (strcmp(name, "server") == 0) {
        *p = PKI_PURPOSE_SERVER;
    } else if (strcmp(name, "any") == 0) {
        *p = PKI_PURPOSE_ANY;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* ---- individual rules --------------------------------------------------------------- */

int pki_check_v3(X509 *cert, int depth, struct pki_verdict *v)
{
    long version = X509_get_version(cert);
    if (version != X509_VERSION_3) {
        return pki_verdict_cert(v, PKI_R_NOT_V3, cert, depth, "is X.509 version %ld, not 3",
                                version + 1);
    }
    return 0;
}

int pki_check_validity(X509 *cert, int depth, int64_t at_ms, struct pki_verdict *v)
{
    int64_t nb = 0;
    int64_t na = 0;
    char when[TIME_ISO_LEN];
    if (pki_asn1_time_ms(X509_get0_notBefore(cert), &nb) < 0 ||
        pki_asn1_time_ms(X509_get0_notAfter(cert), &na) < 0) {
        return pki_verdict_cert(v, PKI_R_MALFORMED, cert, depth, "has an unreadable validity time");
    }
    /* Whole seconds, as OpenSSL compares them: at_ms within the second of notAfter is valid. */
    int64_t at_s = at_ms >= 0 ? at_ms / 1000 : (at_ms - 999) / 1000;
    if (nb / 1000 > at_s) {
        time_format_iso(nb, when);
        return pki_verdict_cert(v, PKI_R_NOT_YET_VALID, cert, depth, "is not valid before %s",
                                when);
    }
    if (na / 1000 < at_s) {
        time_format_iso(na, when);
        return pki_verdict_cert(v, PKI_R_EXPIRED, cert, depth, "expired on %s", when);
    }
    return 0;
}

static bool is_ca(X509 *cert)
{
    uint32_t f = X509_get_extension_flags(cert);
    return (f & EXFLAG_BCONS) != 0 && (f & EXFLAG_CA) != 0;
}

int pki_check_signer_ca(X509 *cert, int depth, struct pki_verdict *v)
{
    uint32_t f = X509_get_extension_flags(cert);
    if (f & EXFLAG_INVALID) {
        return pki_verdict_cert(v, PKI_R_MALFORMED, cert, depth, "has malformed extensions");
    }
    if (!is_ca(cert)) {
        return pki_verdict_cert(v, PKI_R_SIGNER_NOT_CA, cert, depth,
                                "signs certificates but is not a CA (basicConstraints %s)",
                                (f & EXFLAG_BCONS) ? "CA:FALSE" : "absent");
    }
    if ((f & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0) {
        return pki_verdict_cert(v, PKI_R_SIGNER_NOT_CA, cert, depth,
                                "signs certificates but its keyUsage lacks keyCertSign");
    }
    return 0;
}

int pki_check_pathlen(STACK_OF(X509) * chain, struct pki_verdict *v)
{
    int n = sk_X509_num(chain);
    /* below = non-self-issued intermediates between the signer at depth i and the leaf. */
    long below = 0;
    for (int i = 1; i < n; i++) {
        X509 *x = sk_X509_value(chain, i);
        long pl = X509_get_pathlen(x);
        if (is_ca(x) && pl >= 0 && below > pl) {
            return pki_verdict_cert(v, PKI_R_PATHLEN_EXCEEDED, x, i,
                                    "allows %ld intermediate CA certificate%s below it (pathlen) "
                                    "but the chain has %ld",
                                    pl, pl == 1 ? "" : "s", below);
        }
        if ((X509_get_extension_flags(x) & EXFLAG_SI) == 0) {
            below++;
        }
    }
    return 0;
}

int pki_check_chain_length(STACK_OF(X509) * chain, unsigned max, struct pki_verdict *v)
{
    if (max == 0) {
        max = PKI_DEFAULT_MAX_CHAIN;
    }
    int n = sk_X509_num(chain);
    if (n < 0 || (unsigned)n > max) {
        return pki_verdict_set(v, PKI_R_CHAIN_TOO_LONG, -1,
                               "the chain has %d certificates, more than the maximum of %u", n,
                               max);
    }
    return 0;
}

int pki_check_key_strength(X509 *cert, int depth, struct pki_verdict *v)
{
    EVP_PKEY *key = X509_get0_pubkey(cert);
    if (key == NULL) {
        ERR_clear_error();
        return pki_verdict_cert(v, PKI_R_MALFORMED, cert, depth,
                                "has a public key that cannot be decoded");
    }
    char type[16];
    char curve[24];
    int bits = 0;
    pki_key_describe(key, type, &bits, curve);
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        if (bits >= 2048) {
            return 0;
        }
        return pki_verdict_cert(v, PKI_R_WEAK_KEY, cert, depth,
                                "has a %d-bit RSA key (at least 2048 bits required)", bits);
    case EVP_PKEY_EC:
        if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "secp384r1") == 0 ||
            strcmp(curve, "secp521r1") == 0) {
            return 0;
        }
        return pki_verdict_cert(v, PKI_R_WEAK_KEY, cert, depth,
                                "has an EC key on %s (P-256, P-384 or P-521 required)",
                                curve[0] ? curve : "explicit or unknown curve parameters");
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
        return 0;
    default:
        return pki_verdict_cert(
            v, PKI_R_WEAK_KEY, cert, depth,
            "has a %s key, which is not accepted (RSA >= 2048, EC P-256/384/521 "
            "or Ed25519 required)",
            type);
    }
}

int pki_check_signature_alg(X509 *cert, int depth, struct pki_verdict *v)
{
    int mdnid = NID_undef;
    int pknid = NID_undef;
    int secbits = 0;
    uint32_t flags = 0;
    char name[48];
    bool known = X509_get_signature_info(cert, &mdnid, &pknid, &secbits, &flags) == 1;
    bool weak_md = mdnid == NID_md5 || mdnid == NID_md4 || mdnid == NID_md2 || mdnid == NID_sha1 ||
                   mdnid == NID_md5_sha1;
    if (known && !weak_md && secbits >= 112) {
        return 0;
    }
    ERR_clear_error();
    /* The name is only needed for the message. */
    if (pki_sig_alg_name(cert, name, sizeof(name)) < 0) {
        snprintf(name, sizeof(name), "unknown");
    }
    if (!known) {
        return pki_verdict_cert(v, PKI_R_WEAK_SIGNATURE, cert, depth,
                                "is signed with an unsupported algorithm (%s)", name);
    }
    return pki_verdict_cert(v, PKI_R_WEAK_SIGNATURE, cert, depth,
                            "is signed with %s, which is not accepted", name);
}

int pki_check_leaf_not_ca(X509 *leaf, struct pki_verdict *v)
{
    if (is_ca(leaf)) {
        return pki_verdict_cert(v, PKI_R_LEAF_IS_CA, leaf, 0,
                                "is a CA certificate (basicConstraints CA:TRUE), not a device "
                                "certificate");
    }
    return 0;
}

static const char *purpose_eku_name(enum pki_purpose p)
{
    return p == PKI_PURPOSE_SERVER ? "serverAuth" : "clientAuth";
}

/* Whether the certificate's EKU (if any) allows the purpose. */
static bool eku_allows(X509 *cert, enum pki_purpose purpose)
{
    uint32_t f = X509_get_extension_flags(cert);
    if ((f & EXFLAG_XKUSAGE) == 0) {
        return true;
    }
    uint32_t xku = X509_get_extended_key_usage(cert);
    uint32_t want = purpose == PKI_PURPOSE_SERVER ? XKU_SSL_SERVER : XKU_SSL_CLIENT;
    return (xku & (want | XKU_ANYEKU)) != 0;
}

int pki_check_leaf_purpose(X509 *leaf, enum pki_purpose purpose, struct pki_verdict *v)
{
    if (purpose == PKI_PURPOSE_ANY) {
        return 0;
    }
    if (!eku_allows(leaf, purpose)) {
        return pki_verdict_cert(v, PKI_R_PURPOSE, leaf, 0,
                                "is not allowed for TLS %s authentication (extendedKeyUsage "
                                "lacks %s)",
                                purpose == PKI_PURPOSE_SERVER ? "server" : "client",
                                purpose_eku_name(purpose));
    }
    uint32_t f = X509_get_extension_flags(leaf);
    if ((f & EXFLAG_KUSAGE) != 0) {
        uint32_t ku = X509_get_key_usage(leaf);
        uint32_t ok = KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT;
        if (purpose == PKI_PURPOSE_SERVER) {
            ok |= KU_KEY_ENCIPHERMENT;
        }
        if ((ku & ok) == 0) {
            return pki_verdict_cert(v, PKI_R_PURPOSE, leaf, 0,
                                    "is not allowed for TLS %s authentication (keyUsage lacks "
                                    "digitalSignature)",
                                    purpose == PKI_PURPOSE_SERVER ? "server" : "client");
        }
    }
    return 0;
}

int pki_check_ca_purpose(X509 *cert, int depth, enum pki_purpose purpose, struct pki_verdict *v)
{
    if (purpose == PKI_PURPOSE_ANY || eku_allows(cert, purpose)) {
        return 0;
    }
    return pki_verdict_cert(v, PKI_R_PURPOSE, cert, depth,
                            "restricts its chain to other purposes (extendedKeyUsage lacks %s)",
                            purpose_eku_name(purpose));
}

int pki_check_revoked(STACK_OF(X509) * chain, const struct pki_revocation *set,
                      struct pki_verdict *v)
{
    if (set == NULL) {
        return 0;
    }
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (pki_revocation_contains(set, x)) {
            char hex[PKI_SERIAL_HEX_MAX];
            if (pki_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex)) < 0) {
                snprintf(hex, sizeof(hex), "?");
            }
            return pki_verdict_cert(v, PKI_R_REVOKED, x, i, "is revoked (serial %s)", hex);
        }
    }
    return 0;
}

/* ---- all rules, in order ------------------------------------------------------------ */

int pki_check_policy(STACK_OF(X509) * chain, unsigned max_chain, enum pki_purpose purpose,
                     int64_t at_ms, const struct pki_revocation *revoked, struct pki_verdict *v)
{
    int rc;
    int n = sk_X509_num(chain);
    if (n <= 0) {
        return pki_verdict_set(v, PKI_R_INTERNAL, -1, "empty chain");
    }
    if ((rc = pki_check_chain_length(chain, max_chain, v)) < 0 ||
        (rc = pki_check_revoked(chain, revoked, v)) < 0) {
        return rc;
    }
    for (int i = 0; i < n; i++) {
        if ((rc = pki_check_v3(sk_X509_value(chain, i), i, v)) < 0) {
            return rc;
        }
    }
    for (int i = 0; i < n; i++) {
        if ((rc = pki_check_key_strength(sk_X509_value(chain, i), i, v)) < 0) {
            return rc;
        }
    }
    for (int i = 0; i < n - 1; i++) { /* the anchor's own signature is not relied on */
        if ((rc = pki_check_signature_alg(sk_X509_value(chain, i), i, v)) < 0) {
            return rc;
        }
    }
    for (int i = 1; i < n; i++) {
        if ((rc = pki_check_signer_ca(sk_X509_value(chain, i), i, v)) < 0) {
            return rc;
        }
    }
    if ((rc = pki_check_pathlen(chain, v)) < 0 ||
        (rc = pki_check_leaf_not_ca(sk_X509_value(chain, 0), v)) < 0 ||
        (rc = pki_check_leaf_purpose(sk_X509_value(chain, 0), purpose, v)) < 0) {
        return rc;
    }
    for (int i = 1; i < n - 1; i++) {
        if ((rc = pki_check_ca_purpose(sk_X509_value(chain, i), i, purpose, v)) < 0) {
            return rc;
        }
    }
    for (int i = 0; i < n; i++) {
        if ((rc = pki_check_validity(sk_X509_value(chain, i), i, at_ms, v)) < 0) {
            return rc;
        }
    }
    v->reason = PKI_R_OK;
    v->depth = -1;
    v->message[0] = '\0';
    return 0;
}

/* ---- anchors ------------------------------------------------------------------------ */

int pki_anchor_check(X509 *cert, int64_t at_ms, struct pki_verdict *v)
{
    int rc;
    if (cert == NULL) {
        return pki_verdict_set(v, PKI_R_MALFORMED, -1, "no certificate");
    }
    if (X509_get_extension_flags(cert) & EXFLAG_INVALID) {
        return pki_verdict_cert(v, PKI_R_MALFORMED, cert, 0, "has malformed extensions");
    }
    if ((rc = pki_check_v3(cert, 0, v)) < 0) {
        return rc;
    }
    if (!is_ca(cert)) {
        return pki_verdict_cert(v, PKI_R_NOT_CA, cert, 0,
                                "is not a CA certificate (basicConstraints CA:TRUE required)");
    }
    if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) != 0 &&
        (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0) {
        return pki_verdict_cert(v, PKI_R_NOT_CA, cert, 0,
                                "is not a CA certificate (its keyUsage lacks keyCertSign)");
    }
    if ((rc = pki_check_key_strength(cert, 0, v)) < 0) {
        return rc;
    }
    rc = pki_check_validity(cert, 0, at_ms, v);
    if (rc < 0 && v->reason != PKI_R_NOT_YET_VALID) {
        return rc;
    }
    v->reason = PKI_R_OK;
    v->depth = -1;
    v->message[0] = '\0';
    return 0;
}

int pki_anchor_load(const void *data, size_t len, int64_t at_ms, X509 **out, struct pki_verdict *v)
{
    STACK_OF(X509) *sk = NULL;
    int n = pki_bundle_parse(data, len, 0, 2, &sk);
    if (n == PKI_EPRIVATEKEY) {
        return pki_verdict_set(v, PKI_R_MALFORMED, -1,
                               "a private key was supplied; upload the CA certificate only");
    }
    if (n == -ENOMEM) {
        return pki_verdict_set(v, PKI_R_INTERNAL, -1, "out of memory");
    }
    if (n == CG_ELIMIT) {
        return pki_verdict_set(v, PKI_R_MALFORMED, -1,
                               len > PKI_BUNDLE_MAX_BYTES
                                   ? "the input is too large"
                                   : "expected one certificate, found several");
    }
    if (n < 0) {
        return pki_verdict_set(v, PKI_R_MALFORMED, -1, "not an X.509 certificate in PEM or DER");
    }
    if (n != 1) {
        sk_X509_pop_free(sk, X509_free);
        return pki_verdict_set(v, PKI_R_MALFORMED, -1, "expected one certificate, found %d", n);
    }
    X509 *x = sk_X509_value(sk, 0);
    int rc = pki_anchor_check(x, at_ms, v);
    if (rc == 0) {
        *out = sk_X509_shift(sk);
    }
    sk_X509_pop_free(sk, X509_free);
    return rc;
}
