/* Users and roles (reference §13.3).
 *
 * Paths carry the tenant: /user/{tenantId}/users[/{userName}]. A tenant id the caller may not
 * see (another tenant, unless the caller is a tenant manager of the management tenant) is
 * answered 404 "There is no tenant with id = X", like a tenant that does not exist.
 *
 * Roles: reading users needs ROLE_USER_MANAGEMENT_READ (or _ADMIN); creating, changing and
 * deleting them, and assigning roles, ROLE_USER_MANAGEMENT_ADMIN. A user may always read
 * itself (ROLE_USER_MANAGEMENT_OWN_READ) and change its own profile and password through
 * /user/currentUser (ROLE_USER_MANAGEMENT_OWN_ADMIN). A caller can grant only roles it holds
 * itself, so a user manager cannot raise its own privileges.
 *
 * Users have roles directly (there are no groups in certgate): they appear in the user JSON as
 * roles.references[].role and are assigned with POST .../users/{u}/roles. A new user gets
 * ROLE_USER_MANAGEMENT_OWN_READ and ROLE_USER_MANAGEMENT_OWN_ADMIN plus what the body asks.
 *
 * Passwords are write-only: no answer ever contains one.
 */
#define LOG_MODULE "rest"
#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "server/rest.h"
#include "server/rest_json_common.h"

#include <stdlib.h>
#include <string.h>

#define READ_ROLES (ROLE_USER_MANAGEMENT_READ | ROLE_USER_MANAGEMENT_ADMIN)
#define ADMIN_ROLES ROLE_USER_MANAGEMENT_ADMIN
#define DEFAULT_ROLES (ROLE_USER_MANAGEMENT_OWN_READ | ROLE_USER_MANAGEMENT_OWN_ADMIN)
#define EMAIL_MAX 256

/* {self, references: [{self, role}]} of a user's roles. */
static json_t *role_refs(struct rest_ctx *x, const char *base, uint32_t mask)
{
    json_t *refs = json_array();
    int it = 0;
    uint32_t bit;
    while ((bit = roles_next(mask, &it)) != 0) {
        json_t *role = rest_role_json(x, bit);
        if (role == NULL) {
            continue;
        }
        char *self = str_printf("%s/roles/%s", base, roles_name(bit));
        json_array_append_new(refs, json_pack("{s:s?, s:o}", "self", self, "role", role));
        free(self);
    }
    char *self = str_printf("%s/roles", base);
    json_t *v = json_pack("{s:s?, s:o}", "self", self, "references", refs);
    free(self);
    return v;
}

static void set_nonempty(json_t *v, const char *key, const char *value)
{
    if (value != NULL && value[0] != 0) {
        json_object_set_new(v, key, json_string(value));
    }
}

/* The user JSON of §13.3 (never with a password). */
static json_t *user_json(struct rest_ctx *x, const struct reg_user *u)
{
    char *tenant = rest_pct(u->tenant);
    char *name = rest_pct(u->name);
    char *base = tenant && name ? rest_url(x, "/user/%s/users/%s", tenant, name) : NULL;
    char *groups = base ? str_printf("%s/groups", base) : NULL;
    free(tenant);
    free(name);
    if (base == NULL || groups == NULL) {
        free(base);
        free(groups);
        return NULL;
    }
    json_t *v = json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:{s:s, s:[]}, s:[], s:{}, s:{}}",
                          "id", u->name, "self", base, "userName", u->name, "enabled", u->enabled,
                          "shouldResetPassword", false, "twoFactorAuthenticationEnabled", false,
                          "roles", role_refs(x, base, u->roles), "groups", "self", groups,
                          "references", "applications", "devicePermissions", "customProperties");
    free(base);
    free(groups);
    if (v == NULL) {
        return NULL;
    }
    set_nonempty(v, "email", u->email);
    set_nonempty(v, "firstName", u->first_name);
    set_nonempty(v, "lastName", u->last_name);
    set_nonempty(v, "phone", u->phone);
    if (u->first_name[0] || u->last_name[0]) {
        char *display = str_printf("%s%s%s", u->first_name,
                                   u->first_name[0] && u->last_name[0] ? " " : "", u->last_name);
        set_nonempty(v, "displayName", display);
        free(display);
    }
    if (u->password_changed_ms > 0) {
        json_object_set_new(v, "lastPasswordChange", rest_time(u->password_changed_ms));
    }
    if (u->is_device && str_has_prefix(u->name, "device_")) {
        json_object_set_new(v, "deviceId", json_string(u->name + strlen("device_")));
    }
    return v;
}

