/* The cache of verified intermediates: a chain accepted through the cache gets exactly the
 * verdict of the full verification, and every chain the full verification refuses is
 * refused with the same reason, depth and sentence when its intermediate is cached.
 *
 * Each case is verified twice: against a fresh trust store with the cache off (the full
 * verification) and against a store whose cache already holds the intermediate (a good
 * device of the same intermediate was verified first). The two results must be identical.
 * Good chains must actually come out of the cache (res.cached, hit counters), so that the
 * comparison is about the cached path and not about two full verifications. */
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
#include <stdio.h>
#include <string.h>
#include <time.h>

static EVP_PKEY *k_root;
static EVP_PKEY *k_int;
static EVP_PKEY *k_int2; /* another key for an intermediate with the same name */
static EVP_PKEY *k_leaf;
static EVP_PKEY *k_leaf2;
static EVP_PKEY *k_other;
static EVP_PKEY *k_rsa1024;

/* The fixture: root -> "Intermediate CA" -> good leaves. */
static X509 *root, *inter, *good, *good2;

static int group_setup(void **state)
{
    k_root = testpki_key_new(TESTPKI_EC_P256);
    k_int = testpki_key_new(TESTPKI_EC_P256);
    k_int2 = testpki_key_new(TESTPKI_EC_P256);
    k_leaf = testpki_key_new(TESTPKI_EC_P256);
    k_leaf2 = testpki_key_new(TESTPKI_EC_P256);
    k_other = testpki_key_new(TESTPKI_EC_P256);
    k_rsa1024 = testpki_key_new(TESTPKI_RSA_1024);
    struct testpki_cert_opts ro = {.subject = "/O=Acme/CN=Root CA", .ca = true};
    root = testpki_cert(k_root, &ro);
    struct testpki_cert_opts io = {.subject = "/O=Acme/CN=Intermediate CA",
                                   .ca = true,
                                   .basic_constraints = "critical,CA:TRUE,pathlen:0",
                                   .issuer = root,
                                   .issuer_key = k_root,
                                   .not_after = testpki_now() + 100 * TESTPKI_DAY};
    inter = testpki_cert(k_int, &io);
    struct testpki_cert_opts lo = {.subject = "/O=Acme/CN=dev-good",
                                   .issuer = inter,
                                   .issuer_key = k_int,
                                   .ext_key_usage = "clientAuth"};
    good = testpki_cert(k_leaf, &lo);
    lo.subject = "/O=Acme/CN=dev-good-2";
    good2 = testpki_cert(k_leaf2, &lo);
    return 0;
}

static int group_teardown(void **state)
{
    X509_free(good);
    X509_free(good2);
    X509_free(inter);
    X509_free(root);
    EVP_PKEY *keys[] = {k_root, k_int, k_int2, k_leaf, k_leaf2, k_other, k_rsa1024};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        EVP_PKEY_free(keys[i]);
    }
    return 0;
}

static struct pki_trust *trust_of(size_t cache, X509 *first, ...)
{
    struct pki_trust_builder *b = pki_trust_builder_new();
    assert_non_null(b);
    pki_trust_builder_set_cache(b, cache);
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

/* A store with root trusted whose cache holds root <- inter (via `good`). */
static struct pki_trust *warm_trust(void)
{
    struct pki_trust *t = trust_of(PKI_TRUST_CACHE_DEFAULT, root, NULL);
    STACK_OF(X509) *un = testpki_stack(good, inter, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, good, un, NULL, &res), 0);
    assert_false(res.cached); /* the first time: the full verification */
    pki_verify_result_cleanup(&res);
    sk_X509_pop_free(un, X509_free);
    struct pki_trust_cache_stats st;
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.inserts, 1);
    return t;
}

/* Fingerprints of a result's chain, joined, for comparing chains across stores. */
static void chain_text(const struct pki_verify_result *res, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; res->chain != NULL && i < sk_X509_num(res->chain); i++) {
        char fp[PKI_FINGERPRINT_LEN + 1];
        assert_int_equal(pki_cert_fingerprint(sk_X509_value(res->chain, i), fp), 0);
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", i ? "," : "", fp);
    }
}

