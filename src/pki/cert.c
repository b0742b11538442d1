/* Certificates: bundle parsing, facts and text forms. See cert.h. */
#include "pki/cert.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#define PEM_BEGIN "-----BEGIN "
#define PEM_DASHES "-----"
#define PEM_CERT_END "-----END CERTIFICATE-----"
#define NAME_MAX_TEXT (64 * 1024)

const char *pki_strerror(int rc)
{
    if (rc == PKI_EPRIVATEKEY) {
        return "a private key was supplied where a certificate was expected";
    }
    return cg_strerror(rc);
}

/* ---- bundle parsing ---------------------------------------------------------------- */

/* Whether the text holds an armour line whose label names a private key
 * ("PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY"...). */
static bool has_private_key(const char *s, size_t len)
{
    const char *p = s;
    const char *end = s + len;
    while (p < end) {
        const char *b = memmem(p, (size_t)(end - p), PEM_BEGIN, strlen(PEM_BEGIN));
        if (b == NULL) {
            return false;
        }
        const char *label = b + strlen(PEM_BEGIN);
        size_t room = (size_t)(end - label);
        const char *dash = memmem(label, room < 80 ? room : 80, PEM_DASHES, strlen(PEM_DASHES));
        size_t llen = dash != NULL ? (size_t)(dash - label) : (room < 80 ? room : 80);
        if (memmem(label, llen, "PRIVATE KEY", strlen("PRIVATE KEY")) != NULL) {
            return true;
        }
        p = label;
    }
    return false;
}

/* Decode base64 text into a fresh zeroed-on-free buffer and parse exactly one certificate
 * that uses every decoded byte. */
static int parse_b64_cert(const char *text, size_t n, X509 **out)
{
    int rc = CG_EPARSE;
    size_t cap = (n / 4 + 1) * 3;
    uint8_t *der = malloc(cap);
    if (der == NULL) {
        return -ENOMEM;
    }
    int dlen = b64_decode(text, n, der, cap, true, false);
    if (dlen <= 0) {
        rc = dlen == 0 ? CG_EPARSE : dlen;
        goto out;
    }
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, dlen);
    if (x == NULL) {
        rc = CG_EPARSE;
        goto out;
    }
    if (p != der + dlen) {
        X509_free(x);
        rc = CG_EPARSE;
        goto out;
    }
    *out = x;
    rc = 0;
out:
    secure_zero(der, cap);
    free(der);
    return rc;
}

static int push_cert(STACK_OF(X509) * sk, X509 *x, size_t max_certs)
{
    if ((size_t)sk_X509_num(sk) >= max_certs) {
        X509_free(x);
        return CG_ELIMIT;
    }
    if (sk_X509_push(sk, x) <= 0) {
        X509_free(x);
        return -ENOMEM;
    }
    return 0;
}

static int parse_pem_blocks(const char *s, size_t len, size_t max_certs, STACK_OF(X509) * sk)
{
    const char *p = s;
    const char *end = s + len;
    for (;;) {
        const char *b = memmem(p, (size_t)(end - p), PEM_BEGIN, strlen(PEM_BEGIN));
        if (b == NULL) {
            break;
        }
        const char *label = b + strlen(PEM_BEGIN);
        const char *want = "CERTIFICATE" PEM_DASHES;
        if ((size_t)(end - label) < strlen(want) || memcmp(label, want, strlen(want)) != 0) {
            return CG_EPARSE; /* another kind of PEM block: not a certificate bundle */
        }
        const char *body = label + strlen(want);
        const char *e = memmem(body, (size_t)(end - body), PEM_CERT_END, strlen(PEM_CERT_END));
        if (e == NULL) {
            return CG_EPARSE;
        }
        X509 *x = NULL;
        int rc = parse_b64_cert(body, (size_t)(e - body), &x);
        if (rc < 0) {
            return rc;
        }
        rc = push_cert(sk, x, max_certs);
        if (rc < 0) {
            return rc;
        }
        p = e + strlen(PEM_CERT_END);
    }
    return sk_X509_num(sk) > 0 ? 0 : CG_EPARSE;
}

