#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "pki/issue.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#define DAY_MS (24LL * 3600 * 1000)

static const enum pki_issue_key_type all_types[] = {
    PKI_ISSUE_KEY_EC_P256, PKI_ISSUE_KEY_EC_P384, PKI_ISSUE_KEY_RSA2048,
    PKI_ISSUE_KEY_RSA3072, PKI_ISSUE_KEY_RSA4096, PKI_ISSUE_KEY_ED25519,
};

/* ---- helpers ------------------------------------------------------------------------------- */

static EVP_PKEY *new_key(enum pki_issue_key_type t)
{
    EVP_PKEY *k = NULL;
    assert_int_equal(pki_issue_key_new(t, &k), 0);
    assert_non_null(k);
    return k;
}

static X509 *make_cert(enum pki_issue_profile profile, const char *subject, EVP_PKEY *key,
                       X509 *issuer, EVP_PKEY *issuer_key, int days, int pathlen)
{
    struct pki_issue_request req;
    char why[256] = "";
    X509 *x = NULL;
    pki_issue_request_init(&req, profile, subject, time_now_ms(), days);
    req.pathlen = pathlen;
    int rc = pki_issue_cert(&req, key, issuer, issuer_key, &x, why, sizeof(why));
    if (rc != 0) {
        fail_msg("pki_issue_cert(%s): %d %s", subject, rc, why);
    }
    return x;
}

static bool has_ext_critical(X509 *x, int nid, bool *critical)
{
    int idx = X509_get_ext_by_NID(x, nid, -1);
    if (idx < 0) {
        return false;
    }
    *critical = X509_EXTENSION_get_critical(X509_get_ext(x, idx)) != 0;
    return true;
}

/* Full OpenSSL chain verification: root trusted, intermediates untrusted. */
static int openssl_verify(X509 *root, X509 *inter, X509 *leaf)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    assert_true(X509_STORE_add_cert(store, root));
    if (inter != NULL) {
        sk_X509_push(untrusted, inter);
    }
    assert_true(X509_STORE_CTX_init(ctx, store, leaf, untrusted));
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    int ok = X509_verify_cert(ctx);
    int err = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return ok == 1 ? X509_V_OK : err;
}

static STACK_OF(X509) * stack_of(X509 *a, X509 *b, X509 *c)
{
    STACK_OF(X509) *s = sk_X509_new_null();
    X509 *all[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        if (all[i] != NULL) {
            sk_X509_push(s, all[i]);
        }
    }
    return s;
}

/* ---- key types ------------------------------------------------------------------------------ */

static void key_type_names(void **state)
{
    enum pki_issue_key_type t;
    assert_int_equal(pki_issue_key_type_parse("ec-p256", &t), 0);
    assert_int_equal(t, PKI_ISSUE_KEY_EC_P256);
    assert_int_equal(pki_issue_key_type_parse("RSA3072", &t), 0);
    assert_int_equal(t, PKI_ISSUE_KEY_RSA3072);
    assert_int_equal(pki_issue_key_type_parse("ed25519", &t), 0);
    assert_int_equal(t, PKI_ISSUE_KEY_ED25519);
    assert_int_equal(pki_issue_key_type_parse("rsa1024", &t), -EINVAL);
    assert_int_equal(pki_issue_key_type_parse("", &t), -EINVAL);
    for (size_t i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++) {
        assert_int_equal(pki_issue_key_type_parse(pki_issue_key_type_name(all_types[i]), &t), 0);
        assert_int_equal(t, all_types[i]);
    }
}

static void key_new_each_type(void **state)
{
    static const char *const desc[] = {"EC P-256", "EC P-384", "RSA 2048",
                                       "RSA 3072", "RSA 4096", "Ed25519"};
    for (size_t i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++) {
        EVP_PKEY *k = new_key(all_types[i]);
        char d[32];
        pki_issue_key_describe(k, d, sizeof(d));
        assert_string_equal(d, desc[i]);
        EVP_PKEY_free(k);
    }
    EVP_PKEY *k = NULL;
    assert_int_equal(pki_issue_key_new((enum pki_issue_key_type)99, &k), -EINVAL);
    assert_null(k);
}

/* ---- issuing ------------------------------------------------------------------------------------
 */

/* root -> intermediate -> device for every key type (each level with that type), checked
 * field by field and by OpenSSL's own verifier. */