struct outcome {
    int rc;
    enum pki_reason reason;
    int depth;
    char message[PKI_MESSAGE_MAX];
    char chain[(PKI_FINGERPRINT_LEN + 1) * 8];
    char anchor[PKI_FINGERPRINT_LEN + 1];
    bool cached;
};

static void run(struct pki_trust *t, X509 *leaf, STACK_OF(X509) * un,
                const struct pki_verify_params *p, struct outcome *o)
{
    struct pki_verify_result res;
    memset(o, 0, sizeof(*o));
    o->rc = pki_chain_verify(t, leaf, un, p, &res);
    o->reason = res.verdict.reason;
    o->depth = res.verdict.depth;
    snprintf(o->message, sizeof(o->message), "%s", res.verdict.message);
    o->cached = res.cached;
    if (o->rc == 0) {
        chain_text(&res, o->chain, sizeof(o->chain));
        snprintf(o->anchor, sizeof(o->anchor), "%s", res.anchor->fingerprint);
    } else {
        assert_null(res.anchor);
        assert_false(res.cached);
    }
    pki_verify_result_cleanup(&res);
}

/* The same verdict with the full verification and with a warm cache. Returns whether the
 * warm run came out of the cache. */
static bool same_verdict(X509 *leaf, STACK_OF(X509) * un, const struct pki_verify_params *p,
                         enum pki_reason want, int want_depth)
{
    struct pki_trust *cold = trust_of(0, root, NULL);
    struct pki_trust *warm = warm_trust();
    struct pki_verify_params pp = p ? *p : (struct pki_verify_params){0};
    struct pki_verify_params full = pp;
    full.no_cache = true;
    struct outcome a, b;
    run(cold, leaf, un, &full, &a);
    run(warm, leaf, un, &pp, &b);
    if (a.reason != want || a.depth != want_depth) {
        fail_msg("full verification: got %s at %d (%s), want %s at %d", pki_reason_code(a.reason),
                 a.depth, a.message, pki_reason_code(want), want_depth);
    }
    if (a.rc != b.rc || a.reason != b.reason || a.depth != b.depth ||
        strcmp(a.message, b.message) != 0 || strcmp(a.chain, b.chain) != 0 ||
        strcmp(a.anchor, b.anchor) != 0) {
        fail_msg("full: %s at %d (%s) [%s]; with the cache: %s at %d (%s) [%s]%s",
                 pki_reason_code(a.reason), a.depth, a.message, a.chain, pki_reason_code(b.reason),
                 b.depth, b.message, b.chain, b.cached ? " (cached)" : "");
    }
    assert_false(a.cached);
    pki_trust_unref(cold);
    pki_trust_unref(warm);
    return b.cached;
}

/* A leaf "below" the intermediate made as `o` says (subject, issuer and key filled in when
 * not set). */
static X509 *leaf_of(EVP_PKEY *key, struct testpki_cert_opts o)
{
    if (o.subject == NULL) {
        o.subject = "/O=Acme/CN=dev-x";
    }
    if (o.issuer == NULL) {
        o.issuer = inter;
        o.issuer_key = k_int;
    }
    if (o.ext_key_usage == NULL) {
        o.ext_key_usage = "clientAuth";
    }
    return testpki_cert(key ? key : k_leaf2, &o);
}

/* ---- the cached path is taken, and gives the full verification's result ---------------- */

static void good_chain_comes_from_the_cache(void **state)
{
    STACK_OF(X509) *un = testpki_stack(good2, inter, NULL);
    assert_true(same_verdict(good2, un, NULL, PKI_R_OK, -1));
    sk_X509_pop_free(un, X509_free);
    /* The anchor may be presented too, in any order. */
    un = testpki_stack(root, inter, NULL);
    assert_true(same_verdict(good2, un, NULL, PKI_R_OK, -1));
    sk_X509_pop_free(un, X509_free);
}

