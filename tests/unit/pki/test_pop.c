#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/issue.h"
#include "pki/pop.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#define DAY_MS (24LL * 3600 * 1000)
#define CODE "Q0hBTExFTkdFLTEyMzQ1Njc4OTAtYWJjZGVmZ2hpams_lmnopqrstuvwxyz+/="

static EVP_PKEY *new_key(enum pki_issue_key_type t)
{
    EVP_PKEY *k = NULL;
    assert_int_equal(pki_issue_key_new(t, &k), 0);
    return k;
}

static X509 *make_ca(EVP_PKEY *key, const char *subject)
{
    struct pki_issue_request req;
    X509 *x = NULL;
    char why[256] = "";
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, subject, time_now_ms(), 365);
    if (pki_issue_cert(&req, key, NULL, NULL, &x, why, sizeof(why)) != 0) {
        fail_msg("make_ca: %s", why);
    }
    return x;
}

/* A verification certificate for `subject`, signed by ca_key in the name of `issuer`, valid
 * from nb to na (ms). */
static X509 *make_vcert(const char *subject, X509 *issuer, EVP_PKEY *ca_key, int64_t nb, int64_t na)
{
    struct pki_issue_request req;
    X509 *x = NULL;
    char why[256] = "";
    EVP_PKEY *k = new_key(PKI_ISSUE_KEY_EC_P256);
    pki_issue_request_init(&req, PKI_ISSUE_VERIFICATION, subject, time_now_ms(), 30);
    req.not_before_ms = nb;
    req.not_after_ms = na;
    req.unchecked = true;
    if (pki_issue_cert(&req, k, issuer, ca_key, &x, why, sizeof(why)) != 0) {
        fail_msg("make_vcert: %s", why);
    }
    EVP_PKEY_free(k);
    return x;
}

static size_t decode(const char *b64, uint8_t *out, size_t cap)
{
    int n = b64_decode(b64, strlen(b64), out, cap, false, false);
    assert_true(n > 0);
    return (size_t)n;
}

/* ---- codes ------------------------------------------------------------------------------------
 */

static void code_shape(void **state)
{
    char a[PKI_POP_CODE_SIZE];
    char b[PKI_POP_CODE_SIZE];
    assert_int_equal(pki_pop_code_new(a, sizeof(a)), 0);
    assert_int_equal(pki_pop_code_new(b, sizeof(b)), 0);
    assert_int_equal(strlen(a), 48);
    for (size_t i = 0; i < 48; i++) {
        assert_true(isxdigit((unsigned char)a[i]) && !islower((unsigned char)a[i]));
    }
    assert_string_not_equal(a, b);
    char small[PKI_POP_CODE_SIZE - 1];
    assert_int_equal(pki_pop_code_new(small, sizeof(small)), -ENOSPC);
    assert_string_equal(small, "");
    assert_int_equal(pki_pop_code_new(NULL, 100), -EINVAL);
}

/* ---- signatures
 * ---------------------------------------------------------------------------------- */

