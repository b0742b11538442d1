/* Certificates: parsing bundles, the facts the REST API reports, and text forms.
 *
 * Everything here is a pure function over bytes and OpenSSL objects: no global state, safe to
 * call from any thread. An X509 passed in is only read (OpenSSL may fill its internal,
 * lock-protected caches, which is safe while other threads use the same certificate).
 */
#ifndef CERTGATE_PKI_CERT_H
#define CERTGATE_PKI_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/* Lowercase hex SHA-1 of the DER: 40 characters. */
#define PKI_FINGERPRINT_LEN 40

/* Default limits of pki_bundle_parse. */
#define PKI_BUNDLE_MAX_BYTES (64 * 1024)
#define PKI_BUNDLE_MAX_CERTS 32

/* A private key was supplied where certificates were expected. Distinct from CG_EPARSE so
 * that callers can tell the user what went wrong; the key material is never copied. */
#define PKI_EPRIVATEKEY (-1101)

/* pki_strerror: text for PKI_EPRIVATEKEY, otherwise cg_strerror(rc). Never NULL. */
const char *pki_strerror(int rc);

/* pki_bundle_parse: parse certificates from `data[len]`, accepting
 *   - one or more PEM blocks "-----BEGIN CERTIFICATE-----" (text outside the blocks, such
 *     as "subject=" lines, commas and whitespace between blocks, is ignored),
 *   - the same with every newline replaced by a space (the X-Ssl-Cert-Chain header form),
 *   - a single DER certificate (input starting with a SEQUENCE tag, 0x30),
 *   - bare base64 of one DER certificate without armour lines (certInPemFormat),
 * with CRLF or LF line ends. Each certificate must use all the bytes of its DER.
 * `max_bytes` / `max_certs` cap the input (0 selects PKI_BUNDLE_MAX_BYTES / _CERTS).
 * On success *out receives a new stack (caller frees with OSSL_STACK_OF_X509_free /
 * sk_X509_pop_free) in input order, and the certificate count is returned (>= 1).
 * Errors: CG_ELIMIT (too large, too many), PKI_EPRIVATEKEY (a "-----BEGIN ... PRIVATE
 * KEY-----" block is present; nothing is decoded), CG_EPARSE (anything else malformed,
 * including an empty input or a PEM block of another type), -ENOMEM. Temporary decode
 * buffers are zeroed before they are freed. */
int pki_bundle_parse(const void *data, size_t len, size_t max_bytes, size_t max_certs,
                     STACK_OF(X509) * *out);

/* pki_cert_fingerprint: lowercase hex SHA-1 of the certificate's DER into out (41 bytes,
 * NUL-terminated). 0, CG_ECRYPTO or -ENOMEM. */
int pki_cert_fingerprint(X509 *cert, char out[PKI_FINGERPRINT_LEN + 1]);

/* How pki_name_format writes a distinguished name. Both list the RDNs most-specific first
 * (the reverse of the DER order, as RFC 2253 and Java's X500Principal do), join the
 * attributes of a multi-valued RDN with '+', and escape special characters with a
 * backslash as RFC 2253 does (",+\"\\<>;", a leading '#' or space, a trailing space;
 * control characters as \XX). */
enum pki_dn_style {
    PKI_DN_SPACED = 0,  /* "CN=x, OU=y, O=z, C=DE" (TrustedCertificate issuer/subject) */
    PKI_DN_COMPACT = 1, /* "CN=x,OU=y,O=z,C=DE" (verify-cert-chain) */
};

/* pki_name_format: the name as text in the given style; *out is malloc'd (caller frees).
 * Attribute keywords are those of Java's X500Principal (CN, OU, O, C, L, ST, STREET, DC,
 * UID, EMAILADDRESS, SERIALNUMBER, ...), others are written "OID.<dotted>". Values are
 * UTF-8; a value that cannot be converted is written as '#' and the hex of its bytes.
 * 0 or -ENOMEM / CG_EPARSE. */
int pki_name_format(const X509_NAME *name, enum pki_dn_style style, char **out);

/* pki_serial_format: the serial as a decimal string (*dec) and as normalized hex (*hex):
 * lowercase, no leading zeros, "0" for zero, a '-' before the digits of a negative serial.
 * Either out-pointer may be NULL; results are malloc'd. 0 or -ENOMEM / CG_EPARSE. */
int pki_serial_format(const ASN1_INTEGER *serial, char **dec, char **hex);

