/* The REST framework: routing, authentication, responses. */
#define LOG_MODULE "rest"
#include "server/rest.h"

#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "http/authz.h"
#include "http/json.h"
#include "http/response.h"
#include "server/server.h"
#include "server/sessions.h"
#include "server/tokens.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every resource file's table. A new resource file adds its table here (one per line, so
 * clang-format is kept off this list). */
/* clang-format off */
static const struct rest_routes *const all_tables[] = {
    &rest_routes_misc,
    &rest_routes_tokens,
    &rest_routes_publish,
    &rest_routes_certs,
    &rest_routes_crl,
    &rest_routes_tenants,
    &rest_routes_users,
    &rest_routes_options,
    &rest_routes_devices,
    &rest_routes_audit,
    &rest_routes_ui,
};
/* clang-format on */

#define NTABLES (sizeof(all_tables) / sizeof(all_tables[0]))

/* The route of handler id i: tables concatenated in order. */
static const struct rest_route *route_of(int id)
{
    for (size_t t = 0; t < NTABLES; t++) {
        if ((size_t)id < all_tables[t]->n) {
            return &all_tables[t]->routes[id];
        }
        id -= (int)all_tables[t]->n;
    }
    return NULL;
}

struct http_router *rest_router_new(void)
{
    size_t n = 0;
    for (size_t t = 0; t < NTABLES; t++) {
        n += all_tables[t]->n;
    }
    struct http_route *table = calloc(n, sizeof(*table));
    if (table == NULL) {
        return NULL;
    }
    size_t i = 0;
    for (size_t t = 0; t < NTABLES; t++) {
        for (size_t k = 0; k < all_tables[t]->n; k++, i++) {
            table[i].method = all_tables[t]->routes[k].method;
            table[i].pattern = all_tables[t]->routes[k].pattern;
            table[i].id = (int)i;
        }
    }
    struct http_router *router = NULL;
    int rc = http_router_new(table, n, &router);
    free(table);
    if (rc < 0) {
        log_error("cannot build the REST router (%s)", cg_strerror(rc));
        return NULL;
    }
    return router;
}

/* ---- accessors and answers ---- */

const char *rest_param(const struct rest_ctx *x, const char *name)
{
    return http_match_param(&x->match, name);
}

char *rest_header(const struct rest_ctx *x, const char *name)
{
    struct http_span v;
    if (http_request_header_value(x->req, name, &v) < 0) {
        return NULL;
    }
    return str_ndup(v.ptr ? v.ptr : "", v.len);
}

static void set_type(struct rest_ctx *x, const char *media)
{
    str_lcpy(x->content_type, media ? media : "application/json", sizeof(x->content_type));
}

void rest_json(struct rest_ctx *x, int status, json_t *v, const char *media)
{
    buf_reset(&x->out);
    if (v != NULL && http_json_write(&x->out, v) < 0) {
        json_decref(v);
        rest_error(x, 500, "general/Internal Error", "the response could not be encoded");
        return;
    }
    json_decref(v);
    x->status = status;
    set_type(x, media);
    x->answered = true;
}

void rest_error(struct rest_ctx *x, int status, const char *error, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    buf_reset(&x->out);
    http_json_error_write(&x->out, error, message);
    x->status = status;
    set_type(x, "application/vnd.com.nsn.cumulocity.error+json");
    x->answered = true;
    x->keep_body = true;
}

void rest_empty(struct rest_ctx *x, int status)
{
    buf_reset(&x->out);
    x->status = status;
    x->content_type[0] = 0;
    x->answered = true;
}

void rest_bytes(struct rest_ctx *x, int status, const void *data, size_t len, const char *media)
{
    buf_reset(&x->out);
    if (buf_append(&x->out, data, len) < 0) {
        rest_error(x, 500, "general/Internal Error", "the response is too large");
        return;
    }
    x->status = status;
    set_type(x, media);
    x->answered = true;
    x->keep_body = true;
}

void rest_field(struct rest_ctx *x, const char *name, const char *value)
{
    if (!http_field_value_valid(value)) {
        return;
    }
    buf_append(&x->fields, name, strlen(name) + 1);
    buf_append(&x->fields, value, strlen(value) + 1);
}

