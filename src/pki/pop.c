/* Proof of possession: verification codes, code signatures, verification certificates. */
#include "pki/pop.h"

#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/issue.h"
#include "pki/issue_util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

/* Longest base64 text accepted (a PKI_POP_SIG_MAX signature with generous whitespace). */
#define SIG_B64_TEXT_MAX 8192

enum pop_alg {
    POP_RSA,
    POP_EC,
    POP_ED25519,
    POP_UNSUPPORTED,
};

static enum pop_alg alg_of(const EVP_PKEY *key)
{
    /* EVP_PKEY_is_a(key, "RSA") is false for RSA-PSS keys, "EC" false for SM2 keys. */
    if (EVP_PKEY_is_a(key, "RSA")) {
        return POP_RSA;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        return POP_EC;
    }
    if (EVP_PKEY_is_a(key, "ED25519")) {
        return POP_ED25519;
    }
    return POP_UNSUPPORTED;
}

int pki_pop_code_new(char *out, size_t len)
{
    uint8_t rnd[PKI_POP_CODE_BYTES];
    if (out == NULL) {
        return -EINVAL;
    }
    if (len > 0) {
        out[0] = 0;
    }
    if (len < PKI_POP_CODE_SIZE) {
        return -ENOSPC;
    }
    int rc = random_bytes(rnd, sizeof(rnd));
    if (rc < 0) {
        return rc;
    }
    hex_encode(rnd, sizeof(rnd), out);
    for (size_t i = 0; out[i] != 0; i++) {
        out[i] = (char)toupper((unsigned char)out[i]);
    }
    secure_zero(rnd, sizeof(rnd));
    return 0;
}

/* Set up ctx for signing or verifying with `key` the way the openssl recipe does. */
static int digest_init(EVP_MD_CTX *ctx, EVP_PKEY *key, enum pop_alg alg, bool sign)
{
    EVP_PKEY_CTX *pctx = NULL;
    const char *md = alg == POP_ED25519 ? NULL : "SHA256";
    int ok = sign ? EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, key, NULL)
                  : EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, key, NULL);
    if (ok != 1) {
        return CG_ECRYPTO;
    }
    if (alg == POP_RSA && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
        return CG_ECRYPTO;
    }
    return 0;
}

