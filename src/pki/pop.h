/* Proof of possession (PoP) of a CA's private key.
 *
 * Before a tenant's uploaded CA certificate is trusted to vouch for devices, its uploader
 * proves that they hold the CA's private key, answering a random verification code in one of
 * two styles:
 *
 *  - Cumulocity: a signature over the exact bytes of the code, as made by
 *      openssl dgst -sha256 -sign ca.key code.txt | openssl base64 -A
 *    i.e. RSA PKCS#1 v1.5 with SHA-256, or ECDSA with SHA-256 and a DER-encoded
 *    ECDSA-Sig-Value (any curve; the digest is SHA-256 whatever the curve). For an Ed25519 CA
 *    key (which `openssl dgst -sha256` cannot use) the signature is pure Ed25519 over the
 *    code (RFC 8032, no pre-hash), as made by
 *      openssl pkeyutl -sign -rawin -inkey ca.key -in code.txt | openssl base64 -A
 *  - Azure IoT Hub / AWS IoT: a "verification certificate" whose subject CN is the code,
 *    signed by the CA's key.
 *
 * Verification codes come from pki_pop_code_new. All functions are pure over their
 * arguments and reentrant (any thread); nothing is printed or logged. Only 0 means "proven":
 * every other result, out-of-memory included, is a refusal.
 */
#ifndef CERTGATE_PKI_POP_H
#define CERTGATE_PKI_POP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Random bytes in a verification code, and its text length (uppercase hex). */
#define PKI_POP_CODE_BYTES 24
#define PKI_POP_CODE_LEN (2 * PKI_POP_CODE_BYTES)
/* Buffer size for pki_pop_code_new, with the NUL. */
#define PKI_POP_CODE_SIZE (PKI_POP_CODE_LEN + 1)
/* Longest code the signers and verifiers accept (Cumulocity's are about 130 characters;
 * a certificate CN holds at most 64). */
#define PKI_POP_CODE_MAX 1024
/* Longest signature accepted: RSA 8192. */
#define PKI_POP_SIG_MAX 1024

/* pki_pop_code_new: a fresh verification code in out[len]: PKI_POP_CODE_BYTES (192 bits)
 * from random_bytes as PKI_POP_CODE_LEN uppercase hex characters (the shape of Azure's
 * codes): usable verbatim as a certificate CN, in a file name, a URL or a shell argument.
 * len must be at least PKI_POP_CODE_SIZE. 0, -ENOSPC (out too small) or -errno from the
 * random source (out then holds ""). */
int pki_pop_code_new(char *out, size_t len);

/* pki_pop_sign: the Cumulocity-style answer to `code` (the bytes of the NUL-terminated
 * string, no newline added) with private key `key`: RSA PKCS#1 v1.5 SHA-256, ECDSA SHA-256
 * (DER), or pure Ed25519; as standard base64 on one line, exactly what
 * `openssl dgst -sha256 -sign key | openssl base64 -A` prints (RSA and Ed25519 signatures
 * are deterministic, so byte-identical; ECDSA ones are randomised). On success *b64 owns a
 * malloc'd NUL-terminated string (free with free()).
 * 0; -EINVAL (empty code, or longer than PKI_POP_CODE_MAX); -ENOTSUP (key type other than
 * RSA, EC or Ed25519); -ENOMEM; CG_ECRYPTO (e.g. the key has no private part). */
int pki_pop_sign(EVP_PKEY *key, const char *code, char **b64);

/* pki_pop_verify_signature: whether sig[len] is a valid Cumulocity-style signature of
 * `code` (its strlen bytes) by the key in `ca_cert` (see the top of this file).
 *   0            valid
 *   CG_EDENIED   a well-formed signature that does not match the code and key
 *   -ENOTSUP     the certificate's key is not RSA, EC or Ed25519 (RSA-PSS, DSA, Ed448, ...)
 *   CG_EPARSE    malformed: not a DER ECDSA-Sig-Value, or not the size an RSA (modulus
 *                size) or Ed25519 (64 bytes) signature has; an empty code or signature
 *   CG_ELIMIT    code longer than PKI_POP_CODE_MAX or signature longer than PKI_POP_SIG_MAX
 *   -EINVAL      NULL arguments;  -ENOMEM, CG_ECRYPTO  internal failures
 * Borrows everything. */
int pki_pop_verify_signature(X509 *ca_cert, const char *code, const uint8_t *sig, size_t len);

/* pki_pop_verify_signature_b64: pki_pop_verify_signature with the signature as the base64
 * text that users upload (standard or URL-safe alphabet, padding optional, whitespace and
 * line breaks ignored). CG_EPARSE also for text that is not base64. */
int pki_pop_verify_signature_b64(X509 *ca_cert, const char *code, const char *b64);

/* pki_pop_verify_certificate: whether `verification_cert` proves possession of the key of
 * `ca_cert` for `code`, Azure/AWS style. All of these must hold, checked in this order:
 *   1. its subject has exactly one CN, and it equals `code` byte for byte;
 *   2. its signature verifies with the public key of `ca_cert` (X509_verify);
 *   3. its issuer name equals the subject name of `ca_cert`;
 *   4. now_ms (ms since the epoch) lies within its notBefore..notAfter.
 * 0 when all hold. Otherwise why[whylen] (may be NULL) names the first rule that failed,
 * e.g. "the verification certificate's CN is 'x' but the verification code is 'y'",
 * "the verification certificate is not signed by the CA's key", "the verification
 * certificate expired on 2024-05-01T00:00:00.000Z" (text from the certificate is
 * sanitised and cut), and the result is CG_EDENIED (rules 1-3), CG_EEXPIRED (rule 4),
 * CG_EPARSE (no CN, several CNs, a CN that does not decode, unreadable dates), -EINVAL
 * (NULL arguments, empty code) or -ENOMEM. Borrows everything. */
int pki_pop_verify_certificate(X509 *ca_cert, X509 *verification_cert, const char *code,
                               int64_t now_ms, char *why, size_t whylen);

/* pki_pop_strerror: a sentence for a result of pki_pop_verify_signature (for CLI and API
 * messages); defers to cg_strerror for other codes. Static; never NULL. */
const char *pki_pop_strerror(int rc);

#endif
