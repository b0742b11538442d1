/* The chain validator, end to end: every rule with generated certificates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "pki/cert.h"
#include "pki/revocation.h"
#include "pki/trust.h"
#include "pki/verify.h"
#include "support/testpki.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509v3.h>

/* Keys reused by most tests (EC P-256: fast). */
static EVP_PKEY *k_root;
static EVP_PKEY *k_int;
static EVP_PKEY *k_leaf;
static EVP_PKEY *k_other;
static EVP_PKEY *k_rsa1024;
static EVP_PKEY *k_rsa2048;

static int group_setup(void **state)
{
    k_root = testpki_key_new(TESTPKI_EC_P256);
    k_int = testpki_key_new(TESTPKI_EC_P256);
    k_leaf = testpki_key_new(TESTPKI_EC_P256);
    k_other = testpki_key_new(TESTPKI_EC_P256);
    k_rsa1024 = testpki_key_new(TESTPKI_RSA_1024);
    k_rsa2048 = testpki_key_new(TESTPKI_RSA_2048);
    return 0;
}

static int group_teardown(void **state)
{
    EVP_PKEY_free(k_root);
    EVP_PKEY_free(k_int);
    EVP_PKEY_free(k_leaf);
    EVP_PKEY_free(k_other);
    EVP_PKEY_free(k_rsa1024);
    EVP_PKEY_free(k_rsa2048);
    return 0;
}

/* A root -> intermediate -> leaf chain; `mod` may change the options of the certificate at
 * depth `at` (and `key` replace its key) before it is made. */
struct c3 {
    X509 *leaf;
    X509 *inter;
    X509 *root;
};

typedef void (*mod_fn)(struct testpki_cert_opts *o);

static void make3(struct c3 *c, int at, mod_fn mod, EVP_PKEY *key)
{
    struct testpki_cert_opts ro = {.subject = "/O=Acme/CN=Root CA", .ca = true};
    if (at == 2 && mod) {
        mod(&ro);
    }
    EVP_PKEY *rk = at == 2 && key ? key : k_root;
    c->root = testpki_cert(rk, &ro);
    struct testpki_cert_opts io = {
        .subject = "/O=Acme/CN=Intermediate CA", .ca = true, .issuer = c->root, .issuer_key = rk};
    if (at == 1 && mod) {
        mod(&io);
    }
    EVP_PKEY *ik = at == 1 && key ? key : k_int;
    c->inter = testpki_cert(ik, &io);
    struct testpki_cert_opts lo = {.subject = "/O=Acme/CN=dev-1",
                                   .issuer = c->inter,
                                   .issuer_key = ik,
                                   .ext_key_usage = "clientAuth"};
    if (at == 0 && mod) {
        mod(&lo);
    }
    c->leaf = testpki_cert(at == 0 && key ? key : k_leaf, &lo);
}

static void free3(struct c3 *c)
{
    X509_free(c->leaf);
    X509_free(c->inter);
    X509_free(c->root);
}

static struct pki_trust *trust_of(X509 *first, ...)
{
    struct pki_trust_builder *b = pki_trust_builder_new();
    assert_non_null(b);
    va_list ap;
    va_start(ap, first);
    for (X509 *x = first; x != NULL; x = va_arg(ap, X509 *)) {
        assert_int_equal(pki_trust_builder_add(b, x, x), 0);
    }
    va_end(ap);
    struct pki_trust *t = NULL;
    assert_int_equal(pki_trust_builder_finish(b, &t), 0);
    return t;
}

/* Verify leaf + inter against root-only trust (the usual case) and return the reason. */
static enum pki_reason verify3(struct c3 *c, const struct pki_verify_params *p, int *depth,
                               char *msg, size_t cap)
{
    struct pki_trust *t = trust_of(c->root, NULL);
    STACK_OF(X509) *un = testpki_stack(c->inter, NULL);
    struct pki_verify_result res;
    int rc = pki_chain_verify(t, c->leaf, un, p, &res);
    enum pki_reason r = res.verdict.reason;
    assert_int_equal(rc, r == PKI_R_OK ? 0 : CG_EDENIED);
    if (depth != NULL) {
        *depth = res.verdict.depth;
    }
    if (msg != NULL) {
        snprintf(msg, cap, "%s", res.verdict.message);
    }
    if (r != PKI_R_OK) {
        assert_null(res.anchor);
        assert_true(strlen(res.verdict.message) > 0);
    }
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    return r;
}

static void expect3(int at, mod_fn mod, EVP_PKEY *key, enum pki_reason want, int want_depth)
{
    struct c3 c;
    make3(&c, at, mod, key);
    int depth = -2;
    char msg[PKI_MESSAGE_MAX];
    enum pki_reason r = verify3(&c, NULL, &depth, msg, sizeof(msg));
    if (r != want || depth != want_depth) {
        fail_msg("at depth %d: got %s at %d (%s), want %s at %d", at, pki_reason_code(r), depth,
                 msg, pki_reason_code(want), want_depth);
    }
    free3(&c);
}