json_t *rest_body_json(struct rest_ctx *x)
{
    char err[256];
    json_t *v = NULL;
    if (x->body_len == 0) {
        rest_error(x, 400, "general/Bad Request", "the request needs a JSON body");
        return NULL;
    }
    if (http_json_parse_body(x->body, x->body_len, HTTP_JSON_DEFAULT_MAX_SIZE,
                             HTTP_JSON_DEFAULT_MAX_DEPTH, &v, err, sizeof(err)) < 0) {
        rest_error(x, 400, "general/Bad Request", "the body is not a usable JSON object: %s", err);
        return NULL;
    }
    return v;
}

int rest_paging(struct rest_ctx *x, struct http_paging *pg)
{
    const char *why = NULL;
    if (http_paging_parse(&x->query, pg, &why) < 0) {
        rest_error(x, 422, "general/Invalid Data", "%s", why ? why : "bad paging parameters");
        return -1;
    }
    return 0;
}

json_t *rest_collection(struct rest_ctx *x, const char *key, json_t *items,
                        const struct http_paging *pg, int64_t total)
{
    json_t *coll = json_object();
    if (coll == NULL) {
        json_decref(items);
        return NULL;
    }
    size_t n = json_array_size(items);
    json_object_set_new(coll, key, items);
    char path[2048];
    size_t o = 0;
    for (size_t i = 0; i < x->path.nsegs && o < sizeof(path) - 1; i++) {
        int w = snprintf(path + o, sizeof(path) - o, "/%s", x->path.seg[i]);
        o += w < 0 ? 0 : (size_t)w;
    }
    if (o >= sizeof(path)) {
        o = sizeof(path) - 1;
    }
    path[o] = 0;
    http_paging_links(coll, x->base_url, path, &x->query, pg, n, total);
    return coll;
}

void rest_fail(struct rest_ctx *x, int rc, const char *resource, const char *why,
               const char *not_found_message)
{
    char error[96];
    const char *msg = why != NULL && why[0] != 0 ? why : NULL;
    switch (rc) {
    case -ENOENT:
        snprintf(error, sizeof(error), "%s/Not Found", resource);
        rest_error(x, 404, error, "%s", msg ? msg : not_found_message);
        return;
    case CG_ECONFLICT:
        snprintf(error, sizeof(error), "%s/Conflict", resource);
        rest_error(x, 409, error, "%s", msg ? msg : "the object already exists");
        return;
    case -EINVAL:
        snprintf(error, sizeof(error), "%s/Unprocessable Entity", resource);
        rest_error(x, 422, error, "%s", msg ? msg : "invalid data");
        return;
    case CG_EDENIED:
        rest_error(x, 403, "security/Forbidden", "%s", msg ? msg : "Access is denied.");
        return;
    case CG_EEXPIRED:
        snprintf(error, sizeof(error), "%s/Bad Request", resource);
        rest_error(x, 400, error, "%s", msg ? msg : "expired");
        return;
    default:
        log_error("%s %s: internal error %d (%s)", http_method_name(x->method), resource, rc,
                  cg_strerror(rc));
        rest_error(x, 500, "general/Internal Error",
                   "certgate could not complete the request; see the server log");
        return;
    }
}

bool rest_require(struct rest_ctx *x, uint32_t roles)
{
    if (principal_has(&x->who, roles)) {
        return true;
    }
    rest_error(x, 403, "security/Forbidden", "Access is denied.");
    return false;
}

bool rest_tenant_visible(struct rest_ctx *x, const char *tenant)
{
    if (tenant != NULL && principal_may_see_tenant(&x->who, tenant) &&
        registry_tenant_exists(x->reg, tenant)) {
        return true;
    }
    rest_error(x, 404, "security/Not Found", "There is no tenant with id = %.64s",
               tenant ? tenant : "");
    return false;
}

char *rest_url(const struct rest_ctx *x, const char *fmt, ...)
{
    char path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    return str_printf("%s%s", x->base_url, path);
}