static void issue_chain_each_type(void **state)
{
    for (size_t i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++) {
        EVP_PKEY *rk = new_key(all_types[i]);
        EVP_PKEY *ik = new_key(all_types[i]);
        EVP_PKEY *dk = new_key(all_types[i]);
        X509 *root = make_cert(PKI_ISSUE_ROOT_CA, "CN=Test Root,O=Acme", rk, NULL, NULL, 3650, 1);
        X509 *inter =
            make_cert(PKI_ISSUE_INTERMEDIATE_CA, "CN=Test Int,O=Acme", ik, root, rk, 1825, 0);
        X509 *dev = make_cert(PKI_ISSUE_DEVICE, "CN=dev-0001", dk, inter, ik, 365, -1);

        assert_int_equal(openssl_verify(root, inter, dev), X509_V_OK);
        assert_int_equal(X509_get_version(dev), X509_VERSION_3);
        assert_true(pki_issue_is_self_signed(root));
        assert_false(pki_issue_is_self_signed(inter));

        /* Serial: 16 bytes, positive. */
        const ASN1_INTEGER *sn = X509_get0_serialNumber(dev);
        BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
        assert_false(BN_is_negative(bn));
        assert_int_equal(BN_num_bytes(bn), 16);
        BN_free(bn);

        /* Device: CA:FALSE critical, digitalSignature only (critical), clientAuth. */
        bool crit = false;
        assert_true(has_ext_critical(dev, NID_basic_constraints, &crit));
        assert_true(crit);
        assert_int_equal(X509_check_ca(dev), 0);
        assert_true(has_ext_critical(dev, NID_key_usage, &crit));
        assert_true(crit);
        assert_int_equal(X509_get_key_usage(dev), KU_DIGITAL_SIGNATURE);
        assert_int_equal(X509_get_extended_key_usage(dev), XKU_SSL_CLIENT);
        assert_non_null(X509_get0_subject_key_id(dev));
        assert_int_equal(
            ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(dev), X509_get0_subject_key_id(inter)),
            0);

        /* CAs: CA:TRUE with the pathlen asked for, keyCertSign + cRLSign. */
        assert_true(X509_check_ca(root) >= 1);
        assert_int_equal(X509_get_pathlen(root), 1);
        assert_int_equal(X509_get_pathlen(inter), 0);
        assert_true((X509_get_key_usage(inter) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) ==
                    (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
        assert_int_equal(
            ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(root), X509_get0_subject_key_id(root)),
            0);

        /* Subject: RFC 4514 text, most specific first, so O comes first in the encoding. */
        char text[128];
        pki_issue_name_text(X509_get_subject_name(inter), text, sizeof(text));
        assert_string_equal(text, "CN=Test Int,O=Acme");
        X509_NAME_ENTRY *first = X509_NAME_get_entry(X509_get_subject_name(inter), 0);
        assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(first)), NID_organizationName);

        STACK_OF(X509) *chain = stack_of(dev, inter, root);
        char why[256] = "";
        assert_int_equal(pki_issue_chain_check(chain, why, sizeof(why)), 0);
        sk_X509_free(chain);

        X509_free(dev);
        X509_free(inter);
        X509_free(root);
        EVP_PKEY_free(dk);
        EVP_PKEY_free(ik);
        EVP_PKEY_free(rk);
    }
}

static void serials_differ(void **state)
{
    EVP_PKEY *k = new_key(PKI_ISSUE_KEY_EC_P256);
    X509 *a = make_cert(PKI_ISSUE_ROOT_CA, "CN=A", k, NULL, NULL, 10, -1);
    X509 *b = make_cert(PKI_ISSUE_ROOT_CA, "CN=A", k, NULL, NULL, 10, -1);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)), 0);
    X509_free(a);
    X509_free(b);
    EVP_PKEY_free(k);
}