/* ---- accepted paths --------------------------------------------------------------- */

static void accepted_root_intermediate_leaf(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.root, NULL);
    STACK_OF(X509) *un = testpki_stack(c.inter, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.leaf, un, NULL, &res), 0);
    assert_int_equal(res.verdict.reason, PKI_R_OK);
    assert_non_null(res.anchor);
    assert_int_equal(res.n_anchors, 1);
    assert_ptr_equal(res.anchor->owner, c.root);
    assert_ptr_equal(res.anchor->cert, c.root);
    char fp[PKI_FINGERPRINT_LEN + 1];
    assert_int_equal(pki_cert_fingerprint(c.root, fp), 0);
    assert_string_equal(res.anchor->fingerprint, fp);
    assert_int_equal(sk_X509_num(res.chain), 3);
    assert_ptr_equal(sk_X509_value(res.chain, 0), c.leaf);
    assert_ptr_equal(sk_X509_value(res.chain, 2), c.root);
    /* The same result through the bundle entry point. */
    STACK_OF(X509) *bundle = testpki_stack(c.leaf, c.inter, NULL);
    struct pki_verify_result res2;
    assert_int_equal(pki_chain_verify_bundle(t, bundle, NULL, &res2), 0);
    assert_ptr_equal(res2.anchor->owner, c.root);
    pki_verify_result_cleanup(&res2);
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(bundle, X509_free);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    free3(&c);
}

static void accepted_with_root_presented(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.root, NULL);
    /* Presented out of order, root included. */
    STACK_OF(X509) *un = testpki_stack(c.root, c.inter, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.leaf, un, NULL, &res), 0);
    assert_ptr_equal(res.anchor->cert, c.root);
    assert_int_equal(sk_X509_num(res.chain), 3);
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    free3(&c);
}

static void leaf_only_with_uploaded_issuer(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.inter, NULL); /* an intermediate uploaded as anchor */
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.leaf, NULL, NULL, &res), 0);
    assert_ptr_equal(res.anchor->cert, c.inter);
    assert_int_equal(sk_X509_num(res.chain), 2);
    pki_verify_result_cleanup(&res);
    pki_trust_unref(t);
    free3(&c);
}

static void leaf_only_with_only_root_uploaded_is_untrusted(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.root, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.leaf, NULL, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_UNTRUSTED);
    assert_int_equal(res.verdict.depth, 0);
    assert_non_null(strstr(res.verdict.message, "CN=dev-1"));
    assert_non_null(strstr(res.verdict.message, "CN=Intermediate CA"));
    pki_verify_result_cleanup(&res);
    pki_trust_unref(t);
    free3(&c);
}

static void anchor_reached_is_closest_to_leaf(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.root, c.inter, NULL);
    STACK_OF(X509) *un = testpki_stack(c.inter, c.root, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.leaf, un, NULL, &res), 0);
    assert_ptr_equal(res.anchor->cert, c.inter);
    assert_int_equal(sk_X509_num(res.chain), 2);
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    free3(&c);
}

static void no_anchors_untrusted(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(NULL);
    STACK_OF(X509) *un = testpki_stack(c.inter, c.root, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.leaf, un, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_UNTRUSTED);
    assert_int_equal(res.verdict.depth, 2); /* the self-signed root presented, not uploaded */
    pki_verify_result_cleanup(&res);
    assert_int_equal(pki_chain_verify(t, NULL, un, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_MALFORMED);
    pki_verify_result_cleanup(&res);
    assert_int_equal(pki_chain_verify_bundle(t, NULL, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_MALFORMED);
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    free3(&c);
}

static void key_types_accepted(void **state)
{
    const enum testpki_key types[] = {TESTPKI_EC_P384, TESTPKI_EC_P521, TESTPKI_ED25519,
                                      TESTPKI_ED448, TESTPKI_RSA_2048};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct testpki_chain ch;
        testpki_chain_make(&ch, 3, types[i]);
        struct pki_trust *t = trust_of(ch.cert[2], NULL);
        STACK_OF(X509) *un = testpki_stack(ch.cert[1], NULL);
        struct pki_verify_result res;
        int rc = pki_chain_verify(t, ch.cert[0], un, NULL, &res);
        if (rc != 0) {
            fail_msg("key type %zu refused: %s", i, res.verdict.message);
        }
        pki_verify_result_cleanup(&res);
        sk_X509_pop_free(un, X509_free);
        pki_trust_unref(t);
        testpki_chain_free(&ch);
    }
}

static void rsa_pss_signatures_accepted(void **state)
{
    struct testpki_cert_opts ro = {.subject = "/CN=PSS Root", .ca = true, .rsa_pss = true};
    X509 *root = testpki_cert(k_rsa2048, &ro);
    struct testpki_cert_opts lo = {
        .subject = "/CN=pss-dev", .issuer = root, .issuer_key = k_rsa2048, .rsa_pss = true};
    X509 *leaf = testpki_cert(k_leaf, &lo);
    struct pki_trust *t = trust_of(root, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, leaf, NULL, NULL, &res), 0);
    pki_verify_result_cleanup(&res);
    pki_trust_unref(t);
    X509_free(leaf);
    X509_free(root);
}

