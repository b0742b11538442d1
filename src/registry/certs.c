/* Trusted certificates and proof of possession. */
#define LOG_MODULE "registry"
#include "registry/registry_int.h"

#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/cert.h"
#include "pki/policy.h"
#include "pki/pop.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reg_cert_cleanup(struct reg_cert *c)
{
    if (c != NULL) {
        free(c->der);
        c->der = NULL;
        c->der_len = 0;
    }
}

void reg_cert_list_free(struct reg_cert *items, int n)
{
    for (int i = 0; i < n; i++) {
        reg_cert_cleanup(&items[i]);
    }
    free(items);
}

static X509 *der_to_x509(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    return d2i_X509(NULL, &p, (long)len);
}

static int load_anchor_row(const struct store_row *row, void *arg)
{
    struct registry *r = arg;
    size_t len = 0;
    const uint8_t *der = store_row_blob(row, 2, &len);
    X509 *cert = der_to_x509(der, len);
    if (cert == NULL) {
        log_error("trusted certificate %s of tenant %s cannot be parsed; it is ignored",
                  store_row_text(row, 1), store_row_text(row, 0));
        return 0;
    }
    const char *status = store_row_text(row, 3);
    reg_anchor_mem_put(r, store_row_text(row, 0), store_row_text(row, 1), cert,
                       status && strcmp(status, "ENABLED") == 0, store_row_int(row, 4) != 0,
                       store_row_int(row, 5) != 0);
    X509_free(cert);
    return 0;
}

int reg_load_anchors(struct registry *r, struct store_conn *c)
{
    int rc = store_query(c,
                         "SELECT tenant_id, fingerprint, der, status, auto_registration, pop_valid"
                         " FROM trusted_certs",
                         NULL, 0, load_anchor_row, r);
    return rc < 0 ? rc : 0;
}

#define CERT_COLUMNS                                                                               \
    "tenant_id, fingerprint, name, status, auto_registration, der, pop_valid, pop_method,"         \
    " pop_code, pop_code_until_ms, pop_completed_ms, created_ms"

static int cert_from_row(const struct store_row *row, struct reg_cert *c)
{
    memset(c, 0, sizeof(*c));
    const char *v;
    str_lcpy(c->tenant, (v = store_row_text(row, 0)) ? v : "", sizeof(c->tenant));
    str_lcpy(c->fingerprint, (v = store_row_text(row, 1)) ? v : "", sizeof(c->fingerprint));
    str_lcpy(c->name, (v = store_row_text(row, 2)) ? v : "", sizeof(c->name));
    c->enabled = (v = store_row_text(row, 3)) != NULL && strcmp(v, "ENABLED") == 0;
    c->auto_registration = store_row_int(row, 4) != 0;
    size_t len = 0;
    const void *der = store_row_blob(row, 5, &len);
    c->der = malloc(len ? len : 1);
    if (c->der == NULL) {
        return -ENOMEM;
    }
    memcpy(c->der, der, len);
    c->der_len = len;
    c->pop_valid = store_row_int(row, 6) != 0;
    str_lcpy(c->pop_method, (v = store_row_text(row, 7)) ? v : "", sizeof(c->pop_method));
    str_lcpy(c->pop_code, (v = store_row_text(row, 8)) ? v : "", sizeof(c->pop_code));
    c->pop_code_until_ms = store_row_int(row, 9);
    c->pop_completed_ms = store_row_int(row, 10);
    c->created_ms = store_row_int(row, 11);
    return 0;
}

static int get_row(const struct store_row *row, void *arg)
{
    int rc = cert_from_row(row, arg);
    return rc < 0 ? rc : 1;
}

static int cert_get_conn(struct store_conn *c, const char *tenant, const char *fp,
                         struct reg_cert *out)
{
    struct store_val p[] = {SV_TEXT(tenant), SV_TEXT(fp)};
    int rc = store_query(c,
                         "SELECT " CERT_COLUMNS " FROM trusted_certs WHERE tenant_id = $1"
                         " AND fingerprint = $2",
                         p, 2, get_row, out);
    return rc == 0 ? -ENOENT : rc < 0 ? rc : 0;
}

