/* Certificate issuance: keys, certificate requests, signing, PEM and PKCS#12 files.
 *
 * This is the library behind `certgate pki` and behind the server's first start (which makes
 * its own server CA and certificate). Everything here is reentrant: no global state, nothing
 * printed, no prompts (an encrypted key is only ever opened with a passphrase the caller
 * passes). OpenSSL errors raised by a call are drained from the calling thread's error queue
 * and summarised in the `why` out-parameter, which every fallible function takes:
 * `why[whylen]` receives a one-line, human explanation naming what is at fault (a file, an
 * attribute, a rule) on failure; it may be NULL. Secrets never appear in `why`.
 *
 * Names here all start with `pki_issue_` so that they never collide with the chain
 * validator's names in the same library.
 */
#ifndef CERTGATE_PKI_ISSUE_H
#define CERTGATE_PKI_ISSUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct buf;

/* ---- keys ---------------------------------------------------------------------------- */

enum pki_issue_key_type {
    PKI_ISSUE_KEY_EC_P256 = 0, /* the default: ECDSA on NIST P-256 */
    PKI_ISSUE_KEY_EC_P384,
    PKI_ISSUE_KEY_RSA2048,
    PKI_ISSUE_KEY_RSA3072,
    PKI_ISSUE_KEY_RSA4096,
    PKI_ISSUE_KEY_ED25519,
};

/* The names accepted by pki_issue_key_type_parse, comma-separated, for help texts. */
#define PKI_ISSUE_KEY_TYPE_NAMES "ec-p256, ec-p384, rsa2048, rsa3072, rsa4096, ed25519"

/* pki_issue_key_type_parse: "ec-p256", "ec-p384", "rsa2048", "rsa3072", "rsa4096" or
 * "ed25519" (ASCII case-insensitive) into *out. 0, or -EINVAL for any other name. */
int pki_issue_key_type_parse(const char *name, enum pki_issue_key_type *out);

/* pki_issue_key_type_name: the canonical name of a key type ("ec-p256", ...). Static. */
const char *pki_issue_key_type_name(enum pki_issue_key_type type);

/* pki_issue_key_new: generate a fresh private key of `type`. On success *out owns a new key
 * (free with EVP_PKEY_free). 0, -EINVAL (unknown type) or CG_ECRYPTO. */
int pki_issue_key_new(enum pki_issue_key_type type, EVP_PKEY **out);

/* pki_issue_key_describe: "EC P-256", "RSA 3072", "Ed25519"... for key into out[len]
 * (truncated to fit; "unknown" for other types). Never fails. */
void pki_issue_key_describe(const EVP_PKEY *key, char *out, size_t len);

/* pki_issue_key_matches: whether the private key `key` belongs to the public key in `cert`.
 * Leaves the OpenSSL error queue as it found it. */
bool pki_issue_key_matches(X509 *cert, EVP_PKEY *key);

/* Shortest passphrase accepted for encrypting a key or a PKCS#12 file (as openssl's). */
#define PKI_ISSUE_PASSPHRASE_MIN 4
/* Longest passphrase accepted anywhere. */
#define PKI_ISSUE_PASSPHRASE_MAX 1023

/* pki_issue_key_pem: the private key as PEM PKCS#8 appended to `out` (a buffer the caller
 * initialised; it zeroes its memory on cleanup). With a non-NULL `passphrase` the key is
 * encrypted (PKCS#8 PBES2: AES-256-CBC, PBKDF2 with HMAC-SHA256), otherwise it is written in
 * the clear ("PRIVATE KEY"). Intermediate copies are zeroed.
 * 0, -EINVAL (passphrase shorter than PKI_ISSUE_PASSPHRASE_MIN or longer than the max),
 * CG_ELIMIT (does not fit `out`), -ENOMEM or CG_ECRYPTO. */
int pki_issue_key_pem(EVP_PKEY *key, const char *passphrase, struct buf *out);