static void validity_as_requested(void **state)
{
    EVP_PKEY *k = new_key(PKI_ISSUE_KEY_EC_P256);
    struct pki_issue_request req;
    X509 *x = NULL;
    int64_t now = time_now_ms();
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, "CN=V", now, 30);
    assert_int_equal(req.not_before_ms, now - PKI_ISSUE_BACKDATE_MS);
    assert_int_equal(req.not_after_ms, now + 30 * DAY_MS);
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &x, NULL, 0), 0);
    int days = 0;
    int secs = 0;
    assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)));
    assert_int_equal(days * 86400 + secs, 30 * 86400 + PKI_ISSUE_BACKDATE_MS / 1000);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void server_cert_sans(void **state)
{
    EVP_PKEY *ck = new_key(PKI_ISSUE_KEY_EC_P256);
    EVP_PKEY *sk = new_key(PKI_ISSUE_KEY_RSA2048);
    X509 *ca = make_cert(PKI_ISSUE_ROOT_CA, "CN=Server CA", ck, NULL, NULL, 100, -1);
    const char *dns[] = {"mqtt.example.com", "*.devices.example.com", "localhost"};
    const char *ips[] = {"127.0.0.1", "::1"};
    struct pki_issue_request req;
    X509 *x = NULL;
    char why[256] = "";
    pki_issue_request_init(&req, PKI_ISSUE_SERVER, "CN=mqtt.example.com", time_now_ms(), 30);
    req.dns = dns;
    req.ndns = 3;
    req.ips = ips;
    req.nips = 2;
    req.key_usage |= PKI_ISSUE_KU_KEY_ENCIPHERMENT;
    assert_int_equal(pki_issue_cert(&req, sk, ca, ck, &x, why, sizeof(why)), 0);
    assert_int_equal(X509_check_host(x, "mqtt.example.com", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "a.devices.example.com", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "other.example.com", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "10.0.0.1", 0), 0);
    assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
}

static void request_checks(void **state)
{
    EVP_PKEY *k = new_key(PKI_ISSUE_KEY_EC_P256);
    struct pki_issue_request req;
    X509 *x = NULL;
    char why[256];
    int64_t now = time_now_ms();

    pki_issue_request_init(&req, PKI_ISSUE_DEVICE, "CN=d", now, 10);
    req.pathlen = 0;
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &x, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "pathlen"));

    pki_issue_request_init(&req, PKI_ISSUE_DEVICE, "CN=d", now, 10);
    req.not_after_ms = req.not_before_ms;
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &x, why, sizeof(why)), -EINVAL);

    pki_issue_request_init(&req, PKI_ISSUE_DEVICE, "CN=d", now, PKI_ISSUE_MAX_DAYS + 1);
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &x, why, sizeof(why)), -EINVAL);

    const char *bad_dns[] = {"bad_name.example.com"};
    pki_issue_request_init(&req, PKI_ISSUE_SERVER, "CN=s", now, 10);
    req.dns = bad_dns;
    req.ndns = 1;
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &x, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "bad_name.example.com"));

    const char *bad_ips[] = {"1.2.3"};
    pki_issue_request_init(&req, PKI_ISSUE_SERVER, "CN=s", now, 10);
    req.ips = bad_ips;
    req.nips = 1;
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &x, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "1.2.3"));

    const char *many[PKI_ISSUE_MAX_SANS + 1];
    for (int i = 0; i <= PKI_ISSUE_MAX_SANS; i++) {
        many[i] = "a.example";
    }
    pki_issue_request_init(&req, PKI_ISSUE_SERVER, "CN=s", now, 10);
    req.dns = many;
    req.ndns = PKI_ISSUE_MAX_SANS + 1;
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &x, why, sizeof(why)), CG_ELIMIT);

    pki_issue_request_init(&req, PKI_ISSUE_DEVICE, "CN=d,Q=x", now, 10);
    assert_int_equal(pki_issue_cert(&req, k, NULL, NULL, &x, why, sizeof(why)), CG_EPARSE);
    assert_non_null(strstr(why, "'Q'"));
    assert_null(x);
    EVP_PKEY_free(k);
}

