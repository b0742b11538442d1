/* Devices: the registry of devices and their device users, bulk registration, and the
 * connect-time admission decision (auto-registration). */
#define LOG_MODULE "registry"
#include "registry/registry_int.h"

#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reg_device_cleanup(struct reg_device *d)
{
    if (d != NULL) {
        free(d->fragments);
        d->fragments = NULL;
    }
}

void reg_device_list_free(struct reg_device *items, int n)
{
    for (int i = 0; i < n; i++) {
        reg_device_cleanup(&items[i]);
    }
    free(items);
}

static int auth_of(const char *s)
{
    return s != NULL && strcmp(s, "BASIC") == 0 ? REG_AUTH_BASIC : REG_AUTH_CERTIFICATES;
}

static int registration_of(const char *s)
{
    return s != NULL && strcmp(s, "bulk") == 0 ? REG_REGISTERED_BULK : REG_REGISTERED_AUTO;
}

static const char *auth_name(int auth)
{
    return auth == REG_AUTH_BASIC ? "BASIC" : "CERTIFICATES";
}

static int load_device_row(const struct store_row *row, void *arg)
{
    struct registry *r = arg;
    const char *tenant = store_row_text(row, 1);
    const char *ext = store_row_text(row, 2);
    if (tenant != NULL && ext != NULL) {
        reg_device_mem_put(r, tenant, ext, store_row_int(row, 0), auth_of(store_row_text(row, 3)),
                           registration_of(store_row_text(row, 4)));
    }
    return 0;
}

int reg_load_devices(struct registry *r, struct store_conn *c)
{
    int rc =
        store_query(c, "SELECT id, tenant_id, external_id, auth_type, registration FROM devices",
                    NULL, 0, load_device_row, r);
    return rc < 0 ? rc : 0;
}

#define DEVICE_COLUMNS                                                                             \
    "id, tenant_id, external_id, id_type, name, type, auth_type, registration,"                    \
    " anchor_fingerprint, created_ms, first_seen_ms, last_seen_ms, fragments"

static int device_from_row(const struct store_row *row, struct reg_device *d)
{
    memset(d, 0, sizeof(*d));
    const char *v;
    d->id = store_row_int(row, 0);
    str_lcpy(d->tenant, (v = store_row_text(row, 1)) ? v : "", sizeof(d->tenant));
    str_lcpy(d->external_id, (v = store_row_text(row, 2)) ? v : "", sizeof(d->external_id));
    str_lcpy(d->id_type, (v = store_row_text(row, 3)) ? v : "", sizeof(d->id_type));
    str_lcpy(d->name, (v = store_row_text(row, 4)) ? v : "", sizeof(d->name));
    str_lcpy(d->type, (v = store_row_text(row, 5)) ? v : "", sizeof(d->type));
    d->auth = (enum reg_auth_type)auth_of(store_row_text(row, 6));
    d->registration = (enum reg_registration)registration_of(store_row_text(row, 7));
    str_lcpy(d->anchor_fp, (v = store_row_text(row, 8)) ? v : "", sizeof(d->anchor_fp));
    d->created_ms = store_row_int(row, 9);
    d->first_seen_ms = store_row_int(row, 10);
    d->last_seen_ms = store_row_int(row, 11);
    d->fragments = store_row_strdup(row, 12);
    return d->fragments ? 0 : -ENOMEM;
}

static int get_row(const struct store_row *row, void *arg)
{
    int rc = device_from_row(row, arg);
    return rc < 0 ? rc : 1;
}

struct device_get_args {
    const char *tenant;
    int64_t id;
    const char *id_type;
    const char *external_id;
    struct reg_device *out;
};

static int device_get_read(struct store_conn *c, void *arg)
{
    struct device_get_args *a = arg;
    int rc;
    if (a->external_id != NULL) {
        struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->id_type), SV_TEXT(a->external_id)};
        rc = store_query(c,
                         "SELECT " DEVICE_COLUMNS " FROM devices WHERE tenant_id = $1"
                         " AND ($2 IS NULL OR id_type = $2) AND external_id = $3",
                         p, 3, get_row, a->out);
    } else {
        struct store_val p[] = {SV_TEXT(a->tenant), SV_INT(a->id)};
        rc = store_query(c,
                         "SELECT " DEVICE_COLUMNS " FROM devices WHERE tenant_id = $1 AND id = $2",
                         p, 2, get_row, a->out);
    }
    return rc == 0 ? -ENOENT : rc < 0 ? rc : 0;
}

