#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/jwt.h"
#include "auth/jwtkeys.h"
#include "core/err.h"
#include "core/str.h"
#include "auth/auth_testutil.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW TEST_NOW

struct fixture {
    struct jwtkeys *a; /* interop-key.pem */
    struct jwtkeys *b; /* fuzz-key.pem: another key, another kid */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->a = test_keys_from_data("auth/interop-key.pem", NOW);
    f->b = test_keys_from_data("auth/fuzz-key.pem", NOW);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    jwtkeys_unref(f->a);
    jwtkeys_unref(f->b);
    free(f);
    return 0;
}

static json_t *std_claims(int64_t iat, int64_t exp)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "sub", "device_abc", "ten", "t100",
                     "iss", "certgate", "iat", (json_int_t)iat, "nbf", (json_int_t)iat, "exp",
                     (json_int_t)exp, "jti", "AAAAAAAAAAAAAAAAAAAAAA");
}

static char *sign_ok(const struct jwtkeys *ks, json_t *claims)
{
    char *tok = NULL;
    size_t len = 0;
    assert_int_equal(jwt_sign(ks, claims, &tok, &len), 0);
    assert_int_equal(strlen(tok), len);
    return tok;
}

/* Verify and return the reason (JWT_OK on success; claims freed). */
static enum jwt_reason check_at(const struct jwtkeys *ks, const char *tok, size_t len, int64_t now,
                                int64_t skew)
{
    json_t *claims = NULL;
    struct jwt_error err;
    int rc = jwt_verify(ks, tok, len, now, skew, &claims, &err);
    if (rc == 0) {
        assert_non_null(claims);
        assert_int_equal(err.reason, JWT_OK);
        json_decref(claims);
        return JWT_OK;
    }
    assert_null(claims);
    assert_int_not_equal(err.reason, JWT_OK);
    assert_true(strlen(err.text) > 0);
    /* The result code agrees with the reason. */
    switch (err.reason) {
    case JWT_MALFORMED:
        assert_int_equal(rc, CG_EPARSE);
        break;
    case JWT_TOO_LARGE:
        assert_int_equal(rc, CG_ELIMIT);
        break;
    case JWT_EXPIRED:
    case JWT_NOT_YET_VALID:
        assert_int_equal(rc, CG_EEXPIRED);
        break;
    case JWT_INTERNAL:
        fail_msg("internal error: %s", err.text);
        break;
    default:
        assert_int_equal(rc, CG_EDENIED);
    }
    return err.reason;
}

static enum jwt_reason check(const struct jwtkeys *ks, const char *tok)
{
    return check_at(ks, tok, strlen(tok), NOW, JWT_DEFAULT_SKEW);
}

/* Decode segment i (0..2) of a token into a malloc'd NUL-terminated buffer. */
static char *segment(const char *tok, int i, size_t *n)
{
    const char *s = tok;
    for (int k = 0; k < i; k++) {
        s = strchr(s, '.') + 1;
    }
    const char *e = strchr(s, '.');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    char *out = calloc(1, len + 1);
    int r = b64_decode(s, len, (uint8_t *)out, len, false, true);
    assert_true(r >= 0);
    if (n != NULL) {
        *n = (size_t)r;
    }
    return out;
}

static char *join3(const char *a, const char *b, const char *c)
{
    char *t = NULL;
    assert_true(asprintf(&t, "%s.%s.%s", a, b, c) > 0);
    return t;
}

/* Replace segment i of tok with `seg` (already encoded). */
static char *replace_segment(const char *tok, int i, const char *seg)
{
    char *copy = strdup(tok);
    char *p[3];
    p[0] = copy;
    p[1] = strchr(p[0], '.');
    *p[1]++ = 0;
    p[2] = strchr(p[1], '.');
    *p[2]++ = 0;
    p[i] = (char *)seg;
    char *out = join3(p[0], p[1], p[2]);
    free(copy);
    return out;
}

static void round_trip(void **state)
{
    struct fixture *f = *state;
    json_t *claims = std_claims(NOW, NOW + 3600);
    char *tok = sign_ok(f->a, claims);

    /* Three base64url segments, no padding, signature of 64 bytes (86 characters). */
    assert_null(strchr(tok, '='));
    const char *last = strrchr(tok, '.') + 1;
    assert_int_equal(strlen(last), 86);

    char *hdr = segment(tok, 0, NULL);
    char expect[160];
    snprintf(expect, sizeof(expect), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             jwtkeys_current_kid(f->a));
    assert_string_equal(hdr, expect);
    free(hdr);

    json_t *out = NULL;
    struct jwt_error err;
    assert_int_equal(jwt_verify(f->a, tok, strlen(tok), NOW, JWT_DEFAULT_SKEW, &out, &err), 0);
    assert_true(json_equal(out, claims));
    json_decref(out);
    /* err is optional. */
    assert_int_equal(jwt_verify(f->a, tok, strlen(tok), NOW, JWT_DEFAULT_SKEW, &out, NULL), 0);
    json_decref(out);
    free(tok);
    json_decref(claims);
}

