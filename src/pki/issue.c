/* Certificate issuance: key generation, certificate requests, signing, chain order. */
#include "pki/issue.h"

#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/issue_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* 9999-12-31T23:59:59Z, the last instant X.509 times can express. */
#define MAX_TIME_MS 253402300799000LL

static const struct {
    enum pki_issue_key_type type;
    const char *name;
} key_types[] = {
    {PKI_ISSUE_KEY_EC_P256, "ec-p256"}, {PKI_ISSUE_KEY_EC_P384, "ec-p384"},
    {PKI_ISSUE_KEY_RSA2048, "rsa2048"}, {PKI_ISSUE_KEY_RSA3072, "rsa3072"},
    {PKI_ISSUE_KEY_RSA4096, "rsa4096"}, {PKI_ISSUE_KEY_ED25519, "ed25519"},
};

int pki_issue_key_type_parse(const char *name, enum pki_issue_key_type *out)
{
    if (name == NULL || out == NULL) {
        return -EINVAL;
    }
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
        if (str_case_eq(name, key_types[i].name)) {
            *out = key_types[i].type;
            return 0;
        }
    }
    return -EINVAL;
}

const char *pki_issue_key_type_name(enum pki_issue_key_type type)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
        if (key_types[i].type == type) {
            return key_types[i].name;
        }
    }
    return "unknown";
}

int pki_issue_key_new(enum pki_issue_key_type type, EVP_PKEY **out)
{
    EVP_PKEY *key = NULL;
    if (out == NULL) {
        return -EINVAL;
    }
    switch (type) {
    case PKI_ISSUE_KEY_EC_P256:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case PKI_ISSUE_KEY_EC_P384:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case PKI_ISSUE_KEY_RSA2048:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case PKI_ISSUE_KEY_RSA3072:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
        break;
    case PKI_ISSUE_KEY_RSA4096:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
        break;
    case PKI_ISSUE_KEY_ED25519:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        return -EINVAL;
    }
    if (key == NULL) {
        ERR_clear_error();
        return CG_ECRYPTO;
    }
    *out = key;
    return 0;
}

void pki_issue_key_describe(const EVP_PKEY *key, char *out, size_t len)
{
    if (len == 0) {
        return;
    }
    str_lcpy(out, "unknown", len);
    if (key == NULL) {
        return;
    }
    if (EVP_PKEY_is_a(key, "RSA")) {
        snprintf(out, len, "RSA %d", EVP_PKEY_get_bits(key));
    } else if (EVP_PKEY_is_a(key, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &glen) == 1) {
            int nid = OBJ_sn2nid(group);
            const char *nist = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;
            snprintf(out, len, "EC %s", nist != NULL ? nist : group);
        } else {
            str_lcpy(out, "EC", len);
        }
    } else if (EVP_PKEY_is_a(key, "ED25519")) {
        str_lcpy(out, "Ed25519", len);
    } else if (EVP_PKEY_is_a(key, "ED448")) {
        str_lcpy(out, "Ed448", len);
    }
    ERR_clear_error();
}

bool pki_issue_key_matches(X509 *cert, EVP_PKEY *key)
{
    if (cert == NULL || key == NULL) {
        return false;
    }
    ERR_set_mark();
    bool ok = X509_check_private_key(cert, key) == 1;
    ERR_pop_to_mark();
    return ok;
}

void pki_issue_request_init(struct pki_issue_request *req, enum pki_issue_profile profile,
                            const char *subject, int64_t now_ms, int days)
{
    memset(req, 0, sizeof(*req));
    req->subject = subject;
    req->now_ms = now_ms;
    req->not_before_ms = now_ms - PKI_ISSUE_BACKDATE_MS;
    req->not_after_ms = now_ms + (int64_t)days * 24 * 3600 * 1000;
    req->pathlen = -1;
    switch (profile) {
    case PKI_ISSUE_ROOT_CA:
    case PKI_ISSUE_INTERMEDIATE_CA:
        req->ca = true;
        req->key_usage =
            PKI_ISSUE_KU_KEY_CERT_SIGN | PKI_ISSUE_KU_CRL_SIGN | PKI_ISSUE_KU_DIGITAL_SIGNATURE;
        break;
    case PKI_ISSUE_SERVER:
        req->key_usage = PKI_ISSUE_KU_DIGITAL_SIGNATURE;
        req->ext_key_usage = PKI_ISSUE_EKU_SERVER_AUTH;
        break;
    case PKI_ISSUE_DEVICE:
    case PKI_ISSUE_VERIFICATION:
    default:
        req->key_usage = PKI_ISSUE_KU_DIGITAL_SIGNATURE;
        req->ext_key_usage = PKI_ISSUE_EKU_CLIENT_AUTH;
        break;
    }
}