static void issuer_checks(void **state)
{
    EVP_PKEY *rk = new_key(PKI_ISSUE_KEY_EC_P256);
    EVP_PKEY *ik = new_key(PKI_ISSUE_KEY_EC_P256);
    EVP_PKEY *dk = new_key(PKI_ISSUE_KEY_EC_P256);
    EVP_PKEY *other = new_key(PKI_ISSUE_KEY_EC_P256);
    X509 *root = make_cert(PKI_ISSUE_ROOT_CA, "CN=Root", rk, NULL, NULL, 100, -1);
    X509 *inter = make_cert(PKI_ISSUE_INTERMEDIATE_CA, "CN=Int", ik, root, rk, 50, 0);
    X509 *dev = make_cert(PKI_ISSUE_DEVICE, "CN=dev", dk, inter, ik, 10, -1);
    struct pki_issue_request req;
    X509 *x = NULL;
    char why[256];
    int64_t now = time_now_ms();

    /* The CA key must match the CA certificate. */
    pki_issue_request_init(&req, PKI_ISSUE_DEVICE, "CN=d2", now, 10);
    assert_int_equal(pki_issue_cert(&req, dk, inter, other, &x, why, sizeof(why)), CG_EDENIED);
    assert_non_null(strstr(why, "does not match"));

    /* A CA:FALSE certificate may not issue. */
    assert_int_equal(pki_issue_cert(&req, other, dev, dk, &x, why, sizeof(why)), CG_EDENIED);
    assert_non_null(strstr(why, "not a CA"));

    /* pathlen 0 forbids another CA below. */
    pki_issue_request_init(&req, PKI_ISSUE_INTERMEDIATE_CA, "CN=Sub", now, 10);
    assert_int_equal(pki_issue_cert(&req, other, inter, ik, &x, why, sizeof(why)), CG_EDENIED);
    assert_non_null(strstr(why, "pathlen 0"));

    /* ... unless the checks are turned off on purpose (for test fixtures). */
    req.unchecked = true;
    assert_int_equal(pki_issue_cert(&req, other, inter, ik, &x, why, sizeof(why)), 0);
    EVP_PKEY *lk = new_key(PKI_ISSUE_KEY_EC_P256);
    X509 *below = make_cert(PKI_ISSUE_DEVICE, "CN=below", lk, x, other, 5, -1);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = stack_of(inter, x, NULL);
    X509_STORE_add_cert(store, root);
    X509_STORE_CTX_init(ctx, store, below, untrusted);
    assert_int_not_equal(X509_verify_cert(ctx), 1);
    assert_int_equal(X509_STORE_CTX_get_error(ctx), X509_V_ERR_PATH_LENGTH_EXCEEDED);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    X509_free(below);
    EVP_PKEY_free(lk);
    X509_free(x);
    x = NULL;

    /* A certificate may not outlive its issuer. */
    pki_issue_request_init(&req, PKI_ISSUE_DEVICE, "CN=d3", now, 51);
    assert_int_equal(pki_issue_cert(&req, dk, inter, ik, &x, why, sizeof(why)), CG_EDENIED);
    assert_non_null(strstr(why, "outlive"));

    /* An expired (or not yet valid) issuer may not issue. */
    pki_issue_request_init(&req, PKI_ISSUE_DEVICE, "CN=d4", now + 60 * DAY_MS, 1);
    req.not_after_ms = now + 45 * DAY_MS;
    req.not_before_ms = now + 44 * DAY_MS;
    req.now_ms = now + 60 * DAY_MS;
    assert_int_equal(pki_issue_cert(&req, dk, inter, ik, &x, why, sizeof(why)), CG_EDENIED);
    assert_non_null(strstr(why, "expired on"));
    req.now_ms = now - 2 * DAY_MS;
    assert_int_equal(pki_issue_cert(&req, dk, inter, ik, &x, why, sizeof(why)), CG_EDENIED);
    assert_non_null(strstr(why, "not valid before"));

    /* Self-signed: the issuer key, if given, must be the subject key. */
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, "CN=R2", now, 10);
    assert_int_equal(pki_issue_cert(&req, rk, NULL, ik, &x, why, sizeof(why)), -EINVAL);
    assert_null(x);

    X509_free(dev);
    X509_free(inter);
    X509_free(root);
    EVP_PKEY_free(other);
    EVP_PKEY_free(dk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(rk);
}

/* ---- chain order ------------------------------------------------------------------------------
 */