static void sign_refuses_bad_claims(void **state)
{
    struct fixture *f = *state;
    char *tok = (char *)0x1;
    json_t *arr = json_array();
    json_t *noexp = json_pack("{s:s}", "sub", "x");
    json_t *strexp = json_pack("{s:s}", "exp", "1700000000");
    json_t *strnbf = json_pack("{s:I, s:s}", "exp", (json_int_t)NOW, "nbf", "soon");
    assert_int_equal(jwt_sign(f->a, arr, &tok, NULL), -EINVAL);
    assert_int_equal(jwt_sign(f->a, noexp, &tok, NULL), -EINVAL);
    assert_int_equal(jwt_sign(f->a, strexp, &tok, NULL), -EINVAL);
    assert_int_equal(jwt_sign(f->a, strnbf, &tok, NULL), -EINVAL);
    assert_int_equal(jwt_sign(f->a, NULL, &tok, NULL), -EINVAL);
    assert_ptr_equal(tok, (char *)0x1);
    json_decref(arr);
    json_decref(noexp);
    json_decref(strexp);
    json_decref(strnbf);
}

static void tampering_is_detected(void **state)
{
    struct fixture *f = *state;
    json_t *claims = std_claims(NOW, NOW + 3600);
    char *tok = sign_ok(f->a, claims);
    assert_int_equal(check(f->a, tok), JWT_OK);

    /* Claims: another tenant, same header and signature. */
    json_object_set_new(claims, "ten", json_string("t999"));
    char *ctext = json_dumps(claims, JSON_COMPACT);
    char *cseg = test_b64url(ctext, strlen(ctext));
    char *t1 = replace_segment(tok, 1, cseg);
    assert_int_equal(check(f->a, t1), JWT_BAD_SIGNATURE);

    /* Header: same members, different bytes (a space), same signature. */
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\", \"typ\":\"JWT\",\"kid\":\"%s\"}",
             jwtkeys_current_kid(f->a));
    char *hseg = test_b64url(hdr, strlen(hdr));
    char *t2 = replace_segment(tok, 0, hseg);
    assert_int_equal(check(f->a, t2), JWT_BAD_SIGNATURE);

    /* Signature: every single-bit flip of the decoded signature is refused. */
    size_t slen = 0;
    char *sig = segment(tok, 2, &slen);
    assert_int_equal(slen, 64);
    for (size_t bit = 0; bit < 64 * 8; bit += 7) {
        sig[bit / 8] ^= (char)(1 << (bit % 8));
        char *sseg = test_b64url(sig, 64);
        char *t3 = replace_segment(tok, 2, sseg);
        assert_int_equal(check(f->a, t3), JWT_BAD_SIGNATURE);
        free(t3);
        free(sseg);
        sig[bit / 8] ^= (char)(1 << (bit % 8));
    }
    /* Truncated token, trailing byte. */
    assert_int_equal(check_at(f->a, tok, strlen(tok) - 1, NOW, 60), JWT_MALFORMED);
    char *t4 = NULL;
    assert_true(asprintf(&t4, "%sA", tok) > 0);
    assert_int_not_equal(check(f->a, t4), JWT_OK);
    free(t4);

    free(sig);
    free(t1);
    free(t2);
    free(hseg);
    free(cseg);
    free(ctext);
    free(tok);
    json_decref(claims);
}

static const char *body_ok = "{\"sub\":\"device_x\",\"ten\":\"t1\",\"exp\":1700003600}";

static void alg_none_refused(void **state)
{
    struct fixture *f = *state;
    const char *kid = jwtkeys_current_kid(f->a);
    char *b = test_b64url(body_ok, strlen(body_ok));
    const char *algs[] = {"none", "None", "NONE", ""};
    for (size_t i = 0; i < 4; i++) {
        char hdr[160];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", algs[i], kid);
        char *h = test_b64url(hdr, strlen(hdr));
        char *tok = join3(h, b, ""); /* empty signature */
        assert_int_equal(check(f->a, tok), JWT_ALG_REFUSED);
        free(tok);
        free(h);
    }
    /* Without a kid at all, and with a real ES256 signature appended: still refused. */
    const char *hdr = "{\"alg\":\"none\"}";
    char *h = test_b64url(hdr, strlen(hdr));
    char *tok = join3(h, b, "");
    assert_int_equal(check(f->a, tok), JWT_ALG_REFUSED);
    free(tok);
    char hdr2[160];
    snprintf(hdr2, sizeof(hdr2), "{\"alg\":\"none\",\"kid\":\"%s\"}", kid);
    tok = test_token_signed(f->a, hdr2, body_ok);
    assert_int_equal(check(f->a, tok), JWT_ALG_REFUSED);
    free(tok);
    free(h);
    free(b);
}