int pki_bundle_parse(const void *data, size_t len, size_t max_bytes, size_t max_certs,
                     STACK_OF(X509) * *out)
{
    int rc = CG_EPARSE;
    STACK_OF(X509) *sk = NULL;
    const char *s = data;
    if (max_bytes == 0) {
        max_bytes = PKI_BUNDLE_MAX_BYTES;
    }
    if (max_certs == 0) {
        max_certs = PKI_BUNDLE_MAX_CERTS;
    }
    if (len > max_bytes) {
        return CG_ELIMIT;
    }
    if (data == NULL || len == 0) {
        return CG_EPARSE;
    }
    if (has_private_key(s, len)) {
        return PKI_EPRIVATEKEY;
    }
    sk = sk_X509_new_null();
    if (sk == NULL) {
        return -ENOMEM;
    }
    if (memmem(s, len, PEM_BEGIN, strlen(PEM_BEGIN)) != NULL) {
        rc = parse_pem_blocks(s, len, max_certs, sk);
    } else if ((unsigned char)s[0] == 0x30) {
        const unsigned char *p = data;
        X509 *x = d2i_X509(NULL, &p, (long)len);
        if (x == NULL || p != (const unsigned char *)data + len) {
            X509_free(x);
            rc = CG_EPARSE;
        } else {
            rc = push_cert(sk, x, max_certs);
        }
    } else {
        X509 *x = NULL;
        rc = parse_b64_cert(s, len, &x);
        if (rc == 0) {
            rc = push_cert(sk, x, max_certs);
        }
    }
    if (rc < 0) {
        goto out;
    }
    rc = sk_X509_num(sk);
    *out = sk;
    sk = NULL;
out:
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return rc;
}

/* ---- fingerprints, serials, names --------------------------------------------------- */

int pki_cert_fingerprint(X509 *cert, char out[PKI_FINGERPRINT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha1(), md, &n) != 1 || n != 20) {
        ERR_clear_error();
        return CG_ECRYPTO;
    }
    hex_encode(md, n, out);
    return 0;
}

int pki_serial_hex(const ASN1_INTEGER *serial, char *out, size_t cap)
{
    if (serial == NULL) {
        return CG_EPARSE;
    }
    const unsigned char *p = ASN1_STRING_get0_data(serial);
    int n = ASN1_STRING_length(serial);
    bool neg = ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER;
    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (n == 0) {
        if (cap < 2) {
            return CG_ELIMIT;
        }
        strcpy(out, "0");
        return 0;
    }
    if ((size_t)n * 2 + 2 > cap) {
        return CG_ELIMIT;
    }
    char *w = out;
    if (neg) {
        *w++ = '-';
    }
    hex_encode(p, (size_t)n, w);
    if (w[0] == '0') {
        memmove(w, w + 1, strlen(w)); /* one leading zero nibble at most */
    }
    return 0;
}

int pki_serial_format(const ASN1_INTEGER *serial, char **dec, char **hex)
{
    int rc = -ENOMEM;
    BIGNUM *bn = NULL;
    char *d = NULL;
    char *h = NULL;
    char *bd = NULL;
    if (serial == NULL) {
        return CG_EPARSE;
    }
    if (dec != NULL) {
        bn = ASN1_INTEGER_to_BN(serial, NULL);
        if (bn == NULL || (bd = BN_bn2dec(bn)) == NULL) {
            goto out;
        }
        d = strdup(bd);
        if (d == NULL) {
            goto out;
        }
    }
    if (hex != NULL) {
        size_t cap = (size_t)ASN1_STRING_length(serial) * 2 + 3;
        h = malloc(cap);
        if (h == NULL) {
            goto out;
        }
        if (pki_serial_hex(serial, h, cap) < 0) {
            rc = CG_EPARSE;
            goto out;
        }
    }
    if (dec != NULL) {
        *dec = d;
        d = NULL;
    }
    if (hex != NULL) {
        *hex = h;
        h = NULL;
    }
    rc = 0;
out:
    OPENSSL_free(bd);
    BN_free(bn);
    free(d);
    free(h);
    ERR_clear_error();
    return rc;
}

int pki_serial_normalize(const char *text, char *out, size_t cap)
{
    const char *p = text;
    bool neg = false;
    size_t o = 0;
    bool any = false;
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        p += 2;
    }
    if (neg) {
        if (cap < 1) {
            return CG_ELIMIT;
        }
        out[o++] = '-';
    }
    size_t start = o;
    for (; *p != '\0'; p++) {
        char c = *p;
        if (c == ':' || c == ' ') {
            continue;
        }
        if (c == '\t' || c == '\r' || c == '\n') {
            /* trailing whitespace only */
            const char *q = p;
            while (*q == '\t' || *q == '\r' || *q == '\n' || *q == ' ') {
                q++;
            }
            if (*q != '\0') {
                return CG_EPARSE;
            }
            break;
        }
        if (!isxdigit((unsigned char)c)) {
            return CG_EPARSE;
        }
        any = true;
        if (o == start && c == '0') {
            continue; /* leading zero */
        }
        if (o + 1 >= cap) {
            return CG_ELIMIT;
        }
        out[o++] = (char)tolower((unsigned char)c);
    }
    if (!any) {
        return CG_EPARSE;
    }
    if (o == start) {
        o = 0; /* zero has no sign */
        if (cap < 2) {
            return CG_ELIMIT;
        }
        out[o++] = '0';
    }
    if (o >= cap) {
        return CG_ELIMIT;
    }
    out[o] = '\0';
    return 0;
}