/* The CurrentUser JSON (as GET /user/currentUser answers it). */
static json_t *current_user_json(struct rest_ctx *x, const struct reg_user *u)
{
    json_t *effective = json_array();
    int it = 0;
    uint32_t bit;
    while ((bit = roles_next(u->roles, &it)) != 0) {
        json_t *r = rest_role_json(x, bit);
        if (r != NULL) {
            json_array_append_new(effective, r);
        }
    }
    char *self = rest_url(x, "/user/currentUser");
    json_t *v =
        json_pack("{s:s, s:s?, s:s, s:b, s:b, s:o, s:s}", "id", u->name, "self", self, "userName",
                  u->name, "shouldResetPassword", false, "twoFactorAuthenticationEnabled", false,
                  "effectiveRoles", effective, "tenant", u->tenant);
    free(self);
    if (v == NULL) {
        return NULL;
    }
    set_nonempty(v, "email", u->email);
    set_nonempty(v, "firstName", u->first_name);
    set_nonempty(v, "lastName", u->last_name);
    set_nonempty(v, "phone", u->phone);
    if (u->password_changed_ms > 0) {
        json_object_set_new(v, "lastPasswordChange", rest_time(u->password_changed_ms));
    }
    return v;
}

static void no_user(struct rest_ctx *x, const char *name)
{
    rest_error(x, 404, "users/Not Found", "There is no user with name '%.255s'", name);
}

static bool is_self(const struct rest_ctx *x, const char *tenant, const char *name)
{
    return x->who.via == PRINCIPAL_BASIC && strcmp(x->who.tenant, tenant) == 0 &&
           strcmp(x->who.user, name) == 0;
}

/* Load a user into *u; answers 404/500 and returns false. */
static bool load_user(struct rest_ctx *x, const char *tenant, const char *name, struct reg_user *u)
{
    int rc = registry_user_get(x->reg, tenant, name, u);
    if (rc == -ENOENT) {
        no_user(x, name);
        return false;
    }
    if (rc < 0) {
        rest_fail(x, rc, "users", "", "");
        return false;
    }
    return true;
}

/* Read the profile members (email, firstName, lastName, phone) into u; adds REG_USER_* bits
 * to *fields. false after answering 422. */
static bool read_profile(struct rest_ctx *x, const json_t *body, struct reg_user *u,
                         unsigned *fields)
{
    const char *email, *first, *last, *phone;
    if (!rest_body_string(x, "users", body, "email", EMAIL_MAX, false, &email) ||
        !rest_body_string(x, "users", body, "firstName", sizeof(u->first_name) - 1, false,
                          &first) ||
        !rest_body_string(x, "users", body, "lastName", sizeof(u->last_name) - 1, false, &last) ||
        !rest_body_string(x, "users", body, "phone", sizeof(u->phone) - 1, false, &phone)) {
        return false;
    }
    if (email != NULL) {
        const char *at = strchr(email, '@');
        if (email[0] != 0 && (at == NULL || at == email || at[1] == 0)) {
            rest_error(x, 422, "users/Unprocessable Entity",
                       "email must be an e-mail address such as jane@example.com");
            return false;
        }
        str_lcpy(u->email, email, sizeof(u->email));
        *fields |= REG_USER_EMAIL;
    }
    if (first != NULL) {
        str_lcpy(u->first_name, first, sizeof(u->first_name));
        *fields |= REG_USER_FIRST_NAME;
    }
    if (last != NULL) {
        str_lcpy(u->last_name, last, sizeof(u->last_name));
        *fields |= REG_USER_LAST_NAME;
    }
    if (phone != NULL) {
        str_lcpy(u->phone, phone, sizeof(u->phone));
        *fields |= REG_USER_PHONE;
    }
    return true;
}

/* The roles a POST body asks for: {"roles": {"references": [{"role": {...}}]}}. Returns
 * false after answering. */
