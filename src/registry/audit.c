/* Audit records: written inside the transactions they describe, or queued for events that
 * have no transaction (refused connections), with a per-tenant flood limit. */
#define LOG_MODULE "audit"
#include "registry/registry_int.h"

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *reg_actor_name(const struct principal *p)
{
    if (p == NULL || p->user[0] == 0) {
        return "certgate";
    }
    return p->user;
}

static int insert_record(struct store_conn *c, const struct reg_audit *a)
{
    struct store_val p[] = {SV_TEXT(a->tenant),   SV_INT(a->time_ms),   SV_TEXT(a->type),
                            SV_TEXT(a->activity), SV_TEXT(a->text),     SV_TEXT(a->user),
                            SV_TEXT(a->source),   SV_TEXT(a->severity), SV_TEXT(a->application)};
    return store_exec(c,
                      "INSERT INTO audit(tenant_id, time_ms, type, activity, text, user_name,"
                      " source, severity, application) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                      p, 9);
}

static void fill(struct reg_audit *a, const char *tenant, const char *type, const char *activity,
                 const char *severity, const char *user, const char *source, const char *fmt,
                 va_list ap)
{
    memset(a, 0, sizeof(*a));
    str_lcpy(a->tenant, tenant, sizeof(a->tenant));
    a->time_ms = time_now_ms();
    str_lcpy(a->type, type, sizeof(a->type));
    str_lcpy(a->activity, activity, sizeof(a->activity));
    str_lcpy(a->severity, severity ? severity : "INFORMATION", sizeof(a->severity));
    str_lcpy(a->user, user ? user : "", sizeof(a->user));
    str_lcpy(a->source, source ? source : "", sizeof(a->source));
    str_lcpy(a->application, "certgate", sizeof(a->application));
    vsnprintf(a->text, sizeof(a->text), fmt, ap);
}

int reg_audit_tx(struct store_conn *c, const char *tenant, const char *type, const char *activity,
                 const char *severity, const char *user, const char *source, const char *fmt, ...)
{
    struct reg_audit *a = malloc(sizeof(*a));
    if (a == NULL) {
        return -ENOMEM;
    }
    va_list ap;
    va_start(ap, fmt);
    fill(a, tenant, type, activity, severity, user, source, fmt, ap);
    va_end(ap);
    int rc = insert_record(c, a);
    free(a);
    return rc < 0 ? rc : 0;
}

static int audit_write(struct store_conn *c, void *arg)
{
    return insert_record(c, arg);
}

static void audit_done(void *arg, int rc)
{
    if (rc < 0) {
        struct reg_audit *a = arg;
        log_error("could not write the audit record '%s' of tenant %s", a->activity, a->tenant);
    }
    free(arg);
}

void registry_audit(struct registry *r, bool limited, const char *tenant, const char *type,
                    const char *activity, const char *severity, const char *user,
                    const char *source, const char *fmt, ...)
{
    if (limited) {
        char key[REG_TENANT_ID_MAX + 80];
        reg_key2(key, sizeof(key), tenant, activity);
        bool allowed = false;
        pthread_mutex_lock(&r->audit_lock);
        struct ratelimit *rl = hmap_get_str(r->audit_limits, key);
        if (rl == NULL && hmap_count(r->audit_limits) < 100000) {
            rl = malloc(sizeof(*rl));
            if (rl != NULL) {
                ratelimit_init(rl, r->cfg.audit_rate_per_tenant,
                               r->cfg.audit_rate_per_tenant * 2.0);
                if (hmap_put_str(r->audit_limits, key, rl, NULL) < 0) {
                    free(rl);
                    rl = NULL;
                }
            }
        }
        allowed = rl != NULL && ratelimit_take(rl, time_mono_ms());
        pthread_mutex_unlock(&r->audit_lock);
        if (!allowed) {
            unsigned long dropped = atomic_fetch_add(&r->audit_dropped, 1) + 1;
            if (dropped % 1000 == 1) {
                log_warn("audit flood: %lu records dropped so far (tenant %s, '%s')", dropped,
                         tenant, activity);
            }
            return;
        }
    }
    struct reg_audit *a = malloc(sizeof(*a));
    if (a == NULL) {
        log_error("out of memory: audit record '%s' of tenant %s lost", activity, tenant);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fill(a, tenant, type, activity, severity, user, source, fmt, ap);
    va_end(ap);
    if (store_write_async(r->store, audit_write, NULL, audit_done, a) < 0) {
        log_error("audit record '%s' of tenant %s lost", activity, tenant);
        free(a);
    }
}

struct audit_list_args {
    const char *tenant;
    const struct reg_audit_filter *f;
    int64_t offset;
    int limit;
    struct reg_audit *items;
    int n;
    int64_t total;
};

static int audit_row(const struct store_row *row, void *arg)
{
    struct audit_list_args *a = arg;
    struct reg_audit *it = &a->items[a->n++];
    memset(it, 0, sizeof(*it));
    it->id = store_row_int(row, 0);
    str_lcpy(it->tenant, a->tenant, sizeof(it->tenant));
    it->time_ms = store_row_int(row, 1);
    const char *v;
    str_lcpy(it->type, (v = store_row_text(row, 2)) ? v : "", sizeof(it->type));
    str_lcpy(it->activity, (v = store_row_text(row, 3)) ? v : "", sizeof(it->activity));
    str_lcpy(it->text, (v = store_row_text(row, 4)) ? v : "", sizeof(it->text));
    str_lcpy(it->user, (v = store_row_text(row, 5)) ? v : "", sizeof(it->user));
    str_lcpy(it->source, (v = store_row_text(row, 6)) ? v : "", sizeof(it->source));
    str_lcpy(it->severity, (v = store_row_text(row, 7)) ? v : "", sizeof(it->severity));
    str_lcpy(it->application, (v = store_row_text(row, 8)) ? v : "", sizeof(it->application));
    return 0;
}

/* Filters are written as "($n IS NULL OR column = $n)" so one statement serves all. */
#define AUDIT_WHERE                                                                                \
    " WHERE tenant_id = $1 AND ($2 IS NULL OR type = $2) AND ($3 IS NULL OR user_name = $3)"       \
    " AND ($4 IS NULL OR source = $4) AND ($5 IS NULL OR time_ms >= $5)"                           \
    " AND ($6 IS NULL OR time_ms <= $6)"

static int audit_list_read(struct store_conn *c, void *arg)
{
    struct audit_list_args *a = arg;
    const struct reg_audit_filter *f = a->f;
    struct store_val p[] = {
        SV_TEXT(a->tenant),
        SV_TEXT(f->type),
        SV_TEXT(f->user),
        SV_TEXT(f->source),
        f->date_from_ms ? SV_INT(f->date_from_ms) : SV_NULL,
        f->date_to_ms ? SV_INT(f->date_to_ms) : SV_NULL,
        SV_INT(a->limit),
        SV_INT(a->offset),
    };
    int rc = store_query_int(c, "SELECT COUNT(*) FROM audit" AUDIT_WHERE, p, 6, &a->total);
    if (rc < 0) {
        return rc;
    }
    const char *sql = f->oldest_first ? "SELECT id, time_ms, type, activity, text, user_name,"
                                        " source, severity, application FROM audit" AUDIT_WHERE
                                        " ORDER BY time_ms ASC, id ASC LIMIT $7 OFFSET $8"
                                      : "SELECT id, time_ms, type, activity, text, user_name,"
                                        " source, severity, application FROM audit" AUDIT_WHERE
                                        " ORDER BY time_ms DESC, id DESC LIMIT $7 OFFSET $8";
    rc = store_query(c, sql, p, 8, audit_row, a);
    return rc < 0 ? rc : 0;
}

int registry_audit_list(struct registry *r, const char *tenant, const struct reg_audit_filter *f,
                        int64_t offset, int limit, struct reg_audit **items, int *n, int64_t *total)
{
    struct reg_audit_filter none = {0};
    struct audit_list_args a = {
        .tenant = tenant, .f = f ? f : &none, .offset = offset, .limit = limit};
    a.items = calloc(limit > 0 ? (size_t)limit : 1, sizeof(*a.items));
    if (a.items == NULL) {
        return -ENOMEM;
    }
    int rc = store_read(r->store, audit_list_read, &a);
    if (rc < 0) {
        free(a.items);
        return rc;
    }
    *items = a.items;
    *n = a.n;
    if (total != NULL) {
        *total = a.total;
    }
    return 0;
}

struct audit_get_args {
    const char *tenant;
    int64_t id;
    struct reg_audit_filter none;
    struct audit_list_args list;
};

static int audit_get_read(struct store_conn *c, void *arg)
{
    struct audit_get_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_INT(a->id)};
    int rc = store_query(c,
                         "SELECT id, time_ms, type, activity, text, user_name, source, severity,"
                         " application FROM audit WHERE tenant_id = $1 AND id = $2",
                         p, 2, audit_row, &a->list);
    return rc < 0 ? rc : rc == 0 ? -ENOENT : 0;
}

int registry_audit_get(struct registry *r, const char *tenant, int64_t id, struct reg_audit *out)
{
    struct audit_get_args a = {.tenant = tenant, .id = id};
    a.list.tenant = tenant;
    a.list.f = &a.none;
    a.list.limit = 1;
    a.list.items = out;
    return store_read(r->store, audit_get_read, &a);
}
