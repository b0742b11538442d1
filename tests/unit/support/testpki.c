/* testpki: the certificate factory. See testpki.h. */
#include "support/testpki.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

static void die(const char *what)
{
    fprintf(stderr, "testpki: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    abort();
}

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            die(what);                                                                             \
        }                                                                                          \
    } while (0)

int64_t testpki_now(void)
{
    return (int64_t)time(NULL);
}

static EVP_PKEY *dsa_key(void)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
    EVP_PKEY *params = NULL;
    EVP_PKEY *key = NULL;
    CHECK(pctx != NULL && EVP_PKEY_paramgen_init(pctx) > 0 &&
              EVP_PKEY_CTX_set_dsa_paramgen_bits(pctx, 2048) > 0 &&
              EVP_PKEY_CTX_set_dsa_paramgen_q_bits(pctx, 256) > 0 &&
              EVP_PKEY_paramgen(pctx, &params) > 0,
          "DSA parameters");
    EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
    CHECK(kctx != NULL && EVP_PKEY_keygen_init(kctx) > 0 && EVP_PKEY_keygen(kctx, &key) > 0,
          "DSA key");
    EVP_PKEY_CTX_free(kctx);
    EVP_PKEY_free(params);
    EVP_PKEY_CTX_free(pctx);
    return key;
}

EVP_PKEY *testpki_key_new(enum testpki_key type)
{
    EVP_PKEY *k = NULL;
    switch (type) {
    case TESTPKI_EC_P256:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case TESTPKI_EC_P384:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case TESTPKI_EC_P521:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
        break;
    case TESTPKI_EC_SECP256K1:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
        break;
    case TESTPKI_RSA_1024:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
        break;
    case TESTPKI_RSA_2048:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case TESTPKI_RSA_3072:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
        break;
    case TESTPKI_ED25519:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case TESTPKI_ED448:
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
        break;
    case TESTPKI_DSA_2048:
        k = dsa_key();
        break;
    }
    CHECK(k != NULL, "key generation");
    return k;
}

X509_NAME *testpki_name(const char *subj)
{
    X509_NAME *name = X509_NAME_new();
    CHECK(name != NULL, "X509_NAME_new");
    const char *p = subj;
    CHECK(*p == '/', "subject syntax (must start with '/')");
    p++;
    char field[64];
    char value[1024];
    int next_set = 0;
    while (*p != '\0') {
        size_t f = 0;
        while (*p != '=' && *p != '\0') {
            CHECK(f + 1 < sizeof(field), "subject field length");
            field[f++] = *p++;
        }
        CHECK(*p == '=', "subject syntax (missing '=')");
        field[f] = '\0';
        p++;
        size_t v = 0;
        while (*p != '\0' && *p != '/' && *p != '+') {
            if (*p == '\\' && p[1] != '\0') {
                p++;
            }
            CHECK(v + 1 < sizeof(value), "subject value length");
            value[v++] = *p++;
        }
        value[v] = '\0';
        CHECK(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (unsigned char *)value, (int)v,
                                         -1, next_set) == 1,
              "X509_NAME_add_entry_by_txt");
        next_set = *p == '+' ? -1 : 0;
        if (*p != '\0') {
            p++;
        }
    }
    return name;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, const char *name, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf(NULL, ctx, name, value);
    CHECK(ext != NULL, name);
    CHECK(X509_add_ext(x, ext, -1) == 1, "X509_add_ext");
    X509_EXTENSION_free(ext);
}

static void set_serial(X509 *x, const char *hex)
{
    BIGNUM *bn = NULL;
    if (hex != NULL) {
        CHECK(BN_hex2bn(&bn, hex) > 0, "serial hex");
    } else {
        unsigned char r[16];
        CHECK(RAND_bytes(r, sizeof(r)) == 1, "RAND_bytes");
        r[0] &= 0x7f;
        r[0] |= 0x10;
        bn = BN_bin2bn(r, sizeof(r), NULL);
        CHECK(bn != NULL, "BN_bin2bn");
    }
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    CHECK(ai != NULL && X509_set_serialNumber(x, ai) == 1, "serial");
    ASN1_INTEGER_free(ai);
    BN_free(bn);
}

static void sign(X509 *x, EVP_PKEY *key, const EVP_MD *md, bool pss)
{
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448) {
        md = NULL;
    } else if (md == NULL) {
        md = EVP_sha256();
    }
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    CHECK(mctx != NULL, "EVP_MD_CTX_new");
    CHECK(EVP_DigestSignInit(mctx, &pctx, md, NULL, key) == 1, "EVP_DigestSignInit");
    if (pss) {
        CHECK(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0,
              "PSS padding");
    }
    CHECK(X509_sign_ctx(x, mctx) > 0, "X509_sign_ctx");
    EVP_MD_CTX_free(mctx);
}