/* HS256 with the public key as the HMAC secret: the classic RS/ES-to-HS confusion. */
static void hs256_key_confusion_refused(void **state)
{
    struct fixture *f = *state;
    const char *kid = jwtkeys_current_kid(f->a);

    /* Every form an attacker might guess for "the key bytes". */
    size_t pemlen = 0;
    char *priv = test_data_read("auth/interop-key.pem", &pemlen);
    BIO *in = BIO_new_mem_buf(priv, (int)pemlen);
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    assert_non_null(pk);
    BIO *out = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(out, pk), 1);
    char *pub_pem = NULL;
    long pub_pem_len = BIO_get_mem_data(out, &pub_pem);
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(pk, &der);
    assert_true(der_len > 0);
    json_t *jwks = jwtkeys_jwks(f->a);
    char *jwks_text = json_dumps(json_array_get(json_object_get(jwks, "keys"), 0), JSON_COMPACT);

    const struct {
        const void *key;
        size_t len;
    } secrets[] = {
        {pub_pem, (size_t)pub_pem_len},
        {der, (size_t)der_len},
        {jwks_text, strlen(jwks_text)},
        {"", 0},
    };
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    char *h = test_b64url(hdr, strlen(hdr));
    char *b = test_b64url(body_ok, strlen(body_ok));
    char *input = NULL;
    assert_true(asprintf(&input, "%s.%s", h, b) > 0);
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        uint8_t mac[32];
        unsigned int mlen = 0;
        assert_non_null(HMAC(EVP_sha256(), secrets[i].key, (int)secrets[i].len,
                             (const uint8_t *)input, strlen(input), mac, &mlen));
        char *s = test_b64url(mac, mlen);
        char *tok = join3(h, b, s);
        assert_int_equal(check(f->a, tok), JWT_ALG_REFUSED);
        free(tok);
        free(s);
    }
    free(input);
    free(h);
    free(b);
    free(jwks_text);
    json_decref(jwks);
    OPENSSL_free(der);
    BIO_free(out);
    BIO_free(in);
    EVP_PKEY_free(pk);
    secure_zero(priv, pemlen);
    free(priv);
}

static void other_algs_refused(void **state)
{
    struct fixture *f = *state;
    const char *kid = jwtkeys_current_kid(f->a);
    /* Each header is signed with the real ES256 key, so only the alg check can refuse. */
    const char *algs[] = {"RS256", "ES384", "ES512", "PS256", "EdDSA", "HS512", "es256", "ES256 "};
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        char hdr[160];
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", algs[i], kid);
        char *tok = test_token_signed(f->a, hdr, body_ok);
        assert_int_equal(check(f->a, tok), JWT_ALG_REFUSED);
        free(tok);
    }
    /* alg missing, not a string, or with an embedded NUL. */
    char hdr[192];
    snprintf(hdr, sizeof(hdr), "{\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    char *tok = test_token_signed(f->a, hdr, body_ok);
    assert_int_equal(check(f->a, tok), JWT_ALG_REFUSED);
    free(tok);
    snprintf(hdr, sizeof(hdr), "{\"alg\":[\"ES256\"],\"kid\":\"%s\"}", kid);
    tok = test_token_signed(f->a, hdr, body_ok);
    assert_int_equal(check(f->a, tok), JWT_ALG_REFUSED);
    free(tok);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\\u0000\",\"kid\":\"%s\"}", kid);
    tok = test_token_signed(f->a, hdr, body_ok);
    assert_int_equal(check(f->a, tok), JWT_MALFORMED); /* jansson refuses \u0000 */
    free(tok);

    /* An RS256-shaped token with a 256-byte signature. */
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
    char *h = test_b64url(hdr, strlen(hdr));
    char *b = test_b64url(body_ok, strlen(body_ok));
    uint8_t big[256];
    memset(big, 0x5a, sizeof(big));
    char *s = test_b64url(big, sizeof(big));
    tok = join3(h, b, s);
    assert_int_equal(check(f->a, tok), JWT_ALG_REFUSED);
    free(tok);
    free(h);
    free(b);
    free(s);
}

