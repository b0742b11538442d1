/* Policy checks one by one, reason codes, and the anchor check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "pki/cert.h"
#include "pki/policy.h"
#include "pki/revocation.h"
#include "support/testpki.h"

#include <stdlib.h>
#include <string.h>

static EVP_PKEY *k_ec;
static EVP_PKEY *k_ec2;
static EVP_PKEY *k_rsa1024;

static int group_setup(void **state)
{
    k_ec = testpki_key_new(TESTPKI_EC_P256);
    k_ec2 = testpki_key_new(TESTPKI_EC_P256);
    k_rsa1024 = testpki_key_new(TESTPKI_RSA_1024);
    return 0;
}

static int group_teardown(void **state)
{
    EVP_PKEY_free(k_ec);
    EVP_PKEY_free(k_ec2);
    EVP_PKEY_free(k_rsa1024);
    return 0;
}

static X509 *mk(const struct testpki_cert_opts *o)
{
    return testpki_cert(k_ec, o);
}

static void reason_codes_round_trip(void **state)
{
    const char *expected[] = {"accepted",
                              "internal",
                              "malformed",
                              "chain-too-long",
                              "untrusted",
                              "revoked",
                              "not-v3",
                              "weak-key",
                              "weak-signature",
                              "bad-signature",
                              "signer-not-ca",
                              "pathlen-exceeded",
                              "leaf-is-ca",
                              "purpose",
                              "name-constraints",
                              "critical-extension",
                              "not-yet-valid",
                              "expired",
                              "not-ca"};
    assert_int_equal(sizeof(expected) / sizeof(expected[0]), PKI_R_COUNT_);
    for (int i = 0; i < PKI_R_COUNT_; i++) {
        assert_string_equal(pki_reason_code((enum pki_reason)i), expected[i]);
        enum pki_reason r;
        assert_int_equal(pki_reason_parse(expected[i], &r), 0);
        assert_int_equal(r, i);
    }
    enum pki_reason r;
    assert_int_equal(pki_reason_parse("nope", &r), -EINVAL);
    assert_string_equal(pki_reason_code(PKI_R_COUNT_), "internal");
    enum pki_purpose p;
    assert_int_equal(pki_purpose_parse("client", &p), 0);
    assert_int_equal(p, PKI_PURPOSE_CLIENT);
    assert_int_equal(pki_purpose_parse("server", &p), 0);
    assert_int_equal(p, PKI_PURPOSE_SERVER);
    assert_int_equal(pki_purpose_parse("any", &p), 0);
    assert_int_equal(p, PKI_PURPOSE_ANY);
    assert_int_equal(pki_purpose_parse("email", &p), -EINVAL);
}

static void verdict_messages(void **state)
{
    struct pki_verdict v;
    X509 *x = mk(&(struct testpki_cert_opts){.subject = "/CN=Intermediate CA"});
    assert_int_equal(pki_verdict_cert(&v, PKI_R_EXPIRED, x, 1, "expired on %s", "then"),
                     CG_EDENIED);
    assert_string_equal(v.message, "certificate 1 (CN=Intermediate CA) expired on then");
    assert_int_equal(v.depth, 1);
    assert_int_equal(pki_verdict_set(&v, PKI_R_OK, -1, "fine"), 0);
    /* very long messages are truncated, never overflow */
    char longs[600];
    memset(longs, 'x', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    pki_verdict_cert(&v, PKI_R_MALFORMED, x, 0, "%s", longs);
    assert_int_equal(strlen(v.message), PKI_MESSAGE_MAX - 1);
    X509_free(x);
}

static void check_v3(void **state)
{
    struct pki_verdict v;
    for (int ver = 1; ver <= 3; ver++) {
        X509 *x = mk(&(struct testpki_cert_opts){.version = ver});
        int rc = pki_check_v3(x, 2, &v);
        if (ver == 3) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, CG_EDENIED);
            assert_int_equal(v.reason, PKI_R_NOT_V3);
            assert_int_equal(v.depth, 2);
        }
        X509_free(x);
    }
}