json_t *rest_time(int64_t ms)
{
    char t[TIME_ISO_LEN];
    time_format_iso(ms, t);
    return json_string(t);
}

/* ---- authentication ---- */

static void unauthorized(struct rest_ctx *x, const char *message)
{
    rest_error(x, 401, "security/Unauthorized", "%s", message);
    /* A challenge would make a browser open its own password dialog over the web UI. */
    if (!sessions_is_browser(x->req)) {
        rest_field(x, "WWW-Authenticate", "Basic realm=\"certgate\"");
    }
}

/* The web UI's session cookie (sessions.h), tried only when the request carries no
 * Authorization field. 0 when x->who is set; 1 when there is no cookie (try the next scheme);
 * -1 when the answer has been written. */
static int authenticate_session(struct rest_ctx *x, char *why)
{
    size_t idx = 0;
    if (http_request_header(x->req, "Authorization", &idx) != NULL) {
        return 1;
    }
    bool unsafe = x->req->method_id != HTTP_METHOD_GET && x->req->method_id != HTTP_METHOD_HEAD;
    int rc = sessions_authenticate(sessions_default(), x->reg, x->req, unsafe, time_now_ms(),
                                   &x->who, NULL, why);
    if (rc == 0 || rc == -ENOENT) {
        return rc == 0 ? 0 : 1;
    }
    log_info("web session refused from %s: %s", x->peer, why);
    if (rc == -EPERM) {
        rest_error(x, 403, "security/Forbidden",
                   "Access is denied: a request authenticated by the session cookie must carry "
                   "the X-XSRF-TOKEN header of its session");
    } else if (rc == CG_EDENIED) {
        unauthorized(x, "Invalid credentials! : the session has ended; sign in again");
    } else {
        rest_fail(x, rc, "security", "", "");
    }
    return -1;
}