static bool read_roles(struct rest_ctx *x, const json_t *body, uint32_t *mask)
{
    const json_t *roles = json_object_get(body, "roles");
    if (roles == NULL || json_is_null(roles)) {
        return true;
    }
    const json_t *refs = json_object_get(roles, "references");
    if (!json_is_object(roles) || !json_is_array(refs)) {
        rest_error(x, 422, "users/Unprocessable Entity",
                   "roles must be {\"references\": [{\"role\": {\"id\": \"ROLE_...\"}}]}");
        return false;
    }
    size_t i;
    const json_t *ref;
    json_array_foreach(refs, i, ref)
    {
        uint32_t bit = rest_role_from_ref(x, ref);
        if (bit == 0) {
            return false;
        }
        *mask |= bit;
    }
    return true;
}

/* A caller grants only roles it holds. */
static bool may_grant(struct rest_ctx *x, uint32_t mask)
{
    uint32_t missing = mask & ~x->who.roles;
    if (missing == 0) {
        return true;
    }
    char names[1024];
    roles_format(missing, names, sizeof(names));
    rest_error(x, 403, "security/Forbidden",
               "Access is denied. You can grant only roles you hold yourself (not %s).", names);
    return false;
}

static void post_user(struct rest_ctx *x)
{
    const char *tenant = rest_param(x, "tenantId");
    json_t *body = NULL;
    struct reg_user u;
    memset(&u, 0, sizeof(u));
    char why[REG_WHY_MAX] = "";
    unsigned fields = 0;
    const char *name, *password;
    bool reset_mail = false;
    if (!rest_accept_check(x) || !rest_tenant_visible(x, tenant) || !rest_require(x, ADMIN_ROLES) ||
        (body = rest_body_json(x)) == NULL) {
        goto out;
    }
    u.enabled = true;
    u.roles = DEFAULT_ROLES;
    if (!rest_body_string(x, "users", body, "userName", REG_NAME_MAX - 1, true, &name) ||
        !rest_body_string(x, "users", body, "password", 1024, false, &password) ||
        !rest_body_bool(x, "users", body, "sendPasswordResetEmail", &reset_mail, NULL) ||
        !rest_body_bool(x, "users", body, "enabled", &u.enabled, NULL) ||
        !read_profile(x, body, &u, &fields) || !read_roles(x, body, &u.roles)) {
        goto out;
    }
    if (u.email[0] == 0) {
        rest_error(x, 422, "users/Unprocessable Entity", "email is required");
        goto out;
    }
    if (password == NULL || password[0] == 0) {
        rest_error(x, 422, "users/Unprocessable Entity",
                   reset_mail ? "password is required: certgate sends no password reset e-mail"
                              : "password is required (6 to 1024 characters)");
        goto out;
    }
    if (!may_grant(x, u.roles & ~(uint32_t)DEFAULT_ROLES)) {
        goto out;
    }
    str_lcpy(u.tenant, tenant, sizeof(u.tenant));
    str_lcpy(u.name, name, sizeof(u.name));
    int rc = registry_user_create(x->reg, &x->who, &u, password, why);
    if (rc < 0) {
        rest_fail(x, rc, "users", why, "");
        goto out;
    }
    struct reg_user created;
    if (!load_user(x, tenant, name, &created)) {
        goto out;
    }
    char *enc = rest_pct(name);
    rest_location(x, "/user/%s/users/%s", tenant, enc ? enc : "");
    free(enc);
    rest_json(x, 201, user_json(x, &created), MEDIA_USER);
out:
    json_decref(body);
}

static void get_users(struct rest_ctx *x)
{
    const char *tenant = rest_param(x, "tenantId");
    struct http_paging pg;
    int64_t offset;
    bool only_devices = false;
    if (!rest_accept_check(x) || !rest_tenant_visible(x, tenant) || !rest_require(x, READ_ROLES) ||
        !rest_page(x, &pg, &offset) || !rest_query_bool(x, "onlyDevices", false, &only_devices)) {
        return;
    }
    const char *prefix = http_query_get(&x->query, "username");
    struct reg_user *items = NULL;
    int n = 0;
    int64_t total = 0;
    int rc = registry_user_list(x->reg, tenant, only_devices, prefix, offset, (int)pg.page_size,
                                &items, &n, &total);
    if (rc < 0) {
        rest_fail(x, rc, "users", "", "");
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, user_json(x, &items[i]));
    }
    free(items);
    rest_json(x, 200, rest_collection(x, "users", arr, &pg, total), MEDIA_USER_COLL);
}

