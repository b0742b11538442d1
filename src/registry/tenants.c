/* Tenants: the management tenant's operations, bootstrap, suspension. */
#define LOG_MODULE "registry"
#include "registry/registry_int.h"

#include "auth/password.h"
#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void reg_tenant_cleanup(struct reg_tenant *t)
{
    if (t != NULL) {
        free(t->custom_properties);
        t->custom_properties = NULL;
    }
}

void reg_tenant_list_free(struct reg_tenant *items, int n)
{
    for (int i = 0; i < n; i++) {
        reg_tenant_cleanup(&items[i]);
    }
    free(items);
}

static int load_tenant_row(const struct store_row *row, void *arg)
{
    struct registry *r = arg;
    const char *id = store_row_text(row, 0);
    const char *status = store_row_text(row, 1);
    if (id == NULL ||
        reg_tenant_mem_add(r, id, status && strcmp(status, "SUSPENDED") == 0) == NULL) {
        return -ENOMEM;
    }
    return 0;
}

static int load_option_row(const struct store_row *row, void *arg)
{
    struct registry *r = arg;
    struct tenant_mem *t = reg_tenant_mem(r, store_row_text(row, 0));
    if (t != NULL) {
        reg_settings_apply(&t->settings, store_row_text(row, 1), store_row_text(row, 2),
                           store_row_text(row, 3));
    }
    return 0;
}

int reg_load_tenants(struct registry *r, struct store_conn *c)
{
    int rc = store_query(c, "SELECT id, status FROM tenants", NULL, 0, load_tenant_row, r);
    if (rc < 0) {
        return rc;
    }
    rc = store_query(c, "SELECT tenant_id, category, key, value FROM options", NULL, 0,
                     load_option_row, r);
    return rc < 0 ? rc : 0;
}

static int tenant_row(const struct store_row *row, struct reg_tenant *t)
{
    memset(t, 0, sizeof(*t));
    const char *v;
    str_lcpy(t->id, (v = store_row_text(row, 0)) ? v : "", sizeof(t->id));
    str_lcpy(t->company, (v = store_row_text(row, 1)) ? v : "", sizeof(t->company));
    str_lcpy(t->domain, (v = store_row_text(row, 2)) ? v : "", sizeof(t->domain));
    str_lcpy(t->admin_email, (v = store_row_text(row, 3)) ? v : "", sizeof(t->admin_email));
    str_lcpy(t->contact_name, (v = store_row_text(row, 4)) ? v : "", sizeof(t->contact_name));
    str_lcpy(t->contact_phone, (v = store_row_text(row, 5)) ? v : "", sizeof(t->contact_phone));
    t->suspended = (v = store_row_text(row, 6)) != NULL && strcmp(v, "SUSPENDED") == 0;
    str_lcpy(t->parent, (v = store_row_text(row, 7)) ? v : "", sizeof(t->parent));
    t->allow_create_tenants = store_row_int(row, 8) != 0;
    t->custom_properties = store_row_strdup(row, 9);
    t->created_ms = store_row_int(row, 10);
    return t->custom_properties ? 0 : -ENOMEM;
}

#define TENANT_COLUMNS                                                                             \
    "id, company, domain, admin_email, contact_name, contact_phone, status, parent,"               \
    " allow_create_tenants, custom_properties, created_ms"

static int get_row(const struct store_row *row, void *arg)
{
    int rc = tenant_row(row, arg);
    return rc < 0 ? rc : 1;
}

static int tenant_get_read(struct store_conn *c, void *arg)
{
    struct reg_tenant *t = arg;
    struct store_val p[] = {SV_TEXT(t->id)};
    int rc =
        store_query(c, "SELECT " TENANT_COLUMNS " FROM tenants WHERE id = $1", p, 1, get_row, t);
    return rc == 0 ? -ENOENT : rc < 0 ? rc : 0;
}

int registry_tenant_get(struct registry *r, const char *id, struct reg_tenant *out)
{
    struct reg_tenant t = {0};
    str_lcpy(t.id, id, sizeof(t.id));
    int rc = store_read(r->store, tenant_get_read, &t);
    if (rc < 0) {
        reg_tenant_cleanup(&t);
        return rc;
    }
    *out = t;
    return 0;
}