/* Room for the normalized hex of any serial pki_revocation accepts (128 bytes). */
#define PKI_SERIAL_HEX_MAX 260

/* pki_serial_hex: the normalized hex of pki_serial_format into out[cap] without allocating.
 * 0, CG_ELIMIT (does not fit) or CG_EPARSE (NULL serial). */
int pki_serial_hex(const ASN1_INTEGER *serial, char *out, size_t cap);

/* pki_serial_normalize: normalize a hex serial typed by a person or found in an API body
 * (optional "0x" prefix, optional ':' or ' ' separators between digit pairs, either case,
 * leading zeros, optional leading '-') into the form of pki_serial_format into out[cap].
 * 0, CG_EPARSE (empty, bad digit) or CG_ELIMIT (does not fit). */
int pki_serial_normalize(const char *text, char *out, size_t cap);

/* pki_sig_alg_name: the Java name of the certificate's signature algorithm
 * ("SHA256withRSA", "SHA384withECDSA", "SHA256withRSAandMGF1" for RSASSA-PSS,
 * "Ed25519", "SHA1withDSA", ...) into out[cap]; an algorithm without a Java name is
 * written as its dotted OID. 0 or CG_ELIMIT (out too small). */
int pki_sig_alg_name(X509 *cert, char *out, size_t cap);

/* pki_cert_subject_cn: the most specific commonName of the subject as UTF-8 (*out is
 * malloc'd). -ENOENT when there is none, CG_EPARSE when it is not valid UTF-8 or
 * contains a NUL, -ENOMEM. */
int pki_cert_subject_cn(X509 *cert, char **out);

/* pki_cert_describe: "certificate <depth> (<subject>)" for messages, into out[cap]
 * (truncated to fit, always NUL-terminated). Never fails. */
void pki_cert_describe(X509 *cert, int depth, char *out, size_t cap);

/* pki_asn1_time_ms: an ASN1_TIME as milliseconds since the epoch. 0 or CG_EPARSE. */
int pki_asn1_time_ms(const ASN1_TIME *t, int64_t *ms);

/* What the REST API reports about a certificate. Strings are malloc'd and owned by the
 * struct; release with pki_cert_facts_cleanup. */
struct pki_cert_facts {
    char fingerprint[PKI_FINGERPRINT_LEN + 1];
    char *serial_dec;      /* "304307049989715896618044547121406628655049752690" */
    char *serial_hex;      /* normalized hex (see pki_serial_format) */
    char *subject;         /* PKI_DN_SPACED */
    char *issuer;          /* PKI_DN_SPACED */
    char *subject_compact; /* PKI_DN_COMPACT */
    char *issuer_compact;  /* PKI_DN_COMPACT */
    char *subject_cn;      /* UTF-8 commonName, NULL when absent or unusable */
    char sig_alg[48];      /* Java name (pki_sig_alg_name) */
    int version;           /* 1, 2 or 3 */
    int64_t not_before_ms;
    int64_t not_after_ms;
    bool is_ca;         /* basicConstraints CA:TRUE */
    int pathlen;        /* pathLenConstraint, -1 when absent */
    char key_type[16];  /* "RSA", "EC", "Ed25519", "Ed448", "DSA", or "unknown" */
    int key_bits;       /* key size in bits (0 when unknown) */
    char key_curve[24]; /* EC group name ("prime256v1"), "" otherwise */
    bool self_signed;   /* subject == issuer and the signature verifies with its own key */
};

/* pki_cert_facts_get: fill *f from the certificate. On failure *f is left zeroed (safe to
 * clean up). 0, -ENOMEM, CG_EPARSE (an unreadable validity time or serial) or
 * CG_ECRYPTO. */
int pki_cert_facts_get(X509 *cert, struct pki_cert_facts *f);

/* pki_cert_facts_cleanup: free the strings; the struct may be reused. NULL is a no-op. */
void pki_cert_facts_cleanup(struct pki_cert_facts *f);

/* pki_cert_c8y_pem: the certInPemFormat output form: base64 of the DER with '\n' after
 * every 64 characters and after the last line, no armour lines. *out is malloc'd.
 * 0, -ENOMEM or CG_ECRYPTO. */
int pki_cert_c8y_pem(X509 *cert, char **out);

/* pki_key_describe: key type name and size of a public key, as in pki_cert_facts. */
void pki_key_describe(const EVP_PKEY *key, char type[16], int *bits, char curve[24]);

#endif
