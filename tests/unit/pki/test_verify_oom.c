/* Fail closed under allocation failure: every OpenSSL allocation made during a verification
 * is failed in turn (curl-style torture). A chain that must be refused is refused whichever
 * allocation fails; a good chain is accepted or refused, never anything else; nothing
 * crashes or leaks (run under ASan). */
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static long fail_at = -1; /* index of the allocation to fail; -1: none */
static long allocs;       /* allocations since arming */
static bool failed;       /* the armed allocation was reached */

static bool should_fail(void)
{
    if (fail_at < 0) {
        return false;
    }
    if (allocs++ == fail_at) {
        failed = true;
        return true;
    }
    return false;
}

static void *t_malloc(size_t n, const char *file, int line)
{
    return should_fail() ? NULL : malloc(n);
}

static void *t_realloc(void *p, size_t n, const char *file, int line)
{
    return should_fail() ? NULL : realloc(p, n);
}

static void t_free(void *p, const char *file, int line)
{
    free(p);
}

static void arm(long n)
{
    allocs = 0;
    failed = false;
    fail_at = n;
}

static void disarm(void)
{
    fail_at = -1;
}

struct fixture {
    EVP_PKEY *k[3];
    X509 *root, *inter, *leaf, *expired, *revoked_leaf;
    struct pki_trust *trust;
    struct pki_revocation *revoked;
    STACK_OF(X509) * un;
};

static struct fixture fx;

static int setup(void **state)
{
    for (int i = 0; i < 3; i++) {
        fx.k[i] = testpki_key_new(TESTPKI_EC_P256);
    }
    fx.root = testpki_cert(fx.k[0], &(struct testpki_cert_opts){.subject = "/CN=R", .ca = true});
    fx.inter = testpki_cert(
        fx.k[1], &(struct testpki_cert_opts){
                     .subject = "/CN=I", .ca = true, .issuer = fx.root, .issuer_key = fx.k[0]});
    struct testpki_cert_opts lo = {.subject = "/CN=L", .issuer = fx.inter, .issuer_key = fx.k[1]};
    fx.leaf = testpki_cert(fx.k[2], &lo);
    lo.serial_hex = "abcdef";
    fx.revoked_leaf = testpki_cert(fx.k[2], &lo);
    lo.serial_hex = NULL;
    lo.not_before = testpki_now() - 100 * TESTPKI_DAY;
    lo.not_after = testpki_now() - TESTPKI_DAY;
    fx.expired = testpki_cert(fx.k[2], &lo);
    struct pki_trust_builder *b = pki_trust_builder_new();
    assert_int_equal(pki_trust_builder_add(b, fx.root, NULL), 0);
    assert_int_equal(pki_trust_builder_finish(b, &fx.trust), 0);
    fx.revoked = pki_revocation_new();
    assert_int_equal(pki_revocation_add_serial(fx.revoked, "abcdef", NULL), 0);
    pki_revocation_seal(fx.revoked);
    fx.un = testpki_stack(fx.inter, NULL);
    return 0;
}

static int teardown(void **state)
{
    sk_X509_pop_free(fx.un, X509_free);
    pki_revocation_unref(fx.revoked);
    pki_trust_unref(fx.trust);
    X509_free(fx.root);
    X509_free(fx.inter);
    X509_free(fx.leaf);
    X509_free(fx.expired);
    X509_free(fx.revoked_leaf);
    for (int i = 0; i < 3; i++) {
        EVP_PKEY_free(fx.k[i]);
    }
    return 0;
}

/* Run one verification with the n-th allocation failed; returns whether it was reached. */
static bool verify_failing(long n, X509 *leaf, int *rc, struct pki_verify_result *res)
{
    struct pki_verify_params p = {.revoked = fx.revoked};
    arm(n);
    *rc = pki_chain_verify(fx.trust, leaf, fx.un, &p, res);
    disarm();
    return failed;
}

static void torture(X509 *leaf, bool must_refuse)
{
    struct pki_verify_result res;
    int rc;
    /* warm-up: OpenSSL caches algorithm fetches on first use */
    verify_failing(-1, leaf, &rc, &res);
    assert_int_equal(rc == 0, !must_refuse);
    pki_verify_result_cleanup(&res);
    long n = 0;
    for (;; n++) {
        bool reached = verify_failing(n, leaf, &rc, &res);
        if (must_refuse) {
            assert_int_equal(rc, CG_EDENIED);
        }
        assert_true(rc == 0 || rc == CG_EDENIED);
        assert_int_equal(rc == 0, res.verdict.reason == PKI_R_OK);
        if (rc == 0) {
            assert_non_null(res.anchor);
            assert_ptr_equal(res.anchor->cert, fx.root);
        }
        pki_verify_result_cleanup(&res);
        if (!reached) {
            break;
        }
    }
    assert_true(n > 10); /* the torture did reach OpenSSL's allocations */
}

static void good_chain_under_allocation_failure(void **state)
{
    torture(fx.leaf, false);
}

static void expired_chain_under_allocation_failure(void **state)
{
    torture(fx.expired, true);
}

static void revoked_chain_under_allocation_failure(void **state)
{
    torture(fx.revoked_leaf, true);
}

static void parsing_under_allocation_failure(void **state)
{
    char *pem = testpki_pem(fx.leaf);
    for (long n = 0;; n++) {
        STACK_OF(X509) *sk = NULL;
        struct pki_cert_facts f;
        arm(n);
        int rc = pki_bundle_parse(pem, strlen(pem), 0, 0, &sk);
        int frc = rc == 1 ? pki_cert_facts_get(sk_X509_value(sk, 0), &f) : -1;
        bool reached = failed;
        disarm();
        assert_true(rc == 1 || rc == -ENOMEM || rc == CG_EPARSE);
        if (frc == 0) {
            pki_cert_facts_cleanup(&f);
        }
        sk_X509_pop_free(sk, X509_free);
        if (!reached) {
            break;
        }
    }
    free(pem);
}

int main(void)
{
    if (!CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free)) {
        fprintf(stderr, "cannot hook OpenSSL allocations\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_chain_under_allocation_failure),
        cmocka_unit_test(expired_chain_under_allocation_failure),
        cmocka_unit_test(revoked_chain_under_allocation_failure),
        cmocka_unit_test(parsing_under_allocation_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