struct tenant_list_args {
    const struct reg_tenant_filter *f;
    int64_t offset;
    int limit;
    struct reg_tenant *items;
    int n;
    int64_t total;
};

static int list_row(const struct store_row *row, void *arg)
{
    struct tenant_list_args *a = arg;
    int rc = tenant_row(row, &a->items[a->n]);
    a->n++;
    return rc;
}

static int tenant_list_read(struct store_conn *c, void *arg)
{
    struct tenant_list_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->f->company), SV_TEXT(a->f->domain), SV_TEXT(a->f->parent),
                            SV_INT(a->limit), SV_INT(a->offset)};
#define TENANT_WHERE                                                                               \
    " WHERE ($1 IS NULL OR company = $1) AND ($2 IS NULL OR domain = $2)"                          \
    " AND ($3 IS NULL OR parent = $3)"
    int rc = store_query_int(c, "SELECT COUNT(*) FROM tenants" TENANT_WHERE, p, 3, &a->total);
    if (rc < 0) {
        return rc;
    }
    rc = store_query(
        c, "SELECT " TENANT_COLUMNS " FROM tenants" TENANT_WHERE " ORDER BY id LIMIT $4 OFFSET $5",
        p, 5, list_row, a);
    return rc < 0 ? rc : 0;
}

int registry_tenant_list(struct registry *r, const struct reg_tenant_filter *f, int64_t offset,
                         int limit, struct reg_tenant **items, int *n, int64_t *total)
{
    static const struct reg_tenant_filter none = {0};
    struct tenant_list_args a = {.f = f ? f : &none, .offset = offset, .limit = limit};
    a.items = calloc(limit > 0 ? (size_t)limit : 1, sizeof(*a.items));
    if (a.items == NULL) {
        return -ENOMEM;
    }
    int rc = store_read(r->store, tenant_list_read, &a);
    if (rc < 0) {
        reg_tenant_list_free(a.items, a.n);
        return rc;
    }
    *items = a.items;
    *n = a.n;
    if (total != NULL) {
        *total = a.total;
    }
    return 0;
}

/* ---- validation ---- */

static int validate_domain(const char *d, char *why)
{
    size_t n = strlen(d);
    if (n < 2 || n > 256 || !islower((unsigned char)d[0])) {
        reg_why(why, "domain must be 2 to 256 characters and start with a lowercase letter");
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '.')) {
            reg_why(why, "domain may contain only lowercase letters, digits, '-' and '.'");
            return -EINVAL;
        }
    }
    return 0;
}

static int validate_tenant_id(const char *id, char *why)
{
    size_t n = strlen(id);
    if (n < 2 || n > 32) {
        reg_why(why, "tenant id must be 2 to 32 characters");
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!(islower((unsigned char)id[i]) || isdigit((unsigned char)id[i]) || id[i] == '-')) {
            reg_why(why, "tenant id may contain only lowercase letters, digits and '-'");
            return -EINVAL;
        }
    }
    return 0;
}

static int validate_tenant(const struct reg_tenant *t, unsigned fields, char *why)
{
    if ((fields & REG_TENANT_COMPANY) && (t->company[0] == 0 || strlen(t->company) > 256)) {
        reg_why(why, "company is required (1 to 256 characters)");
        return -EINVAL;
    }
    if ((fields & REG_TENANT_DOMAIN) && validate_domain(t->domain, why) < 0) {
        return -EINVAL;
    }
    if ((fields & REG_TENANT_ADMIN_EMAIL) &&
        (t->admin_email[0] == 0 || strchr(t->admin_email, '@') == NULL)) {
        reg_why(why, "adminEmail is required and must be an e-mail address");
        return -EINVAL;
    }
    return 0;
}

static bool may_manage_tenants(const struct principal *actor)
{
    return actor->via == PRINCIPAL_SYSTEM ||
           (principal_in_management(actor) && principal_has(actor, ROLE_TENANT_MANAGEMENT_ADMIN));
}

/* ---- create ---- */