static void kid_rules(void **state)
{
    struct fixture *f = *state;
    json_t *claims = std_claims(NOW, NOW + 600);

    /* Signed by a, verified against b only: unknown kid. */
    char *tok = sign_ok(f->a, claims);
    assert_int_equal(check(f->b, tok), JWT_UNKNOWN_KID);
    free(tok);

    /* Header names b's kid but a signs: b's key does not verify it. */
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             jwtkeys_current_kid(f->b));
    tok = test_token_signed(f->a, hdr, body_ok);
    assert_int_equal(check(f->b, tok), JWT_BAD_SIGNATURE);
    assert_int_equal(check(f->a, tok), JWT_UNKNOWN_KID);
    free(tok);

    /* The reason text quotes a kid or alg only when it cannot forge a log line. */
    const struct {
        const char *hdr;
        const char *want;
    } texts[] = {
        {"{\"alg\":\"ES256\",\"kid\":\"abc-_\"}", "unknown kid \"abc-_\""},
        {"{\"alg\":\"ES256\",\"kid\":\"a\\nb\"}", "unknown kid (not printable)"},
        {"{\"alg\":\"ES256\",\"kid\":\"a\\\"b\"}", "unknown kid (not printable)"},
        {"{\"alg\":\"ES256\",\"kid\":\"\u00e9\"}", "unknown kid (not printable)"},
        {"{\"alg\":\"HS256\",\"kid\":\"x\"}", "alg \"HS256\" refused: only ES256"},
        {"{\"alg\":\"HS\\r\\n256\",\"kid\":\"x\"}", "alg missing or refused: only ES256"},
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        tok = test_token_signed(f->a, texts[i].hdr, body_ok);
        struct jwt_error err;
        json_t *c = NULL;
        assert_int_equal(jwt_verify(f->a, tok, strlen(tok), NOW, 60, &c, &err), CG_EDENIED);
        assert_string_equal(err.text, texts[i].want);
        free(tok);
    }

    /* kid missing, empty, not a string, too long. */
    const char *bad[] = {
        "{\"alg\":\"ES256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"ES256\",\"kid\":\"\"}",
        "{\"alg\":\"ES256\",\"kid\":7}",
        "{\"alg\":\"ES256\",\"kid\":null}",
        "{\"alg\":\"ES256\",\"kid\":"
        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        "AAAAAAAAAAA\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tok = test_token_signed(f->a, bad[i], body_ok);
        assert_int_equal(check(f->a, tok), JWT_BAD_HEADER);
        free(tok);
    }
    json_decref(claims);
}

static void header_rules(void **state)
{
    struct fixture *f = *state;
    const char *kid = jwtkeys_current_kid(f->a);
    char hdr[256];

    /* typ optional, but if present exactly "JWT". */
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
    char *tok = test_token_signed(f->a, hdr, body_ok);
    assert_int_equal(check_at(f->a, tok, strlen(tok), 1700000000, 60), JWT_OK);
    free(tok);
    const char *typs[] = {"\"jwt\"", "\"at+jwt\"", "\"JWS\"", "1", "null"};
    for (size_t i = 0; i < sizeof(typs) / sizeof(typs[0]); i++) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":%s,\"kid\":\"%s\"}", typs[i], kid);
        tok = test_token_signed(f->a, hdr, body_ok);
        assert_int_equal(check(f->a, tok), JWT_BAD_HEADER);
        free(tok);
    }
    /* crit and key-carrying members are refused even when the signature is good. */
    const char *extra[] = {
        "\"crit\":[\"exp\"]", "\"crit\":[]",           "\"jku\":\"https://x/jwks\"",
        "\"jwk\":{}",         "\"x5u\":\"https://x\"", "\"x5c\":[]",
        "\"b64\":false",      "\"cty\":\"JWT\""};
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\",%s}", kid,
                 extra[i]);
        tok = test_token_signed(f->a, hdr, body_ok);
        struct jwt_error err;
        json_t *c = NULL;
        assert_int_equal(jwt_verify(f->a, tok, strlen(tok), NOW, 60, &c, &err), CG_EDENIED);
        assert_int_equal(err.reason, JWT_BAD_HEADER);
        if (i < 2) {
            assert_non_null(strstr(err.text, "crit"));
        }
        free(tok);
    }
    /* Header not an object, not JSON, duplicate keys. */
    const char *notobj[] = {"[\"ES256\"]", "\"ES256\"", "{\"alg\":\"ES256\"", "",
                            "{\"alg\":\"ES256\"} x"};
    for (size_t i = 0; i < sizeof(notobj) / sizeof(notobj[0]); i++) {
        tok = test_token_signed(f->a, notobj[i], body_ok);
        assert_int_equal(check(f->a, tok), JWT_MALFORMED);
        free(tok);
    }
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"HS256\",\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
    tok = test_token_signed(f->a, hdr, body_ok);
    struct jwt_error err;
    json_t *c = NULL;
    assert_int_equal(jwt_verify(f->a, tok, strlen(tok), NOW, 60, &c, &err), CG_EPARSE);
    assert_int_equal(err.reason, JWT_MALFORMED);
    assert_non_null(strstr(err.text, "duplicate"));
    free(tok);
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"kid\":\"%s\"}", kid, kid);
    tok = test_token_signed(f->a, hdr, body_ok);
    assert_int_equal(check(f->a, tok), JWT_MALFORMED);
    free(tok);
}

