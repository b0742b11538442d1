/* Tenants (reference §13.2): the management tenant creates, lists, changes, suspends and
 * deletes tenants; a tenant's administrator may read its own tenant.
 *
 * Access: create / list / update / delete need the management tenant and
 * ROLE_TENANT_MANAGEMENT_ADMIN (list: _READ is enough). GET of one tenant is allowed to the
 * management tenant's tenant managers and to the tenant's own administrators
 * (ROLE_TENANT_ADMIN). Any other tenant id is answered 404 "There is no tenant with id = X",
 * exactly as for a tenant that does not exist, so tenants cannot probe for each other.
 *
 * Suspension is PUT {"status": "SUSPENDED"} / {"status": "ACTIVE"}; the registry then
 * refuses the tenant's logins (401) and closes its live sessions.
 */
#include "auth/roles.h"
#include "core/err.h"
#include "core/str.h"
#include "server/rest.h"
#include "server/rest_json_common.h"

#include <stdlib.h>
#include <string.h>

#define CUSTOM_PROPERTIES_MAX (64 * 1024)

/* The tenant JSON of §13.2. New reference or NULL. */
static json_t *tenant_json(struct rest_ctx *x, const struct reg_tenant *t)
{
    json_t *custom = json_loads(t->custom_properties ? t->custom_properties : "{}", 0, NULL);
    if (!json_is_object(custom)) {
        json_decref(custom);
        custom = json_object();
    }
    char *self = rest_url(x, "/tenant/tenants/%s", t->id);
    char *apps = rest_url(x, "/tenant/tenants/%s/applications", t->id);
    char *owned = rest_url(x, "/tenant/tenants/%s/applications/ownedApplications", t->id);
    json_t *v =
        json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:{s:s?, s:[]},"
                  " s:{s:s?, s:[]}}",
                  "id", t->id, "self", self, "company", t->company, "domain", t->domain,
                  "adminEmail", t->admin_email, "status", t->suspended ? "SUSPENDED" : "ACTIVE",
                  "allowCreateTenants", t->allow_create_tenants, "creationTime",
                  rest_time(t->created_ms), "customProperties", custom, "applications", "self",
                  apps, "references", "ownedApplications", "self", owned, "references");
    free(self);
    free(apps);
    free(owned);
    if (v == NULL) {
        return NULL;
    }
    if (t->contact_name[0] != 0) {
        json_object_set_new(v, "contactName", json_string(t->contact_name));
    }
    if (t->contact_phone[0] != 0) {
        json_object_set_new(v, "contactPhone", json_string(t->contact_phone));
    }
    if (t->parent[0] != 0) {
        json_object_set_new(v, "parent", json_string(t->parent));
    }
    return v;
}

static void no_tenant(struct rest_ctx *x, const char *id)
{
    rest_error(x, 404, "security/Not Found", "There is no tenant with id = %.64s", id);
}

/* Whether the caller manages tenants (the management tenant and `role`); answers 403. */
static bool require_manager(struct rest_ctx *x, uint32_t role)
{
    if (!principal_in_management(&x->who)) {
        rest_error(x, 403, "security/Forbidden",
                   "Access is denied. Only the management tenant manages tenants.");
        return false;
    }
    return rest_require(x, role);
}

/* contactPhone: international format, "+49 89 1234-567", "(0)30 123456". */
static bool phone_valid(const char *p)
{
    size_t digits = 0;
    for (size_t i = 0; p[i] != 0; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9') {
            digits++;
        } else if (!(c == ' ' || c == '-' || c == '(' || c == ')' || c == '.' ||
                     (c == '+' && i == 0))) {
            return false;
        }
    }
    return digits >= 3;
}

/* Read the writable members of a tenant body into t; *fields gets the REG_TENANT_* bits
 * present. `creating` makes company, domain and adminEmail required. false after answering
 * 422. t->custom_properties is malloc'd when REG_TENANT_CUSTOM is set. */
