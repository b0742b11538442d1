/* Revocation: the tenant's revoked serials (Cumulocity's offline CRL). */
#define LOG_MODULE "registry"
#include "registry/registry_int.h"

#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/cert.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

static int load_row(const struct store_row *row, void *arg)
{
    struct registry *r = arg;
    struct tenant_mem *t = reg_tenant_mem(r, store_row_text(row, 0));
    const char *serial = store_row_text(row, 1);
    if (t != NULL && serial != NULL && hmap_put_str(t->revoked, serial, (void *)1, NULL) < 0) {
        return -ENOMEM;
    }
    return 0;
}

int reg_load_revocations(struct registry *r, struct store_conn *c)
{
    int rc =
        store_query(c, "SELECT tenant_id, serial_hex FROM revoked_serials", NULL, 0, load_row, r);
    return rc < 0 ? rc : 0;
}

struct crl_args {
    struct registry *r;
    const struct principal *actor;
    const char *tenant;
    struct reg_revoked *entries;
    int n;
    int added;
    bool *is_new;
};

static int crl_tx(struct store_conn *c, void *arg)
{
    struct crl_args *a = arg;
    int64_t now = time_now_ms();
    a->added = 0;
    for (int i = 0; i < a->n; i++) {
        const struct reg_revoked *e = &a->entries[i];
        struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(e->serial_hex), SV_INT(e->revoked_ms),
                                SV_TEXT(e->source), SV_INT(now)};
        int rc = store_exec(c,
                            "INSERT INTO revoked_serials(tenant_id, serial_hex, revoked_ms, source,"
                            " created_ms) VALUES ($1,$2,$3,$4,$5)"
                            " ON CONFLICT (tenant_id, serial_hex) DO NOTHING",
                            p, 5);
        if (rc < 0) {
            return rc;
        }
        a->is_new[i] = rc > 0;
        a->added += rc;
    }
    int rc = reg_audit_tx(c, a->tenant, "TrustedCertificates", "Certificates revoked", "WARNING",
                          reg_actor_name(a->actor), "crl",
                          "%d serial%s revoked (%d given, source %s)%s%s", a->added,
                          a->added == 1 ? "" : "s", a->n, a->n ? a->entries[0].source : "-",
                          a->n == 1 ? ": " : "", a->n == 1 ? a->entries[0].serial_hex : "");
    return rc < 0 ? rc : 1;
}

static void crl_committed(void *arg, int rc)
{
    struct crl_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    struct tenant_mem *t = reg_tenant_mem(a->r, a->tenant);
    for (int i = 0; t != NULL && i < a->n; i++) {
        if (hmap_put_str(t->revoked, a->entries[i].serial_hex, (void *)1, NULL) < 0) {
            log_error("out of memory indexing a revoked serial; restart certgate to apply it");
        }
    }
    pthread_rwlock_unlock(&a->r->lock);
    for (int i = 0; i < a->n; i++) {
        if (!a->is_new[i]) {
            continue;
        }
        struct reg_event ev = {.kind = REG_EVENT_SERIAL_REVOKED};
        str_lcpy(ev.tenant, a->tenant, sizeof(ev.tenant));
        str_lcpy(ev.serial_hex, a->entries[i].serial_hex, sizeof(ev.serial_hex));
        str_lcpy(ev.actor, reg_actor_name(a->actor), sizeof(ev.actor));
        reg_emit(a->r, &ev);
    }
}

static bool may_revoke(const struct principal *actor, const char *tenant)
{
    return actor->via == PRINCIPAL_SYSTEM ||
           (principal_may_see_tenant(actor, tenant) &&
            principal_has(actor, ROLE_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_ADMIN));
}

