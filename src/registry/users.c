/* Users: application users and device users, passwords, Basic authentication. */
#define LOG_MODULE "registry"
#include "registry/registry_int.h"

#include "auth/credcache.h"
#include "auth/loginlimit.h"
#include "auth/password.h"
#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct password_params *params_of(const struct registry *r)
{
    return r->cfg.fast_password_hashing ? &password_params_fast : &password_params_default;
}

int reg_auth_init(struct registry *r)
{
    struct loginlimit_config cfg;
    loginlimit_config_default(&cfg);
    r->user_limit = loginlimit_new(&cfg);
    cfg.free_failures = 50;
    r->addr_limit = loginlimit_new(&cfg);
    r->cred_cache = credcache_new(100000, 60 * 1000);
    return r->user_limit && r->addr_limit && r->cred_cache ? 0 : -ENOMEM;
}

void reg_auth_cleanup(struct registry *r)
{
    loginlimit_free(r->user_limit);
    loginlimit_free(r->addr_limit);
    credcache_free(r->cred_cache);
}

int reg_password_hash(struct registry *r, const char *password, char **out)
{
    return password_hash(params_of(r), password, strlen(password), out);
}

int reg_validate_name(const char *what, const char *name, char *why)
{
    size_t n = strlen(name);
    if (n == 0 || n >= REG_NAME_MAX) {
        reg_why(why, "%s must be 1 to %d bytes long", what, REG_NAME_MAX - 1);
        return -EINVAL;
    }
    if (!utf8_valid((const uint8_t *)name, n, false)) {
        reg_why(why, "%s must be UTF-8 text", what);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == 0x7f || strchr("/+$:", c) != NULL) {
            reg_why(why,
                    "%s '%.64s' contains %s, which is not allowed (no whitespace, control "
                    "characters, '/', '+', '$' or ':')",
                    what, name,
                    c <= ' ' || c == 0x7f ? "whitespace or a control character"
                                          : (c == '/'   ? "'/'"
                                             : c == '+' ? "'+'"
                                             : c == '$' ? "'$'"
                                                        : "':'"));
            return -EINVAL;
        }
    }
    return 0;
}

int reg_user_insert(struct store_conn *c, const struct reg_user *u, const char *hash)
{
    char roles[1024];
    roles_format(u->roles, roles, sizeof(roles));
    struct store_val p[] = {
        SV_TEXT(u->tenant),    SV_TEXT(u->name),       SV_TEXT(hash),
        SV_TEXT(u->email),     SV_TEXT(u->first_name), SV_TEXT(u->last_name),
        SV_TEXT(u->phone),     SV_BOOL(u->enabled),    SV_TEXT(roles),
        SV_BOOL(u->is_device), SV_INT(u->created_ms),  hash ? SV_INT(u->created_ms) : SV_NULL};
    return store_exec(c,
                      "INSERT INTO users(tenant_id, user_name, password_hash, email, first_name,"
                      " last_name, phone, enabled, roles, is_device, created_ms,"
                      " password_changed_ms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
                      p, 12);
}

#define USER_COLUMNS                                                                               \
    "tenant_id, user_name, email, first_name, last_name, phone, enabled, roles, is_device,"        \
    " created_ms, password_changed_ms"

static void user_from_row(const struct store_row *row, struct reg_user *u)
{
    memset(u, 0, sizeof(*u));
    const char *v;
    str_lcpy(u->tenant, (v = store_row_text(row, 0)) ? v : "", sizeof(u->tenant));
    str_lcpy(u->name, (v = store_row_text(row, 1)) ? v : "", sizeof(u->name));
    str_lcpy(u->email, (v = store_row_text(row, 2)) ? v : "", sizeof(u->email));
    str_lcpy(u->first_name, (v = store_row_text(row, 3)) ? v : "", sizeof(u->first_name));
    str_lcpy(u->last_name, (v = store_row_text(row, 4)) ? v : "", sizeof(u->last_name));
    str_lcpy(u->phone, (v = store_row_text(row, 5)) ? v : "", sizeof(u->phone));
    u->enabled = store_row_int(row, 6) != 0;
    u->roles = roles_parse((v = store_row_text(row, 7)) ? v : "", NULL);
    u->is_device = store_row_int(row, 8) != 0;
    u->created_ms = store_row_int(row, 9);
    u->password_changed_ms = store_row_int(row, 10);
}

/* ---- authentication ---- */

struct auth_lookup {
    const char *tenant;
    const char *user;
    struct reg_user u;
    char *hash;
    bool found;
};

