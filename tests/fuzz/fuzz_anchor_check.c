/* Fuzz target: bytes offered as a trust anchor (REST upload) -> parse + anchor check, and
 * every fact the REST API reports, the certInPemFormat form and the name formats of each
 * certificate the bytes contain. Seeds: tests/fuzz/corpus/anchor_check/. */
#include "core/err.h"
#include "pki/cert.h"
#include "pki/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t at = 1800000000000LL; /* 2027-01-15, fixed for reproducible runs */
    struct pki_verdict v;
    X509 *anchor = NULL;
    int rc = pki_anchor_load(data, size, at, &anchor, &v);
    if (rc == 0) {
        if (anchor == NULL || v.reason != PKI_R_OK || pki_anchor_check(anchor, at, &v) != 0) {
            abort();
        }
        X509_free(anchor);
    } else if (anchor != NULL || v.reason == PKI_R_OK) {
        abort();
    }

    STACK_OF(X509) *sk = NULL;
    if (pki_bundle_parse(data, size, 0, 0, &sk) < 0) {
        return 0;
    }
    for (int i = 0; i < sk_X509_num(sk); i++) {
        X509 *x = sk_X509_value(sk, i);
        struct pki_cert_facts f;
        if (pki_cert_facts_get(x, &f) == 0) {
            if (strlen(f.fingerprint) != PKI_FINGERPRINT_LEN) {
                abort();
            }
            pki_cert_facts_cleanup(&f);
        }
        char *pem = NULL;
        if (pki_cert_c8y_pem(x, &pem) == 0) {
            /* the output form must parse back to the same certificate */
            STACK_OF(X509) *back = NULL;
            if (pki_bundle_parse(pem, strlen(pem), 1024 * 1024, 1, &back) != 1 ||
                X509_cmp(sk_X509_value(back, 0), x) != 0) {
                abort();
            }
            sk_X509_pop_free(back, X509_free);
            free(pem);
        }
        char *cn = NULL;
        if (pki_cert_subject_cn(x, &cn) == 0) {
            free(cn);
        }
        char d[128];
        pki_cert_describe(x, i, d, sizeof(d));
        pki_anchor_check(x, at, &v);
    }
    sk_X509_pop_free(sk, X509_free);
    return 0;
}