static void chain_order(void **state)
{
    EVP_PKEY *rk = new_key(PKI_ISSUE_KEY_EC_P256);
    EVP_PKEY *ik = new_key(PKI_ISSUE_KEY_ED25519);
    EVP_PKEY *dk = new_key(PKI_ISSUE_KEY_RSA2048);
    EVP_PKEY *fk = new_key(PKI_ISSUE_KEY_EC_P256);
    X509 *root = make_cert(PKI_ISSUE_ROOT_CA, "CN=Root", rk, NULL, NULL, 100, -1);
    X509 *inter = make_cert(PKI_ISSUE_INTERMEDIATE_CA, "CN=Int", ik, root, rk, 50, -1);
    X509 *dev = make_cert(PKI_ISSUE_DEVICE, "CN=dev", dk, inter, ik, 10, -1);
    /* A look-alike "Int" with another key: same name, different key. */
    X509 *fake = make_cert(PKI_ISSUE_INTERMEDIATE_CA, "CN=Int", fk, root, rk, 50, -1);
    char why[300];

    STACK_OF(X509) *s = stack_of(dev, inter, root);
    assert_int_equal(pki_issue_chain_check(s, why, sizeof(why)), 0);
    sk_X509_free(s);

    s = stack_of(dev, NULL, NULL);
    assert_int_equal(pki_issue_chain_check(s, why, sizeof(why)), 0);
    sk_X509_free(s);

    s = stack_of(dev, root, inter);
    assert_int_equal(pki_issue_chain_check(s, why, sizeof(why)), CG_EDENIED);
    assert_non_null(strstr(why, "certificate 2 (CN=Root) did not issue certificate 1 (CN=dev)"));
    assert_non_null(strstr(why, "'CN=Int'"));
    sk_X509_free(s);

    s = stack_of(inter, dev, NULL);
    assert_int_equal(pki_issue_chain_check(s, why, sizeof(why)), CG_EDENIED);
    sk_X509_free(s);

    /* Same name, wrong key: the key identifiers (or the signature) give it away. */
    s = stack_of(dev, fake, root);
    assert_int_equal(pki_issue_chain_check(s, why, sizeof(why)), CG_EDENIED);
    assert_non_null(strstr(why, "certificate 2"));
    sk_X509_free(s);

    s = sk_X509_new_null();
    assert_int_equal(pki_issue_chain_check(s, why, sizeof(why)), -EINVAL);
    sk_X509_free(s);
    assert_int_equal(pki_issue_chain_check(NULL, why, sizeof(why)), -EINVAL);

    X509_free(fake);
    X509_free(dev);
    X509_free(inter);
    X509_free(root);
    EVP_PKEY_free(fk);
    EVP_PKEY_free(dk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(rk);
}

/* ---- names ---------------------------------------------------------------------------------- */

static void name_round(const char *in, const char *expect)
{
    X509_NAME *n = NULL;
    char why[256] = "";
    char text[256];
    if (pki_issue_name_parse(in, &n, why, sizeof(why)) != 0) {
        fail_msg("parse '%s': %s", in, why);
    }
    pki_issue_name_text(n, text, sizeof(text));
    assert_string_equal(text, expect);
    X509_NAME_free(n);
}

static void name_parse_forms(void **state)
{
    name_round("CN=My Root CA,O=Acme", "CN=My Root CA,O=Acme");
    name_round("  CN = My Root CA ,  O=Acme  ", "CN=My Root CA,O=Acme");
    name_round("cn=x,o=y,c=DE", "CN=x,O=y,C=DE");
    name_round("CN=Acme\\, Inc.,O=A\\+B", "CN=Acme\\, Inc.,O=A\\+B");
    name_round("CN=\\41\\42", "CN=AB");
    name_round("CN=a=b", "CN=a=b");
    name_round("CN=\\ lead and trail\\ ", "CN=\\ lead and trail\\ ");
    name_round("CN=Jürgen,O=Straße", "CN=Jürgen,O=Straße");
    name_round("/C=DE/O=Acme/CN=dev 1", "CN=dev 1,O=Acme,C=DE");
    name_round("/CN=a\\/b", "CN=a/b");
    name_round("CN=x+UID=7,O=y", "CN=x+UID=7,O=y");
    name_round("2.5.4.3=oid,emailAddress=a@b.c", "CN=oid,emailAddress=a@b.c");

    /* Encoding order of the RFC 4514 form: the last attribute first. */
    X509_NAME *n = NULL;
    assert_int_equal(pki_issue_name_parse("CN=c,OU=b,O=a", &n, NULL, 0), 0);
    assert_int_equal(X509_NAME_entry_count(n), 3);
    assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 0))),
                     NID_organizationName);
    assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 2))),
                     NID_commonName);
    X509_NAME_free(n);
}