/* ---- validity ------------------------------------------------------------------- */

static void mod_expired(struct testpki_cert_opts *o)
{
    o->not_before = testpki_now() - 400 * TESTPKI_DAY;
    o->not_after = testpki_now() - 10 * TESTPKI_DAY;
}

static void mod_not_yet_valid(struct testpki_cert_opts *o)
{
    o->not_before = testpki_now() + 10 * TESTPKI_DAY;
    o->not_after = testpki_now() + 400 * TESTPKI_DAY;
}

static void expired_at_each_depth(void **state)
{
    for (int d = 0; d < 3; d++) {
        expect3(d, mod_expired, NULL, PKI_R_EXPIRED, d);
    }
}

static void not_yet_valid_at_each_depth(void **state)
{
    for (int d = 0; d < 3; d++) {
        expect3(d, mod_not_yet_valid, NULL, PKI_R_NOT_YET_VALID, d);
    }
}

static void mod_fixed_expiry(struct testpki_cert_opts *o)
{
    o->not_before = 1672531200; /* 2023-01-01 */
    o->not_after = 1704067200;  /* 2024-01-01 */
}

static void expired_message_names_certificate(void **state)
{
    struct c3 c;
    make3(&c, 1, mod_fixed_expiry, NULL);
    char msg[PKI_MESSAGE_MAX];
    int depth = 0;
    assert_int_equal(verify3(&c, NULL, &depth, msg, sizeof(msg)), PKI_R_EXPIRED);
    assert_string_equal(msg, "certificate 1 (CN=Intermediate CA, O=Acme) expired on "
                             "2024-01-01T00:00:00.000Z");
    free3(&c);
}

static void verification_time_is_a_parameter(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_verify_params p = {.at_ms = (testpki_now() - 2 * TESTPKI_DAY) * 1000};
    int depth = 0;
    assert_int_equal(verify3(&c, &p, &depth, NULL, 0), PKI_R_NOT_YET_VALID);
    p.at_ms = (testpki_now() + 2 * 366 * TESTPKI_DAY) * 1000;
    assert_int_equal(verify3(&c, &p, &depth, NULL, 0), PKI_R_EXPIRED);
    p.at_ms = (testpki_now() + 30 * TESTPKI_DAY) * 1000;
    assert_int_equal(verify3(&c, &p, &depth, NULL, 0), PKI_R_OK);
    free3(&c);
}

/* ---- signers, pathlen, length -------------------------------------------------------- */

static void mod_ca_false(struct testpki_cert_opts *o)
{
    o->basic_constraints = "CA:FALSE";
}

static void mod_no_basic_constraints(struct testpki_cert_opts *o)
{
    o->basic_constraints = "";
    o->key_usage = "";
}

static void mod_ku_without_certsign(struct testpki_cert_opts *o)
{
    o->key_usage = "critical,digitalSignature,cRLSign";
}

static void signer_not_ca(void **state)
{
    expect3(1, mod_ca_false, NULL, PKI_R_SIGNER_NOT_CA, 1);
    expect3(1, mod_no_basic_constraints, NULL, PKI_R_SIGNER_NOT_CA, 1);
    expect3(1, mod_ku_without_certsign, NULL, PKI_R_SIGNER_NOT_CA, 1);
}

static void mod_pathlen0(struct testpki_cert_opts *o)
{
    o->basic_constraints = "critical,CA:TRUE,pathlen:0";
}