struct tenant_create_args {
    struct registry *r;
    const struct principal *actor;
    struct reg_tenant *t;
    struct reg_user admin;
    char *hash;
    bool generated_id;
    char *why;
};

static int tenant_insert(struct store_conn *c, void *arg)
{
    struct tenant_create_args *a = arg;
    struct reg_tenant *t = a->t;
    for (int attempt = 0; attempt < 20; attempt++) {
        if (a->generated_id) {
            uint32_t v = 0;
            random_bytes(&v, sizeof(v));
            snprintf(t->id, sizeof(t->id), "t%08u", v % 100000000u);
        }
        struct store_val p[] = {SV_TEXT(t->id),
                                SV_TEXT(t->company),
                                SV_TEXT(t->domain),
                                SV_TEXT(t->admin_email),
                                SV_TEXT(t->contact_name),
                                SV_TEXT(t->contact_phone),
                                SV_TEXT(t->parent[0] ? t->parent : NULL),
                                SV_TEXT(t->custom_properties ? t->custom_properties : "{}"),
                                SV_INT(t->created_ms)};
        int64_t exists = 0;
        if (store_query_int(c, "SELECT COUNT(*) FROM tenants WHERE id = $1", p, 1, &exists) < 0) {
            return CG_EDB;
        }
        if (exists) {
            if (a->generated_id) {
                continue;
            }
            reg_why(a->why, "a tenant with id %s already exists", t->id);
            return CG_ECONFLICT;
        }
        int rc = store_exec(c,
                            "INSERT INTO tenants(id, company, domain, admin_email, contact_name,"
                            " contact_phone, parent, custom_properties, created_ms)"
                            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                            p, 9);
        if (rc == CG_ECONFLICT) {
            reg_why(a->why, "a tenant with domain %s already exists", t->domain);
            return rc;
        }
        if (rc < 0) {
            return rc;
        }
        str_lcpy(a->admin.tenant, t->id, sizeof(a->admin.tenant));
        rc = reg_user_insert(c, &a->admin, a->hash);
        if (rc < 0) {
            return rc;
        }
        rc = reg_audit_tx(c, REG_MANAGEMENT_TENANT, "Tenant", "Tenant created", "INFORMATION",
                          reg_actor_name(a->actor), t->id,
                          "Tenant %s created (company '%s',"
                          " domain %s, administrator %s)",
                          t->id, t->company, t->domain, a->admin.name);
        return rc < 0 ? rc : 1;
    }
    reg_why(a->why, "could not find a free tenant id");
    return CG_ECONFLICT;
}

static void tenant_created(void *arg, int rc)
{
    struct tenant_create_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    if (reg_tenant_mem_add(a->r, a->t->id, false) == NULL) {
        log_error("out of memory indexing tenant %s", a->t->id);
    }
    pthread_rwlock_unlock(&a->r->lock);
}

int registry_tenant_create(struct registry *r, const struct principal *actor, struct reg_tenant *t,
                           const char *admin_name, const char *admin_pass, char *why)
{
    if (!may_manage_tenants(actor)) {
        reg_why(why, "only tenant managers of the management tenant may create tenants");
        return CG_EDENIED;
    }
    int rc =
        validate_tenant(t, REG_TENANT_COMPANY | REG_TENANT_DOMAIN | REG_TENANT_ADMIN_EMAIL, why);
    if (rc < 0) {
        return rc;
    }
    struct tenant_create_args a = {.r = r, .actor = actor, .t = t, .why = why};
    a.generated_id = t->id[0] == 0;
    if (!a.generated_id && validate_tenant_id(t->id, why) < 0) {
        return -EINVAL;
    }
    if (admin_name == NULL || admin_name[0] == 0) {
        admin_name = "admin";
    }
    if (reg_validate_name("adminName", admin_name, why) < 0) {
        return -EINVAL;
    }
    if (admin_pass == NULL || strlen(admin_pass) < 6 || strlen(admin_pass) > 1024) {
        reg_why(why, "adminPass is required: 6 to 1024 characters");
        return -EINVAL;
    }
    str_lcpy(a.admin.name, admin_name, sizeof(a.admin.name));
    str_lcpy(a.admin.email, t->admin_email, sizeof(a.admin.email));
    a.admin.enabled = true;
    a.admin.roles = ROLES_TENANT_ADMIN;
    a.admin.created_ms = t->created_ms = time_now_ms();
    if (t->parent[0] == 0) {
        str_lcpy(t->parent, REG_MANAGEMENT_TENANT, sizeof(t->parent));
    }
    rc = reg_password_hash(r, admin_pass, &a.hash);
    if (rc < 0) {
        return rc;
    }
    rc = store_write(r->store, tenant_insert, tenant_created, &a);
    free_secret(a.hash);
    return rc < 0 ? rc : 0;
}