static char *signed_claims(const struct jwtkeys *ks, const char *claims)
{
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             jwtkeys_current_kid(ks));
    return test_token_signed(ks, hdr, claims);
}

static enum jwt_reason claims_at(const struct jwtkeys *ks, const char *claims, int64_t now,
                                 int64_t skew)
{
    char *tok = signed_claims(ks, claims);
    enum jwt_reason r = check_at(ks, tok, strlen(tok), now, skew);
    free(tok);
    return r;
}

static void claims_rules(void **state)
{
    struct fixture *f = *state;
    /* exp required and numeric; nbf, iat numeric when present. */
    assert_int_equal(claims_at(f->a, "{\"sub\":\"x\"}", NOW, 60), JWT_BAD_CLAIMS);
    assert_int_equal(claims_at(f->a, "{\"exp\":\"1700003600\"}", NOW, 60), JWT_BAD_CLAIMS);
    assert_int_equal(claims_at(f->a, "{\"exp\":null}", NOW, 60), JWT_BAD_CLAIMS);
    assert_int_equal(claims_at(f->a, "{\"exp\":true}", NOW, 60), JWT_BAD_CLAIMS);
    assert_int_equal(claims_at(f->a, "{\"exp\":1700003600,\"nbf\":\"0\"}", NOW, 60),
                     JWT_BAD_CLAIMS);
    assert_int_equal(claims_at(f->a, "{\"exp\":1700003600,\"iat\":[1]}", NOW, 60), JWT_BAD_CLAIMS);
    assert_int_equal(claims_at(f->a, "{\"exp\":1700003600.5}", NOW, 60), JWT_OK);
    assert_int_equal(claims_at(f->a, "{\"exp\":1.7e9}", NOW, 0), JWT_EXPIRED); /* = NOW */
    assert_int_equal(claims_at(f->a, "{\"exp\":1.7e9}", NOW - 1, 0), JWT_OK);
    assert_int_equal(claims_at(f->a, "{\"exp\":1699999999.5}", NOW - 1, 0), JWT_OK);
    assert_int_equal(claims_at(f->a, "{\"exp\":1699999999.5}", NOW, 0), JWT_EXPIRED);
    /* Claims not an object / duplicate keys, with a valid signature. */
    assert_int_equal(claims_at(f->a, "[{\"exp\":1700003600}]", NOW, 60), JWT_MALFORMED);
    assert_int_equal(claims_at(f->a, "{\"exp\":1700003600", NOW, 60), JWT_MALFORMED);
    assert_int_equal(claims_at(f->a, "{\"exp\":1700003600,\"ten\":\"t1\",\"ten\":\"t2\"}", NOW, 60),
                     JWT_MALFORMED);
    assert_int_equal(claims_at(f->a, "{\"exp\":1,\"exp\":1700003600}", NOW, 60), JWT_MALFORMED);
}