/* Both getters read into a zeroed local and set *out only on success: on failure the
 * caller's struct is untouched (it may be uninitialized). */
int registry_device_get(struct registry *r, const char *tenant, int64_t id, struct reg_device *out)
{
    struct reg_device d = {0};
    struct device_get_args a = {.tenant = tenant, .id = id, .out = &d};
    int rc = store_read(r->store, device_get_read, &a);
    if (rc < 0) {
        reg_device_cleanup(&d);
        return rc;
    }
    *out = d;
    return 0;
}

int registry_device_get_external(struct registry *r, const char *tenant, const char *id_type,
                                 const char *external_id, struct reg_device *out)
{
    struct reg_device d = {0};
    struct device_get_args a = {
        .tenant = tenant, .id_type = id_type, .external_id = external_id, .out = &d};
    int rc = store_read(r->store, device_get_read, &a);
    if (rc < 0) {
        reg_device_cleanup(&d);
        return rc;
    }
    *out = d;
    return 0;
}

struct device_list_args {
    const char *tenant;
    const struct reg_device_filter *f;
    char *pattern;
    char *fragment_pattern;
    int64_t offset;
    int limit;
    struct reg_device *items;
    int n;
    int64_t total;
};

static int list_row(const struct store_row *row, void *arg)
{
    struct device_list_args *a = arg;
    return device_from_row(row, &a->items[a->n++]);
}

static int device_list_read(struct store_conn *c, void *arg)
{
    struct device_list_args *a = arg;
    struct store_val p[] = {
        SV_TEXT(a->tenant),         SV_TEXT(a->pattern),          SV_TEXT(a->f->type),
        SV_TEXT(a->f->external_id), SV_TEXT(a->fragment_pattern), SV_INT(a->limit),
        SV_INT(a->offset)};
#define DEVICE_WHERE                                                                               \
    " WHERE tenant_id = $1 AND ($2 IS NULL OR external_id LIKE $2 ESCAPE '\\' OR name LIKE $2"     \
    " ESCAPE '\\' OR type LIKE $2 ESCAPE '\\') AND ($3 IS NULL OR type = $3)"                      \
    " AND ($4 IS NULL OR external_id = $4) AND ($5 IS NULL OR fragments LIKE $5 ESCAPE '\\')"
    int rc = store_query_int(c, "SELECT COUNT(*) FROM devices" DEVICE_WHERE, p, 5, &a->total);
    if (rc < 0) {
        return rc;
    }
    rc = store_query(
        c, "SELECT " DEVICE_COLUMNS " FROM devices" DEVICE_WHERE " ORDER BY id LIMIT $6 OFFSET $7",
        p, 7, list_row, a);
    return rc < 0 ? rc : 0;
}

/* "%text%" with LIKE's special characters escaped. */
static char *like_pattern(const char *text)
{
    size_t n = strlen(text);
    char *p = malloc(2 * n + 3);
    if (p == NULL) {
        return NULL;
    }
    size_t o = 0;
    p[o++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '%' || text[i] == '_' || text[i] == '\\') {
            p[o++] = '\\';
        }
        p[o++] = text[i];
    }
    p[o++] = '%';
    p[o] = 0;
    return p;
}