int registry_crl_add(struct registry *r, const struct principal *actor, const char *tenant,
                     const struct reg_revoked *entries, int n, char *why)
{
    if (!may_revoke(actor, tenant)) {
        reg_why(why, "revoking certificates needs ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    if (n < 0 || n > 100000) {
        reg_why(why, "at most 100000 serials at once");
        return -EINVAL;
    }
    struct crl_args a = {.r = r, .actor = actor, .tenant = tenant, .n = n};
    a.entries = calloc(n > 0 ? (size_t)n : 1, sizeof(*a.entries));
    a.is_new = calloc(n > 0 ? (size_t)n : 1, sizeof(*a.is_new));
    if (a.entries == NULL || a.is_new == NULL) {
        free(a.entries);
        free(a.is_new);
        return -ENOMEM;
    }
    int64_t now = time_now_ms();
    for (int i = 0; i < n; i++) {
        a.entries[i] = entries[i];
        if (pki_serial_normalize(entries[i].serial_hex, a.entries[i].serial_hex,
                                 sizeof(a.entries[i].serial_hex)) < 0) {
            reg_why(why, "entry %d: serialNumberInHex '%.64s' is not a hexadecimal serial number",
                    i + 1, entries[i].serial_hex);
            free(a.entries);
            free(a.is_new);
            return -EINVAL;
        }
        if (a.entries[i].revoked_ms <= 0 || a.entries[i].revoked_ms > now) {
            a.entries[i].revoked_ms = now; /* missing or future dates mean now */
        }
        if (a.entries[i].source[0] == 0) {
            str_lcpy(a.entries[i].source, "api", sizeof(a.entries[i].source));
        }
    }
    int rc = store_write(r->store, crl_tx, crl_committed, &a);
    free(a.entries);
    free(a.is_new);
    return rc < 0 ? rc : 0;
}

int registry_crl_add_x509(struct registry *r, const struct principal *actor, const char *tenant,
                          const void *data, size_t len, int *added, char *why)
{
    if (!may_revoke(actor, tenant)) {
        reg_why(why, "revoking certificates needs ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    X509_CRL *crl = NULL;
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (bio == NULL) {
        return -ENOMEM;
    }
    crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    if (crl == NULL) {
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
    }
    BIO_free(bio);
    if (crl == NULL) {
        reg_why(why, "the file is not an X.509 CRL (PEM or DER)");
        return -EINVAL;
    }
    /* Which of the tenant's certificates issued and signed it? */
    X509 *signer = NULL;
    struct reg_cert *certs = NULL;
    int ncerts = 0;
    int64_t total = 0;
    int rc = registry_cert_list(r, tenant, 0, 1000, &certs, &ncerts, &total);
    if (rc < 0) {
        X509_CRL_free(crl);
        return rc;
    }
    for (int i = 0; i < ncerts && signer == NULL; i++) {
        const unsigned char *p = certs[i].der;
        X509 *ca = d2i_X509(NULL, &p, (long)certs[i].der_len);
        if (ca == NULL) {
            continue;
        }
        EVP_PKEY *pub = X509_get0_pubkey(ca);
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
            pub != NULL && X509_CRL_verify(crl, pub) == 1) {
            signer = ca;
        } else {
            X509_free(ca);
        }
    }
    reg_cert_list_free(certs, ncerts);
    if (signer == NULL) {
        X509_CRL_free(crl);
        reg_why(why, "the CRL is not issued and signed by any trusted certificate of tenant %s",
                tenant);
        return -EINVAL;
    }
    X509_free(signer);
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    int n = sk_X509_REVOKED_num(revs);
    struct reg_revoked *entries = calloc(n > 0 ? (size_t)n : 1, sizeof(*entries));
    if (entries == NULL) {
        X509_CRL_free(crl);
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        X509_REVOKED *rv = sk_X509_REVOKED_value(revs, i);
        char *hex = NULL;
        if (pki_serial_format(X509_REVOKED_get0_serialNumber(rv), NULL, &hex) < 0) {
            free(entries);
            X509_CRL_free(crl);
            return -ENOMEM;
        }
        str_lcpy(entries[i].serial_hex, hex, sizeof(entries[i].serial_hex));
        free(hex);
        int64_t ms = 0;
        pki_asn1_time_ms(X509_REVOKED_get0_revocationDate(rv), &ms);
        entries[i].revoked_ms = ms;
        str_lcpy(entries[i].source, "crl", sizeof(entries[i].source));
    }
    X509_CRL_free(crl);
    rc = registry_crl_add(r, actor, tenant, entries, n, why);
    free(entries);
    if (rc == 0 && added != NULL) {
        *added = n;
    }
    return rc;
}

struct crl_list_args {
    const char *tenant;
    struct reg_revoked *items;
    int n, cap;
};

static int list_row(const struct store_row *row, void *arg)
{
    struct crl_list_args *a = arg;
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 64;
        struct reg_revoked *p = realloc(a->items, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            return -ENOMEM;
        }
        a->items = p;
        a->cap = cap;
    }
    struct reg_revoked *e = &a->items[a->n++];
    memset(e, 0, sizeof(*e));
    const char *v;
    str_lcpy(e->serial_hex, (v = store_row_text(row, 0)) ? v : "", sizeof(e->serial_hex));
    e->revoked_ms = store_row_int(row, 1);
    str_lcpy(e->source, (v = store_row_text(row, 2)) ? v : "", sizeof(e->source));
    return 0;
}

static int crl_list_read(struct store_conn *c, void *arg)
{
    struct crl_list_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant)};
    int rc = store_query(c,
                         "SELECT serial_hex, revoked_ms, source FROM revoked_serials"
                         " WHERE tenant_id = $1 ORDER BY revoked_ms, serial_hex",
                         p, 1, list_row, a);
    return rc < 0 ? rc : 0;
}

