/* Small resources: the server CA, the JWKS, health, the current tenant and user, logout. */
#include "auth/roles.h"
#include "core/err.h"
#include "core/str.h"
#include "server/rest.h"
#include "server/server.h"
#include "server/tokens.h"

#include <stdlib.h>
#include <string.h>

static void get_server_ca(struct rest_ctx *x)
{
    rest_bytes(x, 200, x->srv->ca_pem, x->srv->ca_pem_len, "application/x-pem-file");
}

static void get_jwks(struct rest_ctx *x)
{
    json_t *doc = tokens_jwks(x->srv->tokens);
    if (doc == NULL) {
        rest_fail(x, -ENOMEM, "general", "", "");
        return;
    }
    rest_json(x, 200, doc, "application/jwk-set+json");
}

static void get_health(struct rest_ctx *x)
{
    rest_json(x, 200, json_pack("{s:s}", "status", "UP"), NULL);
}

static json_t *tenant_ref(struct rest_ctx *x, const char *id)
{
    char *self = rest_url(x, "/tenant/tenants/%s", id);
    json_t *v = json_pack("{s:s, s:s?}", "id", id, "self", self);
    free(self);
    return v;
}

static void get_current_tenant(struct rest_ctx *x)
{
    struct reg_tenant t;
    int rc = registry_tenant_get(x->reg, x->who.tenant, &t);
    if (rc < 0) {
        rest_fail(x, rc, "security", "", "There is no tenant with that id");
        return;
    }
    json_t *custom = json_loads(t.custom_properties ? t.custom_properties : "{}", 0, NULL);
    char *self = rest_url(x, "/tenant/currentTenant");
    json_t *v =
        json_pack("{s:s, s:s, s:b, s:o, s:{s:[]}, s:s?}", "name", t.id, "domainName", t.domain,
                  "allowCreateTenants", t.allow_create_tenants, "customProperties",
                  custom ? custom : json_object(), "applications", "references", "self", self);
    free(self);
    bool with_parent = false;
    http_query_get_bool(&x->query, "withParent", false, &with_parent);
    if (v != NULL && with_parent && t.parent[0] != 0) {
        json_object_set_new(v, "parent", tenant_ref(x, t.parent));
    }
    reg_tenant_cleanup(&t);
    rest_json(x, 200, v, "application/vnd.com.nsn.cumulocity.currenttenant+json");
}

static json_t *role_list(struct rest_ctx *x, uint32_t mask)
{
    json_t *arr = json_array();
    int it = 0;
    uint32_t bit;
    while ((bit = roles_next(mask, &it)) != 0) {
        const char *name = roles_name(bit);
        if (name == NULL) {
            continue;
        }
        char *self = rest_url(x, "/user/roles/%s", name);
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s?}", "id", name, "name", name, "self", self));
        free(self);
    }
    return arr;
}

static void get_current_user(struct rest_ctx *x)
{
    struct reg_user u;
    memset(&u, 0, sizeof(u));
    if (x->who.via == PRINCIPAL_BASIC) {
        int rc = registry_user_get(x->reg, x->who.tenant, x->who.user, &u);
        if (rc < 0) {
            rest_fail(x, rc, "users", "", "the user no longer exists");
            return;
        }
    } else {
        /* Device principals (certificate or token) are device users. */
        str_lcpy(u.name, x->who.user, sizeof(u.name));
        u.roles = x->who.roles;
        u.enabled = true;
    }
    char *self = rest_url(x, "/user/currentUser");
    json_t *v = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:s}", "id", u.name,
                          "userName", u.name, "self", self, "email", u.email, "firstName",
                          u.first_name, "lastName", u.last_name, "phone", u.phone,
                          "shouldResetPassword", false, "twoFactorAuthenticationEnabled", false,
                          "effectiveRoles", role_list(x, u.roles), "tenant", x->who.tenant);
    free(self);
    if (v != NULL && u.password_changed_ms > 0) {
        json_object_set_new(v, "lastPasswordChange", rest_time(u.password_changed_ms));
    }
    if (v != NULL && x->who.device[0] != 0) {
        json_object_set_new(v, "deviceId", json_string(x->who.device));
    }
    rest_json(x, 200, v, "application/vnd.com.nsn.cumulocity.currentuser+json");
}

static void post_logout(struct rest_ctx *x)
{
    if (x->who.via == PRINCIPAL_BEARER) {
        int rc = registry_token_revoke(x->reg, x->who.tenant, x->who.jti, x->who.token_exp_ms);
        if (rc < 0) {
            rest_fail(x, rc, "security", "", "");
            return;
        }
        registry_audit(x->reg, false, x->who.tenant, "UserAuthentication", "User logout",
                       "INFORMATION", x->who.user, x->who.device, "Device token %s logged out",
                       x->who.jti);
    }
    x->keep_body = false;
    rest_empty(x, 200);
}

REST_ROUTES(rest_routes_misc, {HTTP_METHOD_GET, "/server-ca.pem", REST_PUBLIC, get_server_ca},
            {HTTP_METHOD_GET, "/.well-known/jwks.json", REST_PUBLIC, get_jwks},
            {HTTP_METHOD_GET, "/health", REST_PUBLIC, get_health},
            {HTTP_METHOD_GET, "/tenant/currentTenant", REST_AUTH, get_current_tenant},
            {HTTP_METHOD_GET, "/user/currentUser", REST_AUTH, get_current_user},
            {HTTP_METHOD_POST, "/user/logout", REST_AUTH, post_logout}, );