static void hit_counters_and_chain(void **state)
{
    struct pki_trust *t = warm_trust();
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    struct pki_verify_result res;
    assert_int_equal(pki_chain_verify(t, good2, un, NULL, &res), 0);
    assert_true(res.cached);
    assert_int_equal(sk_X509_num(res.chain), 3);
    assert_ptr_equal(sk_X509_value(res.chain, 0), good2);
    assert_int_equal(X509_cmp(sk_X509_value(res.chain, 1), inter), 0);
    assert_ptr_equal(sk_X509_value(res.chain, 2), root);
    assert_ptr_equal(res.anchor->owner, root);
    assert_int_equal(res.n_anchors, 1);
    pki_verify_result_cleanup(&res);
    struct pki_trust_cache_stats st;
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.entries, 1);
    /* no_cache: the full verification, counters unchanged. */
    struct pki_verify_params p = {.no_cache = true};
    assert_int_equal(pki_chain_verify(t, good2, un, &p, &res), 0);
    assert_false(res.cached);
    pki_verify_result_cleanup(&res);
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.hits, 1);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
}

/* ---- what the full verification refuses, the cached path refuses the same way ----------- */

static void expired_leaf(void **state)
{
    int64_t now = testpki_now();
    X509 *leaf = leaf_of(NULL, (struct testpki_cert_opts){.not_before = now - 10 * TESTPKI_DAY,
                                                          .not_after = now - TESTPKI_DAY});
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    same_verdict(leaf, un, NULL, PKI_R_EXPIRED, 0);
    sk_X509_pop_free(un, X509_free);
    X509_free(leaf);
}

static void not_yet_valid_leaf(void **state)
{
    int64_t now = testpki_now();
    X509 *leaf = leaf_of(NULL, (struct testpki_cert_opts){.not_before = now + TESTPKI_DAY});
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    same_verdict(leaf, un, NULL, PKI_R_NOT_YET_VALID, 0);
    sk_X509_pop_free(un, X509_free);
    X509_free(leaf);
}

static void leaf_expires_while_cached(void **state)
{
    /* The good leaf itself, verified later than its notAfter and than the intermediate's. */
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    struct pki_verify_params p = {.at_ms = (testpki_now() + 200 * TESTPKI_DAY) * 1000};
    same_verdict(good2, un, &p, PKI_R_EXPIRED, 1); /* the intermediate expires first */
    p.at_ms = (testpki_now() + 400 * TESTPKI_DAY) * 1000;
    same_verdict(good2, un, &p, PKI_R_EXPIRED, 0);
    /* and at a time before everything */
    p.at_ms = (testpki_now() - 2 * TESTPKI_DAY) * 1000;
    same_verdict(good2, un, &p, PKI_R_NOT_YET_VALID, 0);
    sk_X509_pop_free(un, X509_free);
}

static void revoked_leaf_and_intermediate(void **state)
{
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    for (int depth = 0; depth <= 1; depth++) {
        X509 *x = depth == 0 ? good2 : inter;
        char hex[PKI_SERIAL_HEX_MAX];
        assert_int_equal(pki_serial_hex(X509_get0_serialNumber(x), hex, sizeof(hex)), 0);
        struct pki_revocation *set = pki_revocation_new();
        assert_non_null(set);
        assert_int_equal(pki_revocation_add_serial(set, hex, NULL), 0);
        pki_revocation_seal(set);
        struct pki_verify_params p = {.revoked = set};
        same_verdict(good2, un, &p, PKI_R_REVOKED, depth);
        pki_revocation_unref(set);
    }
    sk_X509_pop_free(un, X509_free);
}

static void wrong_signature_same_issuer(void **state)
{
    /* Names and key identifiers of the intermediate, signed by another key. */
    X509 *forged =
        leaf_of(NULL, (struct testpki_cert_opts){.issuer = inter, .issuer_key = k_other});
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    same_verdict(forged, un, NULL, PKI_R_BAD_SIGNATURE, 0);
    X509_free(forged);
    /* The same without key identifiers. */
    forged = leaf_of(NULL, (struct testpki_cert_opts){
                               .issuer = inter, .issuer_key = k_other, .no_key_ids = true});
    same_verdict(forged, un, NULL, PKI_R_BAD_SIGNATURE, 0);
    X509_free(forged);
    sk_X509_pop_free(un, X509_free);
}

/* A device that comes back skips its leaf's signature check; any change to the leaf's bytes
 * (here its signature) makes it another certificate, checked in full. */