static bool read_tenant_body(struct rest_ctx *x, const json_t *body, bool creating,
                             struct reg_tenant *t, unsigned *fields)
{
    const char *company, *domain, *email, *contact, *phone, *status;
    *fields = 0;
    if (!rest_body_string(x, "tenants", body, "company", 256, creating, &company) ||
        !rest_body_string(x, "tenants", body, "domain", 256, creating, &domain) ||
        !rest_body_string(x, "tenants", body, "adminEmail", 256, creating, &email) ||
        !rest_body_string(x, "tenants", body, "contactName", sizeof(t->contact_name) - 1, false,
                          &contact) ||
        !rest_body_string(x, "tenants", body, "contactPhone", sizeof(t->contact_phone) - 1, false,
                          &phone) ||
        !rest_body_string(x, "tenants", body, "status", 32, false, &status)) {
        return false;
    }
    if (company != NULL) {
        str_lcpy(t->company, company, sizeof(t->company));
        *fields |= REG_TENANT_COMPANY;
    }
    if (domain != NULL) {
        str_lcpy(t->domain, domain, sizeof(t->domain));
        *fields |= REG_TENANT_DOMAIN;
    }
    if (email != NULL) {
        str_lcpy(t->admin_email, email, sizeof(t->admin_email));
        *fields |= REG_TENANT_ADMIN_EMAIL;
    }
    if (contact != NULL) {
        if (rest_utf8_chars(contact) > 30) {
            rest_error(x, 422, "tenants/Unprocessable Entity",
                       "contactName must be at most 30 characters long");
            return false;
        }
        str_lcpy(t->contact_name, contact, sizeof(t->contact_name));
        *fields |= REG_TENANT_CONTACT_NAME;
    }
    if (phone != NULL) {
        if (phone[0] != 0 && !phone_valid(phone)) {
            rest_error(x, 422, "tenants/Unprocessable Entity",
                       "contactPhone must be a phone number in international format, such as "
                       "+49 89 1234567");
            return false;
        }
        str_lcpy(t->contact_phone, phone, sizeof(t->contact_phone));
        *fields |= REG_TENANT_CONTACT_PHONE;
    }
    if (status != NULL) {
        if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "SUSPENDED") != 0) {
            rest_error(x, 422, "tenants/Unprocessable Entity",
                       "status must be ACTIVE or SUSPENDED, not '%.32s'", status);
            return false;
        }
        t->suspended = strcmp(status, "SUSPENDED") == 0;
        *fields |= REG_TENANT_STATUS;
    }
    const json_t *custom = json_object_get(body, "customProperties");
    if (custom != NULL && !json_is_null(custom)) {
        if (!json_is_object(custom)) {
            rest_error(x, 422, "tenants/Unprocessable Entity",
                       "customProperties must be a JSON object");
            return false;
        }
        char *text = json_dumps(custom, JSON_COMPACT);
        if (text == NULL) {
            rest_fail(x, -ENOMEM, "tenants", "", "");
            return false;
        }
        if (strlen(text) > CUSTOM_PROPERTIES_MAX) {
            free(text);
            rest_error(x, 422, "tenants/Unprocessable Entity",
                       "customProperties must be at most %d bytes of JSON", CUSTOM_PROPERTIES_MAX);
            return false;
        }
        t->custom_properties = text;
        *fields |= REG_TENANT_CUSTOM;
    }
    return true;
}