static void pathlen_constraints(void **state)
{
    /* root pathlen 0 with one intermediate below it: violated at the root (depth 2). */
    expect3(2, mod_pathlen0, NULL, PKI_R_PATHLEN_EXCEEDED, 2);
    /* intermediate pathlen 0 signing the leaf directly: fine. */
    expect3(1, mod_pathlen0, NULL, PKI_R_OK, -1);

    /* root -> ca2 (pathlen 0) -> ca1 -> leaf: violated at depth 2. */
    X509 *root = testpki_cert(k_root, &(struct testpki_cert_opts){.subject = "/CN=R", .ca = true});
    X509 *ca2 = testpki_cert(
        k_int, &(struct testpki_cert_opts){.subject = "/CN=CA2",
                                           .basic_constraints = "critical,CA:TRUE,pathlen:0",
                                           .ca = true,
                                           .issuer = root,
                                           .issuer_key = k_root});
    X509 *ca1 = testpki_cert(
        k_other, &(struct testpki_cert_opts){
                     .subject = "/CN=CA1", .ca = true, .issuer = ca2, .issuer_key = k_int});
    X509 *leaf = testpki_cert(
        k_leaf,
        &(struct testpki_cert_opts){.subject = "/CN=d", .issuer = ca1, .issuer_key = k_other});
    struct pki_trust *t = trust_of(root, NULL);
    STACK_OF(X509) *un = testpki_stack(ca1, ca2, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, leaf, un, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_PATHLEN_EXCEEDED);
    assert_int_equal(res.verdict.depth, 2);
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    X509_free(leaf);
    X509_free(ca1);
    X509_free(ca2);
    X509_free(root);
}

static enum pki_reason verify_chain_n(struct testpki_chain *ch, unsigned max)
{
    struct pki_trust *t = trust_of(ch->cert[ch->n - 1], NULL);
    STACK_OF(X509) *un = sk_X509_new_null();
    for (int i = ch->n - 2; i >= 1; i--) { /* reversed order on purpose */
        X509_up_ref(ch->cert[i]);
        sk_X509_push(un, ch->cert[i]);
    }
    struct pki_verify_params p = {.max_chain = max};
    struct pki_verify_result res;
    pki_chain_verify(t, ch->cert[0], un, &p, &res);
    enum pki_reason r = res.verdict.reason;
    if (r == PKI_R_OK) {
        assert_int_equal(sk_X509_num(res.chain), ch->n);
    }
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    return r;
}

static void chain_length_limits(void **state)
{
    struct testpki_chain ch;
    testpki_chain_make(&ch, 10, TESTPKI_EC_P256);
    assert_int_equal(verify_chain_n(&ch, 0), PKI_R_OK);
    assert_int_equal(verify_chain_n(&ch, 9), PKI_R_CHAIN_TOO_LONG);
    testpki_chain_free(&ch);

    testpki_chain_make(&ch, 11, TESTPKI_EC_P256);
    assert_int_equal(verify_chain_n(&ch, 0), PKI_R_CHAIN_TOO_LONG);
    assert_int_equal(verify_chain_n(&ch, 11), PKI_R_OK);
    testpki_chain_free(&ch);

    /* Far longer than the limit: OpenSSL stops building, still chain-too-long. */
    testpki_chain_make(&ch, 20, TESTPKI_EC_P256);
    assert_int_equal(verify_chain_n(&ch, 0), PKI_R_CHAIN_TOO_LONG);
    assert_int_equal(verify_chain_n(&ch, 3), PKI_R_CHAIN_TOO_LONG);
    assert_int_equal(verify_chain_n(&ch, 20), PKI_R_OK);
    testpki_chain_free(&ch);

    /* Configurable: 3 allowed, 4 refused. */
    testpki_chain_make(&ch, 4, TESTPKI_EC_P256);
    assert_int_equal(verify_chain_n(&ch, 3), PKI_R_CHAIN_TOO_LONG);
    assert_int_equal(verify_chain_n(&ch, 4), PKI_R_OK);
    testpki_chain_free(&ch);
}