/* GET /user/{t}/users/{userName} and /user/{t}/userByName/{userName}. */
static void get_user(struct rest_ctx *x)
{
    const char *tenant = rest_param(x, "tenantId");
    const char *name = rest_param(x, "userName");
    if (!rest_accept_check(x) || !rest_tenant_visible(x, tenant)) {
        return;
    }
    if (!(is_self(x, tenant, name) && principal_has(&x->who, ROLE_USER_MANAGEMENT_OWN_READ)) &&
        !rest_require(x, READ_ROLES)) {
        return;
    }
    struct reg_user u;
    if (!load_user(x, tenant, name, &u)) {
        return;
    }
    rest_json(x, 200, user_json(x, &u), MEDIA_USER);
}

static void put_user(struct rest_ctx *x)
{
    const char *tenant = rest_param(x, "tenantId");
    const char *name = rest_param(x, "userName");
    json_t *body = NULL;
    struct reg_user u;
    memset(&u, 0, sizeof(u));
    char why[REG_WHY_MAX] = "";
    unsigned fields = 0;
    const char *user_name, *password;
    bool enabled_given = false;
    if (!rest_accept_check(x) || !rest_tenant_visible(x, tenant)) {
        goto out;
    }
    if (!(is_self(x, tenant, name) && principal_has(&x->who, ROLE_USER_MANAGEMENT_OWN_ADMIN)) &&
        !rest_require(x, ADMIN_ROLES)) {
        goto out;
    }
    if ((body = rest_body_json(x)) == NULL) {
        goto out;
    }
    if (!load_user(x, tenant, name, &u)) {
        goto out;
    }
    if (!rest_body_string(x, "users", body, "userName", REG_NAME_MAX - 1, false, &user_name) ||
        !rest_body_string(x, "users", body, "password", 1024, false, &password) ||
        !rest_body_bool(x, "users", body, "enabled", &u.enabled, &enabled_given) ||
        !read_profile(x, body, &u, &fields)) {
        goto out;
    }
    if (user_name != NULL && strcmp(user_name, name) != 0) {
        rest_error(x, 422, "users/Unprocessable Entity", "userName cannot be changed");
        goto out;
    }
    if (enabled_given) {
        fields |= REG_USER_ENABLED;
    }
    if (password != NULL) {
        /* Without the admin role a user changes its password only by proving the current
         * one. */
        if (!principal_has(&x->who, ADMIN_ROLES)) {
            rest_error(x, 403, "security/Forbidden",
                       "Access is denied. Change your own password with PUT "
                       "/user/currentUser/password.");
            goto out;
        }
        fields |= REG_USER_PASSWORD;
    }
    if (fields != 0) {
        int rc = registry_user_update(x->reg, &x->who, &u, fields, password, why);
        if (rc == -ENOENT) {
            no_user(x, name);
            goto out;
        }
        if (rc < 0) {
            rest_fail(x, rc, "users", why, "");
            goto out;
        }
        if (!load_user(x, tenant, name, &u)) {
            goto out;
        }
    }
    rest_json(x, 200, user_json(x, &u), MEDIA_USER);
out:
    json_decref(body);
}

static void delete_user(struct rest_ctx *x)
{
    const char *tenant = rest_param(x, "tenantId");
    const char *name = rest_param(x, "userName");
    char why[REG_WHY_MAX] = "";
    if (!rest_tenant_visible(x, tenant) || !rest_require(x, ADMIN_ROLES)) {
        return;
    }
    int rc = registry_user_delete(x->reg, &x->who, tenant, name, why);
    if (rc == -ENOENT) {
        no_user(x, name);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "users", why, "");
        return;
    }
    rest_empty(x, 204);
}

/* ---- role assignment ---- */