struct cert_get_args {
    const char *tenant, *fp;
    struct reg_cert *out;
};

static int cert_get_read(struct store_conn *c, void *arg)
{
    struct cert_get_args *a = arg;
    return cert_get_conn(c, a->tenant, a->fp, a->out);
}

/* Fingerprints in URLs may come in either case; the registry keys on lowercase. */
static void lower_fp(const char *in, char out[REG_FP_MAX])
{
    size_t i = 0;
    for (; in[i] != 0 && i < REG_FP_MAX - 1; i++) {
        out[i] = (char)((in[i] >= 'A' && in[i] <= 'F') ? in[i] + 32 : in[i]);
    }
    out[i] = 0;
}

int registry_cert_get(struct registry *r, const char *tenant, const char *fingerprint,
                      struct reg_cert *out)
{
    char fp[REG_FP_MAX];
    lower_fp(fingerprint, fp);
    /* Read into a zeroed local and set *out only on success: the caller's struct may be
     * uninitialised. */
    struct reg_cert c = {0};
    struct cert_get_args a = {.tenant = tenant, .fp = fp, .out = &c};
    int rc = store_read(r->store, cert_get_read, &a);
    if (rc < 0) {
        reg_cert_cleanup(&c);
        return rc;
    }
    *out = c;
    return 0;
}

struct cert_list_args {
    const char *tenant;
    int64_t offset;
    int limit;
    struct reg_cert *items;
    int n;
    int64_t total;
};

static int list_row(const struct store_row *row, void *arg)
{
    struct cert_list_args *a = arg;
    return cert_from_row(row, &a->items[a->n++]);
}

static int cert_list_read(struct store_conn *c, void *arg)
{
    struct cert_list_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_INT(a->limit), SV_INT(a->offset)};
    int rc = store_query_int(c, "SELECT COUNT(*) FROM trusted_certs WHERE tenant_id = $1", p, 1,
                             &a->total);
    if (rc < 0) {
        return rc;
    }
    rc = store_query(c,
                     "SELECT " CERT_COLUMNS " FROM trusted_certs WHERE tenant_id = $1"
                     " ORDER BY created_ms, fingerprint LIMIT $2 OFFSET $3",
                     p, 3, list_row, a);
    return rc < 0 ? rc : 0;
}

int registry_cert_list(struct registry *r, const char *tenant, int64_t offset, int limit,
                       struct reg_cert **items, int *n, int64_t *total)
{
    struct cert_list_args a = {.tenant = tenant, .offset = offset, .limit = limit};
    a.items = calloc(limit > 0 ? (size_t)limit : 1, sizeof(*a.items));
    if (a.items == NULL) {
        return -ENOMEM;
    }
    int rc = store_read(r->store, cert_list_read, &a);
    if (rc < 0) {
        reg_cert_list_free(a.items, a.n);
        return rc;
    }
    *items = a.items;
    *n = a.n;
    if (total != NULL) {
        *total = a.total;
    }
    return 0;
}

static bool may_manage_certs(const struct principal *actor, const char *tenant)
{
    return actor->via == PRINCIPAL_SYSTEM ||
           (principal_may_see_tenant(actor, tenant) &&
            principal_has(actor, ROLE_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_ADMIN));
}

/* ---- upload ---- */

struct prepared {
    X509 *cert;
    struct reg_cert rec;
};