struct keyword {
    int nid;
    const char *name;
};

/* The keywords of Java's X500Principal. */
static const struct keyword keywords[] = {
    {NID_commonName, "CN"},
    {NID_organizationalUnitName, "OU"},
    {NID_organizationName, "O"},
    {NID_countryName, "C"},
    {NID_localityName, "L"},
    {NID_stateOrProvinceName, "ST"},
    {NID_streetAddress, "STREET"},
    {NID_domainComponent, "DC"},
    {NID_userId, "UID"},
    {NID_pkcs9_emailAddress, "EMAILADDRESS"},
    {NID_serialNumber, "SERIALNUMBER"},
    {NID_surname, "SURNAME"},
    {NID_givenName, "GIVENNAME"},
    {NID_initials, "INITIALS"},
    {NID_generationQualifier, "GENERATION"},
    {NID_dnQualifier, "DNQUALIFIER"},
    {NID_title, "T"},
};

static int append_keyword(struct buf *b, const ASN1_OBJECT *obj)
{
    int nid = OBJ_obj2nid(obj);
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (keywords[i].nid == nid && nid != NID_undef) {
            return buf_append_str(b, keywords[i].name);
        }
    }
    char oid[128];
    int n = OBJ_obj2txt(oid, sizeof(oid), obj, 1);
    if (n <= 0 || (size_t)n >= sizeof(oid)) {
        return CG_EPARSE;
    }
    return buf_appendf(b, "OID.%s", oid);
}

static int append_escaped(struct buf *b, const unsigned char *v, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = v[i];
        if (c < 0x20 || c == 0x7f) {
            rc = buf_appendf(b, "\\%02X", c);
        } else if (strchr(",+\"\\<>;", c) != NULL || (i == 0 && (c == '#' || c == ' ')) ||
                   (i + 1 == n && c == ' ')) {
            char esc[2] = {'\\', (char)c};
            rc = buf_append(b, esc, 2);
        } else {
            rc = buf_append(b, &c, 1);
        }
    }
    return rc;
}

static int append_value(struct buf *b, const ASN1_STRING *v)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, v);
    if (n >= 0 && utf8_valid(utf8, (size_t)n, true)) {
        int rc = append_escaped(b, utf8, (size_t)n);
        OPENSSL_free(utf8);
        return rc;
    }
    OPENSSL_free(utf8);
    ERR_clear_error();
    /* Not a string type (or not convertible): '#' and the hex of the bytes. */
    int rc = buf_append_str(b, "#");
    const unsigned char *d = ASN1_STRING_get0_data(v);
    for (int i = 0; i < ASN1_STRING_length(v) && rc == 0; i++) {
        rc = buf_appendf(b, "%02x", d[i]);
    }
    return rc;
}

int pki_name_format(const X509_NAME *name, enum pki_dn_style style, char **out)
{
    int rc = CG_EPARSE;
    struct buf b;
    buf_init(&b, NAME_MAX_TEXT);
    int count = X509_NAME_entry_count(name);
    const char *sep = style == PKI_DN_COMPACT ? "," : ", ";
    /* Walk RDNs from the last (most specific) to the first; the attributes of one
     * multi-valued RDN keep their DER order, joined by '+'. */
    int i = count - 1;
    while (i >= 0) {
        int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, i));
        int first = i;
        while (first > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, first - 1)) == set) {
            first--;
        }
        if (i != count - 1 && (rc = buf_append_str(&b, sep)) < 0) {
            goto out;
        }
        for (int j = first; j <= i; j++) {
            const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, j);
            if (j != first && (rc = buf_append_str(&b, "+")) < 0) {
                goto out;
            }
            if ((rc = append_keyword(&b, X509_NAME_ENTRY_get_object(e))) < 0 ||
                (rc = buf_append_str(&b, "=")) < 0 ||
                (rc = append_value(&b, X509_NAME_ENTRY_get_data(e))) < 0) {
                goto out;
            }
        }
        i = first - 1;
    }
    char *s = buf_steal(&b, NULL);
    if (s == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    *out = s;
    rc = 0;
out:
    buf_cleanup(&b);
    return rc;
}