static int auth_row(const struct store_row *row, void *arg)
{
    struct auth_lookup *a = arg;
    user_from_row(row, &a->u);
    const char *h = store_row_text(row, 11);
    a->hash = h ? strdup(h) : NULL;
    a->found = true;
    return 1;
}

static int auth_read(struct store_conn *c, void *arg)
{
    struct auth_lookup *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->user)};
    int rc = store_query(c,
                         "SELECT " USER_COLUMNS ", password_hash FROM users"
                         " WHERE tenant_id = $1 AND user_name = $2",
                         p, 2, auth_row, a);
    return rc < 0 ? rc : 0;
}

int registry_auth_basic(struct registry *r, const char *tenant, const char *user,
                        const char *password, const char *source, struct principal *out, char *why)
{
    char resolved[REG_TENANT_ID_MAX];
    char user_key[LOGINLIMIT_KEY_MAX];
    char addr_key[LOGINLIMIT_KEY_MAX];
    size_t pwlen = password ? strlen(password) : 0;
    int64_t now = time_mono_ms();
    if (user == NULL || user[0] == 0 || pwlen == 0 || pwlen > PASSWORD_MAX_LEN) {
        reg_why(why, "empty user name or password");
        return CG_EDENIED;
    }
    if (tenant == NULL || tenant[0] == 0) {
        int rc = registry_tenant_of_user(r, user, resolved);
        if (rc == CG_ECONFLICT) {
            reg_why(why, "user name '%.64s' exists in several tenants: give 'tenant/user'", user);
            return CG_EDENIED;
        }
        if (rc < 0 && rc != -ENOENT) {
            return rc;
        }
        if (rc == -ENOENT) {
            str_lcpy(resolved, REG_MANAGEMENT_TENANT, sizeof(resolved));
        }
        tenant = resolved;
    }
    snprintf(user_key, sizeof(user_key), "u:%.32s/%.80s", tenant, user);
    /* Limit by address, not by connection: drop the port of "ip:port" / "[ip6]:port". */
    char addr[80] = "";
    if (source != NULL) {
        const char *end = source[0] == '[' ? strchr(source, ']') : strrchr(source, ':');
        size_t n = end != NULL ? (size_t)(end - source) + (source[0] == '[') : strlen(source);
        snprintf(addr, sizeof(addr), "%.*s", (int)(n < sizeof(addr) ? n : sizeof(addr) - 1),
                 source);
    }
    snprintf(addr_key, sizeof(addr_key), "a:%s", addr);
    if (!loginlimit_allowed(r->user_limit, user_key, now) ||
        !loginlimit_allowed(r->addr_limit, addr_key, now)) {
        reg_why(why, "too many failed logins for %.32s/%.64s or from %.64s", tenant, user,
                source ? source : "?");
        return -EAGAIN;
    }
    if (!registry_tenant_exists(r, tenant)) {
        password_verify_dummy(params_of(r), password, pwlen);
        loginlimit_record_failure(r->addr_limit, addr_key, now);
        reg_why(why, "no tenant %.32s", tenant);
        return CG_EDENIED;
    }
    struct auth_lookup a = {.tenant = tenant, .user = user};
    int rc = store_read(r->store, auth_read, &a);
    if (rc < 0) {
        free(a.hash);
        return rc;
    }
    bool cached =
        a.found && credcache_check(r->cred_cache, tenant, user, password, pwlen, time_now_ms());
    if (!cached) {
        if (!a.found || a.hash == NULL) {
            password_verify_dummy(params_of(r), password, pwlen);
            rc = CG_EDENIED;
        } else {
            rc = password_verify(a.hash, password, pwlen);
        }
        if (rc != 0) {
            free(a.hash);
            loginlimit_record_failure(r->user_limit, user_key, now);
            loginlimit_record_failure(r->addr_limit, addr_key, now);
            reg_why(why, "%s", a.found ? "wrong password" : "no such user");
            return CG_EDENIED;
        }
        credcache_put(r->cred_cache, tenant, user, password, pwlen, time_now_ms());
    }
    free(a.hash);
    if (!a.u.enabled) {
        reg_why(why, "user %.32s/%.64s is disabled", tenant, user);
        return CG_EDENIED;
    }
    if (!registry_tenant_active(r, tenant)) {
        reg_why(why, "tenant %.32s is suspended", tenant);
        return CG_EDENIED;
    }
    loginlimit_record_success(r->user_limit, user_key);
    memset(out, 0, sizeof(*out));
    out->via = PRINCIPAL_BASIC;
    str_lcpy(out->tenant, tenant, sizeof(out->tenant));
    str_lcpy(out->user, user, sizeof(out->user));
    out->roles = a.u.roles;
    if (a.u.is_device && str_has_prefix(user, "device_")) {
        str_lcpy(out->device, user + strlen("device_"), sizeof(out->device));
    }
    return 0;
}

