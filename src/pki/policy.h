/* The validator's policy: reason codes, verdicts, and each rule as its own check.
 *
 * Every check reads its certificates only and is safe to call from any thread. A check
 * returns 0 when the rule holds; otherwise CG_EDENIED with *v filled in (reason, depth of
 * the certificate at fault, a sentence naming it). An internal failure (allocation
 * included) also refuses: CG_EDENIED with reason PKI_R_INTERNAL (fail closed).
 *
 * Depths count from the leaf: 0 is the leaf, the chain's last certificate is the anchor.
 * The reason codes and their order are documented in docs/design/pki.md and are stable.
 */
#ifndef CERTGATE_PKI_POLICY_H
#define CERTGATE_PKI_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/x509.h>

struct pki_revocation;

/* Why a chain (or an offered anchor) was refused. PKI_R_OK means accepted. */
enum pki_reason {
    PKI_R_OK = 0,
    PKI_R_INTERNAL,           /* "internal": an internal error (allocation...) */
    PKI_R_MALFORMED,          /* "malformed": unparsable certificate or field */
    PKI_R_CHAIN_TOO_LONG,     /* "chain-too-long" */
    PKI_R_UNTRUSTED,          /* "untrusted": no path to an uploaded certificate */
    PKI_R_REVOKED,            /* "revoked" */
    PKI_R_NOT_V3,             /* "not-v3" */
    PKI_R_WEAK_KEY,           /* "weak-key" */
    PKI_R_WEAK_SIGNATURE,     /* "weak-signature": SHA-1/MD5 signature relied on */
    PKI_R_BAD_SIGNATURE,      /* "bad-signature" */
    PKI_R_SIGNER_NOT_CA,      /* "signer-not-ca": signer without CA:TRUE or keyCertSign */
    PKI_R_PATHLEN_EXCEEDED,   /* "pathlen-exceeded" */
    PKI_R_LEAF_IS_CA,         /* "leaf-is-ca" */
    PKI_R_PURPOSE,            /* "purpose": EKU/keyUsage do not allow the purpose */
    PKI_R_NAME_CONSTRAINTS,   /* "name-constraints": a CA's name constraints violated */
    PKI_R_CRITICAL_EXTENSION, /* "critical-extension": unknown critical extension */
    PKI_R_NOT_YET_VALID,      /* "not-yet-valid" */
    PKI_R_EXPIRED,            /* "expired" */
    PKI_R_NOT_CA,             /* "not-ca": an offered anchor is not a CA certificate */
    PKI_R_COUNT_
};

/* pki_reason_code: the stable code ("expired", ...); "accepted" for PKI_R_OK. Never NULL. */
const char *pki_reason_code(enum pki_reason r);

/* pki_reason_parse: the reason for a code. 0 or -EINVAL. */
int pki_reason_parse(const char *code, enum pki_reason *r);

#define PKI_MESSAGE_MAX 256

/* A refusal: reason, depth of the certificate at fault (-1 when about no single
 * certificate) and a human sentence such as
 * "certificate 1 (CN=Intermediate CA) expired on 2024-01-01T00:00:00.000Z". */
struct pki_verdict {
    enum pki_reason reason;
    int depth;
    char message[PKI_MESSAGE_MAX];
};