/* ---- request checks ------------------------------------------------------------------ */

/* A DNS name for a SAN: LDH labels of 1..63 characters, at most 253 in all, optionally a
 * leading "*." wildcard label. */
static bool dns_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 253) {
        return false;
    }
    const char *p = name;
    if (p[0] == '*' && p[1] == '.') {
        p += 2;
    }
    for (;;) {
        size_t n = 0;
        while (p[n] != 0 && p[n] != '.') {
            char c = p[n];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok) {
                return false;
            }
            n++;
        }
        if (n == 0 || n > 63 || p[0] == '-' || p[n - 1] == '-') {
            return false;
        }
        if (p[n] == 0) {
            return true;
        }
        p += n + 1;
    }
}

static int check_request(const struct pki_issue_request *req, char *why, size_t whylen)
{
    if (req->subject == NULL) {
        pki_issue_why(why, whylen, "no subject given");
        return -EINVAL;
    }
    if (req->not_before_ms < 0 || req->not_after_ms > MAX_TIME_MS) {
        pki_issue_why(why, whylen, "the validity must lie between 1970 and 9999");
        return -EINVAL;
    }
    if (req->not_after_ms <= req->not_before_ms) {
        pki_issue_why(why, whylen, "the certificate would expire before it becomes valid");
        return -EINVAL;
    }
    if (req->not_after_ms - req->not_before_ms >
        (int64_t)PKI_ISSUE_MAX_DAYS * 24 * 3600 * 1000 + PKI_ISSUE_BACKDATE_MS) {
        pki_issue_why(why, whylen, "the validity is longer than %d days", PKI_ISSUE_MAX_DAYS);
        return -EINVAL;
    }
    if (req->pathlen < -1 || req->pathlen > 100) {
        pki_issue_why(why, whylen, "pathlen must be between 0 and 100");
        return -EINVAL;
    }
    if (!req->ca && req->pathlen >= 0) {
        pki_issue_why(why, whylen, "pathlen applies only to a CA certificate");
        return -EINVAL;
    }
    if (req->ndns + req->nips > PKI_ISSUE_MAX_SANS) {
        pki_issue_why(why, whylen, "more than %d subject alternative names", PKI_ISSUE_MAX_SANS);
        return CG_ELIMIT;
    }
    if ((req->ndns > 0 && req->dns == NULL) || (req->nips > 0 && req->ips == NULL)) {
        pki_issue_why(why, whylen, "subject alternative name list missing");
        return -EINVAL;
    }
    for (size_t i = 0; i < req->ndns; i++) {
        if (req->dns[i] == NULL || !dns_name_ok(req->dns[i])) {
            char shown[80];
            const char *d = req->dns[i] ? req->dns[i] : "";
            pki_issue_printable((const uint8_t *)d, strlen(d), 64, shown, sizeof(shown));
            pki_issue_why(why, whylen,
                          "'%s' is not a DNS name (letters, digits and '-' in dot-separated "
                          "labels, optionally starting with '*.')",
                          shown);
            return -EINVAL;
        }
    }
    unsigned ku_all = PKI_ISSUE_KU_DIGITAL_SIGNATURE | PKI_ISSUE_KU_NON_REPUDIATION |
                      PKI_ISSUE_KU_KEY_ENCIPHERMENT | PKI_ISSUE_KU_KEY_AGREEMENT |
                      PKI_ISSUE_KU_KEY_CERT_SIGN | PKI_ISSUE_KU_CRL_SIGN;
    unsigned eku_all = PKI_ISSUE_EKU_CLIENT_AUTH | PKI_ISSUE_EKU_SERVER_AUTH;
    if ((req->key_usage & ~ku_all) != 0 || (req->ext_key_usage & ~eku_all) != 0) {
        pki_issue_why(why, whylen, "unknown key usage bits");
        return -EINVAL;
    }
    return 0;
}

