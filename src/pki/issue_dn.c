/* Distinguished names from text: RFC 4514 ("CN=x,O=y") and OpenSSL's -subj ("/O=y/CN=x"). */
#include "pki/issue.h"

#include "core/err.h"
#include "core/str.h"
#include "pki/issue_util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#define DN_MAX_ATTRS 32
#define DN_TYPE_MAX 64
#define DN_VALUE_MAX 256
#define DN_TEXT_MAX 4096

struct dn_attr {
    char type[DN_TYPE_MAX];
    uint8_t value[DN_VALUE_MAX];
    size_t vlen;
    bool joined; /* '+' before it: part of the previous attribute's RDN */
};

struct dn_parse {
    struct dn_attr attrs[DN_MAX_ATTRS];
    size_t n;
};

/* Attribute types that make sense in a subject name; anything else OpenSSL knows by name
 * (a digest, an extension) is refused. Unregistered dotted OIDs are allowed. */
static const int name_nids[] = {
    NID_commonName,
    NID_countryName,
    NID_localityName,
    NID_stateOrProvinceName,
    NID_streetAddress,
    NID_organizationName,
    NID_organizationalUnitName,
    NID_title,
    NID_description,
    NID_postalCode,
    NID_serialNumber,
    NID_surname,
    NID_givenName,
    NID_initials,
    NID_generationQualifier,
    NID_dnQualifier,
    NID_pseudonym,
    NID_name,
    NID_pkcs9_emailAddress,
    NID_domainComponent,
    NID_userId,
    NID_businessCategory,
    NID_jurisdictionCountryName,
    NID_jurisdictionStateOrProvinceName,
    NID_jurisdictionLocalityName,
    NID_organizationIdentifier,
    NID_pkcs9_unstructuredName,
};

static bool is_type_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Reads an attribute type at *pp into a->type and moves past it. */
static int read_type(const char **pp, const char *start, struct dn_attr *a, char *why,
                     size_t whylen)
{
    const char *p = *pp;
    size_t n = 0;
    while (is_type_char(p[n])) {
        n++;
    }
    if (n == 0) {
        pki_issue_why(why, whylen,
                      "expected an attribute name such as CN at position %zu of the subject",
                      (size_t)(p - start) + 1);
        return CG_EPARSE;
    }
    if (n >= DN_TYPE_MAX) {
        pki_issue_why(why, whylen, "attribute name at position %zu of the subject is too long",
                      (size_t)(p - start) + 1);
        return CG_EPARSE;
    }
    memcpy(a->type, p, n);
    a->type[n] = 0;
    *pp = p + n;
    return 0;
}

static int add_value_byte(struct dn_attr *a, uint8_t c, char *why, size_t whylen)
{
    if (a->vlen >= DN_VALUE_MAX) {
        pki_issue_why(why, whylen, "the value of %s is longer than %d bytes", a->type,
                      DN_VALUE_MAX);
        return CG_EPARSE;
    }
    a->value[a->vlen++] = c;
    return 0;
}

static int parse_rfc4514(const char *text, struct dn_parse *dn, char *why, size_t whylen)
{
    const char *p = text;
    bool joined = false;
    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (*p == 0) {
            pki_issue_why(why, whylen,
                          dn->n == 0 ? "the subject is empty"
                                     : "the subject ends with a separator");
            return CG_EPARSE;
        }
        if (dn->n == DN_MAX_ATTRS) {
            pki_issue_why(why, whylen, "the subject has more than %d attributes", DN_MAX_ATTRS);
            return CG_EPARSE;
        }
        struct dn_attr *a = &dn->attrs[dn->n];
        memset(a, 0, sizeof(*a));
        a->joined = joined;
        int rc = read_type(&p, text, a, why, whylen);
        if (rc < 0) {
            return rc;
        }
        while (*p == ' ') {
            p++;
        }
        if (*p != '=') {
            pki_issue_why(why, whylen, "expected '=' after '%s' in the subject", a->type);
            return CG_EPARSE;
        }
        p++;
        while (*p == ' ') {
            p++;
        }
        if (*p == '#') {
            pki_issue_why(why, whylen,
                          "hex-encoded values ('#...') are not supported (the value of %s)",
                          a->type);
            return CG_EPARSE;
        }
        size_t keep = 0; /* length up to the last character that is not an unescaped space */
        while (*p != 0 && *p != ',' && *p != '+') {
            uint8_t c;
            if (*p == '\\') {
                if (hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                    c = (uint8_t)(hexval(p[1]) << 4 | hexval(p[2]));
                    p += 3;
                } else if (p[1] != 0 && strchr(",+\"\\<>;=# ", p[1]) != NULL) {
                    c = (uint8_t)p[1];
                    p += 2;
                } else {
                    pki_issue_why(why, whylen,
                                  "bad escape '\\%c' in the value of %s (escape one of "
                                  ",+\"\\<>;=# or give two hex digits)",
                                  p[1] ? p[1] : ' ', a->type);
                    return CG_EPARSE;
                }
                rc = add_value_byte(a, c, why, whylen);
                keep = a->vlen;
            } else if (*p == '"') {
                pki_issue_why(why, whylen, "unescaped '\"' in the value of %s (write it as \\\")",
                              a->type);
                return CG_EPARSE;
            } else {
                c = (uint8_t)*p++;
                rc = add_value_byte(a, c, why, whylen);
                if (c != ' ') {
                    keep = a->vlen;
                }
            }
            if (rc < 0) {
                return rc;
            }
        }
        a->vlen = keep;
        if (a->vlen == 0) {
            pki_issue_why(why, whylen, "the value of %s is empty", a->type);
            return CG_EPARSE;
        }
        dn->n++;
        if (*p == 0) {
            return 0;
        }
        joined = *p == '+';
        p++;
    }
}