static void a_returning_device_skips_its_signature_check(void **state)
{
    struct pki_trust *t = warm_trust(); /* `good` verified in full: its signature is known */
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    struct outcome o;
    struct pki_trust_cache_stats st;
    run(t, good, un, NULL, &o);
    assert_int_equal(o.rc, 0);
    assert_true(o.cached);
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.signature_hits, 1);
    run(t, good2, un, NULL, &o); /* a new device: its signature is checked, then known */
    assert_int_equal(o.rc, 0);
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.signature_hits, 1);
    run(t, good2, un, NULL, &o);
    assert_int_equal(o.rc, 0);
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.signature_hits, 2);

    unsigned char *der = NULL;
    int len = i2d_X509(good, &der);
    assert_true(len > 0);
    der[len - 1] ^= 0x01; /* the last byte of the signature value */
    const unsigned char *p = der;
    X509 *tampered = d2i_X509(NULL, &p, len);
    OPENSSL_free(der);
    assert_non_null(tampered);
    run(t, tampered, un, NULL, &o);
    assert_int_equal(o.rc, CG_EDENIED);
    assert_int_equal(o.reason, PKI_R_BAD_SIGNATURE);
    assert_false(o.cached);
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.signature_hits, 2);
    X509_free(tampered);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
}

static void leaf_of_another_ca_with_the_same_name(void **state)
{
    /* A second "Intermediate CA" (another key, also under the root) issued this leaf; the
     * device presents the cached intermediate instead of its own. */
    struct testpki_cert_opts io = {
        .subject = "/O=Acme/CN=Intermediate CA", .ca = true, .issuer = root, .issuer_key = k_root};
    X509 *inter2 = testpki_cert(k_int2, &io);
    X509 *leaf = leaf_of(NULL, (struct testpki_cert_opts){.issuer = inter2, .issuer_key = k_int2});
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    same_verdict(leaf, un, NULL, PKI_R_UNTRUSTED, 0); /* its AKID names the other key */
    sk_X509_pop_free(un, X509_free);
    /* With both presented, the full verification decides (two candidates by name). */
    un = testpki_stack(inter, inter2, NULL);
    assert_false(same_verdict(leaf, un, NULL, PKI_R_OK, -1));
    sk_X509_pop_free(un, X509_free);
    X509_free(leaf);
    /* The same leaf without key identifiers, with only the cached intermediate presented. */
    leaf = leaf_of(NULL, (struct testpki_cert_opts){
                             .issuer = inter2, .issuer_key = k_int2, .no_key_ids = true});
    un = testpki_stack(inter, NULL);
    same_verdict(leaf, un, NULL, PKI_R_BAD_SIGNATURE, 0);
    sk_X509_pop_free(un, X509_free);
    X509_free(leaf);
    X509_free(inter2);
}

static void signed_by_the_intermediate_but_naming_another_key(void **state)
{
    /* Signed with the cached intermediate's key, but its authorityKeyIdentifier names the
     * key of another "Intermediate CA": OpenSSL does not take the cached intermediate as its
     * issuer, so the chain is untrusted, even though the signature would verify. */
    X509 *inter2 =
        testpki_cert(k_int2, &(struct testpki_cert_opts){.subject = "/O=Acme/CN=Intermediate CA",
                                                         .ca = true,
                                                         .issuer = root,
                                                         .issuer_key = k_root});
    X509 *leaf = leaf_of(NULL, (struct testpki_cert_opts){.issuer = inter2, .issuer_key = k_int});
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    same_verdict(leaf, un, NULL, PKI_R_UNTRUSTED, 0);
    sk_X509_pop_free(un, X509_free);
    X509_free(leaf);
    X509_free(inter2);
}