static void check_validity(void **state)
{
    struct pki_verdict v;
    X509 *x = mk(&(struct testpki_cert_opts){.not_before = 1000000, .not_after = 2000000});
    assert_int_equal(pki_check_validity(x, 0, 1000000 * 1000LL, &v), 0);
    assert_int_equal(pki_check_validity(x, 0, 2000000 * 1000LL + 999, &v), 0); /* same second */
    assert_int_equal(pki_check_validity(x, 0, 1000000 * 1000LL - 1, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_NOT_YET_VALID);
    assert_non_null(strstr(v.message, "is not valid before 1970-01-12T13:46:40.000Z"));
    assert_int_equal(pki_check_validity(x, 0, 2000001 * 1000LL, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_EXPIRED);
    assert_non_null(strstr(v.message, "expired on 1970-01-24T03:33:20.000Z"));
    X509_free(x);
}

static void check_signer_ca(void **state)
{
    struct pki_verdict v;
    struct {
        const char *bc;
        const char *ku;
        int want;
    } cases[] = {
        {"critical,CA:TRUE", "critical,keyCertSign", 0},
        {"critical,CA:TRUE", "", 0},
        {"CA:TRUE", "digitalSignature,keyCertSign", 0},
        {"CA:FALSE", "critical,keyCertSign", CG_EDENIED},
        {"", "critical,keyCertSign", CG_EDENIED},
        {"critical,CA:TRUE", "critical,digitalSignature,cRLSign", CG_EDENIED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = mk(&(struct testpki_cert_opts){.basic_constraints = cases[i].bc,
                                                 .key_usage = cases[i].ku});
        int rc = pki_check_signer_ca(x, 1, &v);
        if (rc != cases[i].want) {
            fail_msg("case %zu: %d", i, rc);
        }
        if (rc != 0) {
            assert_int_equal(v.reason, PKI_R_SIGNER_NOT_CA);
            assert_int_equal(v.depth, 1);
        }
        X509_free(x);
    }
    /* a v1 certificate has no basicConstraints: not a CA */
    X509 *x = mk(&(struct testpki_cert_opts){.version = 1});
    assert_int_equal(pki_check_signer_ca(x, 1, &v), CG_EDENIED);
    X509_free(x);
}

/* A chain of CAs with the given pathlens (-1: none) from the root (last) to the leaf. */
static STACK_OF(X509) * pathlen_chain(int n, const int *pathlen, const bool *self_issued)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *issuer = NULL;
    X509 *certs[8];
    for (int i = n - 1; i >= 0; i--) {
        char bc[64];
        char subj[32];
        if (pathlen[i] >= 0) {
            snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", pathlen[i]);
        } else {
            snprintf(bc, sizeof(bc), "critical,CA:TRUE");
        }
        /* a self-issued certificate repeats its issuer's subject */
        if (self_issued != NULL && self_issued[i] && issuer != NULL) {
            char *s = X509_NAME_oneline(X509_get_subject_name(issuer), NULL, 0);
            snprintf(subj, sizeof(subj), "%s", s);
            OPENSSL_free(s);
        } else {
            snprintf(subj, sizeof(subj), "/CN=c%d", i);
        }
        certs[i] =
            testpki_cert(k_ec, &(struct testpki_cert_opts){.subject = subj,
                                                           .ca = i > 0,
                                                           .basic_constraints = i > 0 ? bc : NULL,
                                                           .issuer = issuer,
                                                           .issuer_key = issuer ? k_ec : NULL});
        issuer = certs[i];
    }
    for (int i = 0; i < n; i++) {
        sk_X509_push(sk, certs[i]);
    }
    return sk;
}

static void check_pathlen(void **state)
{
    struct pki_verdict v;
    struct {
        int n;
        int pathlen[6];
        int want_depth; /* -1: passes */
    } cases[] = {
        {3, {-1, 0, -1}, -1},    /* ca1 pathlen 0 signs the leaf */
        {3, {-1, -1, 0}, 2},     /* root pathlen 0 over one intermediate */
        {3, {-1, -1, 1}, -1},    /* root pathlen 1 over one intermediate */
        {4, {-1, -1, -1, 1}, 3}, /* root pathlen 1 over two */
        {4, {-1, -1, 0, -1}, 2}, /* middle pathlen 0 over one */
        {5, {-1, -1, -1, -1, 3}, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        STACK_OF(X509) *sk = pathlen_chain(cases[i].n, cases[i].pathlen, NULL);
        int rc = pki_check_pathlen(sk, &v);
        if (cases[i].want_depth < 0) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, CG_EDENIED);
            assert_int_equal(v.reason, PKI_R_PATHLEN_EXCEEDED);
            assert_int_equal(v.depth, cases[i].want_depth);
        }
        sk_X509_pop_free(sk, X509_free);
    }
    /* Self-issued intermediates (key rollover) do not count (RFC 5280 6.1.4 (l)). */
    int pl[4] = {-1, -1, -1, 0};
    bool si[4] = {false, false, true, false};
    STACK_OF(X509) *sk = pathlen_chain(4, pl, si);
    assert_int_equal(pki_check_pathlen(sk, &v), CG_EDENIED); /* c1 below still counts */
    sk_X509_pop_free(sk, X509_free);
    bool si2[4] = {false, true, true, false};
    sk = pathlen_chain(4, pl, si2);
    assert_int_equal(pki_check_pathlen(sk, &v), 0);
    sk_X509_pop_free(sk, X509_free);
}

static void check_chain_length(void **state)
{
    struct pki_verdict v;
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x = mk(NULL);
    for (int i = 0; i < 11; i++) {
        X509_up_ref(x);
        sk_X509_push(sk, x);
    }
    assert_int_equal(pki_check_chain_length(sk, 0, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_CHAIN_TOO_LONG);
    assert_int_equal(v.depth, -1);
    assert_string_equal(v.message, "the chain has 11 certificates, more than the maximum of 10");
    assert_int_equal(pki_check_chain_length(sk, 11, &v), 0);
    X509_free(sk_X509_pop(sk));
    assert_int_equal(pki_check_chain_length(sk, 0, &v), 0);
    assert_int_equal(pki_check_chain_length(sk, 9, &v), CG_EDENIED);
    sk_X509_pop_free(sk, X509_free);
    X509_free(x);
}

static void check_key_strength(void **state)
{
    struct pki_verdict v;
    struct {
        enum testpki_key type;
        bool ok;
    } cases[] = {
        {TESTPKI_EC_P256, true},       {TESTPKI_EC_P384, true},   {TESTPKI_EC_P521, true},
        {TESTPKI_ED25519, true},       {TESTPKI_ED448, true},     {TESTPKI_RSA_2048, true},
        {TESTPKI_EC_SECP256K1, false}, {TESTPKI_DSA_2048, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        EVP_PKEY *k = testpki_key_new(cases[i].type);
        X509 *x = testpki_cert(k, &(struct testpki_cert_opts){.issuer_key = k_ec});
        int rc = pki_check_key_strength(x, 0, &v);
        if ((rc == 0) != cases[i].ok) {
            fail_msg("key case %zu: rc %d", i, rc);
        }
        if (rc != 0) {
            assert_int_equal(v.reason, PKI_R_WEAK_KEY);
        }
        X509_free(x);
        EVP_PKEY_free(k);
    }
    X509 *x = testpki_cert(k_rsa1024, NULL);
    assert_int_equal(pki_check_key_strength(x, 0, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_WEAK_KEY);
    assert_non_null(strstr(v.message, "1024-bit RSA key"));
    X509_free(x);
}

static void check_signature_alg(void **state)
{
    struct pki_verdict v;
    X509 *x = mk(&(struct testpki_cert_opts){.md = EVP_sha1()});
    assert_int_equal(pki_check_signature_alg(x, 0, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_WEAK_SIGNATURE);
    assert_non_null(strstr(v.message, "SHA1withECDSA"));
    X509_free(x);
    EVP_PKEY *rsa = testpki_key_new(TESTPKI_RSA_2048);
    x = testpki_cert(rsa, &(struct testpki_cert_opts){.md = EVP_sha1()});
    assert_int_equal(pki_check_signature_alg(x, 0, &v), CG_EDENIED);
    X509_free(x);
    x = testpki_cert(rsa, &(struct testpki_cert_opts){.md = EVP_md5()});
    assert_int_equal(pki_check_signature_alg(x, 0, &v), CG_EDENIED);
    assert_non_null(strstr(v.message, "MD5withRSA"));
    X509_free(x);
    x = testpki_cert(rsa, &(struct testpki_cert_opts){.md = EVP_sha1(), .rsa_pss = true});
    assert_int_equal(pki_check_signature_alg(x, 0, &v), CG_EDENIED);
    X509_free(x);
    x = testpki_cert(rsa, &(struct testpki_cert_opts){.rsa_pss = true});
    assert_int_equal(pki_check_signature_alg(x, 0, &v), 0);
    X509_free(x);
    EVP_PKEY_free(rsa);
    const EVP_MD *good[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
    for (size_t i = 0; i < 3; i++) {
        x = mk(&(struct testpki_cert_opts){.md = good[i]});
        assert_int_equal(pki_check_signature_alg(x, 0, &v), 0);
        X509_free(x);
    }
    EVP_PKEY *ed = testpki_key_new(TESTPKI_ED25519);
    x = testpki_cert(ed, NULL);
    assert_int_equal(pki_check_signature_alg(x, 0, &v), 0);
    X509_free(x);
    EVP_PKEY_free(ed);
}

static void check_leaf_rules(void **state)
{
    struct pki_verdict v;
    X509 *ca = mk(&(struct testpki_cert_opts){.ca = true});
    assert_int_equal(pki_check_leaf_not_ca(ca, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_LEAF_IS_CA);
    assert_int_equal(v.depth, 0);
    X509_free(ca);
    /* keyCertSign without CA:TRUE is not a CA */
    X509 *x = mk(&(struct testpki_cert_opts){.key_usage = "keyCertSign,digitalSignature"});
    assert_int_equal(pki_check_leaf_not_ca(x, &v), 0);
    X509_free(x);

    struct {
        const char *eku;
        const char *ku;
        int client, server, any;
    } cases[] = {
        {NULL, NULL, 0, 0, 0},
        {"clientAuth", NULL, 0, CG_EDENIED, 0},
        {"serverAuth", NULL, CG_EDENIED, 0, 0},
        {"serverAuth,clientAuth", NULL, 0, 0, 0},
        {"anyExtendedKeyUsage", NULL, 0, 0, 0},
        {"emailProtection", NULL, CG_EDENIED, CG_EDENIED, 0},
        {NULL, "critical,keyEncipherment", CG_EDENIED, 0, 0},
        {NULL, "critical,keyAgreement", 0, 0, 0},
        {NULL, "critical,nonRepudiation", CG_EDENIED, CG_EDENIED, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        x = mk(
            &(struct testpki_cert_opts){.ext_key_usage = cases[i].eku, .key_usage = cases[i].ku});
        int c = pki_check_leaf_purpose(x, PKI_PURPOSE_CLIENT, &v);
        int s = pki_check_leaf_purpose(x, PKI_PURPOSE_SERVER, &v);
        int a = pki_check_leaf_purpose(x, PKI_PURPOSE_ANY, &v);
        if (c != cases[i].client || s != cases[i].server || a != cases[i].any) {
            fail_msg("purpose case %zu: %d %d %d", i, c, s, a);
        }
        X509_free(x);
    }
    x = mk(&(struct testpki_cert_opts){.ca = true, .ext_key_usage = "serverAuth"});
    assert_int_equal(pki_check_ca_purpose(x, 1, PKI_PURPOSE_CLIENT, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_PURPOSE);
    assert_int_equal(v.depth, 1);
    assert_int_equal(pki_check_ca_purpose(x, 1, PKI_PURPOSE_SERVER, &v), 0);
    assert_int_equal(pki_check_ca_purpose(x, 1, PKI_PURPOSE_ANY, &v), 0);
    X509_free(x);
}

static void check_revoked(void **state)
{
    struct pki_verdict v;
    X509 *a = mk(&(struct testpki_cert_opts){.serial_hex = "0a"});
    X509 *b = mk(&(struct testpki_cert_opts){.serial_hex = "0b"});
    STACK_OF(X509) *sk = testpki_stack(a, b, NULL);
    struct pki_revocation *set = pki_revocation_new();
    assert_int_equal(pki_revocation_add_serial(set, "0B", NULL), 0);
    pki_revocation_seal(set);
    assert_int_equal(pki_check_revoked(sk, NULL, &v), 0);
    assert_int_equal(pki_check_revoked(sk, set, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_REVOKED);
    assert_int_equal(v.depth, 1);
    assert_non_null(strstr(v.message, "serial b)"));
    pki_revocation_unref(set);
    sk_X509_pop_free(sk, X509_free);
    X509_free(a);
    X509_free(b);
}

static void check_policy_order(void **state)
{
    /* Both a v1 certificate and an expired one: not-v3 ranks first. */
    struct pki_verdict v;
    X509 *root = mk(&(struct testpki_cert_opts){.subject = "/CN=r", .ca = true});
    X509 *leaf = testpki_cert(k_ec2, &(struct testpki_cert_opts){.subject = "/CN=l",
                                                                 .issuer = root,
                                                                 .issuer_key = k_ec,
                                                                 .version = 1,
                                                                 .not_before = 1000,
                                                                 .not_after = 2000});
    STACK_OF(X509) *sk = testpki_stack(leaf, root, NULL);
    assert_int_equal(pki_check_policy(sk, 0, PKI_PURPOSE_CLIENT, testpki_now() * 1000, NULL, &v),
                     CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_NOT_V3);
    assert_int_equal(pki_check_policy(sk, 1, PKI_PURPOSE_CLIENT, testpki_now() * 1000, NULL, &v),
                     CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_CHAIN_TOO_LONG);
    sk_X509_pop_free(sk, X509_free);
    STACK_OF(X509) *empty = sk_X509_new_null();
    assert_int_equal(pki_check_policy(empty, 0, PKI_PURPOSE_CLIENT, 0, NULL, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_INTERNAL);
    sk_X509_free(empty);
    X509_free(leaf);
    X509_free(root);
}

/* ---- anchors ------------------------------------------------------------------------ */

static void anchor_check_rules(void **state)
{
    struct pki_verdict v;
    int64_t now = testpki_now() * 1000;
    struct {
        struct testpki_cert_opts o;
        EVP_PKEY *key;
        enum pki_reason want;
    } cases[] = {
        {{.ca = true}, NULL, PKI_R_OK},
        {{.ca = true, .basic_constraints = "critical,CA:TRUE,pathlen:0"}, NULL, PKI_R_OK},
        {{.ca = true, .md = NULL, .version = 1}, NULL, PKI_R_NOT_V3},
        {{.ca = false}, NULL, PKI_R_NOT_CA},
        {{.ca = true, .basic_constraints = ""}, NULL, PKI_R_NOT_CA},
        {{.ca = true, .key_usage = "critical,digitalSignature"}, NULL, PKI_R_NOT_CA},
        {{.ca = true, .not_before = 1000, .not_after = 2000}, NULL, PKI_R_EXPIRED},
        /* not yet valid: may be uploaded ahead of time */
        {{.ca = true, .not_before = 4102444800, .not_after = 4133980800}, NULL, PKI_R_OK},
        {{.ca = true}, k_rsa1024, PKI_R_WEAK_KEY},
        /* its own SHA-1 self-signature is not relied on */
        {{.ca = true, .md = NULL}, NULL, PKI_R_OK},
    };
    cases[9].o.md = EVP_sha1();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = testpki_cert(cases[i].key ? cases[i].key : k_ec, &cases[i].o);
        int rc = pki_anchor_check(x, now, &v);
        enum pki_reason got = rc == 0 ? PKI_R_OK : v.reason;
        if (got != cases[i].want || (rc == 0) != (got == PKI_R_OK)) {
            fail_msg("anchor case %zu: got %s (%s)", i, pki_reason_code(got), v.message);
        }
        X509_free(x);
    }
    assert_int_equal(pki_anchor_check(NULL, now, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_MALFORMED);
}

static void anchor_load_forms(void **state)
{
    struct pki_verdict v;
    int64_t now = testpki_now() * 1000;
    X509 *ca = mk(&(struct testpki_cert_opts){.subject = "/CN=Upload", .ca = true});
    X509 *leaf = mk(&(struct testpki_cert_opts){.subject = "/CN=leaf"});
    char *pem = testpki_pem(ca);
    size_t dlen = 0;
    unsigned char *der = testpki_der(ca, &dlen);
    X509 *out = NULL;
    assert_int_equal(pki_anchor_load(pem, strlen(pem), now, &out, &v), 0);
    assert_int_equal(X509_cmp(out, ca), 0);
    X509_free(out);
    out = NULL;
    assert_int_equal(pki_anchor_load(der, dlen, now, &out, &v), 0);
    X509_free(out);
    out = NULL;

    char *two = malloc(strlen(pem) * 2 + 1);
    strcpy(two, pem);
    strcat(two, pem);
    assert_int_equal(pki_anchor_load(two, strlen(two), now, &out, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_MALFORMED);
    assert_non_null(strstr(v.message, "one certificate"));
    free(two);

    char *key = testpki_key_pem(k_ec);
    assert_int_equal(pki_anchor_load(key, strlen(key), now, &out, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_MALFORMED);
    assert_non_null(strstr(v.message, "private key"));
    free(key);

    assert_int_equal(pki_anchor_load("garbage", 7, now, &out, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_MALFORMED);

    char *lpem = testpki_pem(leaf);
    assert_int_equal(pki_anchor_load(lpem, strlen(lpem), now, &out, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_NOT_CA);
    assert_null(out);
    free(lpem);
    free(pem);
    free(der);
    X509_free(ca);
    X509_free(leaf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reason_codes_round_trip),
        cmocka_unit_test(verdict_messages),
        cmocka_unit_test(check_v3),
        cmocka_unit_test(check_validity),
        cmocka_unit_test(check_signer_ca),
        cmocka_unit_test(check_pathlen),
        cmocka_unit_test(check_chain_length),
        cmocka_unit_test(check_key_strength),
        cmocka_unit_test(check_signature_alg),
        cmocka_unit_test(check_leaf_rules),
        cmocka_unit_test(check_revoked),
        cmocka_unit_test(check_policy_order),
        cmocka_unit_test(anchor_check_rules),
        cmocka_unit_test(anchor_load_forms),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