/* pki_verdict_set: fill *v (printf-style message); returns CG_EDENIED, or 0 for PKI_R_OK. */
int pki_verdict_set(struct pki_verdict *v, enum pki_reason r, int depth, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* pki_verdict_cert: fill *v with "<certificate description> <what>" where the description
 * is pki_cert_describe(cert, depth). Returns CG_EDENIED (0 for PKI_R_OK). */
int pki_verdict_cert(struct pki_verdict *v, enum pki_reason r, X509 *cert, int depth,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Default and hard maximum of the chain length (certificates, leaf to anchor inclusive). */
#define PKI_DEFAULT_MAX_CHAIN 10
#define PKI_MAX_CHAIN_LIMIT 32

/* What the leaf must be allowed to do. */
enum pki_purpose {
    PKI_PURPOSE_CLIENT = 0, /* TLS client: EKU clientAuth where EKU is present */
    PKI_PURPOSE_SERVER = 1, /* TLS server: EKU serverAuth */
    PKI_PURPOSE_ANY = 2,    /* no EKU or keyUsage check on the leaf */
};

/* pki_purpose_parse: "client", "server" or "any". 0 or -EINVAL. */
int pki_purpose_parse(const char *name, enum pki_purpose *p);

/* pki_check_v3: the certificate is X.509 v3. Refusal: PKI_R_NOT_V3. */
int pki_check_v3(X509 *cert, int depth, struct pki_verdict *v);

/* pki_check_validity: notBefore <= at_ms <= notAfter. Refusals: PKI_R_NOT_YET_VALID,
 * PKI_R_EXPIRED, PKI_R_MALFORMED (unreadable times). */
int pki_check_validity(X509 *cert, int depth, int64_t at_ms, struct pki_verdict *v);

/* pki_check_signer_ca: a certificate that signs another one has basicConstraints CA:TRUE
 * and, when keyUsage is present, keyCertSign. Refusal: PKI_R_SIGNER_NOT_CA. */
int pki_check_signer_ca(X509 *cert, int depth, struct pki_verdict *v);

/* pki_check_pathlen: every signer's pathLenConstraint allows the number of non-self-issued
 * intermediates between it and the leaf. chain[0] is the leaf. Refusal:
 * PKI_R_PATHLEN_EXCEEDED at the depth of the constraining signer. */
int pki_check_pathlen(STACK_OF(X509) * chain, struct pki_verdict *v);

/* pki_check_chain_length: the chain holds at most `max` certificates (0 selects
 * PKI_DEFAULT_MAX_CHAIN). Refusal: PKI_R_CHAIN_TOO_LONG, depth -1. */
int pki_check_chain_length(STACK_OF(X509) * chain, unsigned max, struct pki_verdict *v);

/* pki_check_key_strength: RSA >= 2048 bits (RSA-PSS keys too), EC on P-256, P-384 or
 * P-521, Ed25519 or Ed448; everything else (DSA, small RSA, other curves, explicit curve
 * parameters) is refused. Refusal: PKI_R_WEAK_KEY (PKI_R_MALFORMED when the key cannot be
 * decoded). */
int pki_check_key_strength(X509 *cert, int depth, struct pki_verdict *v);

/* pki_check_signature_alg: the certificate's own signature does not use MD5, MD4, MD2 or
 * SHA-1 (nor anything OpenSSL rates below 112 bits of security). Call it only for
 * certificates whose signature is relied on (every one except the anchor). Refusal:
 * PKI_R_WEAK_SIGNATURE. */
int pki_check_signature_alg(X509 *cert, int depth, struct pki_verdict *v);

/* pki_check_leaf_not_ca: the leaf does not carry basicConstraints CA:TRUE. Refusal:
 * PKI_R_LEAF_IS_CA. */
int pki_check_leaf_not_ca(X509 *leaf, struct pki_verdict *v);

/* pki_check_leaf_purpose: for PKI_PURPOSE_CLIENT (SERVER), an extendedKeyUsage, where
 * present, lists clientAuth (serverAuth) or anyExtendedKeyUsage (RFC 5280 4.2.1.12, as Java
 * accepts it), and a keyUsage, where
 * present, allows digitalSignature or keyAgreement (or keyEncipherment for a server).
 * PKI_PURPOSE_ANY checks nothing. Refusal: PKI_R_PURPOSE. */
int pki_check_leaf_purpose(X509 *leaf, enum pki_purpose purpose, struct pki_verdict *v);

/* pki_check_ca_purpose: a certificate between the leaf and the anchor that carries an
 * extendedKeyUsage lists the purpose's usage or anyExtendedKeyUsage (EKU chaining, as
 * OpenSSL and Windows apply it). The anchor itself is not checked. PKI_PURPOSE_ANY checks
 * nothing. Refusal: PKI_R_PURPOSE. */
int pki_check_ca_purpose(X509 *cert, int depth, enum pki_purpose purpose, struct pki_verdict *v);

/* pki_check_revoked: no certificate of the chain is in `set` (NULL: nothing revoked).
 * Refusal: PKI_R_REVOKED at the depth nearest the leaf. */
int pki_check_revoked(STACK_OF(X509) * chain, const struct pki_revocation *set,
                      struct pki_verdict *v);

/* pki_check_policy: every rule above on a chain already built and proven to end at a trust
 * anchor (chain[0] leaf ... chain[n-1] anchor), in the documented order; the first broken
 * rule is reported. `max_chain` 0 selects the default; `revoked` may be NULL. */
int pki_check_policy(STACK_OF(X509) * chain, unsigned max_chain, enum pki_purpose purpose,
                     int64_t at_ms, const struct pki_revocation *revoked, struct pki_verdict *v);

/* pki_anchor_check: whether a certificate may be uploaded as a trust anchor at time at_ms:
 * X.509 v3, basicConstraints CA:TRUE (and keyCertSign where keyUsage is present), not
 * expired (a CA that is not yet valid may be uploaded ahead of time), and an acceptable
 * key. The anchor's own signature is not checked (nothing relies on it). 0 when acceptable,
 * CG_EDENIED with *v (PKI_R_NOT_V3, PKI_R_NOT_CA, PKI_R_EXPIRED, PKI_R_WEAK_KEY,
 * PKI_R_MALFORMED, PKI_R_INTERNAL). Any thread. */
int pki_anchor_check(X509 *cert, int64_t at_ms, struct pki_verdict *v);

/* pki_anchor_load: parse one certificate offered as an anchor (PEM, DER, or bare base64 as
 * accepted by pki_bundle_parse) and check it with pki_anchor_check. On success *out
 * receives the certificate (caller frees). A private key, several certificates or
 * unparsable input are refused as PKI_R_MALFORMED with a message saying which. */
int pki_anchor_load(const void *data, size_t len, int64_t at_ms, X509 **out, struct pki_verdict *v);

#endif