/* pki_issue_key_parse: a private key from PEM text (PKCS#8, encrypted PKCS#8, or the
 * traditional RSA/EC forms, encrypted or not). `passphrase` may be NULL; it is used only
 * when the key is encrypted. `what` names the source in messages (a file name). On success
 * *out owns the key.
 * 0; -ENOKEY when the key is encrypted and no passphrase was given; CG_EDENIED when the
 * passphrase is wrong; CG_EPARSE when the text holds no private key; -ENOMEM. */
int pki_issue_key_parse(const void *pem, size_t len, const char *passphrase, const char *what,
                        EVP_PKEY **out, char *why, size_t whylen);

/* pki_issue_key_load: pki_issue_key_parse on the contents of the file at `path` (at most
 * 1 MiB; the copy in memory is zeroed). Also -errno when the file cannot be read. */
int pki_issue_key_load(const char *path, const char *passphrase, EVP_PKEY **out, char *why,
                       size_t whylen);

/* ---- files ----------------------------------------------------------------------------- */

enum pki_issue_save_flags {
    /* Replace an existing file: the data goes to a fresh temporary file in the same
     * directory which is then renamed over the target. Without it the target is created
     * with O_CREAT|O_EXCL and an existing file (or symlink) makes the call fail. */
    PKI_ISSUE_SAVE_FORCE = 1u << 0,
};

/* pki_issue_file_save: write data[len] to `path` with permission bits `mode` (0600 for
 * keys: the file is created with that mode and never chmod'ed), fsync'ed. `flags` is a set
 * of PKI_ISSUE_SAVE_*. On failure no file is left at `path` that was not there before.
 * 0, -EEXIST (exists and no PKI_ISSUE_SAVE_FORCE) or another -errno. */
int pki_issue_file_save(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                        char *why, size_t whylen);

/* pki_issue_key_save: pki_issue_key_pem then pki_issue_file_save with mode 0600. */
int pki_issue_key_save(const char *path, EVP_PKEY *key, const char *passphrase, unsigned flags,
                       char *why, size_t whylen);

/* pki_issue_certs_pem: the certificates of `certs` in order, as PEM, appended to `out`.
 * 0, CG_ELIMIT, -ENOMEM or CG_ECRYPTO. */
int pki_issue_certs_pem(const STACK_OF(X509) * certs, struct buf *out);

/* pki_issue_certs_save: the certificates of `certs` in order, as PEM, to `path` (mode
 * 0644, flags as pki_issue_file_save). */
int pki_issue_certs_save(const char *path, const STACK_OF(X509) * certs, unsigned flags, char *why,
                         size_t whylen);

/* pki_issue_certs_parse: every certificate in `data` (PEM, any number of CERTIFICATE blocks
 * in order; or a single DER certificate), in file order. On success *out owns a new stack
 * with at least one certificate (free with sk_X509_pop_free(stack, X509_free)). `what` names the
 * source in messages. 0, CG_EPARSE (no certificate, or a damaged one), CG_ELIMIT (more than
 * 64 certificates) or -ENOMEM. */
int pki_issue_certs_parse(const void *data, size_t len, const char *what, STACK_OF(X509) * *out,
                          char *why, size_t whylen);

/* pki_issue_certs_load: pki_issue_certs_parse on the file at `path` (at most 4 MiB). */
int pki_issue_certs_load(const char *path, STACK_OF(X509) * *out, char *why, size_t whylen);

/* ---- subject names ---------------------------------------------------------------------- */

/* pki_issue_name_parse: a distinguished name from text. Two forms:
 *   - RFC 4514: "CN=Device 1,O=Acme\, Inc.,C=DE": the most specific attribute first, so the
 *     encoded name is C, O, CN (what `openssl x509 -nameopt RFC2253` prints back). Spaces
 *     around ',' '=' and '+' are ignored; '\' escapes a special character or gives a byte as
 *     two hex digits; '+' joins attributes into one multi-valued RDN.
 *   - OpenSSL's -subj form, recognised by a leading '/': "/C=DE/O=Acme/CN=Device 1", in
 *     encoding order, '\' escaping the next character.
 * Attribute names are OpenSSL short or long names (CN, O, OU, C, ST, L, emailAddress,
 * serialNumber, DC, ...) or dotted OIDs; values are UTF-8, non-empty, within X.520's length
 * limits (CN at most 64 characters, C exactly two letters). On success *out owns a new name.
 * 0, CG_EPARSE (with `why` naming the attribute or position at fault), -ENOMEM. */
