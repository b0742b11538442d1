/* Fuzz target: untrusted bytes -> bundle parse -> chain validation against a fixed trust
 * store (an ECDSA and an RSA root, built once at init) with a small revocation set, at a
 * fixed time so that runs are reproducible. Seeds: tests/fuzz/corpus/chain_verify/ (chains
 * under the embedded roots, valid 2020..2120). The validator must never crash, leak, or
 * accept a chain that does not end at one of the two roots. */
#include "core/err.h"
#include "pki/cert.h"
#include "pki/revocation.h"
#include "pki/trust.h"
#include "pki/verify.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char roots_pem[] = "-----BEGIN CERTIFICATE-----\n"
                                "MIIBrjCCAVWgAwIBAgICEAEwCgYIKoZIzj0EAwIwLTEXMBUGA1UECgwOY2VydGdh\n"
                                "dGUgdGVzdHMxEjAQBgNVBAMMCUZ1enogUm9vdDAgFw0yMDAxMDEwMDAwMDBaGA8y\n"
                                "MTIwMDEwMTAwMDAwMFowLTEXMBUGA1UECgwOY2VydGdhdGUgdGVzdHMxEjAQBgNV\n"
                                "BAMMCUZ1enogUm9vdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABOcoGnEltU4B\n"
                                "xeQ3+oivr9mtdQab2FPkVZK4DsqgaiIDPz+PcLMouA57jQiaN2xQOX1ERc8Y21I4\n"
                                "neop+lN7aFyjYzBhMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0G\n"
                                "A1UdDgQWBBShdTdJk1dIdrj8CWhPv9a9ZY05OTAfBgNVHSMEGDAWgBShdTdJk1dI\n"
                                "drj8CWhPv9a9ZY05OTAKBggqhkjOPQQDAgNHADBEAiA7o/E1bLYvEX6qWGbAmf4B\n"
                                "wMh4gWLBKPlCUGzqm1NfZgIgMXqT4Md9J5QTiAwtkmJQV2YA6BxfF+U+fd4q8AyV\n"
                                "qCc=\n"
                                "-----END CERTIFICATE-----\n"
                                "-----BEGIN CERTIFICATE-----\n"
                                "MIIDQzCCAiugAwIBAgICEAMwDQYJKoZIhvcNAQELBQAwMTEXMBUGA1UECgwOY2Vy\n"
                                "dGdhdGUgdGVzdHMxFjAUBgNVBAMMDUZ1enogUlNBIFJvb3QwIBcNMjAwMTAxMDAw\n"
                                "MDAwWhgPMjEyMDAxMDEwMDAwMDBaMDExFzAVBgNVBAoMDmNlcnRnYXRlIHRlc3Rz\n"
                                "MRYwFAYDVQQDDA1GdXp6IFJTQSBSb290MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n"
                                "MIIBCgKCAQEAmLjO5J87OvDLxMWiy2Hlz4cECspgdyVGgB56OAlqLug2XOIxaLXH\n"
                                "fbqWFBJI/9aZ+v54HhXMFHdm33KxeB6pUq5YFn8fkyEHefAZJDNCZO+/Og+GlFE2\n"
                                "/N5m2rqKVbTmAipwcAQjATLVJX2SBFl3GdciOiulTg2F6tUVet2UOCQEikgVLwnL\n"
                                "7vAeqV4qjZIhbGg0HBMExX0RlrqTkiu40XwnVGWLrR5TvAYbV3c6RS6PXYCduaLZ\n"
                                "b0j6o/kEze6EYRmg/RgdS3K/lrlQ/2STpfquUm1U9qUyIgPpNgiXXrememGxPvHc\n"
                                "aCDNQlMjQAh6md3k7HnePuL/d/tPwCQJnwIDAQABo2MwYTAPBgNVHRMBAf8EBTAD\n"
                                "AQH/MA4GA1UdDwEB/wQEAwIBBjAdBgNVHQ4EFgQUSRvf2gDD9Rc76r+uHaCoO2CX\n"
                                "Zz0wHwYDVR0jBBgwFoAUSRvf2gDD9Rc76r+uHaCoO2CXZz0wDQYJKoZIhvcNAQEL\n"
                                "BQADggEBAAXyh7tvhjcWd/s7a5NxA8HXPWRRl3EoLxYThJ2ksZfZqoW7Y9A9+82L\n"
                                "sRUMPa8Z9Sk8/eeEua2iRicpHmBxf1EmNZl44ahB+hSeJB0PPTf2AFDvadtuaLo0\n"
                                "eKAZoqQnr0mbACWcZWuT7hW4UQhvtRGMYtfmJCVsiwc1Nx6OBFNvYGdX2VRTrolS\n"
                                "aWoRRFGt0FE6UMkXLrO1PgARysdsdLg1paE1+0v8irvGZ1tGfzYoR9cKFz01LPko\n"
                                "vjZXGO7ZwQ1bS/ua+cIEu9FOjsF386hk7QLK6P/9sgu0IIjgVudDUWF9WzOqmw6+\n"
                                "GHxAKvN1i4+JW/JFbzXrtU1oafEyOvY=\n"
                                "-----END CERTIFICATE-----\n";

static struct pki_trust *trust;
static struct pki_revocation *revoked;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    STACK_OF(X509) *roots = NULL;
    struct pki_trust_builder *b = pki_trust_builder_new();
    if (b == NULL || pki_bundle_parse(roots_pem, sizeof(roots_pem) - 1, 0, 0, &roots) != 2) {
        abort();
    }
    for (int i = 0; i < sk_X509_num(roots); i++) {
        if (pki_trust_builder_add(b, sk_X509_value(roots, i), NULL) < 0) {
            abort();
        }
    }
    if (pki_trust_builder_finish(b, &trust) < 0) {
        abort();
    }
    sk_X509_pop_free(roots, X509_free);
    revoked = pki_revocation_new();
    if (revoked == NULL || pki_revocation_add_serial(revoked, "dead", NULL) < 0 ||
        pki_revocation_add_serial(revoked, "1003", NULL) < 0) {
        abort();
    }
    pki_revocation_seal(revoked);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *bundle = NULL;
    if (pki_bundle_parse(data, size, 0, 0, &bundle) < 0) {
        return 0;
    }
    struct pki_verify_params params = {
        .at_ms = 1800000000000LL, /* 2027-01-15 */
        .max_chain = (unsigned)(size % 12),
        .purpose = (enum pki_purpose)(size % 3),
        .revoked = size % 2 ? revoked : NULL,
    };
    struct pki_verify_result res;
    int rc = pki_chain_verify_bundle(trust, bundle, &params, &res);
    if (rc == 0) {
        /* accepted: the chain must end at an anchor of the store */
        if (res.anchor == NULL || res.n_anchors < 1 || res.chain == NULL ||
            X509_cmp(sk_X509_value(res.chain, sk_X509_num(res.chain) - 1), res.anchor->cert) != 0) {
            abort();
        }
        struct pki_verdict v;
        pki_chain_check_revoked(&res, revoked, &v);
        pki_chain_check_length(&res, 2, &v);
    } else if (res.verdict.reason == PKI_R_OK || res.anchor != NULL) {
        abort();
    }
    pki_verify_result_cleanup(&res);
    for (int i = 0; i < sk_X509_num(bundle); i++) {
        struct pki_cert_facts f;
        if (pki_cert_facts_get(sk_X509_value(bundle, i), &f) == 0) {
            pki_cert_facts_cleanup(&f);
        }
    }
    sk_X509_pop_free(bundle, X509_free);
    return 0;
}