/* 0 when x->who is set; otherwise the answer has been written. */
static int authenticate(struct rest_ctx *x, enum rest_access access)
{
    char why[REG_WHY_MAX] = "";
    if (access == REST_CERT) {
        if (x->tls == NULL) {
            rest_error(x, 401, "security/Unauthorized",
                       "this endpoint needs a TLS client certificate");
            return -1;
        }
        return 0; /* the handler decides with x->tls */
    }
    struct http_span auth;
    if (http_request_header_value(x->req, "Authorization", &auth) == 0) {
        enum http_auth_scheme scheme = http_auth_scheme(auth.ptr, auth.len);
        if (scheme == HTTP_AUTH_BASIC) {
            struct http_basic basic;
            if (http_basic_parse(auth.ptr, auth.len, &basic) < 0) {
                unauthorized(x, "Invalid credentials! : malformed Basic authorization");
                return -1;
            }
            char tenant[REG_TENANT_ID_MAX] = "";
            if (basic.tenant != NULL) {
                if (basic.tenant_len >= sizeof(tenant)) {
                    http_basic_clear(&basic);
                    unauthorized(x, "Invalid credentials! : Bad credentials");
                    return -1;
                }
                memcpy(tenant, basic.tenant, basic.tenant_len);
                tenant[basic.tenant_len] = 0;
            }
            int rc = registry_auth_basic(x->reg, tenant, basic.user, basic.password, x->peer,
                                         &x->who, why);
            http_basic_clear(&basic);
            if (rc == -EAGAIN) {
                log_info("login refused for %.32s/%.64s from %s: %s", tenant, basic.user, x->peer,
                         why);
                rest_error(x, 429, "security/Too Many Requests",
                           "Too many failed logins; try again later.");
                rest_field(x, "Retry-After", "60");
                return -1;
            }
            if (rc < 0) {
                log_info("login failed from %s: %s", x->peer, why);
                if (rc == CG_EDENIED) {
                    registry_audit(x->reg, true,
                                   tenant[0] && registry_tenant_exists(x->reg, tenant)
                                       ? tenant
                                       : REG_MANAGEMENT_TENANT,
                                   "UserAuthentication", "Login failed", "WARNING", "", x->peer,
                                   "Failed login from %s: %s", x->peer, why);
                    unauthorized(x, "Invalid credentials! : Bad credentials");
                } else {
                    rest_fail(x, rc, "security", "", "");
                }
                return -1;
            }
            return 0;
        }
        if (scheme == HTTP_AUTH_BEARER) {
            struct http_span token;
            if (http_bearer_parse(auth.ptr, auth.len, &token) < 0) {
                unauthorized(x, "Invalid credentials! : malformed Bearer authorization");
                return -1;
            }
            char *t = str_ndup(token.ptr, token.len);
            int rc = t ? tokens_authenticate(x->srv->tokens, x->reg, t, &x->who, why) : -ENOMEM;
            free_secret(t);
            if (rc < 0) {
                log_info("bearer token refused from %s: %s", x->peer, why);
                rest_error(x, 401, "security/Unauthorized", "Invalid credentials! : %s", why);
                return -1;
            }
            return 0;
        }
        unauthorized(x, "Invalid credentials! : unsupported authorization scheme");
        return -1;
    }
    int session = authenticate_session(x, why);
    if (session <= 0) {
        return session;
    }
    /* A device on the mutual-TLS connection: its certificate is its credential. */
    if (x->tls != NULL && x->tls->accepted) {
        /* Admission as on MQTT: a registered certificate device, or an unknown one that its
         * anchor lets register (durably, before the answer). */
        struct reg_device_brief brief;
        if (registry_identity_check(x->reg, x->tls, why) == 0 &&
            registry_device_admit(x->reg, x->tls, &brief, why) == 0) {
            registry_device_touch(x->reg, x->tls->tenant, x->tls->device_id);
            memset(&x->who, 0, sizeof(x->who));
            x->who.via = PRINCIPAL_CERT;
            str_lcpy(x->who.tenant, x->tls->tenant, sizeof(x->who.tenant));
            snprintf(x->who.user, sizeof(x->who.user), "device_%.240s", x->tls->device_id);
            str_lcpy(x->who.device, x->tls->device_id, sizeof(x->who.device));
            x->who.roles = ROLES_DEVICE;
            return 0;
        }
    }
    unauthorized(x, "Invalid credentials! : Full authentication is required to access this "
                    "resource");
    return -1;
}

/* ---- the request cycle ---- */