/* Whether `issuer` may sign the certificate `req` describes. */
static int check_issuer(const struct pki_issue_request *req, X509 *issuer, char *why, size_t whylen)
{
    char label[160];
    char when[TIME_ISO_LEN];
    int64_t nb = 0;
    int64_t na = 0;
    pki_issue_cert_label(issuer, label, sizeof(label));
    uint32_t flags = X509_get_extension_flags(issuer);
    if ((flags & EXFLAG_INVALID) != 0) {
        pki_issue_why(why, whylen, "the CA certificate (%s) has malformed extensions", label);
        return CG_EDENIED;
    }
    if ((flags & EXFLAG_CA) == 0) {
        pki_issue_why(why, whylen,
                      "the CA certificate (%s) is not a CA: its basicConstraints lack CA:TRUE",
                      label);
        return CG_EDENIED;
    }
    if ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(issuer) & KU_KEY_CERT_SIGN) == 0) {
        pki_issue_why(why, whylen,
                      "the CA certificate (%s) may not sign certificates: its keyUsage lacks "
                      "keyCertSign",
                      label);
        return CG_EDENIED;
    }
    if (req->ca && X509_get_pathlen(issuer) == 0) {
        pki_issue_why(why, whylen,
                      "the CA certificate (%s) has pathlen 0: it may not sign another CA", label);
        return CG_EDENIED;
    }
    if (pki_issue_time_ms(X509_get0_notBefore(issuer), &nb) < 0 ||
        pki_issue_time_ms(X509_get0_notAfter(issuer), &na) < 0) {
        pki_issue_why(why, whylen, "the CA certificate (%s) has unreadable validity dates", label);
        return CG_EDENIED;
    }
    if (req->now_ms < nb) {
        time_format_iso(nb, when);
        pki_issue_why(why, whylen, "the CA certificate (%s) is not valid before %s", label, when);
        return CG_EDENIED;
    }
    if (req->now_ms > na) {
        time_format_iso(na, when);
        pki_issue_why(why, whylen, "the CA certificate (%s) expired on %s", label, when);
        return CG_EDENIED;
    }
    if (req->not_after_ms > na) {
        time_format_iso(na, when);
        long days = (long)((na - req->now_ms) / (24 * 3600 * 1000));
        pki_issue_why(why, whylen,
                      "the certificate would outlive its CA (%s expires on %s): ask for %ld days "
                      "or fewer",
                      label, when, days);
        return CG_EDENIED;
    }
    return 0;
}

/* ---- extensions ---------------------------------------------------------------------- */

static int add_basic_constraints(X509 *x, const struct pki_issue_request *req)
{
    int rc = CG_ECRYPTO;
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    if (bc == NULL) {
        return -ENOMEM;
    }
    bc->ca = req->ca ? 0xff : 0;
    if (req->ca && req->pathlen >= 0) {
        bc->pathlen = ASN1_INTEGER_new();
        if (bc->pathlen == NULL || !ASN1_INTEGER_set(bc->pathlen, req->pathlen)) {
            goto out;
        }
    }
    if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_REPLACE) == 1) {
        rc = 0;
    }
out:
    BASIC_CONSTRAINTS_free(bc);
    return rc;
}

static int add_key_usage(X509 *x, unsigned ku)
{
    static const struct {
        unsigned flag;
        int bit;
    } bits[] = {
        {PKI_ISSUE_KU_DIGITAL_SIGNATURE, 0}, {PKI_ISSUE_KU_NON_REPUDIATION, 1},
        {PKI_ISSUE_KU_KEY_ENCIPHERMENT, 2},  {PKI_ISSUE_KU_KEY_AGREEMENT, 4},
        {PKI_ISSUE_KU_KEY_CERT_SIGN, 5},     {PKI_ISSUE_KU_CRL_SIGN, 6},
    };
    int rc = CG_ECRYPTO;
    if (ku == 0) {
        return 0;
    }
    ASN1_BIT_STRING *bs = ASN1_BIT_STRING_new();
    if (bs == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        if ((ku & bits[i].flag) != 0 && !ASN1_BIT_STRING_set_bit(bs, bits[i].bit, 1)) {
            goto out;
        }
    }
    if (X509_add1_ext_i2d(x, NID_key_usage, bs, 1, X509V3_ADD_REPLACE) == 1) {
        rc = 0;
    }
out:
    ASN1_BIT_STRING_free(bs);
    return rc;
}