static void post_tenant(struct rest_ctx *x)
{
    struct reg_tenant t;
    memset(&t, 0, sizeof(t));
    json_t *body = NULL;
    char why[REG_WHY_MAX] = "";
    unsigned fields = 0;
    const char *id, *admin_name, *pass, *pass2;
    if (!rest_accept_check(x) || !require_manager(x, ROLE_TENANT_MANAGEMENT_ADMIN) ||
        (body = rest_body_json(x)) == NULL) {
        goto out;
    }
    if (!rest_body_string(x, "tenants", body, "id", REG_TENANT_ID_MAX - 1, false, &id) ||
        !rest_body_string(x, "tenants", body, "adminName", REG_NAME_MAX - 1, false, &admin_name) ||
        !rest_body_string(x, "tenants", body, "adminPass", 1024, false, &pass) ||
        !rest_body_string(x, "tenants", body, "adminPassword", 1024, false, &pass2) ||
        !read_tenant_body(x, body, true, &t, &fields)) {
        goto out;
    }
    if (pass != NULL && pass2 != NULL && strcmp(pass, pass2) != 0) {
        rest_error(x, 422, "tenants/Unprocessable Entity",
                   "adminPass and adminPassword differ: send one of them");
        goto out;
    }
    if (pass == NULL) {
        pass = pass2;
    }
    if (pass == NULL || pass[0] == 0) {
        rest_error(x, 422, "tenants/Unprocessable Entity",
                   "adminPass is required: the password of the new tenant's administrator "
                   "(6 to 1024 characters)");
        goto out;
    }
    if (admin_name != NULL && rest_utf8_chars(admin_name) > 50) {
        rest_error(x, 422, "tenants/Unprocessable Entity",
                   "adminName must be at most 50 characters long");
        goto out;
    }
    if ((fields & REG_TENANT_STATUS) && t.suspended) {
        rest_error(x, 422, "tenants/Unprocessable Entity",
                   "a tenant is created ACTIVE; suspend it afterwards with PUT "
                   "/tenant/tenants/{id} {\"status\": \"SUSPENDED\"}");
        goto out;
    }
    if (id != NULL) {
        /* These would be shadowed by /user/roles and /user/logout in user paths. */
        if (strcmp(id, "roles") == 0 || strcmp(id, "logout") == 0) {
            rest_error(x, 422, "tenants/Unprocessable Entity", "tenant id '%s' is reserved", id);
            goto out;
        }
        str_lcpy(t.id, id, sizeof(t.id));
    }
    int rc = registry_tenant_create(x->reg, &x->who, &t, admin_name, pass, why);
    if (rc < 0) {
        rest_fail(x, rc, "tenants", why, "");
        goto out;
    }
    rest_location(x, "/tenant/tenants/%s", t.id);
    json_t *v = tenant_json(x, &t);
    if (v != NULL) {
        json_object_set_new(v, "adminName", json_string(admin_name ? admin_name : "admin"));
    }
    rest_json(x, 201, v, MEDIA_TENANT);
out:
    json_decref(body);
    reg_tenant_cleanup(&t);
}

static void get_tenants(struct rest_ctx *x)
{
    struct http_paging pg;
    int64_t offset;
    if (!rest_accept_check(x) ||
        !require_manager(x, ROLE_TENANT_MANAGEMENT_READ | ROLE_TENANT_MANAGEMENT_ADMIN) ||
        !rest_page(x, &pg, &offset)) {
        return;
    }
    /* The caller's subtenants (from the management tenant: every other tenant) unless
     * ?parent= names another parent. */
    const char *parent = http_query_get(&x->query, "parent");
    struct reg_tenant_filter f = {
        .company = http_query_get(&x->query, "company"),
        .domain = http_query_get(&x->query, "domain"),
        .parent = parent && parent[0] ? parent : x->who.tenant,
    };
    struct reg_tenant *items = NULL;
    int n = 0;
    int64_t total = 0;
    int rc = registry_tenant_list(x->reg, &f, offset, (int)pg.page_size, &items, &n, &total);
    if (rc < 0) {
        rest_fail(x, rc, "tenants", "", "");
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, tenant_json(x, &items[i]));
    }
    reg_tenant_list_free(items, n);
    rest_json(x, 200, rest_collection(x, "tenants", arr, &pg, total), MEDIA_TENANT_COLL);
}

static void get_tenant(struct rest_ctx *x)
{
    const char *id = rest_param(x, "tenantId");
    if (!rest_accept_check(x) || !rest_tenant_visible(x, id) ||
        !rest_require(x, ROLE_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_READ |
                             ROLE_TENANT_MANAGEMENT_ADMIN)) {
        return;
    }
    struct reg_tenant t;
    int rc = registry_tenant_get(x->reg, id, &t);
    if (rc == -ENOENT) {
        no_tenant(x, id);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "tenants", "", "");
        return;
    }
    rest_json(x, 200, tenant_json(x, &t), MEDIA_TENANT);
    reg_tenant_cleanup(&t);
}