static int parse_slash(const char *text, struct dn_parse *dn, char *why, size_t whylen)
{
    const char *p = text;
    bool joined = false;
    while (*p == '/' || *p == '+') {
        p++;
        if (*p == 0) {
            pki_issue_why(why, whylen,
                          dn->n == 0 ? "the subject is empty"
                                     : "the subject ends with a separator");
            return CG_EPARSE;
        }
        if (dn->n == DN_MAX_ATTRS) {
            pki_issue_why(why, whylen, "the subject has more than %d attributes", DN_MAX_ATTRS);
            return CG_EPARSE;
        }
        struct dn_attr *a = &dn->attrs[dn->n];
        memset(a, 0, sizeof(*a));
        a->joined = joined;
        int rc = read_type(&p, text, a, why, whylen);
        if (rc < 0) {
            return rc;
        }
        if (*p != '=') {
            pki_issue_why(why, whylen, "expected '=' after '%s' in the subject", a->type);
            return CG_EPARSE;
        }
        p++;
        while (*p != 0 && *p != '/' && *p != '+') {
            if (*p == '\\') {
                p++;
                if (*p == 0) {
                    pki_issue_why(why, whylen, "the subject ends with a lone '\\'");
                    return CG_EPARSE;
                }
            }
            rc = add_value_byte(a, (uint8_t)*p++, why, whylen);
            if (rc < 0) {
                return rc;
            }
        }
        if (a->vlen == 0) {
            pki_issue_why(why, whylen, "the value of %s is empty", a->type);
            return CG_EPARSE;
        }
        dn->n++;
        joined = *p == '+';
    }
    if (*p != 0) {
        pki_issue_why(why, whylen, "unexpected text at position %zu of the subject",
                      (size_t)(p - text) + 1);
        return CG_EPARSE;
    }
    return 0;
}

/* The object for an attribute type, as written or in upper case ("cn"), or NULL. */
static ASN1_OBJECT *attr_object(const char *type)
{
    static const struct {
        const char *alias;
        const char *name;
    } aliases[] = {{"E", "emailAddress"}, {"EMAIL", "emailAddress"}, {"S", "ST"}};
    ASN1_OBJECT *obj = OBJ_txt2obj(type, 0);
    if (obj == NULL) {
        char up[DN_TYPE_MAX];
        size_t i = 0;
        for (; type[i] != 0 && i + 1 < sizeof(up); i++) {
            up[i] = (char)toupper((unsigned char)type[i]);
        }
        up[i] = 0;
        obj = OBJ_txt2obj(up, 0);
        for (size_t k = 0; obj == NULL && k < sizeof(aliases) / sizeof(aliases[0]); k++) {
            if (strcmp(up, aliases[k].alias) == 0) {
                obj = OBJ_txt2obj(aliases[k].name, 0);
            }
        }
    }
    ERR_clear_error();
    return obj;
}

static bool is_name_attribute(const ASN1_OBJECT *obj)
{
    int nid = OBJ_obj2nid(obj);
    if (nid == NID_undef) {
        return true; /* an unregistered dotted OID */
    }
    for (size_t i = 0; i < sizeof(name_nids) / sizeof(name_nids[0]); i++) {
        if (name_nids[i] == nid) {
            return true;
        }
    }
    return false;
}

