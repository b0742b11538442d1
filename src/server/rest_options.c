/* Tenant options (reference §13.4): (category, key) -> string value, per tenant.
 *
 * The caller's own tenant is always the one addressed (the paths carry no tenant), so
 * tenants cannot reach each other's options. Reading needs ROLE_OPTION_MANAGEMENT_READ (or
 * _ADMIN), changing ROLE_OPTION_MANAGEMENT_ADMIN. certgate acts on the well-known options of
 * registry.h (token lifetime, CRL checks, self-attested proof of possession, chain length,
 * MQTT ACL mode); the registry validates their values and a refusal is answered 422 with its
 * sentence. An option the management tenant made read-only is answered 403. Values of
 * "credentials.*" keys are never returned ("<<Encrypted>>").
 *
 * POST /tenant/options answers 200, not 201 (reference §13.8).
 */
#include "auth/roles.h"
#include "core/err.h"
#include "core/str.h"
#include "server/rest.h"
#include "server/rest_json_common.h"

#include <stdlib.h>
#include <string.h>

#define READ_ROLES (ROLE_OPTION_MANAGEMENT_READ | ROLE_OPTION_MANAGEMENT_ADMIN)
#define ADMIN_ROLES ROLE_OPTION_MANAGEMENT_ADMIN
#define VALUE_MAX 4095
#define CATEGORY_KEYS_MAX 1000 /* keys in one PUT /tenant/options/{category} */

static json_t *option_json(struct rest_ctx *x, const struct reg_option *o)
{
    char *cat = rest_pct(o->category);
    char *key = rest_pct(o->key);
    char *self = cat && key ? rest_url(x, "/tenant/options/%s/%s", cat, key) : NULL;
    json_t *v = json_pack("{s:s, s:s, s:s, s:s?}", "category", o->category, "key", o->key, "value",
                          o->value, "self", self);
    free(cat);
    free(key);
    free(self);
    return v;
}

static void no_option(struct rest_ctx *x, const char *category, const char *key)
{
    rest_error(x, 404, "options/Not Found", "Unable to find option by given key: %.127s/%.127s",
               category, key);
}

/* Answer 200 with the option (category, key) as stored. */
static void answer_option(struct rest_ctx *x, const char *category, const char *key)
{
    struct reg_option o;
    int rc = registry_option_get(x->reg, x->who.tenant, category, key, &o);
    if (rc == -ENOENT) {
        no_option(x, category, key);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "options", "", "");
        return;
    }
    rest_json(x, 200, option_json(x, &o), MEDIA_OPTION);
}

/* Answer 200 with the category as a flat {"key": "value"} map. */
static void answer_category(struct rest_ctx *x, const char *category)
{
    json_t *map = json_object();
    enum { PAGE = 100 };
    for (int64_t offset = 0;; offset += PAGE) {
        struct reg_option *items = NULL;
        int n = 0;
        int rc =
            registry_option_list(x->reg, x->who.tenant, category, offset, PAGE, &items, &n, NULL);
        if (rc < 0) {
            json_decref(map);
            rest_fail(x, rc, "options", "", "");
            return;
        }
        for (int i = 0; i < n; i++) {
            json_object_set_new(map, items[i].key, json_string(items[i].value));
        }
        free(items);
        if (n < PAGE) {
            break;
        }
    }
    rest_json(x, 200, map, MEDIA_OPTION);
}

/* Set one option; false after answering the failure. */
static bool set_option(struct rest_ctx *x, const char *category, const char *key, const char *value)
{
    char why[REG_WHY_MAX] = "";
    int rc = registry_option_set(x->reg, &x->who, x->who.tenant, category, key, value, why);
    if (rc < 0) {
        rest_fail(x, rc, "options", why, "");
        return false;
    }
    return true;
}

static void post_option(struct rest_ctx *x)
{
    json_t *body = NULL;
    const char *category, *key, *value;
    char why[REG_WHY_MAX] = "";
    if (!rest_accept_check(x) || !rest_require(x, ADMIN_ROLES) ||
        (body = rest_body_json(x)) == NULL) {
        goto out;
    }
    if (!rest_body_string(x, "options", body, "category", 127, true, &category) ||
        !rest_body_string(x, "options", body, "key", 127, true, &key) ||
        !rest_body_string(x, "options", body, "value", VALUE_MAX, false, &value)) {
        goto out;
    }
    if (value == NULL) {
        rest_error(x, 422, "options/Unprocessable Entity", "value is required (a string)");
        goto out;
    }
    if (registry_option_validate(category, key, value, why) < 0) {
        rest_error(x, 422, "options/Unprocessable Entity", "%s", why);
        goto out;
    }
    if (!set_option(x, category, key, value)) {
        goto out;
    }
    char *cat = rest_pct(category);
    char *k = rest_pct(key);
    rest_location(x, "/tenant/options/%s/%s", cat ? cat : "", k ? k : "");
    free(cat);
    free(k);
    answer_option(x, category, key);
out:
    json_decref(body);
}

