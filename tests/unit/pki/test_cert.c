/* Certificates: facts, names, serials, algorithm names, bundle parsing, text forms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/str.h"
#include "pki/cert.h"
#include "support/testpki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

static EVP_PKEY *k_ec;
static EVP_PKEY *k_rsa;

static int group_setup(void **state)
{
    k_ec = testpki_key_new(TESTPKI_EC_P256);
    k_rsa = testpki_key_new(TESTPKI_RSA_2048);
    return 0;
}

static int group_teardown(void **state)
{
    EVP_PKEY_free(k_ec);
    EVP_PKEY_free(k_rsa);
    return 0;
}

static X509 *cert_with(const char *subject)
{
    return testpki_cert(k_ec, &(struct testpki_cert_opts){.subject = subject});
}

static void fingerprint_is_sha1_of_der(void **state)
{
    X509 *x = cert_with("/CN=fp");
    size_t len = 0;
    unsigned char *der = testpki_der(x, &len);
    unsigned char md[20];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(der, len, md, &n, EVP_sha1(), NULL), 1);
    char want[41];
    hex_encode(md, 20, want);
    char fp[PKI_FINGERPRINT_LEN + 1];
    assert_int_equal(pki_cert_fingerprint(x, fp), 0);
    assert_string_equal(fp, want);
    assert_int_equal(strlen(fp), 40);
    for (const char *p = fp; *p; p++) {
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    }
    free(der);
    X509_free(x);
}

static void expect_dn(const char *subj, const char *spaced, const char *compact)
{
    X509_NAME *name = testpki_name(subj);
    char *out = NULL;
    assert_int_equal(pki_name_format(name, PKI_DN_SPACED, &out), 0);
    assert_string_equal(out, spaced);
    free(out);
    assert_int_equal(pki_name_format(name, PKI_DN_COMPACT, &out), 0);
    assert_string_equal(out, compact);
    free(out);
    X509_NAME_free(name);
}

static void dn_formats(void **state)
{
    expect_dn("/C=DE/O=SoftwareAG/OU=Dusseldorf/CN=CertificateName",
              "CN=CertificateName, OU=Dusseldorf, O=SoftwareAG, C=DE",
              "CN=CertificateName,OU=Dusseldorf,O=SoftwareAG,C=DE");
    expect_dn("/C=EU/ST=PL/O=device/CN=iotdevice0001", "CN=iotdevice0001, O=device, ST=PL, C=EU",
              "CN=iotdevice0001,O=device,ST=PL,C=EU");
    /* multi-valued RDN: attributes in DER order, joined by '+' */
    expect_dn("/O=Acme/CN=a+UID=b", "CN=a+UID=b, O=Acme", "CN=a+UID=b,O=Acme");
    /* RFC 2253 escaping */
    expect_dn("/O=Doe, John/CN=x\\+y", "CN=x\\+y, O=Doe\\, John", "CN=x\\+y,O=Doe\\, John");
    expect_dn("/CN=#hash", "CN=\\#hash", "CN=\\#hash");
    expect_dn("/CN= lead and trail ", "CN=\\ lead and trail\\ ", "CN=\\ lead and trail\\ ");
    expect_dn("/CN=a\"b<c>d;e\\\\f", "CN=a\\\"b\\<c\\>d\\;e\\\\f", "CN=a\\\"b\\<c\\>d\\;e\\\\f");
    expect_dn("/CN=J\xc3\xbcrgen", "CN=J\xc3\xbcrgen", "CN=J\xc3\xbcrgen");
    expect_dn("/CN=tab\there", "CN=tab\\09here", "CN=tab\\09here");
    /* Java keywords and unknown attributes */
    expect_dn("/emailAddress=a@b.example/serialNumber=42/DC=example/CN=x",
              "CN=x, DC=example, SERIALNUMBER=42, EMAILADDRESS=a@b.example",
              "CN=x,DC=example,SERIALNUMBER=42,EMAILADDRESS=a@b.example");
    expect_dn("/1.2.3.4=foo/CN=x", "CN=x, OID.1.2.3.4=foo", "CN=x,OID.1.2.3.4=foo");
    /* empty name */
    X509_NAME *empty = X509_NAME_new();
    char *out = NULL;
    assert_int_equal(pki_name_format(empty, PKI_DN_SPACED, &out), 0);
    assert_string_equal(out, "");
    free(out);
    X509_NAME_free(empty);
}