static void at_the_second_of_expiry(void **state)
{
    /* OpenSSL counts a certificate as expired from the second of its notAfter on; the cached
     * path must draw the line at the same second, for the leaf and for the intermediate. Each
     * edge alone: both leaves become valid after the intermediate (now - 1 h); the first
     * expires before it (now + 100 days), the second after it. */
    int64_t now = testpki_now();
    X509 *leaves[2] = {
        leaf_of(NULL, (struct testpki_cert_opts){.not_before = now - 1800,
                                                 .not_after = now + 10 * TESTPKI_DAY}),
        leaf_of(NULL, (struct testpki_cert_opts){.not_before = now - 1800,
                                                 .not_after = now + 200 * TESTPKI_DAY}),
    };
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    for (int li = 0; li < 2; li++) {
        X509 *leaf = leaves[li];
        const ASN1_TIME *edges[] = {li == 0 ? X509_get0_notAfter(leaf) : X509_get0_notAfter(inter),
                                    li == 0 ? X509_get0_notBefore(leaf)
                                            : X509_get0_notBefore(inter)};
        for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
            struct tm tm;
            assert_int_equal(ASN1_TIME_to_tm(edges[i], &tm), 1);
            int64_t edge = (int64_t)timegm(&tm);
            for (int64_t d = -1; d <= 1; d++) {
                for (int64_t ms = 0; ms < 1000; ms += 999) {
                    struct pki_verify_params p = {.at_ms = (edge + d) * 1000 + ms};
                    struct pki_trust *cold = trust_of(0, root, NULL);
                    struct pki_trust *warm = warm_trust();
                    struct pki_verify_params full = p;
                    full.no_cache = true;
                    struct outcome a, b;
                    run(cold, leaf, un, &full, &a);
                    run(warm, leaf, un, &p, &b);
                    if (a.rc != b.rc || a.reason != b.reason || a.depth != b.depth ||
                        strcmp(a.message, b.message) != 0) {
                        fail_msg("leaf %d edge %d %+lld s %+lld ms: full %s at %d (%s), cached "
                                 "%s at %d (%s)",
                                 li, (int)i, (long long)d, (long long)ms, pki_reason_code(a.reason),
                                 a.depth, a.message, pki_reason_code(b.reason), b.depth, b.message);
                    }
                    pki_trust_unref(cold);
                    pki_trust_unref(warm);
                }
            }
        }
        X509_free(leaf);
    }
    sk_X509_pop_free(un, X509_free);
}

static void longer_chain_missing_a_link(void **state)
{
    /* root -> A -> B -> leaves; the path B, A, root is cached; a device that presents B but
     * not A has no path (untrusted), cache or not. */
    X509 *a = testpki_cert(k_int2, &(struct testpki_cert_opts){.subject = "/O=Acme/CN=Policy CA A",
                                                               .ca = true,
                                                               .issuer = root,
                                                               .issuer_key = k_root});
    X509 *b = testpki_cert(k_int, &(struct testpki_cert_opts){.subject = "/O=Acme/CN=Issuing CA B",
                                                              .ca = true,
                                                              .issuer = a,
                                                              .issuer_key = k_int2});
    X509 *l1 = leaf_of(k_leaf, (struct testpki_cert_opts){.issuer = b, .issuer_key = k_int});
    X509 *l2 = leaf_of(k_leaf2, (struct testpki_cert_opts){.issuer = b, .issuer_key = k_int});
    struct pki_trust *t = trust_of(PKI_TRUST_CACHE_DEFAULT, root, NULL);
    struct pki_trust *cold = trust_of(0, root, NULL);
    STACK_OF(X509) *both = testpki_stack(b, a, NULL);
    STACK_OF(X509) *only_b = testpki_stack(b, NULL);
    struct outcome o, f;
    run(t, l1, both, NULL, &o);
    assert_int_equal(o.rc, 0);
    run(t, l2, both, NULL, &o);
    assert_int_equal(o.rc, 0);
    assert_true(o.cached);
    run(cold, l2, both, NULL, &f);
    assert_string_equal(o.chain, f.chain);
    run(t, l2, only_b, NULL, &o);
    run(cold, l2, only_b, NULL, &f);
    assert_int_equal(f.reason, PKI_R_UNTRUSTED);
    assert_int_equal(o.reason, f.reason);
    assert_int_equal(o.depth, f.depth);
    assert_string_equal(o.message, f.message);
    sk_X509_pop_free(both, X509_free);
    sk_X509_pop_free(only_b, X509_free);
    pki_trust_unref(t);
    pki_trust_unref(cold);
    X509_free(l1);
    X509_free(l2);
    X509_free(b);
    X509_free(a);
}