int pki_pop_sign(EVP_PKEY *key, const char *code, char **b64)
{
    int rc = -EINVAL;
    EVP_MD_CTX *ctx = NULL;
    uint8_t *sig = NULL;
    size_t siglen = 0;
    char *text = NULL;

    if (key == NULL || code == NULL || b64 == NULL) {
        return -EINVAL;
    }
    size_t n = strnlen(code, PKI_POP_CODE_MAX + 1);
    if (n == 0 || n > PKI_POP_CODE_MAX) {
        return -EINVAL;
    }
    enum pop_alg alg = alg_of(key);
    if (alg == POP_UNSUPPORTED) {
        return -ENOTSUP;
    }
    rc = -ENOMEM;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        goto out;
    }
    rc = digest_init(ctx, key, alg, true);
    if (rc < 0) {
        goto out;
    }
    rc = CG_ECRYPTO;
    if (EVP_DigestSign(ctx, NULL, &siglen, (const uint8_t *)code, n) != 1 || siglen == 0) {
        goto out;
    }
    sig = malloc(siglen);
    if (sig == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)code, n) != 1) {
        goto out;
    }
    text = malloc(b64_encoded_len(siglen) + 1);
    if (text == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    b64_encode(sig, siglen, text, false);
    *b64 = text;
    text = NULL;
    rc = 0;
out:
    free(text);
    free(sig);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

/* Whether sig[len] is exactly the DER encoding of an ECDSA-Sig-Value (no trailing bytes,
 * no alternative BER encodings), as `openssl dgst` makes them. */
static bool ecdsa_der_ok(const uint8_t *sig, size_t len)
{
    const unsigned char *p = sig;
    unsigned char *der = NULL;
    bool ok = false;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (s != NULL && p == sig + len) {
        int dlen = i2d_ECDSA_SIG(s, &der);
        ok = dlen > 0 && (size_t)dlen == len && memcmp(der, sig, len) == 0;
    }
    OPENSSL_free(der);
    ECDSA_SIG_free(s);
    return ok;
}

int pki_pop_verify_signature(X509 *ca_cert, const char *code, const uint8_t *sig, size_t len)
{
    int rc = CG_EDENIED;
    EVP_MD_CTX *ctx = NULL;

    if (ca_cert == NULL || code == NULL || (sig == NULL && len > 0)) {
        return -EINVAL;
    }
    size_t n = strnlen(code, PKI_POP_CODE_MAX + 1);
    if (n > PKI_POP_CODE_MAX || len > PKI_POP_SIG_MAX) {
        return CG_ELIMIT;
    }
    if (n == 0 || len == 0) {
        return CG_EPARSE;
    }
    EVP_PKEY *key = X509_get0_pubkey(ca_cert);
    if (key == NULL) {
        ERR_clear_error();
        return -ENOTSUP; /* a key algorithm OpenSSL cannot even decode */
    }
    enum pop_alg alg = alg_of(key);
    switch (alg) {
    case POP_RSA:
        if (len != (size_t)EVP_PKEY_get_size(key)) {
            return CG_EPARSE;
        }
        break;
    case POP_EC:
        if (!ecdsa_der_ok(sig, len)) {
            ERR_clear_error();
            return CG_EPARSE;
        }
        break;
    case POP_ED25519:
        if (len != 64) {
            return CG_EPARSE;
        }
        break;
    default:
        return -ENOTSUP;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = digest_init(ctx, key, alg, false);
    if (rc < 0) {
        goto out;
    }
    /* 1 is valid; 0 a mismatch; < 0 a signature the key's algorithm rejects outright (such
     * as an RSA value above the modulus): every result but 1 refuses. */
    rc = EVP_DigestVerify(ctx, sig, len, (const uint8_t *)code, n) == 1 ? 0 : CG_EDENIED;
out:
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int pki_pop_verify_signature_b64(X509 *ca_cert, const char *code, const char *b64)
{
    uint8_t sig[PKI_POP_SIG_MAX];
    if (ca_cert == NULL || code == NULL || b64 == NULL) {
        return -EINVAL;
    }
    size_t tlen = strnlen(b64, SIG_B64_TEXT_MAX + 1);
    if (tlen > SIG_B64_TEXT_MAX) {
        return CG_ELIMIT;
    }
    int n = b64_decode(b64, tlen, sig, sizeof(sig), true, false);
    if (n < 0) {
        return n;
    }
    return pki_pop_verify_signature(ca_cert, code, sig, (size_t)n);
}

int pki_pop_verify_certificate(X509 *ca_cert, X509 *verification_cert, const char *code,
                               int64_t now_ms, char *why, size_t whylen)
{
    int rc = CG_EDENIED;
    unsigned char *cn = NULL;
    char shown[200];
    char shown_code[200];
    char when[TIME_ISO_LEN];

    if (ca_cert == NULL || verification_cert == NULL || code == NULL || code[0] == 0) {
        pki_issue_why(why, whylen, "no CA certificate, verification certificate or code given");
        return -EINVAL;
    }
    size_t code_len = strnlen(code, PKI_POP_CODE_MAX + 1);
    if (code_len > PKI_POP_CODE_MAX) {
        pki_issue_why(why, whylen, "the verification code is longer than %d characters",
                      PKI_POP_CODE_MAX);
        return -EINVAL;
    }

    /* 1. Exactly one CN, equal to the code. */
    X509_NAME *subject = X509_get_subject_name(verification_cert);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx < 0) {
        pki_issue_why(why, whylen, "the verification certificate's subject has no CN");
        rc = CG_EPARSE;
        goto out;
    }
    if (X509_NAME_get_index_by_NID(subject, NID_commonName, idx) >= 0) {
        pki_issue_why(why, whylen, "the verification certificate's subject has more than one CN");
        rc = CG_EPARSE;
        goto out;
    }
    const ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    int cn_len = data != NULL ? ASN1_STRING_to_UTF8(&cn, data) : -1;
    if (cn_len < 0) {
        pki_issue_why(why, whylen, "the verification certificate's CN cannot be decoded");
        rc = CG_EPARSE;
        goto out;
    }
    if ((size_t)cn_len != code_len || memcmp(cn, code, code_len) != 0) {
        pki_issue_printable(cn, (size_t)cn_len, 80, shown, sizeof(shown));
        pki_issue_printable((const uint8_t *)code, code_len, 80, shown_code, sizeof(shown_code));
        pki_issue_why(why, whylen,
                      "the verification certificate's CN is '%s' but the verification code is "
                      "'%s'",
                      shown, shown_code);
        rc = CG_EDENIED;
        goto out;
    }

    /* 2. Signed by the CA's key. */
    EVP_PKEY *ca_key = X509_get0_pubkey(ca_cert);
    if (ca_key == NULL || X509_verify(verification_cert, ca_key) != 1) {
        pki_issue_why(why, whylen, "the verification certificate is not signed by the CA's key");
        rc = CG_EDENIED;
        goto out;
    }

    /* 3. Issued in the CA's name. */
    if (X509_NAME_cmp(X509_get_issuer_name(verification_cert), X509_get_subject_name(ca_cert)) !=
        0) {
        char issuer[200];
        char casub[200];
        char text[512];
        pki_issue_name_text(X509_get_issuer_name(verification_cert), text, sizeof(text));
        pki_issue_printable((const uint8_t *)text, strlen(text), 80, issuer, sizeof(issuer));
        pki_issue_name_text(X509_get_subject_name(ca_cert), text, sizeof(text));
        pki_issue_printable((const uint8_t *)text, strlen(text), 80, casub, sizeof(casub));
        pki_issue_why(why, whylen,
                      "the verification certificate's issuer is '%s' but the CA's subject is '%s'",
                      issuer, casub);
        rc = CG_EDENIED;
        goto out;
    }

    /* 4. Within its validity. */
    int64_t nb = 0;
    int64_t na = 0;
    if (pki_issue_time_ms(X509_get0_notBefore(verification_cert), &nb) < 0 ||
        pki_issue_time_ms(X509_get0_notAfter(verification_cert), &na) < 0) {
        pki_issue_why(why, whylen, "the verification certificate's validity dates are unreadable");
        rc = CG_EPARSE;
        goto out;
    }
    if (now_ms < nb) {
        time_format_iso(nb, when);
        pki_issue_why(why, whylen, "the verification certificate is not valid before %s", when);
        rc = CG_EEXPIRED;
        goto out;
    }
    if (now_ms > na) {
        time_format_iso(na, when);
        pki_issue_why(why, whylen, "the verification certificate expired on %s", when);
        rc = CG_EEXPIRED;
        goto out;
    }
    rc = 0;
out:
    OPENSSL_free(cn);
    ERR_clear_error();
    return rc;
}

const char *pki_pop_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "the proof of possession is valid";
    case CG_EDENIED:
        return "the signature does not match the verification code and the CA's key";
    case -ENOTSUP:
        return "the CA's key type is not supported for proof of possession (RSA, EC or Ed25519 "
               "only)";
    case CG_EPARSE:
        return "the signature is malformed (wrong size or encoding for the CA's key type)";
    case CG_ELIMIT:
        return "the verification code or the signature is too long";
    default:
        return cg_strerror(rc);
    }
}