int registry_device_list(struct registry *r, const char *tenant, const struct reg_device_filter *f,
                         int64_t offset, int limit, struct reg_device **items, int *n,
                         int64_t *total)
{
    static const struct reg_device_filter none = {0};
    struct device_list_args a = {
        .tenant = tenant, .f = f ? f : &none, .offset = offset, .limit = limit};
    const char *text = a.f->text;
    const char *frag = a.f->fragment_text;
    if (text != NULL && text[0] != 0 && (a.pattern = like_pattern(text)) == NULL) {
        return -ENOMEM;
    }
    if (frag != NULL && frag[0] != 0 && (a.fragment_pattern = like_pattern(frag)) == NULL) {
        free(a.pattern);
        return -ENOMEM;
    }
    a.items = calloc(limit > 0 ? (size_t)limit : 1, sizeof(*a.items));
    if (a.items == NULL) {
        free(a.pattern);
        free(a.fragment_pattern);
        return -ENOMEM;
    }
    int rc = store_read(r->store, device_list_read, &a);
    free(a.pattern);
    free(a.fragment_pattern);
    if (rc < 0) {
        reg_device_list_free(a.items, a.n);
        return rc;
    }
    *items = a.items;
    *n = a.n;
    if (total != NULL) {
        *total = a.total;
    }
    return 0;
}

/* ---- delete ---- */

struct device_delete_args {
    struct registry *r;
    const struct principal *actor;
    const char *tenant;
    int64_t id;
    char external_id[REG_NAME_MAX];
};

static int ext_row(const struct store_row *row, void *arg)
{
    const char *v = store_row_text(row, 0);
    str_lcpy(arg, v ? v : "", REG_NAME_MAX);
    return 1;
}

static int device_delete_tx(struct store_conn *c, void *arg)
{
    struct device_delete_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_INT(a->id)};
    int rc = store_query(c, "SELECT external_id FROM devices WHERE tenant_id = $1 AND id = $2", p,
                         2, ext_row, a->external_id);
    if (rc <= 0) {
        return rc == 0 ? -ENOENT : rc;
    }
    if (store_exec(c, "DELETE FROM devices WHERE tenant_id = $1 AND id = $2", p, 2) < 0) {
        return CG_EDB;
    }
    char user[REG_NAME_MAX + 8];
    snprintf(user, sizeof(user), "device_%s", a->external_id);
    struct store_val pu[] = {SV_TEXT(a->tenant), SV_TEXT(user)};
    if (store_exec(c, "DELETE FROM users WHERE tenant_id = $1 AND user_name = $2 AND is_device = 1",
                   pu, 2) < 0) {
        return CG_EDB;
    }
    rc = reg_audit_tx(c, a->tenant, "Inventory", "Managed object deleted", "INFORMATION",
                      reg_actor_name(a->actor), a->external_id,
                      "Device %s (managed object %lld) and its device user deleted", a->external_id,
                      (long long)a->id);
    return rc < 0 ? rc : 1;
}

static void device_deleted(void *arg, int rc)
{
    struct device_delete_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    reg_device_mem_remove(a->r, a->tenant, a->external_id);
    pthread_rwlock_unlock(&a->r->lock);
    struct reg_event ev = {.kind = REG_EVENT_DEVICE_REMOVED};
    str_lcpy(ev.tenant, a->tenant, sizeof(ev.tenant));
    str_lcpy(ev.device_id, a->external_id, sizeof(ev.device_id));
    snprintf(ev.user, sizeof(ev.user), "device_%.240s", a->external_id);
    str_lcpy(ev.actor, reg_actor_name(a->actor), sizeof(ev.actor));
    reg_emit(a->r, &ev);
}

int registry_device_delete(struct registry *r, const struct principal *actor, const char *tenant,
                           int64_t id, char *why)
{
    if (!principal_may_see_tenant(actor, tenant) ||
        !principal_has(actor,
                       ROLE_INVENTORY_ADMIN | ROLE_DEVICE_CONTROL_ADMIN | ROLE_TENANT_ADMIN)) {
        reg_why(why, "deleting devices needs ROLE_INVENTORY_ADMIN or ROLE_DEVICE_CONTROL_ADMIN");
        return CG_EDENIED;
    }
    struct device_delete_args a = {.r = r, .actor = actor, .tenant = tenant, .id = id};
    int rc = store_write(r->store, device_delete_tx, device_deleted, &a);
    return rc < 0 ? rc : 0;
}

/* ---- inserting a device and its user ---- */

struct new_device {
    const char *tenant;
    const char *external_id;
    const char *id_type;
    const char *name;
    const char *type;
    int auth;
    int registration;
    const char *anchor_fp;
    const char *fragments;
    const char *password_hash; /* BASIC only */
    int64_t now;
    int64_t id; /* out */
};