static void post_user_role(struct rest_ctx *x)
{
    const char *tenant = rest_param(x, "tenantId");
    const char *name = rest_param(x, "userName");
    json_t *body = NULL;
    char why[REG_WHY_MAX] = "";
    struct reg_user u;
    if (!rest_accept_check(x) || !rest_tenant_visible(x, tenant) || !rest_require(x, ADMIN_ROLES) ||
        (body = rest_body_json(x)) == NULL) {
        goto out;
    }
    uint32_t bit = rest_role_from_ref(x, body);
    if (bit == 0 || !may_grant(x, bit) || !load_user(x, tenant, name, &u)) {
        goto out;
    }
    if (u.roles & bit) {
        rest_error(x, 409, "users/Conflict", "user '%.255s' already has role %s", name,
                   roles_name(bit));
        goto out;
    }
    u.roles |= bit;
    int rc = registry_user_update(x->reg, &x->who, &u, REG_USER_ROLES, NULL, why);
    if (rc == -ENOENT) {
        no_user(x, name);
        goto out;
    }
    if (rc < 0) {
        rest_fail(x, rc, "users", why, "");
        goto out;
    }
    char *enc = rest_pct(name);
    char *self = rest_url(x, "/user/%s/users/%s/roles/%s", tenant, enc ? enc : "", roles_name(bit));
    rest_location(x, "/user/%s/users/%s/roles/%s", tenant, enc ? enc : "", roles_name(bit));
    free(enc);
    json_t *v = json_pack("{s:s?, s:o}", "self", self, "role", rest_role_json(x, bit));
    free(self);
    rest_json(x, 201, v, MEDIA_ROLE_REF);
out:
    json_decref(body);
}

static void delete_user_role(struct rest_ctx *x)
{
    const char *tenant = rest_param(x, "tenantId");
    const char *name = rest_param(x, "userName");
    const char *role = rest_param(x, "roleId");
    char why[REG_WHY_MAX] = "";
    struct reg_user u;
    if (!rest_tenant_visible(x, tenant) || !rest_require(x, ADMIN_ROLES) ||
        !load_user(x, tenant, name, &u)) {
        return;
    }
    uint32_t bit = str_has_prefix(role, "ROLE_") ? roles_parse_name(role) : 0;
    if (bit == 0 || !(u.roles & bit)) {
        rest_error(x, 404, "users/Not Found", "Cannot find the specified role.");
        return;
    }
    if (bit == ROLE_TENANT_MANAGEMENT_ADMIN && is_self(x, tenant, name)) {
        rest_error(x, 422, "users/Unprocessable Entity",
                   "you cannot remove ROLE_TENANT_MANAGEMENT_ADMIN from yourself");
        return;
    }
    u.roles &= ~bit;
    int rc = registry_user_update(x->reg, &x->who, &u, REG_USER_ROLES, NULL, why);
    if (rc == -ENOENT) {
        no_user(x, name);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "users", why, "");
        return;
    }
    rest_empty(x, 204);
}

/* ---- the current user ---- */

/* Only user principals (Basic) have a changeable profile; devices do not. */
static bool require_user(struct rest_ctx *x)
{
    if (x->who.via != PRINCIPAL_BASIC || x->who.device[0] != 0) {
        rest_error(x, 403, "security/Forbidden",
                   "Access is denied. Device users cannot change their user profile.");
        return false;
    }
    return rest_require(x, ROLE_USER_MANAGEMENT_OWN_ADMIN);
}

static void put_current_user(struct rest_ctx *x)
{
    json_t *body = NULL;
    char why[REG_WHY_MAX] = "";
    struct reg_user u;
    unsigned fields = 0;
    if (!rest_accept_check(x) || !require_user(x) || (body = rest_body_json(x)) == NULL ||
        !load_user(x, x->who.tenant, x->who.user, &u)) {
        goto out;
    }
    if (json_object_get(body, "password") != NULL) {
        rest_error(x, 422, "users/Unprocessable Entity",
                   "change your password with PUT /user/currentUser/password "
                   "{\"currentUserPassword\", \"newPassword\"}");
        goto out;
    }
    if (!read_profile(x, body, &u, &fields)) {
        goto out;
    }
    if (fields != 0) {
        int rc = registry_user_update(x->reg, &x->who, &u, fields, NULL, why);
        if (rc < 0) {
            rest_fail(x, rc, "users", why, "the user no longer exists");
            goto out;
        }
        if (!load_user(x, x->who.tenant, x->who.user, &u)) {
            goto out;
        }
    }
    rest_json(x, 200, current_user_json(x, &u), MEDIA_CURRENT_USER);
out:
    json_decref(body);
}