/* Parse and check one upload into p (p->rec filled, p->cert owned). -EINVAL with why. */
static int prepare(struct registry *r, const char *tenant, const struct reg_cert_upload *up,
                   const char *label, struct prepared *p, char *why)
{
    STACK_OF(X509) *certs = NULL;
    memset(p, 0, sizeof(*p));
    int rc = pki_bundle_parse(up->data, up->len, 0, 0, &certs);
    if (rc == PKI_EPRIVATEKEY) {
        reg_why(why,
                "%sthis is a private key, not a certificate: it was not stored. Upload the "
                "CA's certificate (PEM) and keep its key secret",
                label);
        return -EINVAL;
    }
    if (rc < 0) {
        reg_why(why,
                "%scertInPemFormat is not a certificate (%s): give a PEM or base64 DER "
                "X.509 certificate",
                label, pki_strerror(rc));
        return -EINVAL;
    }
    if (sk_X509_num(certs) != 1) {
        reg_why(why, "%scertInPemFormat holds %d certificates; upload one per entry", label,
                sk_X509_num(certs));
        sk_X509_pop_free(certs, X509_free);
        return -EINVAL;
    }
    p->cert = sk_X509_shift(certs);
    sk_X509_pop_free(certs, X509_free);
    struct pki_verdict v;
    if (pki_anchor_check(p->cert, time_now_ms(), &v) != 0) {
        reg_why(why, "%sthe certificate cannot be a trusted certificate: %s (%s)", label, v.message,
                pki_reason_code(v.reason));
        X509_free(p->cert);
        p->cert = NULL;
        return -EINVAL;
    }
    struct reg_cert *c = &p->rec;
    str_lcpy(c->tenant, tenant, sizeof(c->tenant));
    if (pki_cert_fingerprint(p->cert, c->fingerprint) < 0) {
        X509_free(p->cert);
        p->cert = NULL;
        return CG_ECRYPTO;
    }
    if (up->name != NULL && up->name[0] != 0) {
        if (strlen(up->name) >= sizeof(c->name) ||
            !utf8_valid((const uint8_t *)up->name, strlen(up->name), false)) {
            reg_why(why, "%sname must be UTF-8 text of at most %zu bytes", label,
                    sizeof(c->name) - 1);
            X509_free(p->cert);
            p->cert = NULL;
            return -EINVAL;
        }
        str_lcpy(c->name, up->name, sizeof(c->name));
    } else {
        char *cn = NULL;
        if (pki_cert_subject_cn(p->cert, &cn) == 0) {
            str_lcpy(c->name, cn, sizeof(c->name));
            free(cn);
        } else {
            str_lcpy(c->name, c->fingerprint, sizeof(c->name));
        }
    }
    c->enabled = up->enabled;
    c->auto_registration = up->auto_registration;
    int len = i2d_X509(p->cert, &c->der);
    if (len <= 0) {
        X509_free(p->cert);
        p->cert = NULL;
        return CG_ECRYPTO;
    }
    c->der_len = (size_t)len;
    struct reg_settings s;
    registry_settings(r, tenant, &s);
    if (up->pop_verified) {
        if (!s.pop_self_attested) {
            reg_why(why,
                    "%sproofOfPossessionValid cannot be set on upload unless the tenant "
                    "option trusted-certificates/pop.self-attested.enabled is true",
                    label);
            X509_free(p->cert);
            p->cert = NULL;
            reg_cert_cleanup(c);
            return -EINVAL;
        }
        c->pop_valid = true;
        str_lcpy(c->pop_method, "self-attested", sizeof(c->pop_method));
    }
    c->created_ms = time_now_ms();
    if (pki_pop_code_new(c->pop_code, sizeof(c->pop_code)) < 0) {
        X509_free(p->cert);
        p->cert = NULL;
        reg_cert_cleanup(c);
        return CG_ECRYPTO;
    }
    c->pop_code_until_ms = c->created_ms + (int64_t)r->cfg.pop_code_lifetime_s * 1000;
    if (c->pop_valid) {
        c->pop_completed_ms = c->created_ms;
    }
    return 0;
}

static void prepared_cleanup(struct prepared *p)
{
    X509_free(p->cert);
    reg_cert_cleanup(&p->rec);
}

struct add_args {
    struct registry *r;
    const struct principal *actor;
    struct prepared *items;
    int n;
    char *why;
};