static void time_edges(void **state)
{
    struct fixture *f = *state;
    const int64_t exp = NOW + 1000;
    char c[128];
    snprintf(c, sizeof(c), "{\"exp\":%lld}", (long long)exp);
    /* exp: valid while now < exp + skew. */
    assert_int_equal(claims_at(f->a, c, exp - 1, 0), JWT_OK);
    assert_int_equal(claims_at(f->a, c, exp, 0), JWT_EXPIRED);
    assert_int_equal(claims_at(f->a, c, exp + 59, 60), JWT_OK);
    assert_int_equal(claims_at(f->a, c, exp + 60, 60), JWT_EXPIRED);
    assert_int_equal(claims_at(f->a, c, exp + 60, -5), JWT_EXPIRED);    /* negative skew = 0 */
    assert_int_equal(claims_at(f->a, c, exp + 86399, 1000000), JWT_OK); /* capped at 1 day */
    assert_int_equal(claims_at(f->a, c, exp + 86400, 1000000), JWT_EXPIRED);

    /* nbf: valid once now >= nbf - skew. */
    snprintf(c, sizeof(c), "{\"exp\":%lld,\"nbf\":%lld}", (long long)exp, (long long)NOW);
    assert_int_equal(claims_at(f->a, c, NOW - 60, 60), JWT_OK);
    assert_int_equal(claims_at(f->a, c, NOW - 61, 60), JWT_NOT_YET_VALID);
    assert_int_equal(claims_at(f->a, c, NOW, 0), JWT_OK);
    assert_int_equal(claims_at(f->a, c, NOW - 1, 0), JWT_NOT_YET_VALID);

    /* iat: not in the future beyond the skew. */
    snprintf(c, sizeof(c), "{\"exp\":%lld,\"iat\":%lld}", (long long)exp, (long long)NOW);
    assert_int_equal(claims_at(f->a, c, NOW - 60, 60), JWT_OK);
    assert_int_equal(claims_at(f->a, c, NOW - 61, 60), JWT_NOT_YET_VALID);

    /* Extreme numbers do not overflow into acceptance. */
    assert_int_equal(claims_at(f->a, "{\"exp\":-9223372036854775808}", NOW, 60), JWT_EXPIRED);
    assert_int_equal(claims_at(f->a, "{\"exp\":9223372036854775807}", NOW, 60), JWT_OK);
    assert_int_equal(claims_at(f->a, "{\"exp\":1e300}", NOW, 60), JWT_OK);
    assert_int_equal(claims_at(f->a, "{\"exp\":-1e300}", NOW, 60), JWT_EXPIRED);
    assert_int_equal(
        claims_at(f->a, "{\"exp\":9223372036854775807,\"nbf\":9223372036854775807}", NOW, 60),
        JWT_NOT_YET_VALID);
    assert_int_equal(claims_at(f->a, "{\"exp\":1700003600}", INT64_MAX, 60), JWT_EXPIRED);

    /* jwt_sign + the default skew: a token issued now with the device lifetime. */
    json_t *claims = std_claims(NOW, NOW + JWT_DEVICE_LIFETIME_DEFAULT);
    char *tok = sign_ok(f->a, claims);
    assert_int_equal(check_at(f->a, tok, strlen(tok), NOW + JWT_DEVICE_LIFETIME_DEFAULT - 1 + 60,
                              JWT_DEFAULT_SKEW),
                     JWT_OK);
    assert_int_equal(
        check_at(f->a, tok, strlen(tok), NOW + JWT_DEVICE_LIFETIME_DEFAULT + 60, JWT_DEFAULT_SKEW),
        JWT_EXPIRED);
    free(tok);
    json_decref(claims);
}

static void segment_syntax(void **state)
{
    struct fixture *f = *state;
    json_t *claims = std_claims(NOW, NOW + 600);
    char *tok = sign_ok(f->a, claims);
    size_t n = strlen(tok);
    char *buf = calloc(1, n + 16);

    /* Padding anywhere. */
    snprintf(buf, n + 16, "%s==", tok);
    assert_int_equal(check(f->a, buf), JWT_MALFORMED);
    char *dot = strchr(tok, '.');
    snprintf(buf, n + 16, "%.*s=%s", (int)(dot - tok), tok, dot);
    assert_int_equal(check(f->a, buf), JWT_MALFORMED);

    /* Standard-alphabet characters, whitespace, NUL. */
    const char bad[] = {'+', '/', ' ', '\n', '\0', '%'};
    for (size_t i = 0; i < sizeof(bad); i++) {
        memcpy(buf, tok, n + 1);
        buf[10] = bad[i];
        assert_int_equal(check_at(f->a, buf, n, NOW, 60), JWT_MALFORMED);
    }

    /* Segment count: 1, 2, 4, 5 and empty ones. */
    const char *shapes[] = {"", ".", "..", "...", "abc", "abc.def", "a.b.c.d", "a..b"};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        assert_int_equal(check(f->a, shapes[i]), JWT_MALFORMED);
    }
    snprintf(buf, n + 16, "%s.", tok);
    assert_int_equal(check(f->a, buf), JWT_MALFORMED);
    snprintf(buf, n + 16, "%s.AAAA", tok);
    assert_int_equal(check(f->a, buf), JWT_MALFORMED);
    assert_int_equal(check_at(f->a, NULL, 0, NOW, 60), JWT_MALFORMED);

    /* Non-canonical last character: same bytes, non-zero leftover bits. 86 characters
     * carry 516 bits for 512: the last character's low 4 bits must be zero. */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    memcpy(buf, tok, n + 1);
    int v = (int)(strchr(alphabet, buf[n - 1]) - alphabet);
    assert_int_equal(v & 15, 0);
    buf[n - 1] = alphabet[v | 1];
    assert_int_equal(check(f->a, buf), JWT_MALFORMED);
    /* A segment whose length is 1 mod 4 cannot be base64. */
    snprintf(buf, n + 16, "A%s", dot);
    assert_int_equal(check(f->a, buf), JWT_MALFORMED);

    free(buf);
    free(tok);
    json_decref(claims);
}