static void sign_verify_each_type(void **state)
{
    static const enum pki_issue_key_type types[] = {PKI_ISSUE_KEY_EC_P256, PKI_ISSUE_KEY_EC_P384,
                                                    PKI_ISSUE_KEY_RSA2048, PKI_ISSUE_KEY_ED25519};
    for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
        EVP_PKEY *key = new_key(types[t]);
        EVP_PKEY *other = new_key(types[t]);
        X509 *ca = make_ca(key, "CN=PoP CA");
        X509 *other_ca = make_ca(other, "CN=PoP CA");
        char *b64 = NULL;
        uint8_t sig[PKI_POP_SIG_MAX];

        assert_int_equal(pki_pop_sign(key, CODE, &b64), 0);
        assert_null(strchr(b64, '\n'));
        size_t n = decode(b64, sig, sizeof(sig));

        /* Valid. */
        assert_int_equal(pki_pop_verify_signature(ca, CODE, sig, n), 0);
        assert_int_equal(pki_pop_verify_signature_b64(ca, CODE, b64), 0);

        /* Tampered code: one character changed, one added, one removed. */
        char code2[] = CODE;
        code2[3] ^= 1;
        assert_int_equal(pki_pop_verify_signature(ca, code2, sig, n), CG_EDENIED);
        assert_int_equal(pki_pop_verify_signature(ca, CODE "\n", sig, n), CG_EDENIED);
        code2[3] ^= 1;
        code2[strlen(code2) - 1] = 0;
        assert_int_equal(pki_pop_verify_signature(ca, code2, sig, n), CG_EDENIED);

        /* The CA's subject is the same but the key is another: no. */
        assert_int_equal(pki_pop_verify_signature(other_ca, CODE, sig, n), CG_EDENIED);

        /* Tampered signature bytes keep the shape but do not verify. */
        uint8_t bad[PKI_POP_SIG_MAX];
        memcpy(bad, sig, n);
        bad[n - 2] ^= 0x01;
        assert_int_equal(pki_pop_verify_signature(ca, CODE, bad, n), CG_EDENIED);

        /* Truncated: malformed for every type. */
        assert_int_equal(pki_pop_verify_signature(ca, CODE, sig, n - 1), CG_EPARSE);
        assert_int_equal(pki_pop_verify_signature(ca, CODE, sig, 0), CG_EPARSE);

        /* Empty or oversized inputs. */
        assert_int_equal(pki_pop_verify_signature(ca, "", sig, n), CG_EPARSE);
        assert_int_equal(pki_pop_verify_signature(ca, CODE, sig, PKI_POP_SIG_MAX + 1), CG_ELIMIT);
        assert_int_equal(pki_pop_verify_signature(NULL, CODE, sig, n), -EINVAL);
        free(b64);
        X509_free(other_ca);
        X509_free(ca);
        EVP_PKEY_free(other);
        EVP_PKEY_free(key);
    }
}

/* The signature must be the openssl recipe's: checked against OpenSSL's low-level
 * sign/verify of the SHA-256 digest, a path independent of EVP_DigestSign. */