static int insert_cert(struct store_conn *c, const struct reg_cert *rec)
{
    struct store_val p[] = {SV_TEXT(rec->tenant),
                            SV_TEXT(rec->fingerprint),
                            SV_TEXT(rec->name),
                            SV_TEXT(rec->enabled ? "ENABLED" : "DISABLED"),
                            SV_BOOL(rec->auto_registration),
                            SV_BLOB(rec->der, rec->der_len),
                            SV_BOOL(rec->pop_valid),
                            SV_TEXT(rec->pop_method[0] ? rec->pop_method : NULL),
                            SV_TEXT(rec->pop_code),
                            SV_INT(rec->pop_code_until_ms),
                            rec->pop_completed_ms ? SV_INT(rec->pop_completed_ms) : SV_NULL,
                            SV_INT(rec->created_ms)};
    return store_exec(c,
                      "INSERT INTO trusted_certs(tenant_id, fingerprint, name, status,"
                      " auto_registration, der, pop_valid, pop_method, pop_code,"
                      " pop_code_until_ms, pop_completed_ms, created_ms)"
                      " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
                      p, 12);
}

static int add_tx(struct store_conn *c, void *arg)
{
    struct add_args *a = arg;
    for (int i = 0; i < a->n; i++) {
        const struct reg_cert *rec = &a->items[i].rec;
        int rc = insert_cert(c, rec);
        if (rc == CG_ECONFLICT) {
            reg_why(a->why,
                    "%sDuplicate - a certificate with the fingerprint %s already exists "
                    "in tenant %s",
                    a->n > 1 ? "certificates: " : "", rec->fingerprint, rec->tenant);
            return rc;
        }
        if (rc < 0) {
            return rc;
        }
        rc = reg_audit_tx(c, rec->tenant, "TrustedCertificates", "Trusted certificate uploaded",
                          "INFORMATION", reg_actor_name(a->actor), rec->fingerprint,
                          "Trusted certificate '%s' (%s) uploaded, %s, auto-registration %s",
                          rec->name, rec->fingerprint, rec->enabled ? "enabled" : "disabled",
                          rec->auto_registration ? "on" : "off");
        if (rc < 0) {
            return rc;
        }
    }
    return 1;
}

static void add_committed(void *arg, int rc)
{
    struct add_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    for (int i = 0; i < a->n; i++) {
        const struct reg_cert *rec = &a->items[i].rec;
        reg_anchor_mem_put(a->r, rec->tenant, rec->fingerprint, a->items[i].cert, rec->enabled,
                           rec->auto_registration, rec->pop_valid);
    }
    reg_snapshot_rebuild(a->r);
    pthread_rwlock_unlock(&a->r->lock);
}

static int add_prepared(struct registry *r, const struct principal *actor, struct prepared *items,
                        int n, char *why)
{
    struct add_args a = {.r = r, .actor = actor, .items = items, .n = n, .why = why};
    int rc = store_write(r->store, add_tx, add_committed, &a);
    return rc < 0 ? rc : 0;
}