static void size_cap(void **state)
{
    struct fixture *f = *state;
    /* Find the largest filler that jwt_sign accepts: that token verifies, one more byte
     * of claims is refused by sign (CG_ELIMIT), and verify refuses anything longer. */
    json_t *claims = std_claims(NOW, NOW + 600);
    char *best = NULL;
    size_t best_len = 0;
    for (size_t fill = 5700; fill < 6500; fill++) {
        char *pad = malloc(fill + 1);
        memset(pad, 'p', fill);
        pad[fill] = 0;
        json_object_set_new(claims, "pad", json_string(pad));
        free(pad);
        char *tok = NULL;
        size_t len = 0;
        int rc = jwt_sign(f->a, claims, &tok, &len);
        if (rc == CG_ELIMIT) {
            break;
        }
        assert_int_equal(rc, 0);
        assert_true(len <= JWT_MAX_LEN);
        free(best);
        best = tok;
        best_len = len;
    }
    assert_non_null(best);
    assert_true(best_len >= JWT_MAX_LEN - 1); /* the cap is exact, not approximate */
    assert_int_equal(check_at(f->a, best, best_len, NOW, 60), JWT_OK);
    free(best);

    char *huge = malloc(JWT_MAX_LEN + 2);
    memset(huge, 'A', JWT_MAX_LEN + 1);
    huge[10] = '.';
    huge[20] = '.';
    huge[JWT_MAX_LEN + 1] = 0;
    assert_int_equal(check(f->a, huge), JWT_TOO_LARGE);
    free(huge);
    json_decref(claims);
}

static void der_signature_refused(void **state)
{
    struct fixture *f = *state;
    json_t *claims = std_claims(NOW, NOW + 600);
    char *tok = sign_ok(f->a, claims);
    size_t slen = 0;
    uint8_t *sig = (uint8_t *)segment(tok, 2, &slen);
    assert_int_equal(slen, 64);

    /* The same (r, s) as DER: what OpenSSL emits and a careless verifier might accept. */
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    unsigned char *der = NULL;
    int dlen = i2d_ECDSA_SIG(es, &der);
    assert_true(dlen >= 8 && dlen != 64);
    char *dseg = test_b64url(der, (size_t)dlen);
    char *t = replace_segment(tok, 2, dseg);
    struct jwt_error err;
    json_t *c = NULL;
    assert_int_equal(jwt_verify(f->a, t, strlen(t), NOW, 60, &c, &err), CG_EDENIED);
    assert_int_equal(err.reason, JWT_BAD_SIGNATURE);
    assert_non_null(strstr(err.text, "64 bytes"));
    free(t);

    /* 63, 65 and 0 bytes. */
    const size_t lens[] = {63, 65, 0, 32};
    uint8_t longer[65];
    memcpy(longer, sig, 64);
    longer[64] = 0;
    for (size_t i = 0; i < 4; i++) {
        char *s = test_b64url(longer, lens[i]);
        t = replace_segment(tok, 2, s);
        assert_int_equal(check(f->a, t), JWT_BAD_SIGNATURE);
        free(t);
        free(s);
    }
    /* A 1000-byte signature is refused without overflowing anything. */
    uint8_t big[1000] = {0};
    char *s = test_b64url(big, sizeof(big));
    t = replace_segment(tok, 2, s);
    assert_int_equal(check(f->a, t), JWT_BAD_SIGNATURE);
    free(t);
    free(s);

    free(dseg);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    free(sig);
    free(tok);
    json_decref(claims);
}

static void rotation_and_prune(void **state)
{
    char *root = test_tmpdir("jwt");
    char *dir = NULL;
    assert_true(asprintf(&dir, "%s/jwt", root) > 0);
    char why[256];
    struct jwtkeys *k1 = NULL, *k2 = NULL, *k3 = NULL;
    assert_int_equal(jwtkeys_load(dir, true, NOW, why, sizeof(why), &k1), 0);
    json_t *claims = std_claims(NOW, NOW + 3600);
    char *old = sign_ok(k1, claims);

    assert_int_equal(jwtkeys_rotate(k1, NOW + 60, why, sizeof(why), &k2), 0);
    char *fresh = sign_ok(k2, claims);
    char *h_old = segment(old, 0, NULL);
    char *h_new = segment(fresh, 0, NULL);
    assert_non_null(strstr(h_old, jwtkeys_current_kid(k1)));
    assert_non_null(strstr(h_new, jwtkeys_current_kid(k2)));
    assert_string_not_equal(jwtkeys_current_kid(k1), jwtkeys_current_kid(k2));

    assert_int_equal(check(k2, old), JWT_OK);   /* old tokens still verify */
    assert_int_equal(check(k2, fresh), JWT_OK); /* new ones too */
    assert_int_equal(check(k1, fresh), JWT_UNKNOWN_KID);

    /* Retention 2 h after the rotation: the old key goes, its tokens with it. */
    assert_int_equal(jwtkeys_prune(k2, NOW + 60 + 7200, 7200, NULL, why, sizeof(why), &k3), 0);
    assert_int_equal(check(k3, old), JWT_UNKNOWN_KID);
    assert_int_equal(check(k3, fresh), JWT_OK);

    free(h_old);
    free(h_new);
    free(old);
    free(fresh);
    json_decref(claims);
    jwtkeys_unref(k1);
    jwtkeys_unref(k2);
    jwtkeys_unref(k3);
    test_rmtree(root);
    free(root);
    free(dir);
}