static void put_current_user_password(struct rest_ctx *x)
{
    json_t *body = NULL;
    char why[REG_WHY_MAX] = "";
    struct reg_user u;
    const char *current, *fresh;
    if (!require_user(x) || (body = rest_body_json(x)) == NULL) {
        goto out;
    }
    if (!rest_body_string(x, "users", body, "currentUserPassword", 1024, true, &current) ||
        !rest_body_string(x, "users", body, "newPassword", 1024, true, &fresh)) {
        goto out;
    }
    struct principal check;
    int rc = registry_auth_basic(x->reg, x->who.tenant, x->who.user, current, x->peer, &check, why);
    secure_zero(&check, sizeof(check));
    if (rc == -EAGAIN) {
        rest_error(x, 429, "security/Too Many Requests",
                   "Too many failed logins; try again later.");
        rest_field(x, "Retry-After", "60");
        goto out;
    }
    if (rc < 0) {
        log_info("password change refused for %s/%s from %s: %s", x->who.tenant, x->who.user,
                 x->peer, why);
        rest_error(x, 422, "users/Unprocessable Entity", "currentUserPassword is not correct");
        goto out;
    }
    if (!load_user(x, x->who.tenant, x->who.user, &u)) {
        goto out;
    }
    why[0] = 0;
    rc = registry_user_update(x->reg, &x->who, &u, REG_USER_PASSWORD, fresh, why);
    if (rc < 0) {
        rest_fail(x, rc, "users", why, "the user no longer exists");
        goto out;
    }
    rest_empty(x, 200);
out:
    json_decref(body);
}

/* ---- roles ---- */

static void get_roles(struct rest_ctx *x)
{
    struct http_paging pg;
    int64_t offset;
    if (!rest_accept_check(x) || !rest_page(x, &pg, &offset)) {
        return;
    }
    json_t *arr = json_array();
    int64_t total = 0;
    int it = 0;
    uint32_t bit;
    while ((bit = roles_next(0xffffffffu, &it)) != 0) {
        if (roles_name(bit) == NULL) {
            continue;
        }
        if (total >= offset && total < offset + pg.page_size) {
            json_array_append_new(arr, rest_role_json(x, bit));
        }
        total++;
    }
    rest_json(x, 200, rest_collection(x, "roles", arr, &pg, total), MEDIA_ROLE_COLL);
}

static void get_role(struct rest_ctx *x)
{
    const char *name = rest_param(x, "roleName");
    if (!rest_accept_check(x)) {
        return;
    }
    uint32_t bit = str_has_prefix(name, "ROLE_") ? roles_parse_name(name) : 0;
    if (bit == 0) {
        rest_error(x, 404, "roles/Not Found", "There is no role '%.64s'", name);
        return;
    }
    rest_json(x, 200, rest_role_json(x, bit), MEDIA_ROLE);
}

REST_ROUTES(rest_routes_users, {HTTP_METHOD_POST, "/user/{tenantId}/users", REST_AUTH, post_user},
            {HTTP_METHOD_GET, "/user/{tenantId}/users", REST_AUTH, get_users},
            {HTTP_METHOD_GET, "/user/{tenantId}/users/{userName}", REST_AUTH, get_user},
            {HTTP_METHOD_PUT, "/user/{tenantId}/users/{userName}", REST_AUTH, put_user},
            {HTTP_METHOD_DELETE, "/user/{tenantId}/users/{userName}", REST_AUTH, delete_user},
            {HTTP_METHOD_GET, "/user/{tenantId}/userByName/{userName}", REST_AUTH, get_user},
            {HTTP_METHOD_POST, "/user/{tenantId}/users/{userName}/roles", REST_AUTH,
             post_user_role},
            {HTTP_METHOD_DELETE, "/user/{tenantId}/users/{userName}/roles/{roleId}", REST_AUTH,
             delete_user_role},
            {HTTP_METHOD_PUT, "/user/currentUser", REST_AUTH, put_current_user},
            {HTTP_METHOD_PUT, "/user/currentUser/password", REST_AUTH, put_current_user_password},
            {HTTP_METHOD_GET, "/user/roles", REST_AUTH, get_roles},
            {HTTP_METHOD_GET, "/user/roles/{roleName}", REST_AUTH, get_role}, );