static int id_row(const struct store_row *row, void *arg)
{
    *(int64_t *)arg = store_row_int(row, 0);
    return 1;
}

/* Insert (or, for bulk rows, update) a device and its device user. Returns 1 created,
 * 2 updated, or an error. */
static int device_upsert(struct store_conn *c, struct new_device *d, bool update_existing)
{
    char user[REG_NAME_MAX + 8];
    snprintf(user, sizeof(user), "device_%s", d->external_id);
    struct store_val p[] = {SV_TEXT(d->tenant),
                            SV_TEXT(d->external_id),
                            SV_TEXT(d->id_type ? d->id_type : "c8y_Serial"),
                            SV_TEXT(d->name && d->name[0] ? d->name : d->external_id),
                            SV_TEXT(d->type && d->type[0] ? d->type : NULL),
                            SV_TEXT(auth_name(d->auth)),
                            SV_TEXT(d->registration == REG_REGISTERED_BULK ? "bulk" : "auto"),
                            SV_TEXT(d->anchor_fp && d->anchor_fp[0] ? d->anchor_fp : NULL),
                            SV_TEXT(d->fragments ? d->fragments : "{}"),
                            SV_INT(d->now)};
    int64_t existing = 0;
    int rc = store_query(c, "SELECT id FROM devices WHERE tenant_id = $1 AND external_id = $2", p,
                         2, id_row, &existing);
    if (rc < 0) {
        return rc;
    }
    int result;
    if (rc > 0) {
        if (!update_existing) {
            d->id = existing;
            return CG_ECONFLICT;
        }
        rc = store_exec(c,
                        "UPDATE devices SET auth_type = $6, type = COALESCE($5, type)"
                        " WHERE tenant_id = $1 AND external_id = $2",
                        p, 6);
        d->id = existing;
        result = 2;
    } else {
        rc = store_query(c,
                         "INSERT INTO devices(tenant_id, external_id, id_type, name, type,"
                         " auth_type, registration, anchor_fingerprint, fragments, created_ms)"
                         " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id",
                         p, 10, id_row, &d->id);
        result = 1;
    }
    if (rc < 0) {
        return rc;
    }
    struct reg_user u = {0};
    str_lcpy(u.tenant, d->tenant, sizeof(u.tenant));
    str_lcpy(u.name, user, sizeof(u.name));
    u.enabled = true;
    u.is_device = true;
    u.roles = ROLES_DEVICE;
    u.created_ms = d->now;
    struct store_val pu[] = {SV_TEXT(d->tenant), SV_TEXT(user), SV_TEXT(d->password_hash),
                             SV_INT(d->now)};
    rc = store_exec(c,
                    "UPDATE users SET password_hash = $3, password_changed_ms = $4"
                    " WHERE tenant_id = $1 AND user_name = $2",
                    pu, 4);
    if (rc == 0) {
        rc = reg_user_insert(c, &u, d->password_hash);
    }
    return rc < 0 ? rc : result;
}

/* ---- admission (auto-registration) ---- */

struct admit_args {
    struct registry *r;
    struct reg_identity id;
    struct new_device d;
    struct reg_device_brief brief;
    void (*done)(void *arg, int rc, const struct reg_device_brief *brief, const char *why);
    void *done_arg;
    /* for the blocking form */
    char *why;
};

static int admit_tx(struct store_conn *c, void *arg)
{
    struct admit_args *a = arg;
    int rc = device_upsert(c, &a->d, false);
    if (rc == CG_ECONFLICT) {
        return 0; /* registered meanwhile: fine, nothing to write */
    }
    if (rc < 0) {
        return rc;
    }
    rc = reg_audit_tx(c, a->id.tenant, "Inventory", "Device auto-registered", "INFORMATION",
                      "certgate", a->id.device_id,
                      "Device %s registered on its first connection (trusted certificate %s)",
                      a->id.device_id, a->id.anchor_fp);
    return rc < 0 ? rc : 1;
}