static void name_parse_errors(void **state)
{
    static const struct {
        const char *in;
        const char *msg;
    } bad[] = {
        {"", "empty"},
        {"   ", "empty"},
        {"CN=x,", "ends with a separator"},
        {"CN=", "value of CN is empty"},
        {"CN=x,=y", "attribute name"},
        {"CN x", "expected '='"},
        {"XYZ=1", "unknown attribute 'XYZ'"},
        {"sha256=1", "not a name attribute"},
        {"CN=\\q", "bad escape"},
        {"CN=a\"b", "unescaped '\"'"},
        {"CN=#0403", "hex-encoded"},
        {"C=Germany", "two-letter country code"},
        {"CN=\\ff\\fe", "not valid UTF-8"},
        {"CN=0123456789012345678901234567890123456789012345678901234567890123456789",
         "not acceptable"},
        {"/CN=x/", "ends with a separator"},
        {"/CN", "expected '='"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        X509_NAME *n = NULL;
        char why[256] = "";
        int rc = pki_issue_name_parse(bad[i].in, &n, why, sizeof(why));
        if (rc != CG_EPARSE || strstr(why, bad[i].msg) == NULL) {
            fail_msg("'%s': rc %d, why '%s' (expected '%s')", bad[i].in, rc, why, bad[i].msg);
        }
        assert_null(n);
    }
}

static void name_escape_round_trip(void **state)
{
    static const char *const values[] = {
        "plain", "a,b", "a+b", "a\\b", "\"q\"", "<x>;", "#lead", " lead", "trail ", "a=b", "#",
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char esc[64];
        char text[80];
        assert_int_equal(pki_issue_name_escape(values[i], esc, sizeof(esc)), 0);
        snprintf(text, sizeof(text), "CN=%s", esc);
        X509_NAME *n = NULL;
        assert_int_equal(pki_issue_name_parse(text, &n, NULL, 0), 0);
        assert_int_equal(X509_NAME_entry_count(n), 1);
        unsigned char *utf8 = NULL;
        int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, 0)));
        assert_int_equal(len, (int)strlen(values[i]));
        assert_memory_equal(utf8, values[i], strlen(values[i]));
        OPENSSL_free(utf8);
        X509_NAME_free(n);
    }
    char small[4];
    assert_int_equal(pki_issue_name_escape("a,b,c", small, sizeof(small)), CG_ELIMIT);
    assert_string_equal(small, "");
}

/* ---- keys and files ----------------------------------------------------------------------------
 */