int registry_cert_add(struct registry *r, const struct principal *actor, const char *tenant,
                      const struct reg_cert_upload *up, struct reg_cert *out, char *why)
{
    if (!may_manage_certs(actor, tenant)) {
        reg_why(why, "uploading trusted certificates needs ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    struct prepared p;
    int rc = prepare(r, tenant, up, "", &p, why);
    if (rc < 0) {
        return rc;
    }
    rc = add_prepared(r, actor, &p, 1, why);
    if (rc == 0 && out != NULL) {
        *out = p.rec;
        memset(&p.rec, 0, sizeof(p.rec));
    }
    prepared_cleanup(&p);
    return rc;
}

int registry_cert_add_many(struct registry *r, const struct principal *actor, const char *tenant,
                           const struct reg_cert_upload *ups, int n, struct reg_cert **out,
                           char *why)
{
    if (!may_manage_certs(actor, tenant)) {
        reg_why(why, "uploading trusted certificates needs ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    if (n <= 0 || n > 1000) {
        reg_why(why, "certificates must hold 1 to 1000 entries");
        return -EINVAL;
    }
    struct prepared *items = calloc((size_t)n, sizeof(*items));
    if (items == NULL) {
        return -ENOMEM;
    }
    int rc = 0;
    int prepared = 0;
    for (; prepared < n; prepared++) {
        char label[48];
        snprintf(label, sizeof(label), "certificates[%d]: ", prepared);
        rc = prepare(r, tenant, &ups[prepared], label, &items[prepared], why);
        if (rc < 0) {
            break;
        }
        for (int k = 0; k < prepared; k++) {
            if (strcmp(items[k].rec.fingerprint, items[prepared].rec.fingerprint) == 0) {
                reg_why(why, "certificates[%d] and certificates[%d] are the same certificate", k,
                        prepared);
                rc = CG_ECONFLICT;
                break;
            }
        }
        if (rc < 0) {
            prepared++;
            break;
        }
    }
    if (rc == 0) {
        rc = add_prepared(r, actor, items, n, why);
    }
    if (rc == 0 && out != NULL) {
        struct reg_cert *recs = calloc((size_t)n, sizeof(*recs));
        if (recs == NULL) {
            rc = -ENOMEM;
        } else {
            for (int i = 0; i < n; i++) {
                recs[i] = items[i].rec;
                memset(&items[i].rec, 0, sizeof(items[i].rec));
            }
            *out = recs;
        }
    }
    for (int i = 0; i < prepared && i < n; i++) {
        prepared_cleanup(&items[i]);
    }
    free(items);
    return rc;
}

/* ---- update / delete ---- */

struct update_args {
    struct registry *r;
    const struct principal *actor;
    const char *tenant;
    char fp[REG_FP_MAX];
    const char *name;
    int enabled;
    int autoreg;
    struct reg_cert after;
    bool was_enabled;
    char *why;
};

static int update_tx(struct store_conn *c, void *arg)
{
    struct update_args *a = arg;
    struct reg_cert before;
    int rc = cert_get_conn(c, a->tenant, a->fp, &before);
    if (rc < 0) {
        return rc;
    }
    a->was_enabled = before.enabled;
    reg_cert_cleanup(&before);
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->fp), SV_TEXT(a->name),
                            a->enabled < 0 ? SV_NULL : SV_TEXT(a->enabled ? "ENABLED" : "DISABLED"),
                            a->autoreg < 0 ? SV_NULL : SV_BOOL(a->autoreg)};
    rc = store_exec(c,
                    "UPDATE trusted_certs SET name = COALESCE($3, name),"
                    " status = COALESCE($4, status),"
                    " auto_registration = COALESCE($5, auto_registration)"
                    " WHERE tenant_id = $1 AND fingerprint = $2",
                    p, 5);
    if (rc < 0) {
        return rc;
    }
    rc = cert_get_conn(c, a->tenant, a->fp, &a->after);
    if (rc < 0) {
        return rc;
    }
    rc = reg_audit_tx(c, a->tenant, "TrustedCertificates", "Trusted certificate updated",
                      "INFORMATION", reg_actor_name(a->actor), a->fp,
                      "Trusted certificate '%s' (%s) updated: %s, auto-registration %s",
                      a->after.name, a->fp, a->after.enabled ? "enabled" : "disabled",
                      a->after.auto_registration ? "on" : "off");
    return rc < 0 ? rc : 1;
}

static void emit_anchor_removed(struct registry *r, const struct principal *actor,
                                const char *tenant, const char *fp)
{
    struct reg_event ev = {.kind = REG_EVENT_ANCHOR_REMOVED};
    str_lcpy(ev.tenant, tenant, sizeof(ev.tenant));
    str_lcpy(ev.fingerprint, fp, sizeof(ev.fingerprint));
    str_lcpy(ev.actor, reg_actor_name(actor), sizeof(ev.actor));
    reg_emit(r, &ev);
}

static void update_committed(void *arg, int rc)
{
    struct update_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    reg_anchor_mem_put(a->r, a->tenant, a->fp, NULL, a->after.enabled, a->after.auto_registration,
                       a->after.pop_valid);
    reg_snapshot_rebuild(a->r);
    pthread_rwlock_unlock(&a->r->lock);
    if (a->was_enabled && !a->after.enabled) {
        emit_anchor_removed(a->r, a->actor, a->tenant, a->fp);
    }
}

int registry_cert_update(struct registry *r, const struct principal *actor, const char *tenant,
                         const char *fingerprint, const char *name, int enabled,
                         int auto_registration, struct reg_cert *out, char *why)
{
    if (!may_manage_certs(actor, tenant)) {
        reg_why(why, "changing trusted certificates needs ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    if (name != NULL && (name[0] == 0 || strlen(name) >= REG_NAME_MAX ||
                         !utf8_valid((const uint8_t *)name, strlen(name), false))) {
        reg_why(why, "name must be UTF-8 text of 1 to %d bytes", REG_NAME_MAX - 1);
        return -EINVAL;
    }
    struct update_args a = {.r = r,
                            .actor = actor,
                            .tenant = tenant,
                            .name = name,
                            .enabled = enabled,
                            .autoreg = auto_registration,
                            .why = why};
    lower_fp(fingerprint, a.fp);
    int rc = store_write(r->store, update_tx, update_committed, &a);
    if (rc < 0) {
        reg_cert_cleanup(&a.after);
        return rc;
    }
    if (out != NULL) {
        *out = a.after;
    } else {
        reg_cert_cleanup(&a.after);
    }
    return 0;
}

struct delete_args {
    struct registry *r;
    const struct principal *actor;
    const char *tenant;
    char fp[REG_FP_MAX];
};

static int delete_tx(struct store_conn *c, void *arg)
{
    struct delete_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->fp)};
    int rc =
        store_exec(c, "DELETE FROM trusted_certs WHERE tenant_id = $1 AND fingerprint = $2", p, 2);
    if (rc <= 0) {
        return rc == 0 ? -ENOENT : rc;
    }
    rc = reg_audit_tx(c, a->tenant, "TrustedCertificates", "Trusted certificate deleted",
                      "INFORMATION", reg_actor_name(a->actor), a->fp,
                      "Trusted certificate %s deleted", a->fp);
    return rc < 0 ? rc : 1;
}

