/* Tenant options: per-tenant settings stored as (category, key, value) strings. */
#define LOG_MODULE "registry"
#include "registry/registry_int.h"

#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

static int validate_part(const char *what, const char *s, char *why)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 128) {
        reg_why(why, "option %s must be 1 to 127 characters", what);
        return -EINVAL;
    }
    if (!utf8_valid((const uint8_t *)s, n, false)) {
        reg_why(why, "option %s must be UTF-8", what);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || strchr("$&+,/:;=?@\"<>#%{}|\\^~[]`", c) != NULL) {
            reg_why(why, "option %s '%.64s' contains '%c', which is not allowed", what, s,
                    c > ' ' ? c : '?');
            return -EINVAL;
        }
    }
    return 0;
}

int registry_option_validate(const char *category, const char *key, const char *value, char *why)
{
    if (category == NULL || key == NULL) {
        reg_why(why, "option category and key are required");
        return -EINVAL;
    }
    if (validate_part("category", category, why) < 0 || validate_part("key", key, why) < 0) {
        return -EINVAL;
    }
    if (value == NULL || strlen(value) >= sizeof(((struct reg_option *)0)->value)) {
        reg_why(why, "option value is required and must be shorter than 4096 bytes");
        return -EINVAL;
    }
    if (!utf8_valid((const uint8_t *)value, strlen(value), false)) {
        reg_why(why, "option value must be UTF-8 text");
        return -EINVAL;
    }
    return reg_validate_option(category, key, value, why);
}

static bool may_manage_options(const struct principal *actor, const char *tenant)
{
    return actor->via == PRINCIPAL_SYSTEM ||
           (principal_may_see_tenant(actor, tenant) &&
            principal_has(actor, ROLE_OPTION_MANAGEMENT_ADMIN | ROLE_TENANT_ADMIN |
                                     ROLE_TENANT_MANAGEMENT_ADMIN));
}

struct option_args {
    struct registry *r;
    const struct principal *actor;
    const char *tenant, *category, *key, *value;
    char *why;
};

static int option_set_tx(struct store_conn *c, void *arg)
{
    struct option_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->category), SV_TEXT(a->key),
                            SV_TEXT(a->value)};
    int64_t editable = 1;
    int rc = store_query_int(c,
                             "SELECT editable FROM options WHERE tenant_id = $1 AND category = $2"
                             " AND key = $3",
                             p, 3, &editable);
    if (rc < 0 && rc != -ENOENT) {
        return rc;
    }
    bool existed = rc == 0;
    if (!editable && !principal_in_management(a->actor) && a->actor->via != PRINCIPAL_SYSTEM) {
        reg_why(a->why, "option %s/%s was made read-only by the management tenant", a->category,
                a->key);
        return CG_EDENIED;
    }
    rc = store_exec(c,
                    "INSERT INTO options(tenant_id, category, key, value) VALUES ($1,$2,$3,$4)"
                    " ON CONFLICT (tenant_id, category, key) DO UPDATE SET value = excluded.value",
                    p, 4);
    if (rc < 0) {
        return rc;
    }
    rc = reg_audit_tx(c, a->tenant, "Option", existed ? "Option updated" : "Option created",
                      "INFORMATION", reg_actor_name(a->actor), a->category,
                      "Option %s/%s set to '%.200s'", a->category, a->key,
                      str_has_prefix(a->key, "credentials.") ? "<<Encrypted>>" : a->value);
    return rc < 0 ? rc : 1;
}

static void option_committed(void *arg, int rc)
{
    struct option_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    struct tenant_mem *t = reg_tenant_mem(a->r, a->tenant);
    if (t != NULL) {
        reg_settings_apply(&t->settings, a->category, a->key, a->value);
    }
    pthread_rwlock_unlock(&a->r->lock);
}

int registry_option_set(struct registry *r, const struct principal *actor, const char *tenant,
                        const char *category, const char *key, const char *value, char *why)
{
    if (!may_manage_options(actor, tenant)) {
        reg_why(why, "changing options needs ROLE_OPTION_MANAGEMENT_ADMIN or ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    int rc = registry_option_validate(category, key, value, why);
    if (rc < 0) {
        return rc;
    }
    struct option_args a = {.r = r,
                            .actor = actor,
                            .tenant = tenant,
                            .category = category,
                            .key = key,
                            .value = value,
                            .why = why};
    rc = store_write(r->store, option_set_tx, option_committed, &a);
    return rc < 0 ? rc : 0;
}

static void option_from_row(const struct store_row *row, struct reg_option *o)
{
    memset(o, 0, sizeof(*o));
    const char *v;
    str_lcpy(o->category, (v = store_row_text(row, 0)) ? v : "", sizeof(o->category));
    str_lcpy(o->key, (v = store_row_text(row, 1)) ? v : "", sizeof(o->key));
    v = store_row_text(row, 2);
    str_lcpy(o->value,
             v == NULL                                ? ""
             : str_has_prefix(o->key, "credentials.") ? "<<Encrypted>>"
                                                      : v,
             sizeof(o->value));
    o->editable = store_row_int(row, 3) != 0;
}

struct option_get_args {
    const char *tenant, *category, *key;
    struct reg_option *out;
};

static int get_row(const struct store_row *row, void *arg)
{
    option_from_row(row, arg);
    return 1;
}

static int option_get_read(struct store_conn *c, void *arg)
{
    struct option_get_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->category), SV_TEXT(a->key)};
    int rc = store_query(c,
                         "SELECT category, key, value, editable FROM options"
                         " WHERE tenant_id = $1 AND category = $2 AND key = $3",
                         p, 3, get_row, a->out);
    return rc == 0 ? -ENOENT : rc < 0 ? rc : 0;
}