static void purpose(void **state)
{
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    X509 *leaf = leaf_of(NULL, (struct testpki_cert_opts){.ext_key_usage = "serverAuth"});
    same_verdict(leaf, un, NULL, PKI_R_PURPOSE, 0);
    X509_free(leaf);
    leaf = leaf_of(NULL, (struct testpki_cert_opts){.key_usage = "critical,keyEncipherment"});
    same_verdict(leaf, un, NULL, PKI_R_PURPOSE, 0);
    X509_free(leaf);
    /* A clientAuth leaf verified for the server purpose. */
    struct pki_verify_params p = {.purpose = PKI_PURPOSE_SERVER};
    same_verdict(good2, un, &p, PKI_R_PURPOSE, 0);
    sk_X509_pop_free(un, X509_free);
}

static void leaf_rules(void **state)
{
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    X509 *leaf = leaf_of(NULL, (struct testpki_cert_opts){.ca = true});
    same_verdict(leaf, un, NULL, PKI_R_LEAF_IS_CA, 0);
    X509_free(leaf);
    leaf = leaf_of(k_rsa1024, (struct testpki_cert_opts){0});
    same_verdict(leaf, un, NULL, PKI_R_WEAK_KEY, 0);
    X509_free(leaf);
    leaf = leaf_of(NULL, (struct testpki_cert_opts){.md = EVP_sha1()});
    same_verdict(leaf, un, NULL, PKI_R_WEAK_SIGNATURE, 0);
    X509_free(leaf);
    leaf = leaf_of(NULL, (struct testpki_cert_opts){.unknown_critical_ext = true});
    same_verdict(leaf, un, NULL, PKI_R_CRITICAL_EXTENSION, 0);
    X509_free(leaf);
    leaf = leaf_of(NULL, (struct testpki_cert_opts){.version = 1});
    same_verdict(leaf, un, NULL, PKI_R_NOT_V3, 0);
    X509_free(leaf);
    sk_X509_pop_free(un, X509_free);
}

static void chain_length_and_presentation(void **state)
{
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    struct pki_verify_params p = {.max_chain = 2};
    same_verdict(good2, un, &p, PKI_R_CHAIN_TOO_LONG, -1);
    sk_X509_pop_free(un, X509_free);
    /* Only the leaf: the intermediate is cached, but not presented. */
    un = testpki_stack(good2, NULL);
    same_verdict(good2, un, NULL, PKI_R_UNTRUSTED, 0);
    sk_X509_pop_free(un, X509_free);
    same_verdict(good2, NULL, NULL, PKI_R_UNTRUSTED, 0);
    /* Something else presented besides the path: the full verification decides. */
    X509 *stray = testpki_cert(k_other, &(struct testpki_cert_opts){.subject = "/CN=stray"});
    un = testpki_stack(inter, stray, NULL);
    assert_false(same_verdict(good2, un, NULL, PKI_R_OK, -1));
    sk_X509_pop_free(un, X509_free);
    X509_free(stray);
}

static void a_new_snapshot_starts_empty(void **state)
{
    struct pki_trust *warm = warm_trust();
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    /* The next snapshot no longer holds the root (the tenant deleted it). */
    X509 *other_root =
        testpki_cert(k_other, &(struct testpki_cert_opts){.subject = "/CN=Other", .ca = true});
    struct pki_trust *next = trust_of(PKI_TRUST_CACHE_DEFAULT, other_root, NULL);
    struct outcome o;
    run(next, good2, un, NULL, &o);
    assert_int_equal(o.reason, PKI_R_UNTRUSTED);
    struct pki_trust_cache_stats st;
    pki_trust_cache_stats(next, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.hits, 0);
    /* The old snapshot, still held by someone, keeps answering from its own cache. */
    run(warm, good2, un, NULL, &o);
    assert_int_equal(o.rc, 0);
    assert_true(o.cached);
    pki_trust_unref(next);
    pki_trust_unref(warm);
    X509_free(other_root);
    sk_X509_pop_free(un, X509_free);
}

/* ---- what is never cached ----------------------------------------------------------------- */

static void uncached(X509 *r, X509 *i, X509 *leaf1, X509 *leaf2, X509 *extra_anchor)
{
    struct pki_trust *t = trust_of(PKI_TRUST_CACHE_DEFAULT, r, extra_anchor, NULL);
    STACK_OF(X509) *un = testpki_stack(i, NULL);
    struct outcome o;
    run(t, leaf1, un, NULL, &o);
    assert_int_equal(o.rc, 0);
    run(t, leaf2, un, NULL, &o);
    assert_int_equal(o.rc, 0);
    assert_false(o.cached);
    struct pki_trust_cache_stats st;
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.entries, 0);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
}