static void serial_forms(void **state)
{
    struct {
        const char *set;
        const char *dec;
        const char *hex;
    } cases[] = {
        {"7102030405060708090a0b0c0d0e0f1011121314",
         "645160821298155626822687943873933120646289691412",
         "7102030405060708090a0b0c0d0e0f1011121314"},
        {"00ff", "255", "ff"},
        {"0F", "15", "f"},
        {"1000", "4096", "1000"},
        {"0", "0", "0"},
        {"-1f", "-31", "-1f"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = testpki_cert(k_ec, &(struct testpki_cert_opts){.serial_hex = cases[i].set});
        char *dec = NULL;
        char *hex = NULL;
        assert_int_equal(pki_serial_format(X509_get0_serialNumber(x), &dec, &hex), 0);
        assert_string_equal(dec, cases[i].dec);
        assert_string_equal(hex, cases[i].hex);
        char buf[PKI_SERIAL_HEX_MAX];
        assert_int_equal(pki_serial_hex(X509_get0_serialNumber(x), buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].hex);
        assert_int_equal(pki_serial_hex(X509_get0_serialNumber(x), buf, 1), CG_ELIMIT);
        free(dec);
        free(hex);
        X509_free(x);
    }
    /* A 20-byte serial with the top bit set (DER adds a 0x00 byte): 40 hex digits. */
    X509 *x = testpki_cert(k_ec, &(struct testpki_cert_opts){
                                     .serial_hex = "f102030405060708090a0b0c0d0e0f1011121314"});
    char *hex = NULL;
    assert_int_equal(pki_serial_format(X509_get0_serialNumber(x), NULL, &hex), 0);
    assert_string_equal(hex, "f102030405060708090a0b0c0d0e0f1011121314");
    free(hex);
    X509_free(x);
}

static void serial_normalization(void **state)
{
    char out[64];
    struct {
        const char *in;
        const char *out;
    } ok[] = {
        {"0x00AB:CD", "abcd"},        {"  0000 ", "0"}, {"-00ff", "-ff"},
        {"0b8a5b9d", "b8a5b9d"},      {"1000", "1000"}, {"12 34\n", "1234"},
        {"DEADbeef\r\n", "deadbeef"}, {"-0", "0"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(pki_serial_normalize(ok[i].in, out, sizeof(out)), 0);
        assert_string_equal(out, ok[i].out);
    }
    const char *bad[] = {"", "xyz", "0x", "12g4", "-", "12\n34"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pki_serial_normalize(bad[i], out, sizeof(out)), CG_EPARSE);
    }
    assert_int_equal(pki_serial_normalize("123456", out, 4), CG_ELIMIT);
    assert_int_equal(pki_serial_normalize("123", out, 4), 0);
}

static void expect_alg(EVP_PKEY *key, const EVP_MD *md, bool pss, const char *want)
{
    X509 *x = testpki_cert(key, &(struct testpki_cert_opts){.md = md, .rsa_pss = pss});
    char name[48];
    assert_int_equal(pki_sig_alg_name(x, name, sizeof(name)), 0);
    assert_string_equal(name, want);
    assert_int_equal(pki_sig_alg_name(x, name, 4), CG_ELIMIT);
    X509_free(x);
}

static void algorithm_names(void **state)
{
    expect_alg(k_ec, EVP_sha256(), false, "SHA256withECDSA");
    expect_alg(k_ec, EVP_sha384(), false, "SHA384withECDSA");
    expect_alg(k_ec, EVP_sha1(), false, "SHA1withECDSA");
    expect_alg(k_rsa, EVP_sha256(), false, "SHA256withRSA");
    expect_alg(k_rsa, EVP_sha512(), false, "SHA512withRSA");
    expect_alg(k_rsa, EVP_sha1(), false, "SHA1withRSA");
    expect_alg(k_rsa, EVP_sha256(), true, "SHA256withRSAandMGF1");
    expect_alg(k_rsa, EVP_sha384(), true, "SHA384withRSAandMGF1");
    EVP_PKEY *ed = testpki_key_new(TESTPKI_ED25519);
    expect_alg(ed, NULL, false, "Ed25519");
    EVP_PKEY_free(ed);
    ed = testpki_key_new(TESTPKI_ED448);
    expect_alg(ed, NULL, false, "Ed448");
    EVP_PKEY_free(ed);
}

static void facts_of_a_ca(void **state)
{
    X509 *x = testpki_cert(
        k_ec, &(struct testpki_cert_opts){.subject = "/C=DE/O=Acme/CN=Acme Root",
                                          .ca = true,
                                          .basic_constraints = "critical,CA:TRUE,pathlen:2",
                                          .not_before = 1630654920, /* 2021-09-03T07:42:00Z */
                                          .not_after = 2261197320,  /* 2041-08-29T07:42:00Z */
                                          .serial_hex = "1000"});
    struct pki_cert_facts f;
    assert_int_equal(pki_cert_facts_get(x, &f), 0);
    char fp[41];
    pki_cert_fingerprint(x, fp);
    assert_string_equal(f.fingerprint, fp);
    assert_string_equal(f.serial_dec, "4096");
    assert_string_equal(f.serial_hex, "1000");
    assert_string_equal(f.subject, "CN=Acme Root, O=Acme, C=DE");
    assert_string_equal(f.issuer, "CN=Acme Root, O=Acme, C=DE");
    assert_string_equal(f.subject_compact, "CN=Acme Root,O=Acme,C=DE");
    assert_string_equal(f.issuer_compact, "CN=Acme Root,O=Acme,C=DE");
    assert_string_equal(f.subject_cn, "Acme Root");
    assert_string_equal(f.sig_alg, "SHA256withECDSA");
    assert_int_equal(f.version, 3);
    assert_int_equal(f.not_before_ms, 1630654920000LL);
    assert_int_equal(f.not_after_ms, 2261197320000LL);
    assert_true(f.is_ca);
    assert_int_equal(f.pathlen, 2);
    assert_string_equal(f.key_type, "EC");
    assert_int_equal(f.key_bits, 256);
    assert_string_equal(f.key_curve, "prime256v1");
    assert_true(f.self_signed);
    pki_cert_facts_cleanup(&f);
    pki_cert_facts_cleanup(&f); /* idempotent */
    pki_cert_facts_cleanup(NULL);

    /* A v1 RSA leaf signed by it, without CN. */
    X509 *leaf = testpki_cert(
        k_rsa, &(struct testpki_cert_opts){
                   .subject = "/O=NoCN", .issuer = x, .issuer_key = k_ec, .version = 1});
    assert_int_equal(pki_cert_facts_get(leaf, &f), 0);
    assert_int_equal(f.version, 1);
    assert_false(f.is_ca);
    assert_int_equal(f.pathlen, -1);
    assert_null(f.subject_cn);
    assert_string_equal(f.key_type, "RSA");
    assert_int_equal(f.key_bits, 2048);
    assert_false(f.self_signed);
    assert_string_equal(f.issuer, "CN=Acme Root, O=Acme, C=DE");
    pki_cert_facts_cleanup(&f);
    X509_free(leaf);
    X509_free(x);
}

static void subject_cn_and_description(void **state)
{
    X509 *x = cert_with("/CN=outer/O=Acme/CN=dev-0001");
    char *cn = NULL;
    assert_int_equal(pki_cert_subject_cn(x, &cn), 0);
    assert_string_equal(cn, "dev-0001"); /* the most specific one */
    free(cn);
    char d[64];
    pki_cert_describe(x, 1, d, sizeof(d));
    assert_string_equal(d, "certificate 1 (CN=dev-0001, O=Acme, CN=outer)");
    pki_cert_describe(x, 1, d, 12);
    assert_string_equal(d, "certificate");
    pki_cert_describe(NULL, 3, d, sizeof(d));
    assert_string_equal(d, "certificate 3");
    X509_free(x);
    x = cert_with("/O=Only");
    assert_int_equal(pki_cert_subject_cn(x, &cn), -ENOENT);
    X509_free(x);
}

static void c8y_pem_form(void **state)
{
    X509 *x = testpki_cert(k_rsa, NULL);
    char *text = NULL;
    assert_int_equal(pki_cert_c8y_pem(x, &text), 0);
    assert_null(strstr(text, "-----"));
    size_t len = strlen(text);
    assert_true(len > 64);
    assert_int_equal(text[len - 1], '\n');
    /* every line but the last is exactly 64 characters */
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (nl[1] != '\0') {
            assert_int_equal(nl - p, 64);
        } else {
            assert_true(nl - p <= 64 && nl - p > 0);
        }
        p = nl + 1;
    }
    /* and it parses back to the same certificate */
    STACK_OF(X509) *sk = NULL;
    assert_int_equal(pki_bundle_parse(text, len, 0, 0, &sk), 1);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), x), 0);
    sk_X509_pop_free(sk, X509_free);
    free(text);
    X509_free(x);
}