static void chain_checks_after_verification(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.root, NULL);
    STACK_OF(X509) *un = testpki_stack(c.inter, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.leaf, un, NULL, &res), 0);
    struct pki_verdict v;
    assert_int_equal(pki_chain_check_length(&res, 3, &v), 0);
    assert_int_equal(pki_chain_check_length(&res, 2, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_CHAIN_TOO_LONG);

    struct pki_revocation *set = pki_revocation_new();
    char *hex = NULL;
    assert_int_equal(pki_serial_format(X509_get0_serialNumber(c.inter), NULL, &hex), 0);
    assert_int_equal(pki_chain_check_revoked(&res, set, &v), 0);
    assert_int_equal(pki_revocation_add_serial(set, hex, NULL), 0);
    pki_revocation_seal(set);
    assert_int_equal(pki_chain_check_revoked(&res, set, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_REVOKED);
    assert_int_equal(v.depth, 1);
    assert_int_equal(pki_chain_check_revoked(&res, NULL, &v), 0);
    pki_verify_result_cleanup(&res);
    /* A refused result has no verified chain to check. */
    assert_int_equal(pki_chain_check_length(&res, 3, &v), CG_EDENIED);
    assert_int_equal(v.reason, PKI_R_INTERNAL);
    free(hex);
    pki_revocation_unref(set);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    free3(&c);
}

/* ---- versions, keys, signatures -------------------------------------------------------- */

static void mod_v1(struct testpki_cert_opts *o)
{
    o->version = 1;
}

static void v1_certificates(void **state)
{
    expect3(0, mod_v1, NULL, PKI_R_NOT_V3, 0);
    expect3(1, mod_v1, NULL, PKI_R_NOT_V3, 1);
    expect3(2, mod_v1, NULL, PKI_R_NOT_V3, 2);
}

static void weak_keys(void **state)
{
    expect3(0, NULL, k_rsa1024, PKI_R_WEAK_KEY, 0);
    expect3(1, NULL, k_rsa1024, PKI_R_WEAK_KEY, 1);
    expect3(2, NULL, k_rsa1024, PKI_R_WEAK_KEY, 2);
    EVP_PKEY *k1 = testpki_key_new(TESTPKI_EC_SECP256K1);
    expect3(0, NULL, k1, PKI_R_WEAK_KEY, 0);
    EVP_PKEY_free(k1);
    EVP_PKEY *dsa = testpki_key_new(TESTPKI_DSA_2048);
    expect3(0, NULL, dsa, PKI_R_WEAK_KEY, 0);
    EVP_PKEY_free(dsa);
}

static void mod_sha1(struct testpki_cert_opts *o)
{
    o->md = EVP_sha1();
}

static void weak_signatures(void **state)
{
    expect3(0, mod_sha1, NULL, PKI_R_WEAK_SIGNATURE, 0);
    expect3(1, mod_sha1, NULL, PKI_R_WEAK_SIGNATURE, 1);
    /* The anchor's own self-signature is not relied on. */
    expect3(2, mod_sha1, NULL, PKI_R_OK, -1);
}

static void mod_expired_sha1(struct testpki_cert_opts *o)
{
    mod_expired(o);
    mod_sha1(o);
}

static void reasons_are_ranked(void **state)
{
    /* A weak key is reported as weak-key even though the certificate is also expired. */
    struct c3 c;
    make3(&c, 0, mod_expired, k_rsa1024);
    assert_int_equal(verify3(&c, NULL, NULL, NULL, 0), PKI_R_WEAK_KEY);
    free3(&c);
    expect3(1, mod_expired_sha1, NULL, PKI_R_WEAK_SIGNATURE, 1);
    /* Untrusted wins over anything about the certificates themselves. */
    make3(&c, 0, mod_expired, NULL);
    struct pki_trust *t = trust_of(c.root, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.leaf, NULL, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_UNTRUSTED);
    pki_verify_result_cleanup(&res);
    pki_trust_unref(t);
    free3(&c);
}

/* ---- leaf rules -------------------------------------------------------------------- */

static void mod_server_only(struct testpki_cert_opts *o)
{
    o->ext_key_usage = "serverAuth";
}

static void mod_any_eku(struct testpki_cert_opts *o)
{
    o->ext_key_usage = "anyExtendedKeyUsage";
}

static void mod_ku_encipher_only(struct testpki_cert_opts *o)
{
    o->key_usage = "critical,keyEncipherment";
}

static void mod_leaf_ca(struct testpki_cert_opts *o)
{
    o->ca = true;
    o->ext_key_usage = NULL;
}

static void leaf_purpose(void **state)
{
    expect3(0, mod_server_only, NULL, PKI_R_PURPOSE, 0);
    expect3(0, mod_any_eku, NULL, PKI_R_OK, -1);
    expect3(0, mod_ku_encipher_only, NULL, PKI_R_PURPOSE, 0);
    expect3(1, mod_server_only, NULL, PKI_R_PURPOSE, 1); /* EKU chaining */

    struct c3 c;
    make3(&c, 0, mod_server_only, NULL);
    struct pki_verify_params p = {.purpose = PKI_PURPOSE_SERVER};
    assert_int_equal(verify3(&c, &p, NULL, NULL, 0), PKI_R_OK);
    p.purpose = PKI_PURPOSE_ANY;
    assert_int_equal(verify3(&c, &p, NULL, NULL, 0), PKI_R_OK);
    p.purpose = PKI_PURPOSE_CLIENT;
    assert_int_equal(verify3(&c, &p, NULL, NULL, 0), PKI_R_PURPOSE);
    free3(&c);
    make3(&c, -1, NULL, NULL); /* EKU clientAuth only */
    p.purpose = PKI_PURPOSE_SERVER;
    assert_int_equal(verify3(&c, &p, NULL, NULL, 0), PKI_R_PURPOSE);
    free3(&c);
}

static void leaf_is_ca(void **state)
{
    expect3(0, mod_leaf_ca, NULL, PKI_R_LEAF_IS_CA, 0);
}

static void anchor_presented_as_leaf(void **state)
{
    /* An uploaded CA presented as the device certificate reaches itself (partial chain of
     * one certificate) and is refused because it is a CA. */
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.inter, NULL);
    STACK_OF(X509) *un = testpki_stack(c.root, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, c.inter, un, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_LEAF_IS_CA);
    assert_int_equal(res.verdict.depth, 0);
    assert_int_equal(sk_X509_num(res.chain), 1);
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    free3(&c);
}