/* ---- CRUD ---- */

static bool may_manage_users(const struct principal *actor, const char *tenant)
{
    return actor->via == PRINCIPAL_SYSTEM ||
           (principal_may_see_tenant(actor, tenant) &&
            principal_has(actor, ROLE_USER_MANAGEMENT_ADMIN | ROLE_TENANT_ADMIN |
                                     ROLE_TENANT_MANAGEMENT_ADMIN));
}

struct user_args {
    struct registry *r;
    const struct principal *actor;
    const struct reg_user *u;
    unsigned fields;
    char *hash;
    char *why;
};

static int user_create_tx(struct store_conn *c, void *arg)
{
    struct user_args *a = arg;
    int rc = reg_user_insert(c, a->u, a->hash);
    if (rc == CG_ECONFLICT) {
        reg_why(a->why, "user %s already exists", a->u->name);
        return rc;
    }
    if (rc < 0) {
        return rc;
    }
    char roles[1024];
    roles_format(a->u->roles, roles, sizeof(roles));
    rc = reg_audit_tx(c, a->u->tenant, "User", "User created", "INFORMATION",
                      reg_actor_name(a->actor), a->u->name, "User %s created with roles %s",
                      a->u->name, roles[0] ? roles : "(none)");
    return rc < 0 ? rc : 1;
}

static int check_password(const char *password, char *why)
{
    size_t n = password ? strlen(password) : 0;
    if (n < 6 || n > PASSWORD_MAX_LEN) {
        reg_why(why, "password must be 6 to %d characters", PASSWORD_MAX_LEN);
        return -EINVAL;
    }
    return 0;
}

int registry_user_create(struct registry *r, const struct principal *actor,
                         const struct reg_user *u, const char *password, char *why)
{
    if (!may_manage_users(actor, u->tenant)) {
        reg_why(why, "creating users needs ROLE_USER_MANAGEMENT_ADMIN");
        return CG_EDENIED;
    }
    if (reg_validate_name("userName", u->name, why) < 0) {
        return -EINVAL;
    }
    if (str_has_prefix(u->name, "device_") && !u->is_device) {
        reg_why(why, "user names starting with 'device_' are reserved for device users");
        return -EINVAL;
    }
    /* A tenant admin cannot grant what only the management tenant holds. */
    if ((u->roles & (ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ)) &&
        strcmp(u->tenant, REG_MANAGEMENT_TENANT) != 0) {
        reg_why(why, "tenant management roles exist only in the management tenant");
        return -EINVAL;
    }
    if ((password != NULL || !u->is_device) && check_password(password, why) < 0) {
        return -EINVAL;
    }
    struct user_args a = {.r = r, .actor = actor, .u = u, .why = why};
    if (password != NULL) {
        int rc = reg_password_hash(r, password, &a.hash);
        if (rc < 0) {
            return rc;
        }
    }
    int rc = store_write(r->store, user_create_tx, NULL, &a);
    free_secret(a.hash);
    return rc < 0 ? rc : 0;
}

struct user_get_args {
    const char *tenant, *name;
    struct reg_user *out;
};

static int user_get_row(const struct store_row *row, void *arg)
{
    user_from_row(row, arg);
    return 1;
}

static int user_get_read(struct store_conn *c, void *arg)
{
    struct user_get_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->name)};
    int rc =
        store_query(c, "SELECT " USER_COLUMNS " FROM users WHERE tenant_id = $1 AND user_name = $2",
                    p, 2, user_get_row, a->out);
    return rc == 0 ? -ENOENT : rc < 0 ? rc : 0;
}

int registry_user_get(struct registry *r, const char *tenant, const char *name,
                      struct reg_user *out)
{
    struct user_get_args a = {.tenant = tenant, .name = name, .out = out};
    return store_read(r->store, user_get_read, &a);
}

struct user_list_args {
    const char *tenant;
    bool only_devices;
    char *prefix;
    int64_t offset;
    int limit;
    struct reg_user *items;
    int n;
    int64_t total;
};

static int user_list_row(const struct store_row *row, void *arg)
{
    struct user_list_args *a = arg;
    user_from_row(row, &a->items[a->n++]);
    return 0;
}