/* ---- update / suspend ---- */

struct tenant_update_args {
    struct registry *r;
    const struct principal *actor;
    const struct reg_tenant *t;
    unsigned fields;
    char *why;
};

static int tenant_update_tx(struct store_conn *c, void *arg)
{
    struct tenant_update_args *a = arg;
    const struct reg_tenant *t = a->t;
    unsigned f = a->fields;
    struct store_val p[] = {
        SV_TEXT(t->id),
        (f & REG_TENANT_COMPANY) ? SV_TEXT(t->company) : SV_NULL,
        (f & REG_TENANT_DOMAIN) ? SV_TEXT(t->domain) : SV_NULL,
        (f & REG_TENANT_ADMIN_EMAIL) ? SV_TEXT(t->admin_email) : SV_NULL,
        (f & REG_TENANT_CONTACT_NAME) ? SV_TEXT(t->contact_name) : SV_NULL,
        (f & REG_TENANT_CONTACT_PHONE) ? SV_TEXT(t->contact_phone) : SV_NULL,
        (f & REG_TENANT_CUSTOM) ? SV_TEXT(t->custom_properties) : SV_NULL,
        (f & REG_TENANT_STATUS) ? SV_TEXT(t->suspended ? "SUSPENDED" : "ACTIVE") : SV_NULL,
    };
    int rc = store_exec(c,
                        "UPDATE tenants SET company = COALESCE($2, company),"
                        " domain = COALESCE($3, domain), admin_email = COALESCE($4, admin_email),"
                        " contact_name = COALESCE($5, contact_name),"
                        " contact_phone = COALESCE($6, contact_phone),"
                        " custom_properties = COALESCE($7, custom_properties),"
                        " status = COALESCE($8, status) WHERE id = $1",
                        p, 8);
    if (rc == CG_ECONFLICT) {
        reg_why(a->why, "a tenant with domain %s already exists", t->domain);
        return rc;
    }
    if (rc == 0) {
        return -ENOENT;
    }
    if (rc < 0) {
        return rc;
    }
    const char *activity = "Tenant updated";
    if (f & REG_TENANT_STATUS) {
        activity = t->suspended ? "Tenant suspended" : "Tenant activated";
    }
    rc = reg_audit_tx(c, REG_MANAGEMENT_TENANT, "Tenant", activity, "INFORMATION",
                      reg_actor_name(a->actor), t->id, "%s: %s", activity, t->id);
    return rc < 0 ? rc : 1;
}

static void tenant_updated(void *arg, int rc)
{
    struct tenant_update_args *a = arg;
    if (!(a->fields & REG_TENANT_STATUS)) {
        return;
    }
    struct registry *r = a->r;
    pthread_rwlock_wrlock(&r->lock);
    struct tenant_mem *t = reg_tenant_mem(r, a->t->id);
    bool changed = t != NULL && t->suspended != a->t->suspended;
    if (t != NULL) {
        t->suspended = a->t->suspended;
    }
    if (changed) {
        reg_snapshot_rebuild(r);
    }
    pthread_rwlock_unlock(&r->lock);
    if (changed && a->t->suspended) {
        struct reg_event ev = {.kind = REG_EVENT_TENANT_SUSPENDED};
        str_lcpy(ev.tenant, a->t->id, sizeof(ev.tenant));
        str_lcpy(ev.actor, reg_actor_name(a->actor), sizeof(ev.actor));
        reg_emit(r, &ev);
    }
}