static void base_url(struct rest_ctx *x, int local_port)
{
    struct http_span host;
    if (http_request_header_value(x->req, "Host", &host) == 0 && host.len > 0 && host.len < 256) {
        bool ok = true;
        for (size_t i = 0; i < host.len; i++) {
            char c = host.ptr[i];
            if (!(c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_' ||
                  (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
                ok = false;
                break;
            }
        }
        if (ok) {
            snprintf(x->base_url, sizeof(x->base_url), "https://%.*s", (int)host.len, host.ptr);
            return;
        }
    }
    snprintf(x->base_url, sizeof(x->base_url), "https://localhost:%d", local_port);
}

static bool wants_body(const struct rest_ctx *x)
{
    /* The Accept rule: POST/PUT answer with the object only when the request had an
     * Accept header; errors and downloads always carry their body. */
    if (x->keep_body) {
        return true;
    }
    if (x->method == HTTP_METHOD_POST || x->method == HTTP_METHOD_PUT) {
        return x->has_accept;
    }
    return true;
}

static void write_response(struct rest_ctx *x, struct rest_job *job, bool head)
{
    struct http_field fields[32];
    size_t nfields = 0;
    const char *p = buf_str(&x->fields);
    const char *end = p + x->fields.len;
    while (p < end && nfields < 32) {
        const char *name = p;
        const char *value = name + strlen(name) + 1;
        if (value >= end) {
            break;
        }
        fields[nfields].name = name;
        fields[nfields].value = value;
        nfields++;
        p = value + strlen(value) + 1;
    }
    bool cache_set = false; /* a handler's own Cache-Control (the web UI's files) wins */
    for (size_t i = 0; i < nfields; i++) {
        cache_set = cache_set || strcasecmp(fields[i].name, "Cache-Control") == 0;
    }
    if (nfields < 32 && !cache_set) {
        fields[nfields].name = "Cache-Control";
        fields[nfields].value = "no-store";
        nfields++;
    }
    bool body = wants_body(x) && x->out.len > 0;
    struct http_response r = {
        .status = x->status,
        .content_type = body && x->content_type[0] ? x->content_type : NULL,
        .body = body ? buf_data(&x->out) : NULL,
        .body_len = body ? x->out.len : 0,
        .head = head,
        .close = !job->keep_alive,
        .fields = fields,
        .nfields = nfields,
    };
    if (http_response_write(&job->response, &r) < 0) {
        buf_reset(&job->response);
        struct http_response fallback = {.status = 500, .close = true};
        http_response_write(&job->response, &fallback);
        job->keep_alive = false;
    }
}

void rest_handle(struct rest_job *job)
{
    struct rest_ctx *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        struct http_response r = {.status = 503, .close = true};
        job->keep_alive = false;
        http_response_write(&job->response, &r);
        return;
    }
    x->srv = job->srv;
    x->reg = job->srv->reg;
    x->req = &job->req;
    x->method = job->req.method_id;
    x->body = job->body;
    x->body_len = job->body_len;
    x->tls = job->tls;
    x->peer_cert = job->peer_cert;
    x->peer = job->peer;
    buf_init(&x->out, job->srv->cfg.http_max_body + (64u << 20));
    buf_init(&x->fields, 8192);
    struct http_span accept;
    x->has_accept = http_request_header_value(x->req, "Accept", &accept) == 0;
    base_url(x, job->local_port);
    bool head = x->method == HTTP_METHOD_HEAD;
    enum http_method match_method = head ? HTTP_METHOD_GET : x->method;
    /* X-HTTP-METHOD lets a POST stand for PUT or DELETE (reference §1.3). */
    struct http_span override;
    if (x->method == HTTP_METHOD_POST &&
        http_request_header_value(x->req, "X-HTTP-METHOD", &override) == 0) {
        enum http_method m = http_method_parse(override.ptr, override.len);
        if (m == HTTP_METHOD_PUT || m == HTTP_METHOD_DELETE) {
            match_method = m;
            x->method = m;
        }
    }
    if (http_path_parse(&x->path, job->req.path.ptr, job->req.path.len) < 0) {
        rest_error(x, 400, "general/Bad Request", "the request path is malformed");
        goto respond;
    }
    if (http_query_parse(&x->query, job->req.query.ptr, job->req.query.len) < 0) {
        rest_error(x, 400, "general/Bad Request", "the query string is malformed");
        goto respond;
    }
    int rc = http_router_match(job->srv->router, match_method, &x->path, &x->match);
    if (rc == -ENOTSUP) {
        rest_error(x, 405, "general/Method Not Allowed", "%s is not allowed here; use %s",
                   http_method_name(match_method), x->match.allow);
        rest_field(x, "Allow", x->match.allow);
        goto respond;
    }
    const struct rest_route *route = rc == 0 ? route_of(x->match.id) : NULL;
    if (route == NULL) {
        rest_error(x, 404, "general/Not Found", "no resource at this path");
        goto respond;
    }
    if (route->access != REST_PUBLIC && authenticate(x, route->access) < 0) {
        goto respond;
    }
    route->handler(x);
    if (!x->answered) {
        log_error("handler for %s %s answered nothing", http_method_name(x->method),
                  route->pattern);
        rest_error(x, 500, "general/Internal Error", "no answer");
    }
respond:
    write_response(x, job, head);
    if (log_enabled(CG_LOG_DEBUG)) {
        log_debug("%s %.*s -> %d (%s)", http_method_name(job->req.method_id),
                  (int)job->req.path.len, job->req.path.ptr, x->status,
                  x->who.user[0] ? x->who.user : "-");
    }
    http_path_cleanup(&x->path);
    http_query_cleanup(&x->query);
    buf_cleanup(&x->out);
    buf_cleanup(&x->fields);
    secure_zero(&x->who, sizeof(x->who));
    free(x);
}