int pki_issue_name_parse(const char *text, X509_NAME **out, char *why, size_t whylen);

/* pki_issue_name_escape: `value` escaped for use as an attribute value in RFC 4514 text
 * (so "CN=" followed by it parses back to exactly `value`): '\' before any of ,+"\<>;=
 * anywhere, before '#' or ' ' at the start and ' ' at the end. Into out[len]. 0, or
 * CG_ELIMIT when it does not fit (out then holds ""). */
int pki_issue_name_escape(const char *value, char *out, size_t len);

/* pki_issue_name_text: the name in RFC 4514 form (the inverse of pki_issue_name_parse) into
 * out[len], truncated to fit. Never fails ("" for a name that cannot be printed). */
void pki_issue_name_text(const X509_NAME *name, char *out, size_t len);

/* ---- certificate requests ---------------------------------------------------------------- */

/* keyUsage bits (a request's key_usage is an OR of these). */
enum pki_issue_key_usage {
    PKI_ISSUE_KU_DIGITAL_SIGNATURE = 1u << 0,
    PKI_ISSUE_KU_NON_REPUDIATION = 1u << 1,
    PKI_ISSUE_KU_KEY_ENCIPHERMENT = 1u << 2,
    PKI_ISSUE_KU_KEY_AGREEMENT = 1u << 3,
    PKI_ISSUE_KU_KEY_CERT_SIGN = 1u << 4,
    PKI_ISSUE_KU_CRL_SIGN = 1u << 5,
};

/* extendedKeyUsage purposes (a request's ext_key_usage is an OR of these; 0 = none). */
enum pki_issue_ext_key_usage {
    PKI_ISSUE_EKU_CLIENT_AUTH = 1u << 0,
    PKI_ISSUE_EKU_SERVER_AUTH = 1u << 1,
};

/* The kinds of certificate `certgate pki` makes; pki_issue_request_init fills in the
 * extensions each needs. */
enum pki_issue_profile {
    PKI_ISSUE_ROOT_CA,         /* CA:TRUE, keyCertSign cRLSign digitalSignature */
    PKI_ISSUE_INTERMEDIATE_CA, /* the same, signed by another CA */
    PKI_ISSUE_DEVICE,          /* CA:FALSE, digitalSignature, EKU clientAuth */
    PKI_ISSUE_SERVER,          /* CA:FALSE, digitalSignature, EKU serverAuth; the caller
                                  adds SANs, and keyEncipherment for an RSA key that TLS 1.2
                                  clients may use for RSA key exchange */
    PKI_ISSUE_VERIFICATION,    /* an Azure-style proof-of-possession certificate: as DEVICE */
};

/* Caps on a request's lists. */
#define PKI_ISSUE_MAX_SANS 64
/* Longest validity accepted, in days (100 years). */
#define PKI_ISSUE_MAX_DAYS 36500
/* How far notBefore is set back from "now" by pki_issue_request_init, for clock skew. */
#define PKI_ISSUE_BACKDATE_MS (5 * 60 * 1000)

/* What to put in a certificate. The strings and arrays are borrowed: they must outlive the
 * pki_issue_cert call that reads them. Every certificate gets a random 16-byte positive
 * serial, X.509 v3, subjectKeyIdentifier (SHA-1 of the public key) and
 * authorityKeyIdentifier (the issuer's SKI, or the hash of its key when it has none). */
struct pki_issue_request {
    const char *subject;    /* distinguished name text, see pki_issue_name_parse */
    const char *const *dns; /* subjectAltName dNSName entries (LDH labels, optional
                               leading "*." wildcard), ndns of them */
    size_t ndns;
    const char *const *ips; /* subjectAltName iPAddress entries (IPv4 or IPv6 text) */
    size_t nips;
    int64_t now_ms;        /* the time the issuer checks use (ms since the epoch) */
    int64_t not_before_ms; /* validity, ms since the epoch (second resolution kept) */
    int64_t not_after_ms;
    bool ca;                /* basicConstraints CA:TRUE (always marked critical) */
    int pathlen;            /* pathLenConstraint for a CA, -1 for none */
    unsigned key_usage;     /* PKI_ISSUE_KU_* (critical); 0 leaves the extension out */
    unsigned ext_key_usage; /* PKI_ISSUE_EKU_*; 0 leaves the extension out */
    bool unchecked;         /* skip the issuer checks of pki_issue_cert, to make
                               deliberately invalid certificates for tests */
};