int registry_option_get(struct registry *r, const char *tenant, const char *category,
                        const char *key, struct reg_option *out)
{
    struct option_get_args a = {.tenant = tenant, .category = category, .key = key, .out = out};
    return store_read(r->store, option_get_read, &a);
}

struct option_list_args {
    const char *tenant, *category;
    int64_t offset;
    int limit;
    struct reg_option *items;
    int n;
    int64_t total;
};

static int list_row(const struct store_row *row, void *arg)
{
    struct option_list_args *a = arg;
    option_from_row(row, &a->items[a->n++]);
    return 0;
}

static int option_list_read(struct store_conn *c, void *arg)
{
    struct option_list_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->category), SV_INT(a->limit),
                            SV_INT(a->offset)};
    int rc = store_query_int(c,
                             "SELECT COUNT(*) FROM options WHERE tenant_id = $1"
                             " AND ($2 IS NULL OR category = $2)",
                             p, 2, &a->total);
    if (rc < 0) {
        return rc;
    }
    rc = store_query(c,
                     "SELECT category, key, value, editable FROM options WHERE tenant_id = $1"
                     " AND ($2 IS NULL OR category = $2) ORDER BY category, key LIMIT $3 OFFSET $4",
                     p, 4, list_row, a);
    return rc < 0 ? rc : 0;
}

int registry_option_list(struct registry *r, const char *tenant, const char *category,
                         int64_t offset, int limit, struct reg_option **items, int *n,
                         int64_t *total)
{
    struct option_list_args a = {
        .tenant = tenant, .category = category, .offset = offset, .limit = limit};
    a.items = calloc(limit > 0 ? (size_t)limit : 1, sizeof(*a.items));
    if (a.items == NULL) {
        return -ENOMEM;
    }
    int rc = store_read(r->store, option_list_read, &a);
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

static int option_delete_tx(struct store_conn *c, void *arg)
{
    struct option_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->category), SV_TEXT(a->key)};
    int64_t editable = 1;
    int rc = store_query_int(c,
                             "SELECT editable FROM options WHERE tenant_id = $1 AND category = $2"
                             " AND key = $3",
                             p, 3, &editable);
    if (rc < 0) {
        return rc; /* -ENOENT included */
    }
    if (!editable && !principal_in_management(a->actor) && a->actor->via != PRINCIPAL_SYSTEM) {
        reg_why(a->why, "option %s/%s was made read-only by the management tenant", a->category,
                a->key);
        return CG_EDENIED;
    }
    rc = store_exec(c, "DELETE FROM options WHERE tenant_id = $1 AND category = $2 AND key = $3", p,
                    3);
    if (rc < 0) {
        return rc;
    }
    rc = reg_audit_tx(c, a->tenant, "Option", "Option deleted", "INFORMATION",
                      reg_actor_name(a->actor), a->category, "Option %s/%s deleted", a->category,
                      a->key);
    return rc < 0 ? rc : 1;
}

static void option_deleted(void *arg, int rc)
{
    struct option_args *a = arg;
    /* Fall back to the default by re-applying it from a fresh defaults struct. */
    pthread_rwlock_wrlock(&a->r->lock);
    struct tenant_mem *t = reg_tenant_mem(a->r, a->tenant);
    if (t != NULL) {
        struct reg_settings d;
        reg_settings_defaults(a->r, &d);
        struct reg_settings *s = &t->settings;
        if (strcmp(a->key, "device-token.lifespan.seconds") == 0) {
            s->token_lifetime_s = d.token_lifetime_s;
        } else if (strcmp(a->key, "crl.offline.check.enabled") == 0) {
            s->crl_offline = d.crl_offline;
        } else if (strcmp(a->key, "crl.online.check.enabled") == 0) {
            s->crl_online = d.crl_online;
        } else if (strcmp(a->key, "pop.self-attested.enabled") == 0) {
            s->pop_self_attested = d.pop_self_attested;
        } else if (strcmp(a->key, "max.chain.length") == 0) {
            s->max_chain_len = d.max_chain_len;
        } else if (strcmp(a->key, "acl.mode") == 0) {
            s->acl_open = d.acl_open;
        }
    }
    pthread_rwlock_unlock(&a->r->lock);
}

int registry_option_delete(struct registry *r, const struct principal *actor, const char *tenant,
                           const char *category, const char *key, char *why)
{
    if (!may_manage_options(actor, tenant)) {
        reg_why(why, "deleting options needs ROLE_OPTION_MANAGEMENT_ADMIN or ROLE_TENANT_ADMIN");
        return CG_EDENIED;
    }
    struct option_args a = {
        .r = r, .actor = actor, .tenant = tenant, .category = category, .key = key, .why = why};
    int rc = store_write(r->store, option_delete_tx, option_deleted, &a);
    return rc < 0 ? rc : 0;
}