static void key_pem_round_trip(void **state)
{
    for (size_t i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++) {
        if (all_types[i] == PKI_ISSUE_KEY_RSA4096 || all_types[i] == PKI_ISSUE_KEY_RSA3072) {
            continue; /* slow; RSA is covered by 2048 */
        }
        EVP_PKEY *k = new_key(all_types[i]);
        EVP_PKEY *back = NULL;
        struct buf pem;
        char why[256];

        buf_init(&pem, 1 << 20);
        assert_int_equal(pki_issue_key_pem(k, NULL, &pem), 0);
        assert_non_null(strstr(buf_str(&pem), "-----BEGIN PRIVATE KEY-----"));
        assert_int_equal(
            pki_issue_key_parse(buf_data(&pem), pem.len, NULL, "k", &back, why, sizeof(why)), 0);
        assert_int_equal(EVP_PKEY_eq(k, back), 1);
        EVP_PKEY_free(back);
        back = NULL;
        buf_cleanup(&pem);

        buf_init(&pem, 1 << 20);
        assert_int_equal(pki_issue_key_pem(k, "correct horse", &pem), 0);
        assert_non_null(strstr(buf_str(&pem), "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert_int_equal(
            pki_issue_key_parse(buf_data(&pem), pem.len, NULL, "'k.pem'", &back, why, sizeof(why)),
            -ENOKEY);
        assert_non_null(strstr(why, "'k.pem' is encrypted"));
        assert_int_equal(pki_issue_key_parse(buf_data(&pem), pem.len, "wrong horse", "'k.pem'",
                                             &back, why, sizeof(why)),
                         CG_EDENIED);
        assert_non_null(strstr(why, "wrong passphrase for 'k.pem'"));
        assert_null(strstr(why, "horse"));
        assert_null(back);
        assert_int_equal(pki_issue_key_parse(buf_data(&pem), pem.len, "correct horse", "k", &back,
                                             why, sizeof(why)),
                         0);
        assert_int_equal(EVP_PKEY_eq(k, back), 1);
        EVP_PKEY_free(back);
        buf_cleanup(&pem);

        buf_init(&pem, 1 << 20);
        assert_int_equal(pki_issue_key_pem(k, "abc", &pem), -EINVAL);
        buf_cleanup(&pem);
        EVP_PKEY_free(k);
    }
    EVP_PKEY *k = NULL;
    char why[256];
    const char junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_int_equal(pki_issue_key_parse(junk, sizeof(junk) - 1, NULL, "'x'", &k, why, sizeof(why)),
                     CG_EPARSE);
    assert_non_null(strstr(why, "'x' holds no PEM private key"));
    assert_int_equal(ERR_peek_error(), 0);
}

static void file_save_rules(void **state)
{
    char *dir = test_tmpdir("issue");
    char path[512];
    char why[512];
    struct stat st;
    size_t len = 0;
    mode_t old = umask(022);

    snprintf(path, sizeof(path), "%s/a.key", dir);
    assert_int_equal(pki_issue_file_save(path, "one", 3, 0600, 0, why, sizeof(why)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Exists: refused, contents kept. */
    assert_int_equal(pki_issue_file_save(path, "two", 3, 0600, 0, why, sizeof(why)), -EEXIST);
    assert_non_null(strstr(why, "already exists"));
    char *data = test_read_file(path, &len);
    assert_string_equal(data, "one");
    free(data);

    /* Forced: replaced through a temporary file, which is gone afterwards. */
    assert_int_equal(
        pki_issue_file_save(path, "three", 5, 0600, PKI_ISSUE_SAVE_FORCE, why, sizeof(why)), 0);
    data = test_read_file(path, &len);
    assert_string_equal(data, "three");
    free(data);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);

    /* A symlink at the target is not followed. */
    char link[512];
    snprintf(link, sizeof(link), "%s/link.key", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(pki_issue_file_save(link, "x", 1, 0600, 0, why, sizeof(why)), -EEXIST);
    data = test_read_file(path, &len);
    assert_string_equal(data, "three");
    free(data);

    /* Missing directory. */
    snprintf(path, sizeof(path), "%s/nope/a.key", dir);
    assert_int_equal(pki_issue_file_save(path, "x", 1, 0600, 0, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "nope/a.key"));

    /* Keys: 0600 whatever the umask allows; loadable. */
    EVP_PKEY *k = new_key(PKI_ISSUE_KEY_EC_P256);
    EVP_PKEY *back = NULL;
    snprintf(path, sizeof(path), "%s/k.key", dir);
    assert_int_equal(pki_issue_key_save(path, k, "passphrase", 0, why, sizeof(why)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(pki_issue_key_load(path, NULL, &back, why, sizeof(why)), -ENOKEY);
    assert_int_equal(pki_issue_key_load(path, "passphrase", &back, why, sizeof(why)), 0);
    assert_int_equal(EVP_PKEY_eq(k, back), 1);
    EVP_PKEY_free(back);
    back = NULL;
    snprintf(path, sizeof(path), "%s/missing.key", dir);
    assert_int_equal(pki_issue_key_load(path, NULL, &back, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "missing.key"));
    assert_int_equal(pki_issue_key_load(dir, NULL, &back, why, sizeof(why)), -EISDIR);

    /* Certificates: PEM round trip, several in order, 0644. */
    X509 *a = make_cert(PKI_ISSUE_ROOT_CA, "CN=A", k, NULL, NULL, 10, -1);
    X509 *b = make_cert(PKI_ISSUE_ROOT_CA, "CN=B", k, NULL, NULL, 10, -1);
    STACK_OF(X509) *s = stack_of(a, b, NULL);
    STACK_OF(X509) *loaded = NULL;
    snprintf(path, sizeof(path), "%s/certs.pem", dir);
    assert_int_equal(pki_issue_certs_save(path, s, 0, why, sizeof(why)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(pki_issue_certs_load(path, &loaded, why, sizeof(why)), 0);
    assert_int_equal(sk_X509_num(loaded), 2);
    assert_int_equal(X509_cmp(sk_X509_value(loaded, 0), a), 0);
    assert_int_equal(X509_cmp(sk_X509_value(loaded, 1), b), 0);
    sk_X509_pop_free(loaded, X509_free);
    loaded = NULL;

    /* DER, and bad input. */
    unsigned char *der = NULL;
    int dlen = i2d_X509(a, &der);
    assert_int_equal(pki_issue_certs_parse(der, (size_t)dlen, "der", &loaded, why, sizeof(why)), 0);
    assert_int_equal(sk_X509_num(loaded), 1);
    sk_X509_pop_free(loaded, X509_free);
    loaded = NULL;
    assert_int_equal(
        pki_issue_certs_parse(der, (size_t)dlen - 1, "'t.der'", &loaded, why, sizeof(why)),
        CG_EPARSE);
    assert_non_null(strstr(why, "'t.der'"));
    OPENSSL_free(der);
    const char damaged[] = "-----BEGIN CERTIFICATE-----\nMIIB!!!!\n-----END CERTIFICATE-----\n";
    assert_int_equal(
        pki_issue_certs_parse(damaged, sizeof(damaged) - 1, "'d.pem'", &loaded, why, sizeof(why)),
        CG_EPARSE);
    assert_non_null(strstr(why, "certificate 1 in 'd.pem' is damaged"));
    const char nocert[] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert_int_equal(
        pki_issue_certs_parse(nocert, sizeof(nocert) - 1, "'n.pem'", &loaded, why, sizeof(why)),
        CG_EPARSE);
    assert_non_null(strstr(why, "holds no certificate"));
    assert_null(loaded);

    sk_X509_free(s);
    X509_free(a);
    X509_free(b);
    EVP_PKEY_free(k);
    umask(old);
    test_rmtree(dir);
    free(dir);
}

/* ---- PKCS#12
 * ------------------------------------------------------------------------------------- */

static void p12_round_trip(void **state)
{
    EVP_PKEY *rk = new_key(PKI_ISSUE_KEY_EC_P256);
    EVP_PKEY *dk = new_key(PKI_ISSUE_KEY_RSA2048);
    X509 *root = make_cert(PKI_ISSUE_ROOT_CA, "CN=Root", rk, NULL, NULL, 100, -1);
    X509 *dev = make_cert(PKI_ISSUE_DEVICE, "CN=dev", dk, root, rk, 10, -1);
    STACK_OF(X509) *chain = stack_of(root, NULL, NULL);
    struct buf der;
    char why[256];

    buf_init(&der, 1 << 20);
    assert_int_equal(
        pki_issue_p12_der(dk, dev, chain, "devicekeyentry", "s3cret!", &der, why, sizeof(why)), 0);
    const unsigned char *p = buf_data(&der);
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)der.len);
    assert_non_null(p12);
    assert_int_equal(PKCS12_verify_mac(p12, "wrong", -1), 0);
    EVP_PKEY *k = NULL;
    X509 *c = NULL;
    STACK_OF(X509) *ca = NULL;
    assert_int_equal(PKCS12_parse(p12, "s3cret!", &k, &c, &ca), 1);
    assert_int_equal(EVP_PKEY_eq(k, dk), 1);
    assert_int_equal(X509_cmp(c, dev), 0);
    assert_int_equal(sk_X509_num(ca), 1);
    assert_int_equal(X509_cmp(sk_X509_value(ca, 0), root), 0);
    int alen = 0;
    unsigned char *alias = X509_alias_get0(c, &alen);
    assert_int_equal(alen, (int)strlen("devicekeyentry"));
    assert_memory_equal(alias, "devicekeyentry", (size_t)alen);
    EVP_PKEY_free(k);
    X509_free(c);
    sk_X509_pop_free(ca, X509_free);
    PKCS12_free(p12);
    buf_cleanup(&der);

    /* Wrong key, short password. */
    buf_init(&der, 1 << 20);
    assert_int_equal(pki_issue_p12_der(rk, dev, NULL, NULL, "s3cret!", &der, why, sizeof(why)),
                     CG_EDENIED);
    assert_non_null(strstr(why, "does not match"));
    assert_int_equal(pki_issue_p12_der(dk, dev, NULL, NULL, "abc", &der, why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(der.len, 0);
    buf_cleanup(&der);

    sk_X509_free(chain);
    X509_free(dev);
    X509_free(root);
    EVP_PKEY_free(dk);
    EVP_PKEY_free(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_type_names),        cmocka_unit_test(key_new_each_type),
        cmocka_unit_test(issue_chain_each_type), cmocka_unit_test(serials_differ),
        cmocka_unit_test(validity_as_requested), cmocka_unit_test(server_cert_sans),
        cmocka_unit_test(request_checks),        cmocka_unit_test(issuer_checks),
        cmocka_unit_test(chain_order),           cmocka_unit_test(name_parse_forms),
        cmocka_unit_test(name_parse_errors),     cmocka_unit_test(name_escape_round_trip),
        cmocka_unit_test(key_pem_round_trip),    cmocka_unit_test(file_save_rules),
        cmocka_unit_test(p12_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