/* ---- bundle parsing ----------------------------------------------------------------- */

static int parse(const char *text, size_t len, STACK_OF(X509) * *sk)
{
    *sk = NULL;
    return pki_bundle_parse(text, len, 0, 0, sk);
}

static void bundle_pem_forms(void **state)
{
    X509 *a = cert_with("/CN=a");
    X509 *b = cert_with("/CN=b");
    char *pa = testpki_pem(a);
    char *pb = testpki_pem(b);
    char text[16384];
    STACK_OF(X509) *sk = NULL;

    /* two PEM blocks with text around them (as `openssl s_client -showcerts` prints) */
    snprintf(text, sizeof(text), "subject=CN=a\n%s\nissuer=whatever\n%s\n", pa, pb);
    assert_int_equal(parse(text, strlen(text), &sk), 2);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), a), 0);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 1), b), 0);
    sk_X509_pop_free(sk, X509_free);

    /* newlines replaced by spaces, blocks separated by a comma (X-Ssl-Cert-Chain) */
    snprintf(text, sizeof(text), "%s,%s", pa, pb);
    for (char *p = text; *p; p++) {
        if (*p == '\n') {
            *p = ' ';
        }
    }
    assert_int_equal(parse(text, strlen(text), &sk), 2);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 1), b), 0);
    sk_X509_pop_free(sk, X509_free);

    /* CRLF line ends */
    size_t o = 0;
    for (const char *p = pa; *p; p++) {
        if (*p == '\n') {
            text[o++] = '\r';
        }
        text[o++] = *p;
    }
    text[o] = '\0';
    assert_int_equal(parse(text, o, &sk), 1);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), a), 0);
    sk_X509_pop_free(sk, X509_free);

    /* bare base64 (certInPemFormat), multi-line and single-line */
    char *bare = NULL;
    assert_int_equal(pki_cert_c8y_pem(a, &bare), 0);
    assert_int_equal(parse(bare, strlen(bare), &sk), 1);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), a), 0);
    sk_X509_pop_free(sk, X509_free);
    o = 0;
    for (const char *p = bare; *p; p++) {
        if (*p != '\n') {
            text[o++] = *p;
        }
    }
    assert_int_equal(parse(text, o, &sk), 1);
    sk_X509_pop_free(sk, X509_free);
    free(bare);

    /* DER */
    size_t dlen = 0;
    unsigned char *der = testpki_der(b, &dlen);
    assert_int_equal(parse((const char *)der, dlen, &sk), 1);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), b), 0);
    sk_X509_pop_free(sk, X509_free);
    /* DER with a trailing byte, or truncated */
    unsigned char *der2 = malloc(dlen + 1);
    memcpy(der2, der, dlen);
    der2[dlen] = 0;
    assert_int_equal(parse((const char *)der2, dlen + 1, &sk), CG_EPARSE);
    assert_int_equal(parse((const char *)der2, dlen - 1, &sk), CG_EPARSE);
    assert_null(sk);
    free(der2);
    free(der);

    free(pa);
    free(pb);
    X509_free(a);
    X509_free(b);
}