/* A token made by python3-cryptography (tests/data/auth/interop.py) verifies here. */
static void verifies_independent_token(void **state)
{
    struct jwtkeys *ks = test_keys_from_data("auth/interop-key.pem", NOW);
    size_t n = 0;
    char *tok = test_data_read("auth/interop-token.jwt", &n);
    json_t *claims = NULL;
    struct jwt_error err;
    assert_int_equal(jwt_verify(ks, tok, n, NOW, 60, &claims, &err), 0);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "device_py-1");
    assert_string_equal(json_string_value(json_object_get(claims, "ten")), "t100");
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), "python-interop");
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), 4102444800LL);
    json_decref(claims);
    /* Its kid is the Python side's RFC 7638 thumbprint: it must equal ours. */
    char *hdr = segment(tok, 0, NULL);
    assert_non_null(strstr(hdr, jwtkeys_current_kid(ks)));
    free(hdr);
    /* And the other key does not accept it. */
    struct jwtkeys *other = test_keys_from_data("auth/fuzz-key.pem", NOW);
    assert_int_equal(check_at(other, tok, n, NOW, 60), JWT_UNKNOWN_KID);
    jwtkeys_unref(other);

    /* For the reverse check (tests/data/auth/interop.py check): write a token of ours. */
    const char *outpath = getenv("CERTGATE_JWT_INTEROP_OUT");
    if (outpath != NULL) {
        json_t *c =
            json_pack("{s:s, s:s, s:s, s:I, s:I}", "sub", "device_c-1", "ten", "t100", "iss",
                      "certgate-c", "iat", (json_int_t)NOW, "exp", (json_int_t)4102444800LL);
        char *mine = sign_ok(ks, c);
        FILE *fp = fopen(outpath, "w");
        assert_non_null(fp);
        fprintf(fp, "%s\n", mine);
        fclose(fp);
        free(mine);
        json_decref(c);
    }
    free(tok);
    jwtkeys_unref(ks);
}

static void jti_is_random_128_bits(void **state)
{
    char a[JWT_JTI_LEN + 1], b[JWT_JTI_LEN + 1];
    assert_int_equal(jwt_jti_new(a), 0);
    assert_int_equal(jwt_jti_new(b), 0);
    assert_int_equal(strlen(a), JWT_JTI_LEN);
    assert_string_not_equal(a, b);
    uint8_t raw[32];
    assert_int_equal(b64_decode(a, strlen(a), raw, sizeof(raw), false, true), 16);
    for (const char *p = a; *p; p++) {
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    }
}

static void reason_names(void **state)
{
    for (int r = JWT_OK; r <= JWT_INTERNAL; r++) {
        const char *name = jwt_reason_name((enum jwt_reason)r);
        assert_non_null(name);
        assert_string_not_equal(name, "unknown");
    }
    assert_string_equal(jwt_reason_name((enum jwt_reason)999), "unknown");
}

struct thread_arg {
    const struct jwtkeys *ks;
    int failures;
};

static void *sign_verify_loop(void *p)
{
    struct thread_arg *t = p;
    json_t *claims = std_claims(NOW, NOW + 600);
    for (int i = 0; i < 150; i++) {
        char *tok = NULL;
        json_t *out = NULL;
        if (jwt_sign(t->ks, claims, &tok, NULL) != 0 ||
            jwt_verify(t->ks, tok, strlen(tok), NOW, 60, &out, NULL) != 0) {
            t->failures++;
        }
        json_decref(out);
        free(tok);
    }
    json_decref(claims);
    return NULL;
}

static void concurrent_sign_verify(void **state)
{
    struct fixture *f = *state;
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].ks = f->a;
        args[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, sign_verify_loop, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(sign_refuses_bad_claims),
        cmocka_unit_test(tampering_is_detected),
        cmocka_unit_test(alg_none_refused),
        cmocka_unit_test(hs256_key_confusion_refused),
        cmocka_unit_test(other_algs_refused),
        cmocka_unit_test(kid_rules),
        cmocka_unit_test(header_rules),
        cmocka_unit_test(claims_rules),
        cmocka_unit_test(time_edges),
        cmocka_unit_test(segment_syntax),
        cmocka_unit_test(size_cap),
        cmocka_unit_test(der_signature_refused),
        cmocka_unit_test(rotation_and_prune),
        cmocka_unit_test(verifies_independent_token),
        cmocka_unit_test(jti_is_random_128_bits),
        cmocka_unit_test(reason_names),
        cmocka_unit_test(concurrent_sign_verify),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