static void put_tenant(struct rest_ctx *x)
{
    const char *id = rest_param(x, "tenantId");
    json_t *body = NULL;
    struct reg_tenant cur, t;
    memset(&cur, 0, sizeof(cur));
    memset(&t, 0, sizeof(t));
    char why[REG_WHY_MAX] = "";
    unsigned fields = 0;
    if (!rest_accept_check(x) || !rest_tenant_visible(x, id) ||
        !require_manager(x, ROLE_TENANT_MANAGEMENT_ADMIN) || (body = rest_body_json(x)) == NULL) {
        goto out;
    }
    const json_t *v = json_object_get(body, "id");
    if (v != NULL && !json_is_null(v) &&
        (!json_is_string(v) || strcmp(json_string_value(v), id) != 0)) {
        rest_error(x, 422, "tenants/Unprocessable Entity", "a tenant's id cannot be changed");
        goto out;
    }
    if (json_object_get(body, "adminPass") != NULL ||
        json_object_get(body, "adminPassword") != NULL) {
        rest_error(x, 422, "tenants/Unprocessable Entity",
                   "adminPass cannot be changed here: change the administrator's password "
                   "with PUT /user/%s/users/{adminName}",
                   id);
        goto out;
    }
    if (!read_tenant_body(x, body, false, &t, &fields)) {
        goto out;
    }
    int rc = registry_tenant_get(x->reg, id, &cur);
    if (rc < 0) {
        if (rc == -ENOENT) {
            no_tenant(x, id);
        } else {
            rest_fail(x, rc, "tenants", "", "");
        }
        goto out;
    }
    /* Sending the status the tenant already has is not a suspension or activation. */
    if ((fields & REG_TENANT_STATUS) && t.suspended == cur.suspended) {
        fields &= ~(unsigned)REG_TENANT_STATUS;
    }
    if (fields != 0) {
        str_lcpy(t.id, id, sizeof(t.id));
        rc = registry_tenant_update(x->reg, &x->who, &t, fields, why);
        if (rc == -ENOENT) {
            no_tenant(x, id);
            goto out;
        }
        if (rc < 0) {
            rest_fail(x, rc, "tenants", why, "");
            goto out;
        }
        reg_tenant_cleanup(&cur);
        rc = registry_tenant_get(x->reg, id, &cur);
        if (rc < 0) {
            rest_fail(x, rc, "tenants", "", "");
            goto out;
        }
    }
    rest_json(x, 200, tenant_json(x, &cur), MEDIA_TENANT);
out:
    json_decref(body);
    reg_tenant_cleanup(&cur);
    reg_tenant_cleanup(&t);
}

static void delete_tenant(struct rest_ctx *x)
{
    const char *id = rest_param(x, "tenantId");
    char why[REG_WHY_MAX] = "";
    if (!rest_tenant_visible(x, id) || !require_manager(x, ROLE_TENANT_MANAGEMENT_ADMIN)) {
        return;
    }
    int rc = registry_tenant_delete(x->reg, &x->who, id, why);
    if (rc == -ENOENT) {
        no_tenant(x, id);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "tenants", why, "");
        return;
    }
    rest_empty(x, 204);
}

REST_ROUTES(rest_routes_tenants, {HTTP_METHOD_POST, "/tenant/tenants", REST_AUTH, post_tenant},
            {HTTP_METHOD_GET, "/tenant/tenants", REST_AUTH, get_tenants},
            {HTTP_METHOD_GET, "/tenant/tenants/{tenantId}", REST_AUTH, get_tenant},
            {HTTP_METHOD_PUT, "/tenant/tenants/{tenantId}", REST_AUTH, put_tenant},
            {HTTP_METHOD_DELETE, "/tenant/tenants/{tenantId}", REST_AUTH, delete_tenant}, );
