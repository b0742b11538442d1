/* Trust stores: building, lookups, duplicates, reference counting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "pki/cert.h"
#include "pki/trust.h"
#include "support/testpki.h"

#include <string.h>

static void build_and_find(void **state)
{
    EVP_PKEY *k = testpki_key_new(TESTPKI_EC_P256);
    X509 *a = testpki_cert(k, &(struct testpki_cert_opts){.subject = "/CN=A", .ca = true});
    X509 *b = testpki_cert(k, &(struct testpki_cert_opts){.subject = "/CN=B", .ca = true});
    int o1, o2, o3;
    struct pki_trust_builder *bld = pki_trust_builder_new();
    assert_int_equal(pki_trust_builder_add(bld, a, &o1), 0);
    assert_int_equal(pki_trust_builder_add(bld, b, &o2), 0);
    assert_int_equal(pki_trust_builder_add(bld, a, &o3), 0);
    assert_int_equal(pki_trust_builder_add(bld, NULL, &o3), -EINVAL);
    struct pki_trust *t = NULL;
    assert_int_equal(pki_trust_builder_finish(bld, &t), 0);
    assert_int_equal(pki_trust_count(t), 3);

    char fa[41], fb[41];
    pki_cert_fingerprint(a, fa);
    pki_cert_fingerprint(b, fb);
    size_t n = 0;
    const struct pki_anchor *an = pki_trust_find(t, fa, &n);
    assert_int_equal(n, 2);
    assert_ptr_equal(an[0].owner, &o1); /* order of addition kept */
    assert_ptr_equal(an[1].owner, &o3);
    assert_string_equal(an[0].fingerprint, fa);
    assert_int_equal(X509_cmp(an[0].cert, a), 0);
    an = pki_trust_find(t, fb, &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(an->owner, &o2);
    assert_null(pki_trust_find(t, "0000000000000000000000000000000000000000", &n));
    assert_int_equal(n, 0);

    /* anchors are listed sorted by fingerprint */
    for (size_t i = 1; i < pki_trust_count(t); i++) {
        assert_true(strcmp(pki_trust_anchor(t, i - 1)->fingerprint,
                           pki_trust_anchor(t, i)->fingerprint) <= 0);
    }
    assert_null(pki_trust_anchor(t, 3));

    /* one copy of each distinct certificate in the X509_STORE */
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(pki_trust_store(t));
    assert_int_equal(sk_X509_OBJECT_num(objs), 2);

    /* the store holds its own references: the caller's certificates may go */
    X509_free(a);
    X509_free(b);
    struct pki_trust *t2 = pki_trust_ref(t);
    assert_ptr_equal(t2, t);
    pki_trust_unref(t);
    an = pki_trust_find(t2, fa, &n);
    assert_int_equal(n, 2);
    assert_non_null(X509_get_subject_name(an->cert));
    pki_trust_unref(t2);
    pki_trust_unref(NULL);
    EVP_PKEY_free(k);
}

static void empty_store_and_discarded_builder(void **state)
{
    struct pki_trust *t = NULL;
    assert_int_equal(pki_trust_builder_finish(pki_trust_builder_new(), &t), 0);
    assert_int_equal(pki_trust_count(t), 0);
    size_t n = 1;
    assert_null(pki_trust_find(t, "abc", &n));
    assert_int_equal(n, 0);
    pki_trust_unref(t);

    EVP_PKEY *k = testpki_key_new(TESTPKI_EC_P256);
    X509 *a = testpki_cert(k, NULL);
    struct pki_trust_builder *b = pki_trust_builder_new();
    assert_int_equal(pki_trust_builder_add(b, a, NULL), 0);
    pki_trust_builder_free(b); /* drops its reference */
    pki_trust_builder_free(NULL);
    X509_free(a);
    EVP_PKEY_free(k);
}

static void many_anchors(void **state)
{
    EVP_PKEY *k = testpki_key_new(TESTPKI_EC_P256);
    struct pki_trust_builder *b = pki_trust_builder_new();
    X509 *certs[100];
    for (int i = 0; i < 100; i++) {
        char subj[32];
        snprintf(subj, sizeof(subj), "/CN=ca-%d", i);
        certs[i] = testpki_cert(k, &(struct testpki_cert_opts){.subject = subj, .ca = true});
        assert_int_equal(pki_trust_builder_add(b, certs[i], (void *)(intptr_t)(i + 1)), 0);
    }
    struct pki_trust *t = NULL;
    assert_int_equal(pki_trust_builder_finish(b, &t), 0);
    for (int i = 0; i < 100; i++) {
        char fp[41];
        pki_cert_fingerprint(certs[i], fp);
        size_t n = 0;
        const struct pki_anchor *a = pki_trust_find(t, fp, &n);
        assert_int_equal(n, 1);
        assert_int_equal((intptr_t)a->owner, i + 1);
        X509_free(certs[i]);
    }
    pki_trust_unref(t);
    EVP_PKEY_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_and_find),
        cmocka_unit_test(empty_store_and_discarded_builder),
        cmocka_unit_test(many_anchors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