static void admit_committed(void *arg, int rc)
{
    struct admit_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    reg_device_mem_put(a->r, a->id.tenant, a->id.device_id, a->d.id, REG_AUTH_CERTIFICATES,
                       REG_REGISTERED_AUTO);
    pthread_rwlock_unlock(&a->r->lock);
    a->brief.id = a->d.id;
    a->brief.auth = REG_AUTH_CERTIFICATES;
    a->brief.registration = REG_REGISTERED_AUTO;
}

static void admit_done_async(void *arg, int rc)
{
    struct admit_args *a = arg;
    if (rc >= 0) {
        a->done(a->done_arg, 0, &a->brief, "");
    } else {
        a->done(a->done_arg, rc == CG_EDENIED ? rc : CG_EDB, NULL,
                "the device could not be registered");
    }
    free(a);
}

/* The decision that needs no database: 1 = must register, 0 = admitted (*brief set),
 * CG_EDENIED = refused (why set). */
static int admit_decide(struct registry *r, const struct reg_identity *id,
                        struct reg_device_brief *brief, char *why)
{
    if (!id->accepted) {
        reg_why(why, "%s", id->message);
        return CG_EDENIED;
    }
    int rc = registry_device_lookup(r, id->tenant, id->device_id, brief);
    if (rc == 0) {
        if (brief->auth != REG_AUTH_CERTIFICATES) {
            reg_why(why, "device %s is registered for password authentication, not certificates",
                    id->device_id);
            return CG_EDENIED;
        }
        return 0;
    }
    if (!id->auto_registration) {
        reg_why(why,
                "device %s is not registered and trusted certificate %s does not allow "
                "auto-registration",
                id->device_id, id->anchor_fp);
        return CG_EDENIED;
    }
    if (!registry_tenant_active(r, id->tenant)) {
        reg_why(why, "tenant %s is suspended", id->tenant);
        return CG_EDENIED;
    }
    return 1;
}

static struct admit_args *admit_args_new(struct registry *r, const struct reg_identity *id)
{
    struct admit_args *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    a->r = r;
    a->id = *id;
    a->d.tenant = a->id.tenant;
    a->d.external_id = a->id.device_id;
    a->d.auth = REG_AUTH_CERTIFICATES;
    a->d.registration = REG_REGISTERED_AUTO;
    a->d.anchor_fp = a->id.anchor_fp;
    a->d.now = time_now_ms();
    return a;
}

int registry_device_admit(struct registry *r, const struct reg_identity *id,
                          struct reg_device_brief *out, char *why)
{
    int rc = admit_decide(r, id, out, why);
    if (rc <= 0) {
        return rc;
    }
    struct admit_args *a = admit_args_new(r, id);
    if (a == NULL) {
        return -ENOMEM;
    }
    rc = store_write(r->store, admit_tx, admit_committed, a);
    if (rc >= 0) {
        if (rc == 0) {
            rc = registry_device_lookup(r, id->tenant, id->device_id, &a->brief);
        } else {
            rc = 0;
        }
        *out = a->brief;
    } else {
        reg_why(why, "device %s could not be registered", id->device_id);
    }
    free(a);
    return rc < 0 ? rc : 0;
}

int registry_device_admit_async(struct registry *r, const struct reg_identity *id,
                                void (*done)(void *arg, int rc,
                                             const struct reg_device_brief *brief, const char *why),
                                void *arg)
{
    struct reg_device_brief brief;
    char why[REG_WHY_MAX] = "";
    int rc = admit_decide(r, id, &brief, why);
    if (rc <= 0) {
        done(arg, rc, rc == 0 ? &brief : NULL, why);
        return 0;
    }
    struct admit_args *a = admit_args_new(r, id);
    if (a == NULL) {
        return -ENOMEM;
    }
    a->done = done;
    a->done_arg = arg;
    if (store_write_async(r->store, admit_tx, admit_committed, admit_done_async, a) < 0) {
        free(a);
        return -ENOMEM;
    }
    return 0;
}

/* ---- bulk registration ---- */

struct bulk_chunk {
    struct registry *r;
    const struct principal *actor;
    const char *tenant;
    const struct reg_bulk_row *rows;
    struct reg_bulk_result *results;
    char **hashes;
    int n;
    int64_t ids[1000];
    const char *tenants[1000];
};