static int user_list_read(struct store_conn *c, void *arg)
{
    struct user_list_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_BOOL(a->only_devices), SV_TEXT(a->prefix),
                            SV_INT(a->limit), SV_INT(a->offset)};
#define USER_WHERE                                                                                 \
    " WHERE tenant_id = $1 AND is_device = $2 AND ($3 IS NULL OR user_name LIKE $3 ESCAPE '\\')"
    int rc = store_query_int(c, "SELECT COUNT(*) FROM users" USER_WHERE, p, 3, &a->total);
    if (rc < 0) {
        return rc;
    }
    rc = store_query(
        c, "SELECT " USER_COLUMNS " FROM users" USER_WHERE " ORDER BY user_name LIMIT $4 OFFSET $5",
        p, 5, user_list_row, a);
    return rc < 0 ? rc : 0;
}

int registry_user_list(struct registry *r, const char *tenant, bool only_devices,
                       const char *prefix, int64_t offset, int limit, struct reg_user **items,
                       int *n, int64_t *total)
{
    struct user_list_args a = {
        .tenant = tenant, .only_devices = only_devices, .offset = offset, .limit = limit};
    if (prefix != NULL && prefix[0] != 0) {
        size_t len = strlen(prefix);
        a.prefix = malloc(2 * len + 2);
        if (a.prefix == NULL) {
            return -ENOMEM;
        }
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
            if (prefix[i] == '%' || prefix[i] == '_' || prefix[i] == '\\') {
                a.prefix[o++] = '\\';
            }
            a.prefix[o++] = prefix[i];
        }
        a.prefix[o++] = '%';
        a.prefix[o] = 0;
    }
    a.items = calloc(limit > 0 ? (size_t)limit : 1, sizeof(*a.items));
    if (a.items == NULL) {
        free(a.prefix);
        return -ENOMEM;
    }
    int rc = store_read(r->store, user_list_read, &a);
    free(a.prefix);
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

static int user_update_tx(struct store_conn *c, void *arg)
{
    struct user_args *a = arg;
    const struct reg_user *u = a->u;
    unsigned f = a->fields;
    char roles[1024];
    roles_format(u->roles, roles, sizeof(roles));
    struct store_val p[] = {
        SV_TEXT(u->tenant),
        SV_TEXT(u->name),
        (f & REG_USER_EMAIL) ? SV_TEXT(u->email) : SV_NULL,
        (f & REG_USER_FIRST_NAME) ? SV_TEXT(u->first_name) : SV_NULL,
        (f & REG_USER_LAST_NAME) ? SV_TEXT(u->last_name) : SV_NULL,
        (f & REG_USER_PHONE) ? SV_TEXT(u->phone) : SV_NULL,
        (f & REG_USER_ENABLED) ? SV_BOOL(u->enabled) : SV_NULL,
        (f & REG_USER_ROLES) ? SV_TEXT(roles) : SV_NULL,
        (f & REG_USER_PASSWORD) ? SV_TEXT(a->hash) : SV_NULL,
        (f & REG_USER_PASSWORD) ? SV_INT(time_now_ms()) : SV_NULL,
    };
    int rc = store_exec(c,
                        "UPDATE users SET email = COALESCE($3, email),"
                        " first_name = COALESCE($4, first_name),"
                        " last_name = COALESCE($5, last_name), phone = COALESCE($6, phone),"
                        " enabled = COALESCE($7, enabled), roles = COALESCE($8, roles),"
                        " password_hash = COALESCE($9, password_hash),"
                        " password_changed_ms = COALESCE($10, password_changed_ms)"
                        " WHERE tenant_id = $1 AND user_name = $2",
                        p, 10);
    if (rc == 0) {
        return -ENOENT;
    }
    if (rc < 0) {
        return rc;
    }
    rc = reg_audit_tx(
        c, u->tenant, "User", (f & REG_USER_PASSWORD) ? "User password updated" : "User updated",
        "INFORMATION", reg_actor_name(a->actor), u->name, "User %s updated%s%s", u->name,
        (f & REG_USER_ROLES) ? ", roles: " : "", (f & REG_USER_ROLES) ? roles : "");
    return rc < 0 ? rc : 1;
}