static void name_constraints_are_never_cached(void **state)
{
    struct testpki_cert_opts io = {
        .subject = "/O=Acme/CN=Constrained CA",
        .ca = true,
        .issuer = root,
        .issuer_key = k_root,
        .extra = {"nameConstraints", "critical,permitted;email:.acme.com", NULL}};
    X509 *nc = testpki_cert(k_int2, &io);
    struct testpki_cert_opts lo = {.subject = "/O=Acme/CN=dev-nc",
                                   .issuer = nc,
                                   .issuer_key = k_int2,
                                   .ext_key_usage = "clientAuth",
                                   .extra = {"subjectAltName", "email:a@x.acme.com", NULL}};
    X509 *l1 = testpki_cert(k_leaf, &lo);
    lo.extra[1] = "email:b@x.acme.com";
    X509 *l2 = testpki_cert(k_leaf2, &lo);
    uncached(root, nc, l1, l2, NULL);
    /* A leaf outside the constraint is refused (by the full verification every time). */
    lo.extra[1] = "email:evil@example.com";
    X509 *bad = testpki_cert(k_other, &lo);
    struct pki_trust *t = trust_of(PKI_TRUST_CACHE_DEFAULT, root, NULL);
    STACK_OF(X509) *un = testpki_stack(nc, NULL);
    struct outcome o;
    run(t, l1, un, NULL, &o);
    run(t, bad, un, NULL, &o);
    assert_int_equal(o.reason, PKI_R_NAME_CONSTRAINTS);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(t);
    X509_free(bad);
    X509_free(l1);
    X509_free(l2);
    X509_free(nc);
}

static void policy_constraints_are_never_cached(void **state)
{
    struct testpki_cert_opts io = {
        .subject = "/O=Acme/CN=Policy CA",
        .ca = true,
        .issuer = root,
        .issuer_key = k_root,
        .extra = {"policyConstraints", "critical,requireExplicitPolicy:0", NULL}};
    X509 *pc = testpki_cert(k_int2, &io);
    struct testpki_cert_opts lo = {.subject = "/O=Acme/CN=dev-pc",
                                   .issuer = pc,
                                   .issuer_key = k_int2,
                                   .ext_key_usage = "clientAuth"};
    X509 *l1 = testpki_cert(k_leaf, &lo);
    lo.subject = "/O=Acme/CN=dev-pc-2";
    X509 *l2 = testpki_cert(k_leaf2, &lo);
    uncached(root, pc, l1, l2, NULL);
    X509_free(l1);
    X509_free(l2);
    X509_free(pc);
}

static void an_anchor_named_like_the_intermediate_prevents_caching(void **state)
{
    /* Another tenant uploaded a CA called "Intermediate CA": which one a leaf's issuer
     * lookup finds depends on the leaf, so nothing is cached for that name. */
    X509 *same_name = testpki_cert(
        k_int2, &(struct testpki_cert_opts){.subject = "/O=Acme/CN=Intermediate CA", .ca = true});
    uncached(root, inter, good, good2, same_name);
    X509_free(same_name);
}

static void a_directly_trusted_leaf(void **state)
{
    /* A store holding the root and (wrongly) the device certificate itself: whatever the
     * full verification makes of it, the cache must agree. */
    struct pki_trust *cold = trust_of(0, root, good2, NULL);
    struct pki_trust *warm = trust_of(PKI_TRUST_CACHE_DEFAULT, root, good2, NULL);
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    struct outcome a, b;
    run(warm, good, un, NULL, &b); /* warms the cache with the intermediate */
    assert_int_equal(b.rc, 0);
    run(cold, good2, un, NULL, &a);
    run(warm, good2, un, NULL, &b);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_false(b.cached); /* a leaf that is an anchor never takes the cached path */
    assert_string_equal(a.chain, b.chain);
    assert_string_equal(a.anchor, b.anchor);
    sk_X509_pop_free(un, X509_free);
    pki_trust_unref(cold);
    pki_trust_unref(warm);
}

/* ---- bounds and threads --------------------------------------------------------------------- */