static void matches_openssl_recipe(void **state)
{
    uint8_t digest[32];
    unsigned int dlen = 0;
    assert_true(EVP_Digest(CODE, strlen(CODE), digest, &dlen, EVP_sha256(), NULL));

    /* RSA PKCS#1 v1.5 is deterministic: byte-identical. */
    EVP_PKEY *rsa = new_key(PKI_ISSUE_KEY_RSA2048);
    X509 *rsa_ca = make_ca(rsa, "CN=RSA CA");
    uint8_t ref[512];
    size_t reflen = sizeof(ref);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(rsa, NULL);
    assert_int_equal(EVP_PKEY_sign_init(pctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_sign(pctx, ref, &reflen, digest, dlen), 1);
    EVP_PKEY_CTX_free(pctx);
    char *b64 = NULL;
    assert_int_equal(pki_pop_sign(rsa, CODE, &b64), 0);
    char expect[1024];
    b64_encode(ref, reflen, expect, false);
    assert_string_equal(b64, expect);
    free(b64);

    /* ECDSA: a signature over the digest made by EVP_PKEY_sign verifies with our verifier. */
    EVP_PKEY *ec = new_key(PKI_ISSUE_KEY_EC_P384);
    X509 *ec_ca = make_ca(ec, "CN=EC CA");
    uint8_t esig[256];
    size_t elen = sizeof(esig);
    pctx = EVP_PKEY_CTX_new(ec, NULL);
    assert_int_equal(EVP_PKEY_sign_init(pctx), 1);
    assert_int_equal(EVP_PKEY_sign(pctx, esig, &elen, digest, dlen), 1);
    EVP_PKEY_CTX_free(pctx);
    assert_int_equal(pki_pop_verify_signature(ec_ca, CODE, esig, elen), 0);

    /* ... and ours verifies with EVP_PKEY_verify over the digest. */
    uint8_t ours[256];
    assert_int_equal(pki_pop_sign(ec, CODE, &b64), 0);
    size_t olen = decode(b64, ours, sizeof(ours));
    free(b64);
    pctx = EVP_PKEY_CTX_new(ec, NULL);
    assert_int_equal(EVP_PKEY_verify_init(pctx), 1);
    assert_int_equal(EVP_PKEY_verify(pctx, ours, olen, digest, dlen), 1);
    EVP_PKEY_CTX_free(pctx);

    /* Non-canonical DER (a trailing byte, a padded length) is malformed, not a mismatch. */
    uint8_t longer[260];
    memcpy(longer, esig, elen);
    longer[elen] = 0;
    assert_int_equal(pki_pop_verify_signature(ec_ca, CODE, longer, elen + 1), CG_EPARSE);
    assert_int_equal(pki_pop_verify_signature(ec_ca, CODE, (const uint8_t *)"\x30\x00", 2),
                     CG_EPARSE);
    uint8_t ber[260];
    if (elen < 128) {
        ber[0] = 0x30;
        ber[1] = 0x81; /* long-form length where short form is required */
        ber[2] = (uint8_t)(elen - 2);
        memcpy(ber + 3, esig + 2, elen - 2);
        assert_int_equal(pki_pop_verify_signature(ec_ca, CODE, ber, elen + 1), CG_EPARSE);
    }

    /* RSA: a signature of the wrong size is malformed; one of the right size but not ours
     * (all 0xff, above the modulus) is refused. */
    uint8_t big[256];
    memset(big, 0xff, sizeof(big));
    assert_int_equal(pki_pop_verify_signature(rsa_ca, CODE, big, 255), CG_EPARSE);
    assert_int_equal(pki_pop_verify_signature(rsa_ca, CODE, big, 256), CG_EDENIED);

    X509_free(ec_ca);
    EVP_PKEY_free(ec);
    X509_free(rsa_ca);
    EVP_PKEY_free(rsa);
}

static void ed25519_is_pure(void **state)
{
    EVP_PKEY *k = new_key(PKI_ISSUE_KEY_ED25519);
    X509 *ca = make_ca(k, "CN=Ed CA");
    uint8_t ref[64];
    size_t rlen = sizeof(ref);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
    assert_int_equal(EVP_DigestSign(ctx, ref, &rlen, (const uint8_t *)CODE, strlen(CODE)), 1);
    EVP_MD_CTX_free(ctx);
    char *b64 = NULL;
    char expect[100];
    assert_int_equal(pki_pop_sign(k, CODE, &b64), 0);
    b64_encode(ref, rlen, expect, false);
    assert_string_equal(b64, expect); /* Ed25519 is deterministic */
    free(b64);
    assert_int_equal(pki_pop_verify_signature(ca, CODE, ref, rlen), 0);
    X509_free(ca);
    EVP_PKEY_free(k);
}

static void unsupported_key_types(void **state)
{
    /* Ed448 and RSA-PSS CA keys: recognisably unsupported, not "mismatch". */
    static const char *const algs[] = {"ED448", "RSA-PSS"};
    for (size_t i = 0; i < 2; i++) {
        EVP_PKEY *k = NULL;
        EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_name(NULL, algs[i], NULL);
        assert_non_null(kctx);
        assert_int_equal(EVP_PKEY_keygen_init(kctx), 1);
        if (i == 1) {
            assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(kctx, 2048), 1);
        }
        assert_int_equal(EVP_PKEY_keygen(kctx, &k), 1);
        EVP_PKEY_CTX_free(kctx);
        X509 *ca = make_ca(k, "CN=Odd CA");
        uint8_t sig[256] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
        assert_int_equal(pki_pop_verify_signature(ca, CODE, sig, 8), -ENOTSUP);
        assert_int_equal(pki_pop_verify_signature(ca, CODE, sig, 114), -ENOTSUP);
        char *b64 = NULL;
        assert_int_equal(pki_pop_sign(k, CODE, &b64), -ENOTSUP);
        assert_null(b64);
        X509_free(ca);
        EVP_PKEY_free(k);
    }
    /* Distinct messages for the distinct results. */
    assert_string_not_equal(pki_pop_strerror(CG_EDENIED), pki_pop_strerror(-ENOTSUP));
    assert_string_not_equal(pki_pop_strerror(CG_EDENIED), pki_pop_strerror(CG_EPARSE));
    assert_string_not_equal(pki_pop_strerror(CG_EPARSE), pki_pop_strerror(-ENOTSUP));
}