static void self_signed_leaf_untrusted(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    X509 *self = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=selfie"});
    struct pki_trust *t = trust_of(c.root, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, self, NULL, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_UNTRUSTED);
    assert_int_equal(res.verdict.depth, 0);
    assert_non_null(strstr(res.verdict.message, "self-signed"));
    pki_verify_result_cleanup(&res);
    pki_trust_unref(t);
    X509_free(self);
    free3(&c);
}

/* A leaf that names the intermediate as issuer but was signed by another key.
 * - key identifiers match or are absent: the path builds, the signature fails:
 *   bad-signature;
 * - its authorityKeyIdentifier names the other key: no issuer matches: untrusted. */
static void wrong_issuer_key(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.root, NULL);
    STACK_OF(X509) *un = testpki_stack(c.inter, NULL);
    struct pki_verify_result res;

    X509 *forged = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=forged",
                                                                    .issuer = c.inter,
                                                                    .issuer_key = k_other});
    assert_int_equal(pki_chain_verify(t, forged, un, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_BAD_SIGNATURE);
    assert_int_equal(res.verdict.depth, 0);
    pki_verify_result_cleanup(&res);
    X509_free(forged);

    forged = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=forged",
                                                              .issuer = c.inter,
                                                              .issuer_key = k_other,
                                                              .no_key_ids = true});
    assert_int_equal(pki_chain_verify(t, forged, un, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_BAD_SIGNATURE);
    pki_verify_result_cleanup(&res);
    X509_free(forged);

    X509 *fake_int =
        testpki_cert(k_other, &(struct testpki_cert_opts){.subject = "/O=Acme/CN=Intermediate CA",
                                                          .ca = true,
                                                          .issuer = c.root,
                                                          .issuer_key = k_other});
    forged = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=forged",
                                                              .issuer = fake_int,
                                                              .issuer_key = k_other});
    assert_int_equal(pki_chain_verify(t, forged, un, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_UNTRUSTED);
    pki_verify_result_cleanup(&res);
    X509_free(forged);
    X509_free(fake_int);

    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    free3(&c);
}

static void name_constraints_and_critical_extensions(void **state)
{
    X509 *root = testpki_cert(
        k_root, &(struct testpki_cert_opts){
                    .subject = "/CN=NC Root",
                    .ca = true,
                    .extra = {"nameConstraints", "critical,permitted;email:.example.com", NULL}});
    X509 *leaf = testpki_cert(k_leaf, &(struct testpki_cert_opts){
                                          .subject = "/CN=d",
                                          .issuer = root,
                                          .issuer_key = k_root,
                                          .extra = {"subjectAltName", "email:d@other.org", NULL}});
    struct pki_trust *t = trust_of(root, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, leaf, NULL, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_NAME_CONSTRAINTS);
    pki_verify_result_cleanup(&res);
    X509_free(leaf);
    leaf = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=d",
                                                            .issuer = root,
                                                            .issuer_key = k_root,
                                                            .unknown_critical_ext = true});
    assert_int_equal(pki_chain_verify(t, leaf, NULL, NULL, &res), CG_EDENIED);
    assert_int_equal(res.verdict.reason, PKI_R_CRITICAL_EXTENSION);
    assert_int_equal(res.verdict.depth, 0);
    pki_verify_result_cleanup(&res);
    pki_trust_unref(t);
    X509_free(leaf);
    X509_free(root);
}

/* ---- revocation ---------------------------------------------------------------------- */

static void revoked_serials(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    struct pki_trust *t = trust_of(c.root, NULL);
    STACK_OF(X509) *un = testpki_stack(c.inter, NULL);
    for (int d = 0; d < 2; d++) {
        X509 *x = d == 0 ? c.leaf : c.inter;
        struct pki_revocation *set = pki_revocation_new();
        char *hex = NULL;
        assert_int_equal(pki_serial_format(X509_get0_serialNumber(x), NULL, &hex), 0);
        /* written with leading zeros and upper case: normalized */
        char typed[PKI_SERIAL_HEX_MAX];
        snprintf(typed, sizeof(typed), "00%s", hex);
        for (char *p = typed; *p; p++) {
            *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
        }
        assert_int_equal(pki_revocation_add_serial(set, typed, NULL), 0);
        pki_revocation_seal(set);
        struct pki_verify_params p = {.revoked = set};
        struct pki_verify_result res;
        assert_int_equal(pki_chain_verify(t, c.leaf, un, &p, &res), CG_EDENIED);
        assert_int_equal(res.verdict.reason, PKI_R_REVOKED);
        assert_int_equal(res.verdict.depth, d);
        assert_non_null(strstr(res.verdict.message, hex));
        pki_verify_result_cleanup(&res);
        pki_revocation_unref(set);

        /* Bound to the right issuer: revoked; to another issuer: not. */
        set = pki_revocation_new();
        assert_int_equal(pki_revocation_add_serial(set, hex, X509_get_issuer_name(x)), 0);
        pki_revocation_seal(set);
        p.revoked = set;
        assert_int_equal(pki_chain_verify(t, c.leaf, un, &p, &res), CG_EDENIED);
        assert_int_equal(res.verdict.reason, PKI_R_REVOKED);
        pki_verify_result_cleanup(&res);
        pki_revocation_unref(set);
        set = pki_revocation_new();
        X509_NAME *other = testpki_name("/CN=Someone Else");
        assert_int_equal(pki_revocation_add_serial(set, hex, other), 0);
        X509_NAME_free(other);
        pki_revocation_seal(set);
        p.revoked = set;
        assert_int_equal(pki_chain_verify(t, c.leaf, un, &p, &res), 0);
        pki_verify_result_cleanup(&res);
        pki_revocation_unref(set);
        free(hex);
    }
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    free3(&c);
}