static void delete_committed(void *arg, int rc)
{
    struct delete_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    reg_anchor_mem_remove(a->r, a->tenant, a->fp);
    reg_snapshot_rebuild(a->r);
    pthread_rwlock_unlock(&a->r->lock);
    emit_anchor_removed(a->r, a->actor, a->tenant, a->fp);
}

int registry_cert_delete(struct registry *r, const struct principal *actor, const char *tenant,
                         const char *fingerprint, char *why)
{
    if (!may_manage_certs(actor, tenant)) {
        reg_why(why, "deleting trusted certificates needs ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    struct delete_args a = {.r = r, .actor = actor, .tenant = tenant};
    lower_fp(fingerprint, a.fp);
    int rc = store_write(r->store, delete_tx, delete_committed, &a);
    return rc < 0 ? rc : 0;
}

/* ---- proof of possession ---- */

enum pop_kind { POP_NEW_CODE, POP_SIGNATURE, POP_CERTIFICATE, POP_CONFIRM };

struct pop_args {
    struct registry *r;
    const struct principal *actor;
    const char *tenant;
    char fp[REG_FP_MAX];
    enum pop_kind kind;
    const char *signature_b64;
    const void *pem;
    size_t pem_len;
    struct reg_cert after;
    char *why;
};

static int pop_check(struct pop_args *a, const struct reg_cert *cur)
{
    int64_t now = time_now_ms();
    if (a->kind == POP_CONFIRM || a->kind == POP_NEW_CODE) {
        return 0;
    }
    if (cur->pop_code[0] == 0 || now > cur->pop_code_until_ms) {
        char until[TIME_ISO_LEN];
        time_format_iso(cur->pop_code_until_ms, until);
        reg_why(a->why,
                "the verification code expired at %s: request a new one with POST "
                ".../trusted-certificates-pop/%s/verification-code",
                until, cur->fingerprint);
        return CG_EEXPIRED;
    }
    X509 *ca = der_to_x509(cur->der, cur->der_len);
    if (ca == NULL) {
        return CG_ECRYPTO;
    }
    int rc;
    if (a->kind == POP_SIGNATURE) {
        rc = pki_pop_verify_signature_b64(ca, cur->pop_code, a->signature_b64);
        if (rc == CG_EDENIED) {
            reg_why(a->why,
                    "Wrong Proof Of Possession plaintext used for tenant <'%s'>. Certificate "
                    "<'%s'>, usage not granted. The signature does not match the current "
                    "verification code and the certificate's key.",
                    a->tenant, cur->fingerprint);
        } else if (rc < 0) {
            reg_why(a->why,
                    "the signed verification code is unusable: %s; give the base64 of "
                    "'openssl dgst -sha256 -sign ca.key code.txt'",
                    pki_pop_strerror(rc));
            rc = rc == -ENOTSUP || rc == CG_EPARSE || rc == CG_ELIMIT || rc == -EINVAL ? -EINVAL
                                                                                       : rc;
        }
    } else {
        STACK_OF(X509) *certs = NULL;
        rc = pki_bundle_parse(a->pem, a->pem_len, 0, 0, &certs);
        if (rc < 0 || sk_X509_num(certs) != 1) {
            reg_why(a->why, "the verification certificate must be one PEM or DER certificate%s",
                    rc == PKI_EPRIVATEKEY ? " (a private key was given: it was not stored)" : "");
            sk_X509_pop_free(certs, X509_free);
            X509_free(ca);
            return -EINVAL;
        }
        char why[256] = "";
        rc = pki_pop_verify_certificate(ca, sk_X509_value(certs, 0), cur->pop_code, now, why,
                                        sizeof(why));
        sk_X509_pop_free(certs, X509_free);
        if (rc != 0) {
            reg_why(a->why, "proof of possession refused: %s", why);
            rc = rc == CG_EDENIED ? CG_EDENIED : -EINVAL;
        }
    }
    X509_free(ca);
    return rc;
}

static int pop_tx(struct store_conn *c, void *arg)
{
    struct pop_args *a = arg;
    struct reg_cert cur;
    int rc = cert_get_conn(c, a->tenant, a->fp, &cur);
    if (rc < 0) {
        if (rc == -ENOENT) {
            reg_why(a->why, "Cannot find certificate with fingerprint %s.", a->fp);
        }
        return rc;
    }
    rc = pop_check(a, &cur);
    reg_cert_cleanup(&cur);
    if (rc < 0) {
        return rc;
    }
    int64_t now = time_now_ms();
    const char *activity;
    if (a->kind == POP_NEW_CODE) {
        char code[96];
        if (pki_pop_code_new(code, sizeof(code)) < 0) {
            return CG_ECRYPTO;
        }
        struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->fp), SV_TEXT(code),
                                SV_INT(now + (int64_t)a->r->cfg.pop_code_lifetime_s * 1000)};
        rc = store_exec(c,
                        "UPDATE trusted_certs SET pop_code = $3, pop_code_until_ms = $4"
                        " WHERE tenant_id = $1 AND fingerprint = $2",
                        p, 4);
        activity = "Proof of possession code generated";
    } else {
        const char *method = a->kind == POP_SIGNATURE     ? "signature"
                             : a->kind == POP_CERTIFICATE ? "verification-certificate"
                                                          : "confirmed";
        struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->fp), SV_TEXT(method), SV_INT(now)};
        rc = store_exec(c,
                        "UPDATE trusted_certs SET pop_valid = 1, pop_method = $3,"
                        " pop_completed_ms = $4 WHERE tenant_id = $1 AND fingerprint = $2",
                        p, 4);
        activity = "Proof of possession completed";
    }
    if (rc < 0) {
        return rc;
    }
    rc = cert_get_conn(c, a->tenant, a->fp, &a->after);
    if (rc < 0) {
        return rc;
    }
    rc = reg_audit_tx(c, a->tenant, "TrustedCertificates", activity, "INFORMATION",
                      reg_actor_name(a->actor), a->fp, "%s for trusted certificate %s%s%s",
                      activity, a->fp, a->after.pop_method[0] ? " by " : "",
                      a->kind == POP_NEW_CODE ? "" : a->after.pop_method);
    return rc < 0 ? rc : 1;
}