int registry_crl_list(struct registry *r, const char *tenant, struct reg_revoked **items, int *n)
{
    struct crl_list_args a = {.tenant = tenant};
    int rc = store_read(r->store, crl_list_read, &a);
    if (rc < 0) {
        free(a.items);
        return rc;
    }
    *items = a.items;
    *n = a.n;
    return 0;
}

int registry_crl_der(struct registry *r, const char *tenant, uint8_t **der, size_t *len)
{
    struct reg_revoked *items = NULL;
    int n = 0;
    int rc = registry_crl_list(r, tenant, &items, &n);
    if (rc < 0) {
        return rc;
    }
    rc = CG_ECRYPTO;
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
    ASN1_TIME *next = ASN1_TIME_set(NULL, time(NULL) + 86400);
    if (crl == NULL || now == NULL || next == NULL || r->cfg.server_ca_cert == NULL ||
        !X509_CRL_set_version(crl, 1) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(r->cfg.server_ca_cert)) ||
        !X509_CRL_set1_lastUpdate(crl, now) || !X509_CRL_set1_nextUpdate(crl, next)) {
        goto out;
    }
    for (int i = 0; i < n; i++) {
        X509_REVOKED *rv = X509_REVOKED_new();
        BIGNUM *bn = NULL;
        ASN1_INTEGER *serial = NULL;
        ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)(items[i].revoked_ms / 1000));
        const char *hex = items[i].serial_hex;
        bool neg = hex[0] == '-';
        if (rv == NULL || when == NULL || !BN_hex2bn(&bn, neg ? hex + 1 : hex) ||
            (BN_set_negative(bn, neg), (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) ||
            !X509_REVOKED_set_serialNumber(rv, serial) ||
            !X509_REVOKED_set_revocationDate(rv, when) || !X509_CRL_add0_revoked(crl, rv)) {
            X509_REVOKED_free(rv);
            BN_free(bn);
            ASN1_INTEGER_free(serial);
            ASN1_TIME_free(when);
            goto out;
        }
        BN_free(bn);
        ASN1_INTEGER_free(serial);
        ASN1_TIME_free(when);
    }
    X509_CRL_sort(crl);
    if (!X509_CRL_sign(crl, r->cfg.server_ca_key, EVP_sha256())) {
        goto out;
    }
    unsigned char *out_der = NULL;
    int l = i2d_X509_CRL(crl, &out_der);
    if (l <= 0) {
        goto out;
    }
    *der = out_der;
    *len = (size_t)l;
    rc = 0;
out:
    X509_CRL_free(crl);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    free(items);
    return rc;
}