/* pki_issue_request_init: a request for `profile` with subject `subject` (borrowed), valid
 * from now_ms - PKI_ISSUE_BACKDATE_MS until now_ms + days * 24 h, no SANs, pathlen -1.
 * Never fails; the values are checked by pki_issue_cert. */
void pki_issue_request_init(struct pki_issue_request *req, enum pki_issue_profile profile,
                            const char *subject, int64_t now_ms, int days);

/* pki_issue_cert: make and sign a certificate for the public key of `subject_key`.
 * With `issuer_cert` NULL the certificate is self-signed with `subject_key` (which must then
 * hold the private key; `issuer_key` must be NULL or the same key). Otherwise it is signed
 * by `issuer_key`, which must match `issuer_cert`, and unless req->unchecked the issuer must
 * be able to issue it: basicConstraints CA:TRUE, keyCertSign when it has a keyUsage, a
 * pathLenConstraint above 0 (or none) when the new certificate is a CA, valid at
 * req->now_ms, and expiring no earlier than the new certificate. The signature is
 * SHA-256 (SHA-384 for a P-384 issuer key; Ed25519 signs pure), RSA with PKCS#1 v1.5.
 * Nothing is borrowed past the call; on success *out owns the new certificate.
 * 0; -EINVAL (a request field out of range: validity, SAN syntax, pathlen without CA);
 * CG_EPARSE (subject text); CG_EDENIED (the issuer may not issue this certificate, or the
 * issuer key does not match its certificate); CG_ELIMIT (too many SANs); -ENOMEM;
 * CG_ECRYPTO. */
int pki_issue_cert(const struct pki_issue_request *req, EVP_PKEY *subject_key, X509 *issuer_cert,
                   EVP_PKEY *issuer_key, X509 **out, char *why, size_t whylen);

/* ---- chains and keystores --------------------------------------------------------------- */

/* pki_issue_chain_check: whether `certs` is in chain order: each certificate issued by the
 * next one (issuer name equals the next one's subject, key identifiers agree, the next one
 * may sign certificates, and its key verifies the signature). A single certificate is in
 * order. This says nothing about trust or validity dates. On failure `why` names the pair,
 * counting from 1: "certificate 2 (CN=x) did not issue certificate 1 (CN=y): ...".
 * 0, CG_EDENIED (out of order), -EINVAL (empty stack). */
int pki_issue_chain_check(const STACK_OF(X509) * certs, char *why, size_t whylen);

/* pki_issue_is_self_signed: whether cert's issuer is its subject and its own key verifies
 * its signature (a root). */
bool pki_issue_is_self_signed(X509 *cert);

/* pki_issue_p12_der: a PKCS#12 keystore holding `key`, `cert` and `chain` (may be NULL:
 * further certificates, in chain order), protected by `password` (AES-256-CBC, PBKDF2,
 * HMAC-SHA256 MAC: OpenSSL 3's defaults), with friendly name `name` (may be NULL) on the
 * key and leaf. Appended to `out`. 0, -EINVAL (password too short or long), CG_EDENIED (key
 * does not match cert), CG_ELIMIT, -ENOMEM or CG_ECRYPTO. */
int pki_issue_p12_der(EVP_PKEY *key, X509 *cert, const STACK_OF(X509) * chain, const char *name,
                      const char *password, struct buf *out, char *why, size_t whylen);

/* pki_issue_p12_save: pki_issue_p12_der then pki_issue_file_save with mode 0600. */
int pki_issue_p12_save(const char *path, EVP_PKEY *key, X509 *cert, const STACK_OF(X509) * chain,
                       const char *name, const char *password, unsigned flags, char *why,
                       size_t whylen);

#endif