int registry_tenant_update(struct registry *r, const struct principal *actor,
                           const struct reg_tenant *t, unsigned fields, char *why)
{
    if (!may_manage_tenants(actor)) {
        reg_why(why, "only tenant managers of the management tenant may change tenants");
        return CG_EDENIED;
    }
    if ((fields & REG_TENANT_STATUS) && t->suspended && strcmp(t->id, REG_MANAGEMENT_TENANT) == 0) {
        reg_why(why, "the management tenant cannot be suspended");
        return -EINVAL;
    }
    int rc = validate_tenant(t, fields, why);
    if (rc < 0) {
        return rc;
    }
    struct tenant_update_args a = {.r = r, .actor = actor, .t = t, .fields = fields, .why = why};
    rc = store_write(r->store, tenant_update_tx, tenant_updated, &a);
    return rc < 0 ? rc : 0;
}

/* ---- delete ---- */

struct tenant_delete_args {
    struct registry *r;
    const struct principal *actor;
    const char *id;
};

static int tenant_delete_tx(struct store_conn *c, void *arg)
{
    struct tenant_delete_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->id)};
    /* Children first: not every backend cascades in the same order. */
    static const char *const deletes[] = {
        "DELETE FROM users WHERE tenant_id = $1",
        "DELETE FROM options WHERE tenant_id = $1",
        "DELETE FROM trusted_certs WHERE tenant_id = $1",
        "DELETE FROM revoked_serials WHERE tenant_id = $1",
        "DELETE FROM devices WHERE tenant_id = $1",
        "DELETE FROM audit WHERE tenant_id = $1",
        "DELETE FROM revoked_tokens WHERE tenant_id = $1",
    };
    for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++) {
        if (store_exec(c, deletes[i], p, 1) < 0) {
            return CG_EDB;
        }
    }
    int rc = store_exec(c, "DELETE FROM tenants WHERE id = $1", p, 1);
    if (rc <= 0) {
        return rc == 0 ? -ENOENT : rc;
    }
    rc =
        reg_audit_tx(c, REG_MANAGEMENT_TENANT, "Tenant", "Tenant deleted", "WARNING",
                     reg_actor_name(a->actor), a->id, "Tenant %s deleted with all its data", a->id);
    return rc < 0 ? rc : 1;
}

static void tenant_deleted(void *arg, int rc)
{
    struct tenant_delete_args *a = arg;
    struct registry *r = a->r;
    pthread_rwlock_wrlock(&r->lock);
    reg_tenant_mem_remove(r, a->id);
    reg_snapshot_rebuild(r);
    pthread_rwlock_unlock(&r->lock);
    struct reg_event ev = {.kind = REG_EVENT_TENANT_SUSPENDED};
    str_lcpy(ev.tenant, a->id, sizeof(ev.tenant));
    str_lcpy(ev.actor, reg_actor_name(a->actor), sizeof(ev.actor));
    reg_emit(r, &ev);
}

int registry_tenant_delete(struct registry *r, const struct principal *actor, const char *id,
                           char *why)
{
    if (!may_manage_tenants(actor)) {
        reg_why(why, "only tenant managers of the management tenant may delete tenants");
        return CG_EDENIED;
    }
    if (strcmp(id, REG_MANAGEMENT_TENANT) == 0) {
        reg_why(why, "the management tenant cannot be deleted");
        return -EINVAL;
    }
    struct tenant_delete_args a = {.r = r, .actor = actor, .id = id};
    int rc = store_write(r->store, tenant_delete_tx, tenant_deleted, &a);
    return rc < 0 ? rc : 0;
}

/* ---- bare user names ---- */

struct of_user_args {
    const char *user;
    char tenant[REG_TENANT_ID_MAX];
    int count;
};

static int of_user_row(const struct store_row *row, void *arg)
{
    struct of_user_args *a = arg;
    const char *t = store_row_text(row, 0);
    if (a->count++ == 0 && t != NULL) {
        str_lcpy(a->tenant, t, sizeof(a->tenant));
    }
    return 0;
}

static int of_user_read(struct store_conn *c, void *arg)
{
    struct of_user_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->user)};
    int rc = store_query(c, "SELECT tenant_id FROM users WHERE user_name = $1 LIMIT 2", p, 1,
                         of_user_row, a);
    return rc < 0 ? rc : 0;
}