static void bundle_refuses_private_keys(void **state)
{
    X509 *a = cert_with("/CN=a");
    char *pa = testpki_pem(a);
    char *key = testpki_key_pem(k_ec);
    char text[16384];
    STACK_OF(X509) *sk = NULL;
    assert_int_equal(parse(key, strlen(key), &sk), PKI_EPRIVATEKEY);
    snprintf(text, sizeof(text), "%s%s", pa, key);
    assert_int_equal(parse(text, strlen(text), &sk), PKI_EPRIVATEKEY);
    const char *legacy[] = {
        "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN EC PRIVATE KEY----- MIIB -----END EC PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n"};
    for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++) {
        assert_int_equal(parse(legacy[i], strlen(legacy[i]), &sk), PKI_EPRIVATEKEY);
    }
    assert_null(sk);
    assert_non_null(strstr(pki_strerror(PKI_EPRIVATEKEY), "private key"));
    assert_string_equal(pki_strerror(CG_EPARSE), cg_strerror(CG_EPARSE));
    free(key);
    free(pa);
    X509_free(a);
}

static void bundle_limits_and_garbage(void **state)
{
    X509 *a = cert_with("/CN=a");
    char *pa = testpki_pem(a);
    size_t plen = strlen(pa);
    STACK_OF(X509) *sk = NULL;
    char *big = malloc(plen * 40 + 1);
    big[0] = '\0';
    for (int i = 0; i < 33; i++) {
        strcat(big, pa);
    }
    /* 33 certificates: over the default of 32 (and the input is within 64 KiB) */
    assert_true(plen * 33 <= PKI_BUNDLE_MAX_BYTES);
    assert_int_equal(pki_bundle_parse(big, plen * 33, 0, 0, &sk), CG_ELIMIT);
    assert_int_equal(pki_bundle_parse(big, plen * 32, 0, 0, &sk), 32);
    sk_X509_pop_free(sk, X509_free);
    assert_int_equal(pki_bundle_parse(big, plen * 3, 0, 2, &sk), CG_ELIMIT);
    assert_int_equal(pki_bundle_parse(big, plen * 3, plen * 3 - 1, 0, &sk), CG_ELIMIT);
    free(big);
    big = calloc(1, PKI_BUNDLE_MAX_BYTES + 2);
    memset(big, ' ', PKI_BUNDLE_MAX_BYTES + 1);
    assert_int_equal(pki_bundle_parse(big, PKI_BUNDLE_MAX_BYTES + 1, 0, 0, &sk), CG_ELIMIT);
    free(big);

    const char *garbage[] = {
        "hello world",
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB\n", /* unterminated */
        "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n", /* not DER */
        "\x30\x03\x02\x01\x01",
        "   \n",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        if (pki_bundle_parse(garbage[i], strlen(garbage[i]), 0, 0, &sk) != CG_EPARSE) {
            fail_msg("garbage %zu accepted", i);
        }
    }
    assert_int_equal(pki_bundle_parse("", 0, 0, 0, &sk), CG_EPARSE);
    assert_int_equal(pki_bundle_parse(NULL, 0, 0, 0, &sk), CG_EPARSE);
    /* a good block followed by a broken one: the whole bundle is refused */
    char text[8192];
    snprintf(text, sizeof(text), "%s%s", pa, garbage[1]);
    sk = NULL;
    assert_int_equal(pki_bundle_parse(text, strlen(text), 0, 0, &sk), CG_EPARSE);
    assert_null(sk);
    free(pa);
    X509_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fingerprint_is_sha1_of_der),
        cmocka_unit_test(dn_formats),
        cmocka_unit_test(serial_forms),
        cmocka_unit_test(serial_normalization),
        cmocka_unit_test(algorithm_names),
        cmocka_unit_test(facts_of_a_ca),
        cmocka_unit_test(subject_cn_and_description),
        cmocka_unit_test(c8y_pem_form),
        cmocka_unit_test(bundle_pem_forms),
        cmocka_unit_test(bundle_refuses_private_keys),
        cmocka_unit_test(bundle_limits_and_garbage),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