static void user_updated(void *arg, int rc)
{
    struct user_args *a = arg;
    credcache_invalidate_user(a->r->cred_cache, a->u->tenant, a->u->name);
    if ((a->fields & REG_USER_ENABLED) && !a->u->enabled) {
        struct reg_event ev = {.kind = REG_EVENT_USER_REMOVED};
        str_lcpy(ev.tenant, a->u->tenant, sizeof(ev.tenant));
        str_lcpy(ev.user, a->u->name, sizeof(ev.user));
        str_lcpy(ev.actor, reg_actor_name(a->actor), sizeof(ev.actor));
        reg_emit(a->r, &ev);
    }
}

int registry_user_update(struct registry *r, const struct principal *actor,
                         const struct reg_user *u, unsigned fields, const char *password, char *why)
{
    bool self = actor->via != PRINCIPAL_SYSTEM && strcmp(actor->tenant, u->tenant) == 0 &&
                strcmp(actor->user, u->name) == 0;
    if (!may_manage_users(actor, u->tenant) &&
        !(self && !(fields & (REG_USER_ROLES | REG_USER_ENABLED)) &&
          principal_has(actor, ROLE_USER_MANAGEMENT_OWN_ADMIN))) {
        reg_why(why, "changing users needs ROLE_USER_MANAGEMENT_ADMIN");
        return CG_EDENIED;
    }
    if (self && (fields & REG_USER_ENABLED) && !u->enabled) {
        reg_why(why, "you cannot disable yourself");
        return -EINVAL;
    }
    if ((fields & REG_USER_ROLES) &&
        (u->roles & (ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ)) &&
        strcmp(u->tenant, REG_MANAGEMENT_TENANT) != 0) {
        reg_why(why, "tenant management roles exist only in the management tenant");
        return -EINVAL;
    }
    struct user_args a = {.r = r, .actor = actor, .u = u, .fields = fields, .why = why};
    if (fields & REG_USER_PASSWORD) {
        if (check_password(password, why) < 0) {
            return -EINVAL;
        }
        int rc = reg_password_hash(r, password, &a.hash);
        if (rc < 0) {
            return rc;
        }
    }
    int rc = store_write(r->store, user_update_tx, user_updated, &a);
    free_secret(a.hash);
    return rc < 0 ? rc : 0;
}

struct user_delete_args {
    struct registry *r;
    const struct principal *actor;
    const char *tenant, *name;
    char *why;
};

static int user_delete_tx(struct store_conn *c, void *arg)
{
    struct user_delete_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->tenant), SV_TEXT(a->name)};
    int rc = store_exec(c, "DELETE FROM users WHERE tenant_id = $1 AND user_name = $2", p, 2);
    if (rc == 0) {
        return -ENOENT;
    }
    if (rc < 0) {
        return rc;
    }
    if (strcmp(a->tenant, REG_MANAGEMENT_TENANT) == 0) {
        int64_t admins = 0;
        rc = store_query_int(c,
                             "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND enabled = 1"
                             " AND roles LIKE '%ROLE_TENANT_MANAGEMENT_ADMIN%'",
                             p, 1, &admins);
        if (rc < 0) {
            return rc;
        }
        if (admins == 0) {
            reg_why(a->why, "the management tenant's last administrator cannot be deleted");
            return -EINVAL;
        }
    }
    rc = reg_audit_tx(c, a->tenant, "User", "User deleted", "INFORMATION", reg_actor_name(a->actor),
                      a->name, "User %s deleted", a->name);
    return rc < 0 ? rc : 1;
}

static void user_deleted(void *arg, int rc)
{
    struct user_delete_args *a = arg;
    credcache_invalidate_user(a->r->cred_cache, a->tenant, a->name);
    struct reg_event ev = {.kind = REG_EVENT_USER_REMOVED};
    str_lcpy(ev.tenant, a->tenant, sizeof(ev.tenant));
    str_lcpy(ev.user, a->name, sizeof(ev.user));
    str_lcpy(ev.actor, reg_actor_name(a->actor), sizeof(ev.actor));
    reg_emit(a->r, &ev);
}

int registry_user_delete(struct registry *r, const struct principal *actor, const char *tenant,
                         const char *name, char *why)
{
    if (!may_manage_users(actor, tenant)) {
        reg_why(why, "deleting users needs ROLE_USER_MANAGEMENT_ADMIN");
        return CG_EDENIED;
    }
    if (strcmp(actor->tenant, tenant) == 0 && strcmp(actor->user, name) == 0) {
        reg_why(why, "you cannot delete yourself");
        return -EINVAL;
    }
    struct user_delete_args a = {
        .r = r, .actor = actor, .tenant = tenant, .name = name, .why = why};
    int rc = store_write(r->store, user_delete_tx, user_deleted, &a);
    return rc < 0 ? rc : 0;
}