static void base64_forms(void **state)
{
    EVP_PKEY *k = new_key(PKI_ISSUE_KEY_EC_P256);
    X509 *ca = make_ca(k, "CN=B64 CA");
    char *b64 = NULL;
    assert_int_equal(pki_pop_sign(k, CODE, &b64), 0);
    /* Wrapped at 64 columns with CRLF, as some tools write it. */
    char wrapped[512] = "";
    size_t o = 0;
    for (size_t i = 0; b64[i] != 0; i++) {
        if (i > 0 && i % 16 == 0) {
            wrapped[o++] = '\r';
            wrapped[o++] = '\n';
        }
        wrapped[o++] = b64[i];
    }
    wrapped[o] = 0;
    assert_int_equal(pki_pop_verify_signature_b64(ca, CODE, wrapped), 0);
    assert_int_equal(pki_pop_verify_signature_b64(ca, CODE, "not*base64"), CG_EPARSE);
    assert_int_equal(pki_pop_verify_signature_b64(ca, CODE, ""), CG_EPARSE);
    char huge[PKI_POP_SIG_MAX * 2] = "";
    memset(huge, 'A', sizeof(huge) - 1);
    assert_int_equal(pki_pop_verify_signature_b64(ca, CODE, huge), CG_ELIMIT);
    free(b64);
    assert_int_equal(pki_pop_sign(k, "", &b64), -EINVAL);
    X509_free(ca);
    EVP_PKEY_free(k);
}

/* ---- verification certificates ----------------------------------------------------------------
 */

struct vfix {
    EVP_PKEY *ca_key;
    X509 *ca;
    EVP_PKEY *other_key;
    X509 *other_ca; /* same subject as ca, another key */
    int64_t now;
};

static int vfix_setup(void **state)
{
    struct vfix *f = calloc(1, sizeof(*f));
    f->ca_key = new_key(PKI_ISSUE_KEY_EC_P256);
    f->ca = make_ca(f->ca_key, "CN=Tenant CA,O=Acme");
    f->other_key = new_key(PKI_ISSUE_KEY_EC_P256);
    f->other_ca = make_ca(f->other_key, "CN=Tenant CA,O=Acme");
    f->now = time_now_ms();
    *state = f;
    return 0;
}

static int vfix_teardown(void **state)
{
    struct vfix *f = *state;
    X509_free(f->ca);
    X509_free(f->other_ca);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->other_key);
    free(f);
    return 0;
}

#define AZ_CODE "75B86466DA34D2B04C0C4C9557A119687ADAE7D4732BDDB3"

static void vcert_valid(void **state)
{
    struct vfix *f = *state;
    char why[256] = "unchanged";
    X509 *v = make_vcert("CN=" AZ_CODE, f->ca, f->ca_key, f->now - DAY_MS, f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)), 0);
    /* Other attributes beside the one CN are fine. */
    X509 *v2 =
        make_vcert("CN=" AZ_CODE ",O=Acme", f->ca, f->ca_key, f->now - DAY_MS, f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v2, AZ_CODE, f->now, NULL, 0), 0);
    X509_free(v2);
    X509_free(v);
}

static void vcert_wrong_cn(void **state)
{
    struct vfix *f = *state;
    char why[256] = "";
    X509 *v = make_vcert("CN=" AZ_CODE, f->ca, f->ca_key, f->now - DAY_MS, f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, "75B8", f->now, why, sizeof(why)),
                     CG_EDENIED);
    assert_string_equal(why, "the verification certificate's CN is '" AZ_CODE
                             "' but the verification code is '75B8'");
    /* Exact: no case folding, no trimming. */
    char lower[] = AZ_CODE;
    for (char *p = lower; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, lower, f->now, why, sizeof(why)),
                     CG_EDENIED);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE " ", f->now, why, sizeof(why)),
                     CG_EDENIED);
    X509_free(v);

    /* No CN, two CNs. */
    v = make_vcert("O=" AZ_CODE, f->ca, f->ca_key, f->now - DAY_MS, f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)),
                     CG_EPARSE);
    assert_non_null(strstr(why, "no CN"));
    X509_free(v);
    v = make_vcert("CN=" AZ_CODE ",CN=" AZ_CODE, f->ca, f->ca_key, f->now - DAY_MS,
                   f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)),
                     CG_EPARSE);
    assert_non_null(strstr(why, "more than one CN"));
    X509_free(v);

    /* A hostile CN is shown sanitised. */
    v = make_vcert("CN=a\\0Ab'c", f->ca, f->ca_key, f->now - DAY_MS, f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)),
                     CG_EDENIED);
    assert_non_null(strstr(why, "CN is 'a?b?c'"));
    X509_free(v);
}

