/* Helpers shared by the tenant, user, option, inventory and audit resources. */
#include "server/rest_json_common.h"

#include "auth/roles.h"
#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "http/json.h"
#include "http/multipart.h"
#include "http/span.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void invalid(struct rest_ctx *x, const char *resource, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void invalid(struct rest_ctx *x, const char *resource, const char *fmt, ...)
{
    char msg[512];
    char error[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(error, sizeof(error), "%s/Unprocessable Entity", resource);
    rest_error(x, 422, error, "%s", msg);
}

bool rest_accept_check(struct rest_ctx *x)
{
    char *accept = rest_header(x, "Accept");
    bool ok = accept == NULL || http_accepts_json(accept, strlen(accept));
    free(accept);
    if (!ok) {
        rest_error(x, 406, "general/Not Acceptable",
                   "this resource answers in JSON: accept application/json or "
                   "application/vnd.com.nsn.cumulocity.<type>+json");
    }
    return ok;
}

bool rest_body_string(struct rest_ctx *x, const char *resource, const json_t *obj, const char *key,
                      size_t max, bool required, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        if (required) {
            invalid(x, resource, "%s is required", key);
            return false;
        }
        *out = NULL;
        return true;
    }
    if (!json_is_string(v)) {
        invalid(x, resource, "%s must be a string", key);
        return false;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n != strlen(s)) {
        invalid(x, resource, "%s must not contain NUL characters", key);
        return false;
    }
    if (n > max) {
        invalid(x, resource, "%s must be at most %zu bytes long", key, max);
        return false;
    }
    if (required && n == 0) {
        invalid(x, resource, "%s is required and must not be empty", key);
        return false;
    }
    *out = s;
    return true;
}

bool rest_body_bool(struct rest_ctx *x, const char *resource, const json_t *obj, const char *key,
                    bool *out, bool *present)
{
    const json_t *v = json_object_get(obj, key);
    if (present != NULL) {
        *present = v != NULL && !json_is_null(v);
    }
    if (http_json_get_bool(obj, key, *out, out) < 0) {
        invalid(x, resource, "%s must be true or false", key);
        return false;
    }
    return true;
}

bool rest_query_bool(struct rest_ctx *x, const char *key, bool def, bool *out)
{
    if (http_query_get_bool(&x->query, key, def, out) < 0) {
        rest_error(x, 422, "general/Invalid Data", "query parameter %s must be true or false", key);
        return false;
    }
    return true;
}

bool rest_query_time(struct rest_ctx *x, const char *key, int64_t *out)
{
    const char *v = http_query_get(&x->query, key);
    *out = 0;
    if (v == NULL || v[0] == 0) {
        return true;
    }
    if (time_parse_iso(v, out) < 0) {
        rest_error(x, 422, "general/Invalid Data",
                   "query parameter %s must be an ISO 8601 date-time such as "
                   "2024-01-31T12:00:00.000Z, not '%.64s'",
                   key, v);
        return false;
    }
    return true;
}

bool rest_page(struct rest_ctx *x, struct http_paging *pg, int64_t *offset)
{
    if (rest_paging(x, pg) < 0) {
        return false;
    }
    *offset = http_paging_offset(pg);
    return true;
}

void rest_location(struct rest_ctx *x, const char *fmt, ...)
{
    char path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    char *url = str_printf("%s%s", x->base_url, path);
    if (url != NULL) {
        rest_field(x, "Location", url);
    }
    free(url);
}

json_t *rest_role_json(struct rest_ctx *x, uint32_t bit)
{
    const char *name = roles_name(bit);
    if (name == NULL) {
        return NULL;
    }
    char *self = rest_url(x, "/user/roles/%s", name);
    json_t *v = json_pack("{s:s, s:s, s:s?}", "id", name, "name", name, "self", self);
    free(self);
    return v;
}

uint32_t rest_role_from_ref(struct rest_ctx *x, const json_t *body)
{
    const json_t *role = json_object_get(body, "role");
    if (!json_is_object(role)) {
        invalid(x, "users",
                "the body must be {\"role\": {\"self\": \"<base>/user/roles/ROLE_...\"}}");
        return 0;
    }
    const char *name = NULL;
    const json_t *v;
    if ((v = json_object_get(role, "id")) != NULL && json_is_string(v)) {
        name = json_string_value(v);
    } else if ((v = json_object_get(role, "name")) != NULL && json_is_string(v)) {
        name = json_string_value(v);
    } else if ((v = json_object_get(role, "self")) != NULL && json_is_string(v)) {
        const char *self = json_string_value(v);
        const char *slash = strrchr(self, '/');
        name = slash ? slash + 1 : self;
    }
    if (name == NULL || name[0] == 0) {
        invalid(x, "users", "the role reference needs role.self, role.id or role.name");
        return 0;
    }
    /* Only full role names: "ROLE_X" (roles_parse_name would also take "X"). */
    uint32_t bit = str_has_prefix(name, "ROLE_") ? roles_parse_name(name) : 0;
    if (bit == 0) {
        invalid(x, "users", "there is no role '%.64s'; GET /user/roles lists them", name);
        return 0;
    }
    return bit;
}

size_t rest_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

char *rest_pct(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(http_pct_encode_len(s, n) + 1);
    if (out != NULL) {
        http_pct_encode(s, n, out);
    }
    return out;
}