int pki_sig_alg_name(X509 *cert, char *out, size_t cap)
{
    int mdnid = NID_undef;
    int pknid = NID_undef;
    int signid = X509_get_signature_nid(cert);
    if (!OBJ_find_sigid_algs(signid, &mdnid, &pknid)) {
        pknid = signid;
    }
    if (signid == NID_rsassaPss || pknid == NID_rsassaPss) {
        /* The digest sits in the PSS parameters. */
        int secbits = 0;
        uint32_t flags = 0;
        if (!X509_get_signature_info(cert, &mdnid, NULL, &secbits, &flags)) {
            mdnid = NID_undef;
        }
        ERR_clear_error();
    }
    const char *md = NULL;
    switch (mdnid) {
    case NID_md5:
        md = "MD5";
        break;
    case NID_sha1:
        md = "SHA1";
        break;
    case NID_sha224:
        md = "SHA224";
        break;
    case NID_sha256:
        md = "SHA256";
        break;
    case NID_sha384:
        md = "SHA384";
        break;
    case NID_sha512:
        md = "SHA512";
        break;
    case NID_sha3_256:
        md = "SHA3-256";
        break;
    case NID_sha3_384:
        md = "SHA3-384";
        break;
    case NID_sha3_512:
        md = "SHA3-512";
        break;
    default:
        break;
    }
    const char *pk = NULL;
    switch (pknid) {
    case NID_rsaEncryption:
        pk = "RSA";
        break;
    case NID_rsassaPss:
        pk = "RSAandMGF1";
        break;
    case NID_X9_62_id_ecPublicKey:
        pk = "ECDSA";
        break;
    case NID_dsa:
        pk = "DSA";
        break;
    default:
        break;
    }
    int n;
    if (pknid == NID_ED25519 || pknid == NID_ED448) {
        n = snprintf(out, cap, "%s", pknid == NID_ED25519 ? "Ed25519" : "Ed448");
    } else if (md != NULL && pk != NULL) {
        n = snprintf(out, cap, "%swith%s", md, pk);
    } else {
        const X509_ALGOR *alg = NULL;
        const ASN1_OBJECT *obj = NULL;
        X509_get0_signature(NULL, &alg, cert);
        X509_ALGOR_get0(&obj, NULL, NULL, alg);
        char oid[128] = "unknown";
        if (obj != NULL) {
            OBJ_obj2txt(oid, sizeof(oid), obj, 1);
        }
        n = snprintf(out, cap, "%s", oid);
    }
    return n < 0 || (size_t)n >= cap ? CG_ELIMIT : 0;
}

int pki_cert_subject_cn(X509 *cert, char **out)
{
    const X509_NAME *name = X509_get_subject_name(cert);
    int idx = -1;
    int last = -1;
    while ((idx = X509_NAME_get_index_by_NID(name, NID_commonName, idx)) >= 0) {
        last = idx;
    }
    if (last < 0) {
        return -ENOENT;
    }
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last)));
    if (n < 0) {
        ERR_clear_error();
        return CG_EPARSE;
    }
    int rc = CG_EPARSE;
    if (utf8_valid(utf8, (size_t)n, false)) {
        char *s = str_ndup((const char *)utf8, (size_t)n);
        rc = s != NULL ? 0 : -ENOMEM;
        if (s != NULL) {
            *out = s;
        }
    }
    OPENSSL_free(utf8);
    return rc;
}

void pki_cert_describe(X509 *cert, int depth, char *out, size_t cap)
{
    char *subject = NULL;
    if (cap == 0) {
        return;
    }
    if (cert == NULL || pki_name_format(X509_get_subject_name(cert), PKI_DN_SPACED, &subject) < 0) {
        snprintf(out, cap, "certificate %d", depth);
        return;
    }
    if (strlen(subject) > 120) {
        memcpy(subject + 117, "...", 4);
    }
    snprintf(out, cap, "certificate %d (%s)", depth, subject);
    free(subject);
}

int pki_asn1_time_ms(const ASN1_TIME *t, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return CG_EPARSE;
    }
    time_t s = timegm(&tm);
    *ms = (int64_t)s * 1000;
    return 0;
}

/* ---- facts ------------------------------------------------------------------------ */