static void vcert_not_signed_by_ca(void **state)
{
    struct vfix *f = *state;
    char why[256] = "";
    /* Issued in the CA's name (same subject) but signed by another key. */
    X509 *v =
        make_vcert("CN=" AZ_CODE, f->other_ca, f->other_key, f->now - DAY_MS, f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)),
                     CG_EDENIED);
    assert_string_equal(why, "the verification certificate is not signed by the CA's key");
    /* Self-signed by its own key. */
    X509_free(v);
    EVP_PKEY *k = new_key(PKI_ISSUE_KEY_EC_P256);
    struct pki_issue_request req;
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, "CN=" AZ_CODE, f->now, 5);
    v = NULL;
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &v, NULL, 0), 0);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)),
                     CG_EDENIED);
    assert_non_null(strstr(why, "not signed by the CA's key"));
    X509_free(v);
    EVP_PKEY_free(k);
}

static void vcert_issuer_name(void **state)
{
    struct vfix *f = *state;
    char why[256] = "";
    /* The CA's key, but a certificate of that key under another name as issuer. */
    struct pki_issue_request req;
    X509 *renamed = NULL;
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, "CN=Renamed CA", f->now, 30);
    assert_int_equal(pki_issue_cert(&req, f->ca_key, NULL, NULL, &renamed, NULL, 0), 0);
    X509 *v = make_vcert("CN=" AZ_CODE, renamed, f->ca_key, f->now - DAY_MS, f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)),
                     CG_EDENIED);
    assert_string_equal(why, "the verification certificate's issuer is 'CN=Renamed CA' but the "
                             "CA's subject is 'CN=Tenant CA,O=Acme'");
    X509_free(v);
    X509_free(renamed);
}

static void vcert_validity(void **state)
{
    struct vfix *f = *state;
    char why[256] = "";
    char when[TIME_ISO_LEN];
    int64_t end = (f->now - 3 * DAY_MS) / 1000 * 1000;
    X509 *v = make_vcert("CN=" AZ_CODE, f->ca, f->ca_key, f->now - 10 * DAY_MS, end);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)),
                     CG_EEXPIRED);
    time_format_iso(end, when);
    assert_non_null(strstr(why, "expired on"));
    assert_non_null(strstr(why, when));
    /* Valid at a time within its window. */
    assert_int_equal(
        pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now - 5 * DAY_MS, why, sizeof(why)), 0);
    X509_free(v);

    v = make_vcert("CN=" AZ_CODE, f->ca, f->ca_key, f->now + DAY_MS, f->now + 2 * DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, AZ_CODE, f->now, why, sizeof(why)),
                     CG_EEXPIRED);
    assert_non_null(strstr(why, "not valid before"));
    X509_free(v);
}

static void vcert_bad_args(void **state)
{
    struct vfix *f = *state;
    char why[256] = "";
    X509 *v = make_vcert("CN=" AZ_CODE, f->ca, f->ca_key, f->now - DAY_MS, f->now + DAY_MS);
    assert_int_equal(pki_pop_verify_certificate(NULL, v, AZ_CODE, f->now, why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(pki_pop_verify_certificate(f->ca, NULL, AZ_CODE, f->now, why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, "", f->now, why, sizeof(why)), -EINVAL);
    assert_int_equal(pki_pop_verify_certificate(f->ca, v, NULL, f->now, why, sizeof(why)), -EINVAL);
    X509_free(v);
    assert_int_equal(ERR_peek_error(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(code_shape),
        cmocka_unit_test(sign_verify_each_type),
        cmocka_unit_test(matches_openssl_recipe),
        cmocka_unit_test(ed25519_is_pure),
        cmocka_unit_test(unsupported_key_types),
        cmocka_unit_test(base64_forms),
        cmocka_unit_test_setup_teardown(vcert_valid, vfix_setup, vfix_teardown),
        cmocka_unit_test_setup_teardown(vcert_wrong_cn, vfix_setup, vfix_teardown),
        cmocka_unit_test_setup_teardown(vcert_not_signed_by_ca, vfix_setup, vfix_teardown),
        cmocka_unit_test_setup_teardown(vcert_issuer_name, vfix_setup, vfix_teardown),
        cmocka_unit_test_setup_teardown(vcert_validity, vfix_setup, vfix_teardown),
        cmocka_unit_test_setup_teardown(vcert_bad_args, vfix_setup, vfix_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