int registry_tenant_of_user(struct registry *r, const char *user, char out[REG_TENANT_ID_MAX])
{
    struct of_user_args a = {.user = user};
    int rc = store_read(r->store, of_user_read, &a);
    if (rc < 0) {
        return rc;
    }
    if (a.count == 0) {
        return -ENOENT;
    }
    if (a.count > 1) {
        return CG_ECONFLICT;
    }
    str_lcpy(out, a.tenant, REG_TENANT_ID_MAX);
    return 0;
}

/* ---- bootstrap ---- */

struct bootstrap_args {
    struct registry *r;
    struct reg_tenant t;
    struct reg_user admin;
    char *hash;
};

static int bootstrap_tx(struct store_conn *c, void *arg)
{
    struct bootstrap_args *a = arg;
    struct store_val p[] = {SV_TEXT(REG_MANAGEMENT_TENANT), SV_TEXT("certgate"),
                            SV_TEXT("management"), SV_INT(a->t.created_ms)};
    int rc = store_exec(c,
                        "INSERT INTO tenants(id, company, domain, allow_create_tenants,"
                        " created_ms) VALUES ($1,$2,$3,1,$4)",
                        p, 4);
    if (rc < 0) {
        return rc;
    }
    rc = reg_user_insert(c, &a->admin, a->hash);
    if (rc < 0) {
        return rc;
    }
    rc = reg_audit_tx(c, REG_MANAGEMENT_TENANT, "Tenant", "Tenant created", "INFORMATION",
                      "certgate", REG_MANAGEMENT_TENANT,
                      "Management tenant created with administrator 'admin'");
    return rc < 0 ? rc : 1;
}

static void bootstrap_committed(void *arg, int rc)
{
    struct bootstrap_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    reg_tenant_mem_add(a->r, REG_MANAGEMENT_TENANT, false);
    pthread_rwlock_unlock(&a->r->lock);
}

int reg_bootstrap(struct registry *r, char *err, size_t errlen)
{
    if (registry_tenant_exists(r, REG_MANAGEMENT_TENANT)) {
        return 0;
    }
    struct bootstrap_args a = {.r = r};
    a.t.created_ms = time_now_ms();
    str_lcpy(a.admin.tenant, REG_MANAGEMENT_TENANT, sizeof(a.admin.tenant));
    str_lcpy(a.admin.name, "admin", sizeof(a.admin.name));
    a.admin.enabled = true;
    a.admin.roles = ROLES_MANAGEMENT_ADMIN;
    a.admin.created_ms = a.t.created_ms;
    char generated[64] = "";
    const char *password = r->cfg.admin_password;
    if (password == NULL || password[0] == 0) {
        if (password_generate(generated, sizeof(generated)) < 0) {
            snprintf(err, errlen, "cannot generate the admin password");
            return CG_EINTERNAL;
        }
        password = generated;
    } else if (strlen(password) < 6) {
        snprintf(err, errlen, "CERTGATE_ADMIN_PASSWORD must have at least 6 characters");
        return -EINVAL;
    }
    int rc = reg_password_hash(r, password, &a.hash);
    if (rc < 0) {
        snprintf(err, errlen, "cannot hash the admin password");
        secure_zero(generated, sizeof(generated));
        return rc;
    }
    rc = store_write(r->store, bootstrap_tx, bootstrap_committed, &a);
    free_secret(a.hash);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create the management tenant (%s)", cg_strerror(rc));
        secure_zero(generated, sizeof(generated));
        return rc;
    }
    if (generated[0] != 0) {
        /* Printed once, on stdout (not the log): the operator's only copy. */
        printf("certgate: created the management tenant. Sign in as management/admin with the "
               "password\n\n    %s\n\nIt is shown only this once; set CERTGATE_ADMIN_PASSWORD "
               "before the first start to choose it.\n",
               generated);
        fflush(stdout);
        secure_zero(generated, sizeof(generated));
    }
    log_info("created the management tenant and its administrator 'admin'");
    return 0;
}