/* ---- anchors with the same name or the same certificate ----------------------------- */

static void anchors_with_same_subject(void **state)
{
    for (int ids = 0; ids < 2; ids++) {
        X509 *ra =
            testpki_cert(k_root, &(struct testpki_cert_opts){
                                     .subject = "/CN=Shared Root", .ca = true, .no_key_ids = !ids});
        X509 *rb = testpki_cert(k_other, &(struct testpki_cert_opts){.subject = "/CN=Shared Root",
                                                                     .ca = true,
                                                                     .no_key_ids = !ids});
        X509 *la = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=dev-a",
                                                                    .issuer = ra,
                                                                    .issuer_key = k_root,
                                                                    .no_key_ids = !ids});
        X509 *lb = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=dev-b",
                                                                    .issuer = rb,
                                                                    .issuer_key = k_other,
                                                                    .no_key_ids = !ids});
        /* Both orders of addition, so neither is found first by luck. */
        for (int order = 0; order < 2; order++) {
            struct pki_trust *t = order ? trust_of(rb, ra, NULL) : trust_of(ra, rb, NULL);
            struct pki_verify_result res;
            assert_int_equal(pki_chain_verify(t, la, NULL, NULL, &res), 0);
            assert_ptr_equal(res.anchor->owner, ra);
            pki_verify_result_cleanup(&res);
            assert_int_equal(pki_chain_verify(t, lb, NULL, NULL, &res), 0);
            assert_ptr_equal(res.anchor->owner, rb);
            pki_verify_result_cleanup(&res);
            pki_trust_unref(t);
        }
        X509_free(la);
        X509_free(lb);
        X509_free(ra);
        X509_free(rb);
    }
}

static void anchors_with_same_fingerprint(void **state)
{
    struct c3 c;
    make3(&c, -1, NULL, NULL);
    int tenant_a = 1, tenant_b = 2;
    struct pki_trust_builder *b = pki_trust_builder_new();
    assert_int_equal(pki_trust_builder_add(b, c.root, &tenant_a), 0);
    assert_int_equal(pki_trust_builder_add(b, c.inter, NULL), 0);
    assert_int_equal(pki_trust_builder_add(b, c.root, &tenant_b), 0);
    struct pki_trust *t = NULL;
    assert_int_equal(pki_trust_builder_finish(b, &t), 0);
    STACK_OF(X509) *un = testpki_stack(c.inter, NULL);
    struct pki_verify_result res;
    /* leaf + intermediate: the intermediate is an anchor too and is closest */
    assert_int_equal(pki_chain_verify(t, c.leaf, un, NULL, &res), 0);
    assert_ptr_equal(res.anchor->cert, c.inter);
    assert_int_equal(res.n_anchors, 1);
    pki_verify_result_cleanup(&res);
    /* the intermediate itself, presented as a leaf with root: reaches the root, which two
     * tenants uploaded; it is a CA, so refused as leaf-is-ca, but look at the anchors: */
    size_t n = 0;
    char fp[PKI_FINGERPRINT_LEN + 1];
    pki_cert_fingerprint(c.root, fp);
    const struct pki_anchor *a = pki_trust_find(t, fp, &n);
    assert_int_equal(n, 2);
    assert_ptr_equal(a[0].owner, &tenant_a);
    assert_ptr_equal(a[1].owner, &tenant_b);
    pki_trust_unref(t);

    /* With only the root (twice): the verification reports both owners. */
    b = pki_trust_builder_new();
    assert_int_equal(pki_trust_builder_add(b, c.root, &tenant_b), 0);
    assert_int_equal(pki_trust_builder_add(b, c.root, &tenant_a), 0);
    assert_int_equal(pki_trust_builder_finish(b, &t), 0);
    assert_int_equal(pki_chain_verify(t, c.leaf, un, NULL, &res), 0);
    assert_int_equal(res.n_anchors, 2);
    assert_ptr_equal(res.anchor[0].owner, &tenant_b);
    assert_ptr_equal(res.anchor[1].owner, &tenant_a);
    assert_string_equal(res.anchor[1].fingerprint, fp);
    pki_verify_result_cleanup(&res);
    pki_trust_unref(t);
    sk_X509_pop_free(un, X509_free);
    free3(&c);
}