static int add_ext_key_usage(X509 *x, unsigned eku)
{
    int rc = CG_ECRYPTO;
    if (eku == 0) {
        return 0;
    }
    EXTENDED_KEY_USAGE *list = sk_ASN1_OBJECT_new_null();
    if (list == NULL) {
        return -ENOMEM;
    }
    if ((eku & PKI_ISSUE_EKU_CLIENT_AUTH) != 0 &&
        !sk_ASN1_OBJECT_push(list, OBJ_nid2obj(NID_client_auth))) {
        goto out;
    }
    if ((eku & PKI_ISSUE_EKU_SERVER_AUTH) != 0 &&
        !sk_ASN1_OBJECT_push(list, OBJ_nid2obj(NID_server_auth))) {
        goto out;
    }
    if (X509_add1_ext_i2d(x, NID_ext_key_usage, list, 0, X509V3_ADD_REPLACE) == 1) {
        rc = 0;
    }
out:
    /* The objects are OpenSSL's static ones: free only the list. */
    sk_ASN1_OBJECT_free(list);
    return rc;
}

/* The SHA-1 of a certificate's subjectPublicKey BIT STRING (RFC 5280 4.2.1.2, method 1). */
static ASN1_OCTET_STRING *key_id_of(X509 *x)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ASN1_BIT_STRING *pk = X509_get0_pubkey_bitstr(x);
    if (pk == NULL || !EVP_Digest(pk->data, (size_t)pk->length, md, &mdlen, EVP_sha1(), NULL)) {
        return NULL;
    }
    ASN1_OCTET_STRING *id = ASN1_OCTET_STRING_new();
    if (id != NULL && !ASN1_OCTET_STRING_set(id, md, (int)mdlen)) {
        ASN1_OCTET_STRING_free(id);
        id = NULL;
    }
    return id;
}

static int add_key_ids(X509 *x, X509 *issuer)
{
    int rc = CG_ECRYPTO;
    ASN1_OCTET_STRING *ski = NULL;
    AUTHORITY_KEYID *akid = NULL;

    ski = key_id_of(x);
    if (ski == NULL ||
        X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_REPLACE) != 1) {
        goto out;
    }
    akid = AUTHORITY_KEYID_new();
    if (akid == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (issuer == NULL) {
        akid->keyid = ASN1_OCTET_STRING_dup(ski);
    } else if (X509_get0_subject_key_id(issuer) != NULL) {
        akid->keyid = ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(issuer));
    } else {
        akid->keyid = key_id_of(issuer);
    }
    if (akid->keyid == NULL ||
        X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_REPLACE) != 1) {
        goto out;
    }
    rc = 0;
out:
    ASN1_OCTET_STRING_free(ski);
    AUTHORITY_KEYID_free(akid);
    return rc;
}

static int add_sans(X509 *x, const struct pki_issue_request *req, char *why, size_t whylen)
{
    int rc = CG_ECRYPTO;
    GENERAL_NAMES *names = NULL;
    GENERAL_NAME *gn = NULL;
    ASN1_STRING *value = NULL;

    if (req->ndns + req->nips == 0) {
        return 0;
    }
    names = sk_GENERAL_NAME_new_null();
    if (names == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < req->ndns + req->nips; i++) {
        int type;
        if (i < req->ndns) {
            const char *d = req->dns[i];
            type = GEN_DNS;
            value = ASN1_IA5STRING_new();
            if (value == NULL || !ASN1_STRING_set(value, d, (int)strlen(d))) {
                goto out;
            }
        } else {
            const char *ip = req->ips[i - req->ndns];
            unsigned char addr[16];
            int alen = 0;
            if (ip != NULL && inet_pton(AF_INET, ip, addr) == 1) {
                alen = 4;
            } else if (ip != NULL && inet_pton(AF_INET6, ip, addr) == 1) {
                alen = 16;
            } else {
                char shown[80];
                const char *s = ip ? ip : "";
                pki_issue_printable((const uint8_t *)s, strlen(s), 64, shown, sizeof(shown));
                pki_issue_why(why, whylen, "'%s' is not an IPv4 or IPv6 address", shown);
                rc = -EINVAL;
                goto out;
            }
            type = GEN_IPADD;
            value = ASN1_OCTET_STRING_new();
            if (value == NULL || !ASN1_OCTET_STRING_set(value, addr, alen)) {
                goto out;
            }
        }
        gn = GENERAL_NAME_new();
        if (gn == NULL) {
            goto out;
        }
        GENERAL_NAME_set0_value(gn, type, value);
        value = NULL;
        if (!sk_GENERAL_NAME_push(names, gn)) {
            goto out;
        }
        gn = NULL;
    }
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_REPLACE) == 1) {
        rc = 0;
    }