void pki_key_describe(const EVP_PKEY *key, char type[16], int *bits, char curve[24])
{
    curve[0] = '\0';
    *bits = 0;
    if (key == NULL) {
        snprintf(type, 16, "unknown");
        return;
    }
    *bits = EVP_PKEY_get_bits(key);
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        snprintf(type, 16, "RSA");
        break;
    case EVP_PKEY_RSA_PSS:
        snprintf(type, 16, "RSA-PSS");
        break;
    case EVP_PKEY_EC: {
        size_t len = 0;
        snprintf(type, 16, "EC");
        if (!EVP_PKEY_get_group_name(key, curve, 24, &len)) {
            curve[0] = '\0';
            ERR_clear_error();
        }
        break;
    }
    case EVP_PKEY_ED25519:
        snprintf(type, 16, "Ed25519");
        break;
    case EVP_PKEY_ED448:
        snprintf(type, 16, "Ed448");
        break;
    case EVP_PKEY_DSA:
        snprintf(type, 16, "DSA");
        break;
    default:
        snprintf(type, 16, "unknown");
        break;
    }
}

void pki_cert_facts_cleanup(struct pki_cert_facts *f)
{
    if (f == NULL) {
        return;
    }
    free(f->serial_dec);
    free(f->serial_hex);
    free(f->subject);
    free(f->issuer);
    free(f->subject_compact);
    free(f->issuer_compact);
    free(f->subject_cn);
    memset(f, 0, sizeof(*f));
}

int pki_cert_facts_get(X509 *cert, struct pki_cert_facts *f)
{
    int rc;
    memset(f, 0, sizeof(*f));
    f->pathlen = -1;
    if ((rc = pki_cert_fingerprint(cert, f->fingerprint)) < 0 ||
        (rc = pki_serial_format(X509_get0_serialNumber(cert), &f->serial_dec, &f->serial_hex)) <
            0 ||
        (rc = pki_name_format(X509_get_subject_name(cert), PKI_DN_SPACED, &f->subject)) < 0 ||
        (rc = pki_name_format(X509_get_issuer_name(cert), PKI_DN_SPACED, &f->issuer)) < 0 ||
        (rc = pki_name_format(X509_get_subject_name(cert), PKI_DN_COMPACT, &f->subject_compact)) <
            0 ||
        (rc = pki_name_format(X509_get_issuer_name(cert), PKI_DN_COMPACT, &f->issuer_compact)) <
            0 ||
        (rc = pki_asn1_time_ms(X509_get0_notBefore(cert), &f->not_before_ms)) < 0 ||
        (rc = pki_asn1_time_ms(X509_get0_notAfter(cert), &f->not_after_ms)) < 0) {
        goto out;
    }
    rc = pki_cert_subject_cn(cert, &f->subject_cn);
    if (rc == -ENOMEM) {
        goto out;
    }
    if (pki_sig_alg_name(cert, f->sig_alg, sizeof(f->sig_alg)) < 0) {
        snprintf(f->sig_alg, sizeof(f->sig_alg), "unknown");
    }
    f->version = (int)X509_get_version(cert) + 1;
    uint32_t xflags = X509_get_extension_flags(cert);
    f->is_ca = (xflags & EXFLAG_BCONS) != 0 && (xflags & EXFLAG_CA) != 0;
    long pl = X509_get_pathlen(cert);
    f->pathlen = f->is_ca && pl >= 0 && pl <= INT32_MAX ? (int)pl : -1;
    pki_key_describe(X509_get0_pubkey(cert), f->key_type, &f->key_bits, f->key_curve);
    f->self_signed = X509_self_signed(cert, 1) == 1;
    rc = 0;
out:
    ERR_clear_error();
    if (rc < 0) {
        pki_cert_facts_cleanup(f);
        f->pathlen = -1;
    }
    return rc;
}

int pki_cert_c8y_pem(X509 *cert, char **out)
{
    int rc = CG_ECRYPTO;
    unsigned char *der = NULL;
    char *b64 = NULL;
    char *text = NULL;
    int dlen = i2d_X509(cert, &der);
    if (dlen <= 0) {
        goto out;
    }
    size_t blen = b64_encoded_len((size_t)dlen);
    b64 = malloc(blen + 1);
    text = malloc(blen + blen / 64 + 2);
    if (b64 == NULL || text == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    b64_encode(der, (size_t)dlen, b64, false);
    size_t o = 0;
    for (size_t i = 0; i < blen; i += 64) {
        size_t n = blen - i < 64 ? blen - i : 64;
        memcpy(text + o, b64 + i, n);
        o += n;
        text[o++] = '\n';
    }
    text[o] = '\0';
    *out = text;
    text = NULL;
    rc = 0;
out:
    OPENSSL_free(der);
    free(b64);
    free(text);
    ERR_clear_error();
    return rc;
}