int pki_issue_name_parse(const char *text, X509_NAME **out, char *why, size_t whylen)
{
    int rc = CG_EPARSE;
    struct dn_parse *dn = NULL;
    X509_NAME *name = NULL;
    ASN1_OBJECT *obj = NULL;

    if (text == NULL || out == NULL) {
        pki_issue_why(why, whylen, "no subject given");
        return -EINVAL;
    }
    if (strlen(text) > DN_TEXT_MAX) {
        pki_issue_why(why, whylen, "the subject is longer than %d characters", DN_TEXT_MAX);
        return CG_EPARSE;
    }
    dn = calloc(1, sizeof(*dn));
    if (dn == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    rc = text[0] == '/' ? parse_slash(text, dn, why, whylen) : parse_rfc4514(text, dn, why, whylen);
    if (rc < 0) {
        goto out;
    }
    name = X509_NAME_new();
    if (name == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* RDN groups: an attribute that is not joined starts one. RFC 4514 text lists the RDNs
     * from the most specific (last in the encoding), the slash form in encoding order. */
    size_t starts[DN_MAX_ATTRS];
    size_t ngroups = 0;
    for (size_t i = 0; i < dn->n; i++) {
        if (!dn->attrs[i].joined || ngroups == 0) {
            starts[ngroups++] = i;
        }
    }
    bool reverse = text[0] != '/';
    for (size_t g = 0; g < ngroups; g++) {
        size_t gi = reverse ? ngroups - 1 - g : g;
        size_t from = starts[gi];
        size_t to = gi + 1 < ngroups ? starts[gi + 1] : dn->n;
        /* Within a multi-valued RDN too, RFC 4514 text runs backwards (as OpenSSL prints). */
        for (size_t k = from; k < to; k++) {
            size_t i = reverse ? to - 1 - (k - from) : k;
            struct dn_attr *a = &dn->attrs[i];
            obj = attr_object(a->type);
            if (obj == NULL) {
                pki_issue_why(why, whylen,
                              "unknown attribute '%s' in the subject (use CN, O, OU, C, ST, L, "
                              "emailAddress, serialNumber, DC, ... or a dotted OID)",
                              a->type);
                rc = CG_EPARSE;
                goto out;
            }
            if (!is_name_attribute(obj)) {
                pki_issue_why(why, whylen, "'%s' is not a name attribute", a->type);
                rc = CG_EPARSE;
                goto out;
            }
            if (!utf8_valid(a->value, a->vlen, false)) {
                pki_issue_why(why, whylen, "the value of %s is not valid UTF-8", a->type);
                rc = CG_EPARSE;
                goto out;
            }
            if (!X509_NAME_add_entry_by_OBJ(name, obj, MBSTRING_UTF8, a->value, (int)a->vlen, -1,
                                            k == from ? 0 : -1)) {
                if (OBJ_obj2nid(obj) == NID_countryName) {
                    pki_issue_why(why, whylen, "the value of %s must be a two-letter country code",
                                  a->type);
                } else {
                    pki_issue_why_crypto(why, whylen, "the value of %s is not acceptable", a->type);
                }
                rc = CG_EPARSE;
                goto out;
            }
            ASN1_OBJECT_free(obj);
            obj = NULL;
        }
    }
    *out = name;
    name = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM) {
        pki_issue_why(why, whylen, "out of memory");
    }
    ASN1_OBJECT_free(obj);
    X509_NAME_free(name);
    free(dn);
    return rc;
}

int pki_issue_name_escape(const char *value, char *out, size_t len)
{
    size_t o = 0;
    size_t n = value != NULL ? strlen(value) : 0;
    if (out == NULL || len == 0) {
        return CG_ELIMIT;
    }
    for (size_t i = 0; i < n; i++) {
        char c = value[i];
        bool esc = strchr(",+\"\\<>;=", c) != NULL || (i == 0 && (c == '#' || c == ' ')) ||
                   (i + 1 == n && c == ' ');
        if (o + (esc ? 2 : 1) + 1 > len) {
            out[0] = 0;
            return CG_ELIMIT;
        }
        if (esc) {
            out[o++] = '\\';
        }
        out[o++] = c;
    }
    out[o] = 0;
    return 0;
}

void pki_issue_name_text(const X509_NAME *name, char *out, size_t len)
{
    if (len == 0) {
        return;
    }
    out[0] = 0;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        ERR_clear_error();
        return;
    }
    /* RFC 2253/4514 order and escaping, but UTF-8 kept as it is rather than as \XX. */
    unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
    if (name != NULL && X509_NAME_print_ex(bio, name, 0, flags) >= 0) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0) {
            size_t k = (size_t)n < len ? (size_t)n : len - 1;
            memcpy(out, data, k);
            out[k] = 0;
        }
    }
    BIO_free(bio);
    ERR_clear_error();
}
