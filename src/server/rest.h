/* The REST framework: one request in, one response out, on a pool thread.
 *
 * A connection's worker parses a request (http_conn.c) and hands a copy to the blocking
 * pool; rest_handle() routes it, authenticates the caller, runs the handler and leaves the
 * response bytes in the job. Handlers are synchronous and may block (database, password
 * hashing); they never touch the connection.
 *
 * Handlers live one file per resource (rest_<resource>.c), each exporting a route table
 * that rest.c lists. A handler reads the request through the rest_ctx accessors and
 * answers with exactly one of rest_json / rest_error / rest_empty / rest_bytes.
 */
#ifndef CERTGATE_SERVER_REST_H
#define CERTGATE_SERVER_REST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "http/query.h"
#include "http/request.h"
#include "http/route.h"
#include "registry/registry.h"

struct server;

/* Who may call a route. */
enum rest_access {
    REST_PUBLIC = 0, /* anyone: no credentials looked at */
    REST_AUTH,       /* an authenticated principal: Basic, Bearer, or an accepted client
                        certificate of a registered device */
    REST_CERT,       /* the TLS client certificate alone (deviceAccessToken) */
};

struct rest_ctx;

struct rest_route {
    enum http_method method;
    const char *pattern;
    enum rest_access access;
    void (*handler)(struct rest_ctx *x);
};

/* What a handler sees and fills. Fields are read-only for handlers unless noted. */
struct rest_ctx {
    struct server *srv;
    struct registry *reg;
    /* the request */
    const struct http_request *req;
    enum http_method method;
    struct http_path path;
    struct http_query query;
    struct http_match match;
    const uint8_t *body;
    size_t body_len;
    const struct reg_identity *tls; /* the client certificate verdict, or NULL */
    X509 *peer_cert;                /* the TLS client certificate (leaf), or NULL */
    const char *peer;               /* "ip:port" */
    char base_url[300];             /* "https://host:port", from the Host header */
    bool has_accept;                /* the request carried an Accept header */
    /* the caller (REST_AUTH and REST_CERT routes) */
    struct principal who;
    /* the response (handlers use the functions below) */
    int status;
    struct buf out;
    char content_type[128];
    struct buf fields; /* extra header fields, "Name\0Value\0" pairs */
    bool answered;
    bool keep_body; /* send the body even without Accept on POST/PUT (errors, downloads) */
};

/* rest_param: a {param} of the route pattern, or NULL. */
const char *rest_param(const struct rest_ctx *x, const char *name);

/* rest_header: a request header's value as a malloc'd string (NULL when absent). */
char *rest_header(const struct rest_ctx *x, const char *name);

/* rest_json: answer `status` with the JSON value (the reference is stolen) and
 * Content-Type `media` (NULL: application/json). */
void rest_json(struct rest_ctx *x, int status, json_t *v, const char *media);

/* rest_error: answer with Cumulocity's error body {"error", "message", "info"}; `error` is
 * "<resource>/<name>" such as "security/Unauthorized". */
void rest_error(struct rest_ctx *x, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* rest_empty: answer `status` without a body (204, or 200/201 for the Accept rule). */
void rest_empty(struct rest_ctx *x, int status);

/* rest_bytes: answer with raw bytes (copied) of media type `media`. */
void rest_bytes(struct rest_ctx *x, int status, const void *data, size_t len, const char *media);

/* rest_field: add a response header field (copied). */
void rest_field(struct rest_ctx *x, const char *name, const char *value);

/* rest_body_json: parse the request body as a JSON object; on failure answers 400/422 with a
 * message naming the problem and returns NULL. */
json_t *rest_body_json(struct rest_ctx *x);

/* rest_paging: the paging parameters; on a bad value answers 422 and returns -1. */
int rest_paging(struct rest_ctx *x, struct http_paging *pg);

/* rest_collection: {"self", <key>: items (stolen), "statistics", "next", "prev"}. */
json_t *rest_collection(struct rest_ctx *x, const char *key, json_t *items,
                        const struct http_paging *pg, int64_t total);

/* rest_fail: map a registry error code to a response: -ENOENT 404 (`not_found` is the error
 * type and message), CG_ECONFLICT 409, -EINVAL 422, CG_EDENIED 403, others 500; `why` (may be
 * empty) becomes the message. */
void rest_fail(struct rest_ctx *x, int rc, const char *resource, const char *why,
               const char *not_found_message);

/* rest_require: whether the caller holds one of `roles`; otherwise answers 403 and returns
 * false. */
bool rest_require(struct rest_ctx *x, uint32_t roles);

/* rest_tenant_visible: whether the caller may see `tenant` (own tenant, or a tenant manager
 * of the management tenant); otherwise answers 404 "There is no tenant with id = ..."
 * (tenants do not learn which other tenant ids exist) and returns false. */
bool rest_tenant_visible(struct rest_ctx *x, const char *tenant);

/* rest_self_url: base_url + the formatted path into a malloc'd string. */
char *rest_url(const struct rest_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* rest_time: ISO 8601 UTC text of ms into a JSON string value. */
json_t *rest_time(int64_t ms);

/* Route tables, one per resource file. */
struct rest_routes {
    const struct rest_route *routes;
    size_t n;
};

#define REST_ROUTES(name, ...)                                                                     \
    static const struct rest_route name##_table[] = {__VA_ARGS__};                                 \
    const struct rest_routes name = {name##_table, sizeof(name##_table) / sizeof(name##_table[0])}

extern const struct rest_routes rest_routes_misc;
extern const struct rest_routes rest_routes_tenants;
extern const struct rest_routes rest_routes_users;
extern const struct rest_routes rest_routes_options;
extern const struct rest_routes rest_routes_certs;
extern const struct rest_routes rest_routes_crl;
extern const struct rest_routes rest_routes_devices;
extern const struct rest_routes rest_routes_audit;
extern const struct rest_routes rest_routes_tokens;
extern const struct rest_routes rest_routes_publish;
extern const struct rest_routes rest_routes_ui;

/* rest_router_new: the router over every table. NULL on failure. */
struct http_router *rest_router_new(void);

/* One request handed to the pool. */
struct rest_job {
    struct server *srv;
    struct http_request req; /* spans point into `raw` and `body` */
    char *raw;               /* copy of the request head */
    uint8_t *body;           /* copy of the body */
    size_t body_len;
    struct reg_identity *tls; /* copy of the connection's verdict, or NULL */
    X509 *peer_cert;          /* the client's leaf certificate (a reference), or NULL */
    char peer[64];
    int local_port;
    bool keep_alive;
    struct buf response; /* filled by rest_handle */
};

/* rest_handle: route, authenticate, run the handler and write the response into
 * job->response. Pool thread. */
void rest_handle(struct rest_job *job);

#endif