static const char *row_tenant(const struct bulk_chunk *b, const struct reg_bulk_row *row)
{
    if (row->tenant != NULL && row->tenant[0] != 0 && principal_in_management(b->actor)) {
        return row->tenant;
    }
    return b->tenant;
}

static int bulk_tx(struct store_conn *c, void *arg)
{
    struct bulk_chunk *b = arg;
    int64_t now = time_now_ms();
    int created = 0, updated = 0;
    for (int i = 0; i < b->n; i++) {
        const struct reg_bulk_row *row = &b->rows[i];
        struct reg_bulk_result *res = &b->results[i];
        if (res->status == REG_BULK_FAILED) {
            continue;
        }
        bool cert = row->auth_type != NULL && strcmp(row->auth_type, "CERTIFICATES") == 0;
        struct new_device d = {.tenant = row_tenant(b, row),
                               .external_id = row->id,
                               .id_type = row->id_type && row->id_type[0] ? row->id_type : NULL,
                               .name = row->name,
                               .type = row->type,
                               .auth = cert ? REG_AUTH_CERTIFICATES : REG_AUTH_BASIC,
                               .registration = REG_REGISTERED_BULK,
                               .fragments = row->fragments,
                               .password_hash = cert ? NULL : b->hashes[i],
                               .now = now};
        int rc = device_upsert(c, &d, true);
        if (rc < 0) {
            res->status = REG_BULK_FAILED;
            reg_why(res->reason, "could not store the device (%s)", cg_strerror(rc));
            if (rc == CG_EDB) {
                return rc; /* the database failed: fail the chunk as a whole */
            }
            continue;
        }
        res->status = rc == 1 ? REG_BULK_CREATED : REG_BULK_CREDENTIAL_UPDATED;
        b->ids[i] = d.id;
        b->tenants[i] = d.tenant;
        if (rc == 1) {
            created++;
        } else {
            updated++;
        }
    }
    int rc =
        reg_audit_tx(c, b->tenant, "Inventory", "Devices bulk-registered", "INFORMATION",
                     reg_actor_name(b->actor), "bulkNewDeviceRequests",
                     "Bulk registration: %d created, %d credentials updated (lines %d-%d)", created,
                     updated, b->n ? b->rows[0].line : 0, b->n ? b->rows[b->n - 1].line : 0);
    return rc < 0 ? rc : 1;
}

static void bulk_committed(void *arg, int rc)
{
    struct bulk_chunk *b = arg;
    pthread_rwlock_wrlock(&b->r->lock);
    for (int i = 0; i < b->n; i++) {
        if (b->results[i].status == REG_BULK_FAILED) {
            continue;
        }
        const struct reg_bulk_row *row = &b->rows[i];
        bool cert = row->auth_type != NULL && strcmp(row->auth_type, "CERTIFICATES") == 0;
        reg_device_mem_put(b->r, b->tenants[i], row->id, b->ids[i],
                           cert ? REG_AUTH_CERTIFICATES : REG_AUTH_BASIC, REG_REGISTERED_BULK);
    }
    pthread_rwlock_unlock(&b->r->lock);
}