out:
    ASN1_STRING_free(value);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(names);
    return rc;
}

/* The digest an issuer key signs with: none for EdDSA, SHA-384 for P-384, SHA-512 for
 * P-521, SHA-256 otherwise. */
static const EVP_MD *signing_digest(EVP_PKEY *key)
{
    if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448")) {
        return NULL;
    }
    if (EVP_PKEY_is_a(key, "EC")) {
        int bits = EVP_PKEY_get_bits(key);
        if (bits > 384) {
            return EVP_sha512();
        }
        if (bits > 256) {
            return EVP_sha384();
        }
    }
    return EVP_sha256();
}

static int set_serial(X509 *x)
{
    int rc = CG_ECRYPTO;
    uint8_t sn[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    rc = random_bytes(sn, sizeof(sn));
    if (rc < 0) {
        return rc;
    }
    rc = CG_ECRYPTO;
    /* Positive (top bit clear) and always 16 bytes long (second bit set). */
    sn[0] = (uint8_t)((sn[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(sn, sizeof(sn), NULL);
    if (bn == NULL || (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
        goto out;
    }
    if (X509_set_serialNumber(x, ai) == 1) {
        rc = 0;
    }
out:
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return rc;
}

int pki_issue_cert(const struct pki_issue_request *req, EVP_PKEY *subject_key, X509 *issuer_cert,
                   EVP_PKEY *issuer_key, X509 **out, char *why, size_t whylen)
{
    int rc = -EINVAL;
    X509 *x = NULL;
    X509_NAME *subject = NULL;
    EVP_PKEY *signer = NULL;

    if (req == NULL || subject_key == NULL || out == NULL) {
        pki_issue_why(why, whylen, "missing argument");
        return -EINVAL;
    }
    if (issuer_cert == NULL) {
        if (issuer_key != NULL && issuer_key != subject_key) {
            pki_issue_why(why, whylen, "a self-signed certificate is signed with its own key");
            return -EINVAL;
        }
        signer = subject_key;
    } else {
        if (issuer_key == NULL) {
            pki_issue_why(why, whylen, "no CA key given");
            return -EINVAL;
        }
        if (!pki_issue_key_matches(issuer_cert, issuer_key)) {
            char label[160];
            pki_issue_cert_label(issuer_cert, label, sizeof(label));
            pki_issue_why(why, whylen, "the CA key does not match the CA certificate (%s)", label);
            return CG_EDENIED;
        }
        signer = issuer_key;
    }
    rc = check_request(req, why, whylen);
    if (rc < 0) {
        goto out;
    }
    rc = pki_issue_name_parse(req->subject, &subject, why, whylen);
    if (rc < 0) {
        goto out;
    }
    if (issuer_cert != NULL && !req->unchecked) {
        rc = check_issuer(req, issuer_cert, why, whylen);
        if (rc < 0) {
            goto out;
        }
    }

    rc = -ENOMEM;
    x = X509_new();
    if (x == NULL) {
        goto out;
    }
    rc = CG_ECRYPTO;
    if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_subject_name(x, subject) != 1 ||
        X509_set_issuer_name(x, issuer_cert != NULL ? X509_get_subject_name(issuer_cert)
                                                    : subject) != 1 ||
        X509_set_pubkey(x, subject_key) != 1) {
        pki_issue_why_crypto(why, whylen, "cannot fill in the certificate");
        goto out;
    }
    if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(req->not_before_ms / 1000)) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(req->not_after_ms / 1000)) == NULL) {
        pki_issue_why_crypto(why, whylen, "cannot set the validity");
        goto out;
    }
    rc = set_serial(x);
    if (rc < 0) {
        pki_issue_why(why, whylen, "cannot make a serial number: %s", cg_strerror(rc));
        goto out;
    }
    if ((rc = add_basic_constraints(x, req)) < 0 || (rc = add_key_usage(x, req->key_usage)) < 0 ||
        (rc = add_ext_key_usage(x, req->ext_key_usage)) < 0 ||
        (rc = add_key_ids(x, issuer_cert)) < 0) {
        pki_issue_why_crypto(why, whylen, "cannot add the extensions");
        goto out;
    }
    rc = add_sans(x, req, why, whylen);
    if (rc < 0) {
        if (rc != -EINVAL) {
            pki_issue_why_crypto(why, whylen, "cannot add the subject alternative names");
        }
        goto out;
    }
    if (X509_sign(x, signer, signing_digest(signer)) <= 0) {
        rc = CG_ECRYPTO;
        pki_issue_why_crypto(why, whylen, "signing the certificate failed");
        goto out;
    }
    *out = x;
    x = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM) {
        pki_issue_why(why, whylen, "out of memory");
    }
    X509_free(x);
    X509_NAME_free(subject);
    ERR_clear_error();
    return rc;
}