static void bounded(void **state)
{
    struct pki_trust *t = trust_of(8, root, NULL);
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        char subj[64];
        snprintf(subj, sizeof(subj), "/O=Acme/CN=Intermediate %d", i);
        X509 *ii = testpki_cert(
            k_int, &(struct testpki_cert_opts){
                       .subject = subj, .ca = true, .issuer = root, .issuer_key = k_root});
        X509 *l = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=dev",
                                                                   .issuer = ii,
                                                                   .issuer_key = k_int,
                                                                   .ext_key_usage = "clientAuth"});
        STACK_OF(X509) *un = testpki_stack(ii, NULL);
        struct outcome o;
        run(t, l, un, NULL, &o);
        assert_int_equal(o.rc, 0);
        run(t, l, un, NULL, &o);
        assert_int_equal(o.rc, 0);
        assert_true(o.cached); /* just inserted: still there */
        sk_X509_pop_free(un, X509_free);
        X509_free(l);
        X509_free(ii);
    }
    struct pki_trust_cache_stats st;
    pki_trust_cache_stats(t, &st);
    assert_true(st.entries <= st.capacity);
    assert_int_equal(st.capacity, 8);
    assert_int_equal(st.inserts, N);
    assert_int_equal(st.evictions, N - st.entries);
    pki_trust_unref(t);
}

struct thread_arg {
    struct pki_trust *t;
    X509 *expired;
    int bad;
};

static void *thread_run(void *p)
{
    struct thread_arg *a = p;
    STACK_OF(X509) *un = testpki_stack(inter, NULL);
    for (int i = 0; i < 200; i++) {
        struct pki_verify_result res;
        X509 *leaf = i % 3 == 0 ? a->expired : (i % 2 ? good : good2);
        int rc = pki_chain_verify(a->t, leaf, un, NULL, &res);
        bool want_ok = leaf != a->expired;
        if ((rc == 0) != want_ok || (!want_ok && res.verdict.reason != PKI_R_EXPIRED)) {
            a->bad++;
        }
        pki_verify_result_cleanup(&res);
    }
    sk_X509_pop_free(un, X509_free);
    return NULL;
}

static void threads_share_the_cache(void **state)
{
    int64_t now = testpki_now();
    X509 *expired = leaf_of(NULL, (struct testpki_cert_opts){.not_before = now - 10 * TESTPKI_DAY,
                                                             .not_after = now - TESTPKI_DAY});
    struct pki_trust *t = trust_of(PKI_TRUST_CACHE_DEFAULT, root, NULL);
    enum { T = 4 };
    pthread_t th[T];
    struct thread_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (struct thread_arg){.t = t, .expired = expired};
        assert_int_equal(pthread_create(&th[i], NULL, thread_run, &args[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    struct pki_trust_cache_stats st;
    pki_trust_cache_stats(t, &st);
    assert_int_equal(st.entries, 1);
    assert_true(st.hits > 0);
    pki_trust_unref(t);
    X509_free(expired);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_chain_comes_from_the_cache),
        cmocka_unit_test(hit_counters_and_chain),
        cmocka_unit_test(expired_leaf),
        cmocka_unit_test(not_yet_valid_leaf),
        cmocka_unit_test(leaf_expires_while_cached),
        cmocka_unit_test(revoked_leaf_and_intermediate),
        cmocka_unit_test(wrong_signature_same_issuer),
        cmocka_unit_test(a_returning_device_skips_its_signature_check),
        cmocka_unit_test(leaf_of_another_ca_with_the_same_name),
        cmocka_unit_test(signed_by_the_intermediate_but_naming_another_key),
        cmocka_unit_test(at_the_second_of_expiry),
        cmocka_unit_test(longer_chain_missing_a_link),
        cmocka_unit_test(purpose),
        cmocka_unit_test(leaf_rules),
        cmocka_unit_test(chain_length_and_presentation),
        cmocka_unit_test(a_new_snapshot_starts_empty),
        cmocka_unit_test(name_constraints_are_never_cached),
        cmocka_unit_test(policy_constraints_are_never_cached),
        cmocka_unit_test(an_anchor_named_like_the_intermediate_prevents_caching),
        cmocka_unit_test(a_directly_trusted_leaf),
        cmocka_unit_test(bounded),
        cmocka_unit_test(threads_share_the_cache),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
