/* testpki: a certificate factory for C tests.
 *
 * Makes keys, certificates (any version, validity, basicConstraints, keyUsage, EKU,
 * signature digest, serial, subject, issuer), chains and CRLs in memory with OpenSSL, so
 * that tests can build exactly the broken certificate a rule is about. It depends on
 * OpenSSL and libc only (not on cg_pki), so every module's tests may use it.
 *
 * Every function aborts the test process on failure (a factory that fails is a broken
 * test, never a result to check). Objects returned are owned by the caller and freed with
 * the OpenSSL free function named in each contract. Not thread-safe: call from the test's
 * main thread.
 */
#ifndef CERTGATE_TEST_TESTPKI_H
#define CERTGATE_TEST_TESTPKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Key types. */
enum testpki_key {
    TESTPKI_EC_P256,
    TESTPKI_EC_P384,
    TESTPKI_EC_P521,
    TESTPKI_EC_SECP256K1, /* a curve certgate refuses */
    TESTPKI_RSA_1024,
    TESTPKI_RSA_2048,
    TESTPKI_RSA_3072,
    TESTPKI_ED25519,
    TESTPKI_ED448,
    TESTPKI_DSA_2048,
};

/* testpki_key_new: a fresh key pair (EVP_PKEY_free). RSA and DSA keys take a while: reuse
 * them across tests where the key itself does not matter. */
EVP_PKEY *testpki_key_new(enum testpki_key type);

/* testpki_now: the current time in seconds since the epoch. */
int64_t testpki_now(void);

#define TESTPKI_DAY (24 * 3600)

/* What to put in a certificate. A zeroed struct makes a self-signed, v3, SHA-256 signed
 * leaf "/CN=test" (CA:FALSE, keyUsage digitalSignature, no EKU) valid from an hour ago for
 * a year, with a random 16-byte serial and key identifiers. */
struct testpki_cert_opts {
    /* Subject in DER order, OpenSSL's -subj syntax: "/C=DE/O=Acme/CN=dev-1"; '+' joins
     * attributes into a multi-valued RDN ("/CN=a+UID=b"); a backslash escapes the next
     * character. NULL: "/CN=test". */
    const char *subject;
    /* Issuer certificate and its key; both NULL: self-signed with the subject's key. */
    X509 *issuer;
    EVP_PKEY *issuer_key;
    /* Override the issuer name written into the certificate (same syntax as subject), e.g.
     * to claim an issuer that did not sign it. NULL: the issuer's subject. */
    const char *issuer_name;
    int version;        /* 1, 2 or 3; 0 means 3. v1 and v2 certificates get no extensions */
    int64_t not_before; /* seconds since the epoch; 0: now - 1 hour */
    int64_t not_after;  /* 0: not_before + 366 days */
    bool ca;            /* default basicConstraints "critical,CA:TRUE" (else "CA:FALSE") and
                           keyUsage "critical,keyCertSign,cRLSign" (else digitalSignature) */
    /* Extension values in openssl.cnf syntax. NULL: the default above; "": omitted. */
    const char *basic_constraints; /* e.g. "critical,CA:TRUE,pathlen:0" */
    const char *key_usage;         /* e.g. "critical,digitalSignature,keyEncipherment" */
    const char *ext_key_usage;     /* e.g. "serverAuth"; NULL or "": none */
    /* Up to 4 more extensions as name/value pairs, NULL-terminated, e.g.
     * {"subjectAltName", "email:a@example.com", NULL}. */
    const char *extra[9];
    bool unknown_critical_ext; /* add a critical extension with an unknown OID */
    bool no_key_ids;           /* omit subjectKeyIdentifier and authorityKeyIdentifier */
    const EVP_MD *md;          /* NULL: SHA-256 (no digest for Ed25519/Ed448 signers) */
    bool rsa_pss;              /* sign with RSASSA-PSS (the signer's key must be RSA) */
    const char *serial_hex;    /* NULL: random positive 16 bytes; "-1f" makes a negative one */
};

/* testpki_cert: a certificate for `key`'s public key made as `o` says (NULL: defaults).
 * X509_free. */
X509 *testpki_cert(EVP_PKEY *key, const struct testpki_cert_opts *o);

/* testpki_name: an X509_NAME from -subj syntax (X509_NAME_free). */
X509_NAME *testpki_name(const char *subj);

/* testpki_pem: the certificate in PEM (malloc'd, NUL-terminated; free). */
char *testpki_pem(X509 *cert);

/* testpki_der: the certificate's DER (malloc'd; free); *len receives its size. */
unsigned char *testpki_der(X509 *cert, size_t *len);

/* testpki_stack: a stack of the given certificates, NULL-terminated argument list; each
 * is up-referenced (free the stack with sk_X509_pop_free(sk, X509_free)). */
STACK_OF(X509) * testpki_stack(X509 *first, ...);

#define TESTPKI_MAX_CHAIN 40

/* A chain root -> intermediates -> leaf. cert[0] is the leaf, cert[n-1] the self-signed
 * root; key[i] is cert[i]'s key. Subjects are "/O=testpki/CN=root", "/O=testpki/CN=ca-<i>"
 * and "/O=testpki/CN=leaf"; CAs have CA:TRUE without pathlen; the leaf has EKU clientAuth. */
struct testpki_chain {
    int n;
    X509 *cert[TESTPKI_MAX_CHAIN];
    EVP_PKEY *key[TESTPKI_MAX_CHAIN];
};

/* testpki_chain_make: fill *c with an n-certificate chain (2 <= n <= TESTPKI_MAX_CHAIN)
 * whose keys are all of `type`. */
void testpki_chain_make(struct testpki_chain *c, int n, enum testpki_key type);

/* testpki_chain_free: free the certificates and keys; the struct may be reused. */
void testpki_chain_free(struct testpki_chain *c);

/* testpki_crl: a v2 CRL issued and signed (SHA-256) by issuer/key, valid from an hour ago
 * for 30 days, revoking the given hex serials (NULL-terminated list). X509_CRL_free. */
X509_CRL *testpki_crl(X509 *issuer, EVP_PKEY *key, const char *const *serials_hex);

/* testpki_crl_pem / testpki_crl_der: encodings of a CRL (malloc'd; free). */
char *testpki_crl_pem(X509_CRL *crl);
unsigned char *testpki_crl_der(X509_CRL *crl, size_t *len);

/* testpki_key_pem: the private key in PKCS#8 PEM (malloc'd; free), for tests that check
 * that keys are refused where certificates are expected. */
char *testpki_key_pem(EVP_PKEY *key);

#endif