/* ---- chains ---------------------------------------------------------------------------- */

int pki_issue_chain_check(const STACK_OF(X509) * certs, char *why, size_t whylen)
{
    int n = certs != NULL ? sk_X509_num(certs) : 0;
    if (n <= 0) {
        pki_issue_why(why, whylen, "no certificates");
        return -EINVAL;
    }
    for (int i = 0; i + 1 < n; i++) {
        X509 *sub = sk_X509_value(certs, i);
        X509 *iss = sk_X509_value(certs, i + 1);
        char sl[160];
        char il[160];
        pki_issue_cert_label(sub, sl, sizeof(sl));
        pki_issue_cert_label(iss, il, sizeof(il));
        int v = X509_check_issued(iss, sub);
        if (v != X509_V_OK) {
            char named[160];
            switch (v) {
            case X509_V_ERR_SUBJECT_ISSUER_MISMATCH:
                pki_issue_name_text(X509_get_issuer_name(sub), named, sizeof(named));
                pki_issue_why(why, whylen,
                              "certificate %d (%s) did not issue certificate %d (%s): certificate "
                              "%d names '%s' as its issuer",
                              i + 2, il, i + 1, sl, i + 1, named);
                break;
            case X509_V_ERR_AKID_SKID_MISMATCH:
                pki_issue_why(why, whylen,
                              "certificate %d (%s) did not issue certificate %d (%s): the "
                              "authority key identifier of %d is not the subject key identifier "
                              "of %d",
                              i + 2, il, i + 1, sl, i + 1, i + 2);
                break;
            case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
                pki_issue_why(why, whylen,
                              "certificate %d (%s) cannot have issued certificate %d (%s): its "
                              "keyUsage does not allow signing certificates",
                              i + 2, il, i + 1, sl);
                break;
            default:
                pki_issue_why(why, whylen,
                              "certificate %d (%s) did not issue certificate %d (%s): %s", i + 2,
                              il, i + 1, sl, X509_verify_cert_error_string(v));
                break;
            }
            return CG_EDENIED;
        }
        EVP_PKEY *pk = X509_get0_pubkey(iss);
        if (pk == NULL || X509_verify(sub, pk) != 1) {
            pki_issue_why(why, whylen,
                          "certificate %d (%s) did not issue certificate %d (%s): the signature "
                          "of %d does not verify with the key of %d",
                          i + 2, il, i + 1, sl, i + 1, i + 2);
            return CG_EDENIED;
        }
    }
    ERR_clear_error();
    return 0;
}

bool pki_issue_is_self_signed(X509 *cert)
{
    if (cert == NULL) {
        return false;
    }
    bool ss = X509_self_signed(cert, 1) == 1;
    ERR_clear_error();
    return ss;
}