/* ---- threads ------------------------------------------------------------------------ */

struct thread_arg {
    struct pki_trust *trust;
    struct pki_revocation *revoked;
    struct c3 *good;
    struct c3 *expired;
    X509 *revoked_leaf;
    atomic_int *failures;
};

static void *verify_thread(void *p)
{
    struct thread_arg *a = p;
    STACK_OF(X509) *un = testpki_stack(a->good->inter, NULL);
    struct pki_verify_params params = {.revoked = a->revoked};
    for (int i = 0; i < 300; i++) {
        struct pki_verify_result res;
        X509 *leaf = i % 3 == 0 ? a->good->leaf : i % 3 == 1 ? a->expired->leaf : a->revoked_leaf;
        enum pki_reason want = i % 3 == 0 ? PKI_R_OK : i % 3 == 1 ? PKI_R_EXPIRED : PKI_R_REVOKED;
        int rc = pki_chain_verify(a->trust, leaf, un, &params, &res);
        if (res.verdict.reason != want || (rc == 0) != (want == PKI_R_OK) ||
            (want == PKI_R_OK && res.anchor->cert != a->good->root)) {
            atomic_fetch_add(a->failures, 1);
        }
        pki_verify_result_cleanup(&res);
    }
    sk_X509_pop_free(un, X509_free);
    return NULL;
}

static void concurrent_verification(void **state)
{
    struct c3 good;
    struct c3 expired;
    make3(&good, -1, NULL, NULL);
    /* an expired leaf under the same intermediate */
    expired = good;
    struct testpki_cert_opts eo = {.subject = "/CN=old",
                                   .issuer = good.inter,
                                   .issuer_key = k_int,
                                   .ext_key_usage = "clientAuth"};
    mod_expired(&eo);
    expired.leaf = testpki_cert(k_leaf, &eo);
    X509 *rleaf = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=gone",
                                                                   .issuer = good.inter,
                                                                   .issuer_key = k_int,
                                                                   .serial_hex = "0badc0de"});
    struct pki_revocation *set = pki_revocation_new();
    assert_int_equal(pki_revocation_add_serial(set, "BADC0DE", NULL), 0);
    pki_revocation_seal(set);
    struct pki_trust *t = trust_of(good.root, NULL);
    atomic_int failures = 0;
    pthread_t th[4];
    struct thread_arg arg = {t, set, &good, &expired, rleaf, &failures};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &arg), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(atomic_load(&failures), 0);
    pki_trust_unref(t);
    pki_revocation_unref(set);
    X509_free(rleaf);
    X509_free(expired.leaf);
    free3(&good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted_root_intermediate_leaf),
        cmocka_unit_test(accepted_with_root_presented),
        cmocka_unit_test(leaf_only_with_uploaded_issuer),
        cmocka_unit_test(leaf_only_with_only_root_uploaded_is_untrusted),
        cmocka_unit_test(anchor_reached_is_closest_to_leaf),
        cmocka_unit_test(no_anchors_untrusted),
        cmocka_unit_test(key_types_accepted),
        cmocka_unit_test(rsa_pss_signatures_accepted),
        cmocka_unit_test(expired_at_each_depth),
        cmocka_unit_test(not_yet_valid_at_each_depth),
        cmocka_unit_test(expired_message_names_certificate),
        cmocka_unit_test(verification_time_is_a_parameter),
        cmocka_unit_test(signer_not_ca),
        cmocka_unit_test(pathlen_constraints),
        cmocka_unit_test(chain_length_limits),
        cmocka_unit_test(chain_checks_after_verification),
        cmocka_unit_test(v1_certificates),
        cmocka_unit_test(weak_keys),
        cmocka_unit_test(weak_signatures),
        cmocka_unit_test(reasons_are_ranked),
        cmocka_unit_test(leaf_purpose),
        cmocka_unit_test(leaf_is_ca),
        cmocka_unit_test(anchor_presented_as_leaf),
        cmocka_unit_test(self_signed_leaf_untrusted),
        cmocka_unit_test(wrong_issuer_key),
        cmocka_unit_test(name_constraints_and_critical_extensions),
        cmocka_unit_test(revoked_serials),
        cmocka_unit_test(anchors_with_same_subject),
        cmocka_unit_test(anchors_with_same_fingerprint),
        cmocka_unit_test(concurrent_verification),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