X509 *testpki_cert(EVP_PKEY *key, const struct testpki_cert_opts *o)
{
    static const struct testpki_cert_opts defaults;
    if (o == NULL) {
        o = &defaults;
    }
    X509 *x = X509_new();
    CHECK(x != NULL, "X509_new");
    int version = o->version ? o->version : 3;
    CHECK(X509_set_version(x, version - 1) == 1, "X509_set_version");
    set_serial(x, o->serial_hex);

    X509_NAME *subject = testpki_name(o->subject ? o->subject : "/CN=test");
    CHECK(X509_set_subject_name(x, subject) == 1, "subject");
    X509_NAME *issuer_name = NULL;
    if (o->issuer_name != NULL) {
        issuer_name = testpki_name(o->issuer_name);
    } else if (o->issuer != NULL) {
        issuer_name = X509_NAME_dup(X509_get_subject_name(o->issuer));
    } else {
        issuer_name = X509_NAME_dup(subject);
    }
    CHECK(issuer_name != NULL && X509_set_issuer_name(x, issuer_name) == 1, "issuer name");

    int64_t nb = o->not_before ? o->not_before : testpki_now() - 3600;
    int64_t na = o->not_after ? o->not_after : nb + 366 * (int64_t)TESTPKI_DAY;
    CHECK(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) != NULL, "notBefore");
    CHECK(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) != NULL, "notAfter");
    CHECK(X509_set_pubkey(x, key) == 1, "X509_set_pubkey");

    EVP_PKEY *signer = o->issuer_key ? o->issuer_key : key;
    CHECK((o->issuer == NULL) == (o->issuer_key == NULL) || o->issuer_key != NULL,
          "issuer needs issuer_key");
    if (version == 3) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, o->issuer ? o->issuer : x, x, NULL, NULL, 0);
        const char *bc =
            o->basic_constraints ? o->basic_constraints : (o->ca ? "critical,CA:TRUE" : "CA:FALSE");
        const char *ku =
            o->key_usage ? o->key_usage
                         : (o->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
        if (*bc) {
            add_ext(x, &ctx, "basicConstraints", bc);
        }
        if (*ku) {
            add_ext(x, &ctx, "keyUsage", ku);
        }
        if (o->ext_key_usage != NULL && *o->ext_key_usage) {
            add_ext(x, &ctx, "extendedKeyUsage", o->ext_key_usage);
        }
        if (!o->no_key_ids) {
            add_ext(x, &ctx, "subjectKeyIdentifier", "hash");
            /* For a self-signed certificate the issuer's key id is our own (just added). */
            if (o->issuer == NULL || X509_get0_subject_key_id(o->issuer) != NULL) {
                add_ext(x, &ctx, "authorityKeyIdentifier", "keyid:always");
            }
        }
        for (int i = 0; i < 8 && o->extra[i] != NULL; i += 2) {
            CHECK(o->extra[i + 1] != NULL, "extra extension value");
            add_ext(x, &ctx, o->extra[i], o->extra[i + 1]);
        }
        if (o->unknown_critical_ext) {
            ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.55555.1.1", 1);
            ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
            static const unsigned char asn1_null[] = {0x05, 0x00};
            CHECK(obj != NULL && os != NULL && ASN1_OCTET_STRING_set(os, asn1_null, 2) == 1,
                  "unknown extension");
            X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
            CHECK(ext != NULL && X509_add_ext(x, ext, -1) == 1, "add unknown extension");
            X509_EXTENSION_free(ext);
            ASN1_OCTET_STRING_free(os);
            ASN1_OBJECT_free(obj);
        }
    }
    sign(x, signer, o->md, o->rsa_pss);
    X509_NAME_free(subject);
    X509_NAME_free(issuer_name);
    return x;
}

char *testpki_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    CHECK(bio != NULL && PEM_write_bio_X509(bio, cert) == 1, "PEM_write_bio_X509");
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)n + 1);
    CHECK(out != NULL, "malloc");
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(bio);
    return out;
}

unsigned char *testpki_der(X509 *cert, size_t *len)
{
    int n = i2d_X509(cert, NULL);
    CHECK(n > 0, "i2d_X509");
    unsigned char *out = malloc((size_t)n);
    CHECK(out != NULL, "malloc");
    unsigned char *p = out;
    CHECK(i2d_X509(cert, &p) == n, "i2d_X509");
    *len = (size_t)n;
    return out;
}