static void pop_committed(void *arg, int rc)
{
    struct pop_args *a = arg;
    if (a->kind == POP_NEW_CODE) {
        return;
    }
    pthread_rwlock_wrlock(&a->r->lock);
    reg_anchor_mem_put(a->r, a->tenant, a->fp, NULL, a->after.enabled, a->after.auto_registration,
                       true);
    reg_snapshot_rebuild(a->r);
    pthread_rwlock_unlock(&a->r->lock);
}

static int pop_run(struct pop_args *a, struct reg_cert *out)
{
    int rc = store_write(a->r->store, pop_tx, pop_committed, a);
    if (rc < 0) {
        reg_cert_cleanup(&a->after);
        if (rc == CG_EDENIED || rc == -EINVAL || rc == CG_EEXPIRED) {
            registry_audit(a->r, true, a->tenant, "TrustedCertificates",
                           "Proof of possession failed", "WARNING", reg_actor_name(a->actor), a->fp,
                           "Proof of possession for %s refused: %s", a->fp, a->why ? a->why : "");
        }
        return rc;
    }
    if (out != NULL) {
        *out = a->after;
    } else {
        reg_cert_cleanup(&a->after);
    }
    return 0;
}

int registry_cert_pop_code(struct registry *r, const struct principal *actor, const char *tenant,
                           const char *fingerprint, struct reg_cert *out)
{
    if (!may_manage_certs(actor, tenant)) {
        return CG_EDENIED;
    }
    struct pop_args a = {.r = r, .actor = actor, .tenant = tenant, .kind = POP_NEW_CODE};
    lower_fp(fingerprint, a.fp);
    return pop_run(&a, out);
}