/* Validate one row; fills res on failure. */
static void bulk_validate(struct registry *r, const struct principal *actor,
                          const struct reg_bulk_row *row, struct reg_bulk_result *res)
{
    res->status = REG_BULK_CREATED;
    res->reason[0] = 0;
    if (row->id == NULL || row->id[0] == 0) {
        res->status = REG_BULK_FAILED;
        reg_why(res->reason, "line %d: ID is empty", row->line);
        return;
    }
    char why[REG_WHY_MAX];
    if (reg_validate_name("ID", row->id, why) < 0 || strlen(row->id) > 240) {
        res->status = REG_BULK_FAILED;
        reg_why(res->reason, "line %d: %s", row->line,
                strlen(row->id) > 240 ? "ID is longer than 240 bytes" : why);
        return;
    }
    const char *auth = row->auth_type ? row->auth_type : "";
    bool cert = strcmp(auth, "CERTIFICATES") == 0;
    if (!cert && auth[0] != 0 && strcmp(auth, "BASIC") != 0) {
        res->status = REG_BULK_FAILED;
        reg_why(res->reason, "line %d: AUTH_TYPE must be BASIC or CERTIFICATES, not '%.40s'",
                row->line, auth);
        return;
    }
    const char *cred = row->credentials ? row->credentials : "";
    if (cert && cred[0] != 0) {
        res->status = REG_BULK_FAILED;
        reg_why(res->reason, "line %d: CREDENTIALS must be empty when AUTH_TYPE is CERTIFICATES",
                row->line);
        return;
    }
    if (!cert && (strlen(cred) < 6 || strlen(cred) > 1024)) {
        res->status = REG_BULK_FAILED;
        reg_why(res->reason,
                "line %d: CREDENTIALS (the device password) must be 6 to 1024 "
                "characters for AUTH_TYPE BASIC",
                row->line);
        return;
    }
    if (row->tenant != NULL && row->tenant[0] != 0 && principal_in_management(actor)) {
        if (!registry_tenant_exists(r, row->tenant)) {
            res->status = REG_BULK_FAILED;
            reg_why(res->reason, "line %d: there is no tenant %.40s", row->line, row->tenant);
        } else if (!principal_may_see_tenant(actor, row->tenant)) {
            /* TENANT is honoured for the management tenant's tenant managers only. */
            res->status = REG_BULK_FAILED;
            reg_why(res->reason,
                    "line %d: registering devices into tenant %.40s needs "
                    "ROLE_TENANT_MANAGEMENT_ADMIN",
                    row->line, row->tenant);
        }
    }
}

int registry_bulk_register(struct registry *r, const struct principal *actor, const char *tenant,
                           const struct reg_bulk_row *rows, int n, struct reg_bulk_result *results)
{
    if (!principal_may_see_tenant(actor, tenant) ||
        !principal_has(actor, ROLE_DEVICE_CONTROL_ADMIN)) {
        return CG_EDENIED;
    }
    enum { CHUNK = 1000 };
    struct bulk_chunk *b = calloc(1, sizeof(*b));
    char **hashes = calloc(CHUNK, sizeof(char *));
    if (b == NULL || hashes == NULL) {
        free(b);
        free(hashes);
        return -ENOMEM;
    }
    int64_t started = time_mono_ms();
    int rc = 0;
    for (int start = 0; start < n; start += CHUNK) {
        int count = n - start < CHUNK ? n - start : CHUNK;
        memset(b, 0, sizeof(*b));
        b->r = r;
        b->actor = actor;
        b->tenant = tenant;
        b->rows = rows + start;
        b->results = results + start;
        b->hashes = hashes;
        b->n = count;
        for (int i = 0; i < count; i++) {
            bulk_validate(r, actor, &b->rows[i], &b->results[i]);
            hashes[i] = NULL;
            const struct reg_bulk_row *row = &b->rows[i];
            bool cert = row->auth_type && strcmp(row->auth_type, "CERTIFICATES") == 0;
            if (b->results[i].status != REG_BULK_FAILED && !cert &&
                reg_password_hash(r, row->credentials, &hashes[i]) < 0) {
                b->results[i].status = REG_BULK_FAILED;
                reg_why(b->results[i].reason, "line %d: could not hash the credentials", row->line);
            }
        }
        rc = store_write(r->store, bulk_tx, bulk_committed, b);
        for (int i = 0; i < count; i++) {
            free_secret(hashes[i]);
        }
        if (rc < 0) {
            for (int i = 0; i < count; i++) {
                if (b->results[i].status != REG_BULK_FAILED) {
                    b->results[i].status = REG_BULK_FAILED;
                    reg_why(b->results[i].reason, "line %d: the database refused the write",
                            b->rows[i].line);
                }
            }
        }
        if (n >= 10000 && ((start + count) % 10000 == 0 || start + count == n)) {
            log_info("bulk registration for tenant %s: %d of %d rows done (%.1f s)", tenant,
                     start + count, n, (double)(time_mono_ms() - started) / 1000.0);
        }
    }
    free(hashes);
    free(b);
    return 0;
}