STACK_OF(X509) * testpki_stack(X509 *first, ...)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    CHECK(sk != NULL, "sk_X509_new_null");
    va_list ap;
    va_start(ap, first);
    for (X509 *x = first; x != NULL; x = va_arg(ap, X509 *)) {
        CHECK(X509_up_ref(x) == 1 && sk_X509_push(sk, x) > 0, "sk_X509_push");
    }
    va_end(ap);
    return sk;
}

void testpki_chain_make(struct testpki_chain *c, int n, enum testpki_key type)
{
    CHECK(n >= 2 && n <= TESTPKI_MAX_CHAIN, "chain length");
    memset(c, 0, sizeof(*c));
    c->n = n;
    for (int i = n - 1; i >= 0; i--) {
        char subject[64];
        if (i == n - 1) {
            snprintf(subject, sizeof(subject), "/O=testpki/CN=root");
        } else if (i == 0) {
            snprintf(subject, sizeof(subject), "/O=testpki/CN=leaf");
        } else {
            snprintf(subject, sizeof(subject), "/O=testpki/CN=ca-%d", i);
        }
        c->key[i] = testpki_key_new(type);
        struct testpki_cert_opts o = {
            .subject = subject,
            .issuer = i == n - 1 ? NULL : c->cert[i + 1],
            .issuer_key = i == n - 1 ? NULL : c->key[i + 1],
            .ca = i > 0,
            .ext_key_usage = i == 0 ? "clientAuth" : NULL,
        };
        c->cert[i] = testpki_cert(c->key[i], &o);
    }
}

void testpki_chain_free(struct testpki_chain *c)
{
    for (int i = 0; i < c->n; i++) {
        X509_free(c->cert[i]);
        EVP_PKEY_free(c->key[i]);
    }
    memset(c, 0, sizeof(*c));
}

X509_CRL *testpki_crl(X509 *issuer, EVP_PKEY *key, const char *const *serials_hex)
{
    X509_CRL *crl = X509_CRL_new();
    CHECK(crl != NULL && X509_CRL_set_version(crl, 1) == 1, "X509_CRL_new");
    CHECK(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) == 1, "CRL issuer");
    ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)(testpki_now() - 3600));
    ASN1_TIME *next = ASN1_TIME_set(NULL, (time_t)(testpki_now() + 30 * TESTPKI_DAY));
    CHECK(t != NULL && next != NULL && X509_CRL_set1_lastUpdate(crl, t) == 1 &&
              X509_CRL_set1_nextUpdate(crl, next) == 1,
          "CRL times");
    for (size_t i = 0; serials_hex != NULL && serials_hex[i] != NULL; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        BIGNUM *bn = NULL;
        CHECK(r != NULL && BN_hex2bn(&bn, serials_hex[i]) > 0, "CRL serial");
        ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
        CHECK(ai != NULL && X509_REVOKED_set_serialNumber(r, ai) == 1 &&
                  X509_REVOKED_set_revocationDate(r, t) == 1 && X509_CRL_add0_revoked(crl, r) == 1,
              "CRL entry");
        ASN1_INTEGER_free(ai);
        BN_free(bn);
    }
    CHECK(X509_CRL_sort(crl) == 1, "X509_CRL_sort");
    int id = EVP_PKEY_get_base_id(key);
    const EVP_MD *md = id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448 ? NULL : EVP_sha256();
    CHECK(X509_CRL_sign(crl, key, md) > 0, "X509_CRL_sign");
    ASN1_TIME_free(t);
    ASN1_TIME_free(next);
    return crl;
}

char *testpki_crl_pem(X509_CRL *crl)
{
    BIO *bio = BIO_new(BIO_s_mem());
    CHECK(bio != NULL && PEM_write_bio_X509_CRL(bio, crl) == 1, "PEM_write_bio_X509_CRL");
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)n + 1);
    CHECK(out != NULL, "malloc");
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(bio);
    return out;
}

unsigned char *testpki_crl_der(X509_CRL *crl, size_t *len)
{
    int n = i2d_X509_CRL(crl, NULL);
    CHECK(n > 0, "i2d_X509_CRL");
    unsigned char *out = malloc((size_t)n);
    CHECK(out != NULL, "malloc");
    unsigned char *p = out;
    CHECK(i2d_X509_CRL(crl, &p) == n, "i2d_X509_CRL");
    *len = (size_t)n;
    return out;
}

char *testpki_key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    CHECK(bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1,
          "PEM_write_bio_PrivateKey");
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)n + 1);
    CHECK(out != NULL, "malloc");
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(bio);
    return out;
}