int registry_cert_pop_signature(struct registry *r, const struct principal *actor,
                                const char *tenant, const char *fingerprint,
                                const char *signature_b64, struct reg_cert *out, char *why)
{
    if (!may_manage_certs(actor, tenant)) {
        reg_why(why, "proof of possession needs ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    if (signature_b64 == NULL || signature_b64[0] == 0) {
        reg_why(why, "proofOfPossessionSignedVerificationCode is required");
        return -EINVAL;
    }
    struct pop_args a = {.r = r,
                         .actor = actor,
                         .tenant = tenant,
                         .kind = POP_SIGNATURE,
                         .signature_b64 = signature_b64,
                         .why = why};
    lower_fp(fingerprint, a.fp);
    return pop_run(&a, out);
}

int registry_cert_pop_certificate(struct registry *r, const struct principal *actor,
                                  const char *tenant, const char *fingerprint, const void *pem,
                                  size_t len, struct reg_cert *out, char *why)
{
    if (!may_manage_certs(actor, tenant)) {
        reg_why(why, "proof of possession needs ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    struct pop_args a = {.r = r,
                         .actor = actor,
                         .tenant = tenant,
                         .kind = POP_CERTIFICATE,
                         .pem = pem,
                         .pem_len = len,
                         .why = why};
    lower_fp(fingerprint, a.fp);
    return pop_run(&a, out);
}

int registry_cert_pop_confirm(struct registry *r, const struct principal *actor, const char *tenant,
                              const char *fingerprint, struct reg_cert *out, char *why)
{
    if (actor->via != PRINCIPAL_SYSTEM &&
        !(principal_in_management(actor) &&
          principal_has(actor, ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_ADMIN))) {
        reg_why(why, "only the management tenant can confirm a proof of possession");
        return CG_EDENIED;
    }
    struct pop_args a = {.r = r, .actor = actor, .tenant = tenant, .kind = POP_CONFIRM, .why = why};
    lower_fp(fingerprint, a.fp);
    return pop_run(&a, out);
}