static void get_options(struct rest_ctx *x)
{
    struct http_paging pg;
    int64_t offset;
    if (!rest_accept_check(x) || !rest_require(x, READ_ROLES) || !rest_page(x, &pg, &offset)) {
        return;
    }
    struct reg_option *items = NULL;
    int n = 0;
    int64_t total = 0;
    int rc = registry_option_list(x->reg, x->who.tenant, NULL, offset, (int)pg.page_size, &items,
                                  &n, &total);
    if (rc < 0) {
        rest_fail(x, rc, "options", "", "");
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, option_json(x, &items[i]));
    }
    free(items);
    rest_json(x, 200, rest_collection(x, "options", arr, &pg, total), MEDIA_OPTION_COLL);
}

static void get_category(struct rest_ctx *x)
{
    if (!rest_accept_check(x) || !rest_require(x, READ_ROLES)) {
        return;
    }
    answer_category(x, rest_param(x, "category"));
}

static void put_category(struct rest_ctx *x)
{
    const char *category = rest_param(x, "category");
    json_t *body = NULL;
    char why[REG_WHY_MAX] = "";
    if (!rest_accept_check(x) || !rest_require(x, ADMIN_ROLES) ||
        (body = rest_body_json(x)) == NULL) {
        goto out;
    }
    if (json_object_size(body) > CATEGORY_KEYS_MAX) {
        rest_error(x, 422, "options/Unprocessable Entity", "at most %d options can be set at once",
                   CATEGORY_KEYS_MAX);
        goto out;
    }
    /* Check every pair before writing any, so a bad one changes nothing. */
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (!json_is_string(v)) {
            rest_error(x, 422, "options/Unprocessable Entity",
                       "the value of %.127s must be a string (the body is a flat "
                       "{\"key\": \"value\"} map)",
                       key);
            goto out;
        }
        if (registry_option_validate(category, key, json_string_value(v), why) < 0) {
            rest_error(x, 422, "options/Unprocessable Entity", "%s", why);
            goto out;
        }
    }
    json_object_foreach(body, key, v)
    {
        if (!set_option(x, category, key, json_string_value(v))) {
            goto out;
        }
    }
    answer_category(x, category);
out:
    json_decref(body);
}

static void get_option(struct rest_ctx *x)
{
    if (!rest_accept_check(x) || !rest_require(x, READ_ROLES)) {
        return;
    }
    answer_option(x, rest_param(x, "category"), rest_param(x, "key"));
}

static void put_option(struct rest_ctx *x)
{
    const char *category = rest_param(x, "category");
    const char *key = rest_param(x, "key");
    json_t *body = NULL;
    const char *value;
    char why[REG_WHY_MAX] = "";
    if (!rest_accept_check(x) || !rest_require(x, ADMIN_ROLES) ||
        (body = rest_body_json(x)) == NULL ||
        !rest_body_string(x, "options", body, "value", VALUE_MAX, false, &value)) {
        goto out;
    }
    if (value == NULL) {
        rest_error(x, 422, "options/Unprocessable Entity",
                   "the body must be {\"value\": \"...\"} with a string value");
        goto out;
    }
    if (registry_option_validate(category, key, value, why) < 0) {
        rest_error(x, 422, "options/Unprocessable Entity", "%s", why);
        goto out;
    }
    if (set_option(x, category, key, value)) {
        answer_option(x, category, key);
    }
out:
    json_decref(body);
}

static void delete_option(struct rest_ctx *x)
{
    const char *category = rest_param(x, "category");
    const char *key = rest_param(x, "key");
    char why[REG_WHY_MAX] = "";
    if (!rest_require(x, ADMIN_ROLES)) {
        return;
    }
    int rc = registry_option_delete(x->reg, &x->who, x->who.tenant, category, key, why);
    if (rc == -ENOENT) {
        no_option(x, category, key);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "options", why, "");
        return;
    }
    rest_empty(x, 204);
}

REST_ROUTES(rest_routes_options, {HTTP_METHOD_POST, "/tenant/options", REST_AUTH, post_option},
            {HTTP_METHOD_GET, "/tenant/options", REST_AUTH, get_options},
            {HTTP_METHOD_GET, "/tenant/options/{category}", REST_AUTH, get_category},
            {HTTP_METHOD_PUT, "/tenant/options/{category}", REST_AUTH, put_category},
            {HTTP_METHOD_GET, "/tenant/options/{category}/{key}", REST_AUTH, get_option},
            {HTTP_METHOD_PUT, "/tenant/options/{category}/{key}", REST_AUTH, put_option},
            {HTTP_METHOD_DELETE, "/tenant/options/{category}/{key}", REST_AUTH, delete_option}, );
