/* Revocation sets: serials, issuer binding, CRL loading and its signature check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "pki/revocation.h"
#include "support/testpki.h"

#include <stdlib.h>
#include <string.h>

static EVP_PKEY *k_ca;
static EVP_PKEY *k_other;
static X509 *ca;

static int group_setup(void **state)
{
    k_ca = testpki_key_new(TESTPKI_EC_P256);
    k_other = testpki_key_new(TESTPKI_EC_P256);
    ca = testpki_cert(k_ca, &(struct testpki_cert_opts){.subject = "/O=Acme/CN=CA", .ca = true});
    return 0;
}

static int group_teardown(void **state)
{
    X509_free(ca);
    EVP_PKEY_free(k_ca);
    EVP_PKEY_free(k_other);
    return 0;
}

static X509 *issued(const char *serial)
{
    return testpki_cert(
        k_other, &(struct testpki_cert_opts){
                     .subject = "/CN=dev", .issuer = ca, .issuer_key = k_ca, .serial_hex = serial});
}

static void bare_serials(void **state)
{
    struct pki_revocation *set = pki_revocation_new();
    assert_int_equal(pki_revocation_add_serial(set, "0x00:0B:8A", NULL), 0);
    assert_int_equal(pki_revocation_add_serial(set, "b8a", NULL), 0); /* duplicate */
    assert_int_equal(pki_revocation_count(set), 1);
    assert_int_equal(pki_revocation_add_serial(set, "zz", NULL), CG_EPARSE);
    char huge[400];
    memset(huge, 'f', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(pki_revocation_add_serial(set, huge, NULL), CG_ELIMIT);
    pki_revocation_seal(set);
    assert_int_equal(pki_revocation_add_serial(set, "1", NULL), -EPERM);

    X509 *hit = issued("0b8a");
    X509 *miss = issued("0b8b");
    X509 *other_issuer = testpki_cert(k_other, &(struct testpki_cert_opts){.serial_hex = "b8a"});
    assert_true(pki_revocation_contains(set, hit));
    assert_false(pki_revocation_contains(set, miss));
    assert_true(pki_revocation_contains(set, other_issuer)); /* a bare serial matches any issuer */
    assert_false(pki_revocation_contains(NULL, hit));
    struct pki_revocation *ref = pki_revocation_ref(set);
    pki_revocation_unref(set);
    assert_true(pki_revocation_contains(ref, hit));
    pki_revocation_unref(ref);
    pki_revocation_unref(NULL);
    X509_free(hit);
    X509_free(miss);
    X509_free(other_issuer);
}

static void issuer_bound_serials(void **state)
{
    struct pki_revocation *set = pki_revocation_new();
    assert_int_equal(pki_revocation_add_serial(set, "77", X509_get_subject_name(ca)), 0);
    X509_NAME *elsewhere = testpki_name("/CN=Elsewhere");
    assert_int_equal(pki_revocation_add_serial(set, "77", elsewhere), 0);
    assert_int_equal(pki_revocation_add_serial(set, "88", elsewhere), 0);
    assert_int_equal(pki_revocation_count(set), 3);
    X509_NAME_free(elsewhere);
    pki_revocation_seal(set);
    X509 *a = issued("77");
    X509 *b = issued("88");
    assert_true(pki_revocation_contains(set, a));
    assert_false(pki_revocation_contains(set, b)); /* 88 is revoked for another issuer only */
    X509_free(a);
    X509_free(b);
    pki_revocation_unref(set);
}

static void crl_loading(void **state)
{
    const char *serials[] = {"1000", "0b8a5b9dd501a88775399b9a048811a3", NULL};
    X509_CRL *crl = testpki_crl(ca, k_ca, serials);
    char *pem = testpki_crl_pem(crl);
    size_t dlen = 0;
    unsigned char *der = testpki_crl_der(crl, &dlen);
    X509 *other_ca =
        testpki_cert(k_other, &(struct testpki_cert_opts){.subject = "/CN=Other", .ca = true});
    X509 *signers[] = {other_ca, ca};

    for (int form = 0; form < 2; form++) {
        struct pki_revocation *set = pki_revocation_new();
        X509 *signer = NULL;
        int n = form == 0 ? pki_revocation_add_crl(set, pem, strlen(pem), signers, 2, &signer)
                          : pki_revocation_add_crl(set, der, dlen, signers, 2, &signer);
        assert_int_equal(n, 2);
        assert_ptr_equal(signer, ca);
        assert_int_equal(pki_revocation_count(set), 2);
        pki_revocation_seal(set);
        X509 *a = issued("1000");
        X509 *b = issued("0b8a5b9dd501a88775399b9a048811a3");
        X509 *c = issued("1001");
        /* same serial, another issuer: a CRL entry is bound to the CRL's issuer */
        X509 *d = testpki_cert(k_other, &(struct testpki_cert_opts){.serial_hex = "1000"});
        assert_true(pki_revocation_contains(set, a));
        assert_true(pki_revocation_contains(set, b));
        assert_false(pki_revocation_contains(set, c));
        assert_false(pki_revocation_contains(set, d));
        X509_free(a);
        X509_free(b);
        X509_free(c);
        X509_free(d);
        pki_revocation_unref(set);
    }

    /* Not signed by any given signer: refused, set unchanged. */
    struct pki_revocation *set = pki_revocation_new();
    assert_int_equal(pki_revocation_add_crl(set, pem, strlen(pem), signers, 1, NULL), CG_EDENIED);
    /* A certificate with the CA's name but another key does not verify it either. */
    X509 *impostor =
        testpki_cert(k_other, &(struct testpki_cert_opts){.subject = "/O=Acme/CN=CA", .ca = true});
    assert_int_equal(pki_revocation_add_crl(set, der, dlen, &impostor, 1, NULL), CG_EDENIED);
    /* The right key but keyUsage without cRLSign. */
    X509 *nosign = testpki_cert(
        k_ca, &(struct testpki_cert_opts){
                  .subject = "/O=Acme/CN=CA", .ca = true, .key_usage = "critical,keyCertSign"});
    assert_int_equal(pki_revocation_add_crl(set, der, dlen, &nosign, 1, NULL), CG_EDENIED);
    assert_int_equal(pki_revocation_count(set), 0);
    /* Garbage and a corrupted signature. */
    assert_int_equal(pki_revocation_add_crl(set, "nope", 4, signers, 2, NULL), CG_EPARSE);
    der[dlen - 3] ^= 0x55;
    int rc = pki_revocation_add_crl(set, der, dlen, signers, 2, NULL);
    assert_true(rc == CG_EDENIED || rc == CG_EPARSE);
    assert_int_equal(pki_revocation_count(set), 0);
    pki_revocation_seal(set);
    assert_int_equal(pki_revocation_add_crl(set, pem, strlen(pem), signers, 2, NULL), -EPERM);
    pki_revocation_unref(set);

    X509_free(impostor);
    X509_free(nosign);
    X509_free(other_ca);
    free(pem);
    free(der);
    X509_CRL_free(crl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bare_serials),
        cmocka_unit_test(issuer_bound_serials),
        cmocka_unit_test(crl_loading),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
