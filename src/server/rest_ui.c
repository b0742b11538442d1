/* The web UI: its static files, its sign-in sessions, and the few JSON views it needs that
 * the Cumulocity-style API does not have.
 *
 *   GET    /  and  /ui                 web/index.html
 *   GET    /ui/{file}                  web/<file> (embedded at build time: ui_assets.h)
 *   POST   /ui/session                 sign in: JSON {tenant, user, password} -> session cookie
 *                                      and {csrfToken, ...}
 *   GET    /ui/session                 who is signed in (401 when nobody), with the CSRF token
 *   DELETE /ui/session                 sign out
 *   GET    /certgate/overview          counts for the overview page, and the broker's connect
 *                                      and refusal rates (management tenant only)
 *   GET    /certgate/devices/connected?ids=a,b,c   which of these devices are connected now
 *   GET    /certgate/revocations       the caller's tenant's revoked serials as JSON
 *
 * Sessions are described in sessions.h; authenticate() in rest.c accepts their cookie for
 * every REST_AUTH route. Static files carry a Content-Security-Policy that allows nothing but
 * the server's own origin (no inline script or style, no framing), so the UI makes no
 * external request and an injected string cannot run as script.
 *
 * Handlers run on a pool thread (rest.h).
 */
#define LOG_MODULE "ui"
#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "http/json.h"
#include "http/multipart.h"
#include "server/rest.h"
#include "server/server.h"
#include "server/sessions.h"
#include "server/ui_assets.h"

#include "broker/broker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INVENTORY_READ_ROLES (ROLE_INVENTORY_READ | ROLE_INVENTORY_ADMIN)
#define CERT_READ_ROLES                                                                            \
    (ROLE_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ)
#define BROKER_STATS_ROLES (ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ)

/* Devices the overview checks one by one for "connected now", and ids one
 * /certgate/devices/connected request may name. */
#define CONNECTED_IDS_MAX 200
/* Certificates the overview looks at for expiry and proof-of-possession counts. */
#define OVERVIEW_CERTS_MAX 1000
#define EXPIRING_MS (30LL * 24 * 3600 * 1000)

static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
                          "object-src 'none'; base-uri 'none'; form-action 'self'; "
                          "frame-ancestors 'none'";

/* Headers every UI answer carries: no framing, no sniffing, no referrer, only our origin. */
static void security_fields(struct rest_ctx *x)
{
    rest_field(x, "Content-Security-Policy", CSP);
    rest_field(x, "X-Content-Type-Options", "nosniff");
    rest_field(x, "X-Frame-Options", "DENY");
    rest_field(x, "Referrer-Policy", "no-referrer");
    rest_field(x, "Cross-Origin-Opener-Policy", "same-origin");
    rest_field(x, "Cross-Origin-Resource-Policy", "same-origin");
    rest_field(x, "Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=()");
}

/* ---- static files ------------------------------------------------------------------------ */

static const char *media_of(const char *name)
{
    static const struct {
        const char *ext;
        const char *media;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(dot, types[i].ext) == 0) {
            return types[i].media;
        }
    }
    return "application/octet-stream";
}

static const struct ui_asset *asset_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < ui_assets_count; i++) {
        if (strcmp(ui_assets[i].name, name) == 0) {
            return &ui_assets[i];
        }
    }
    return NULL;
}

/* Whether If-None-Match names this ETag ("*" or a list holding it, weak or strong). */
static bool not_modified(const struct rest_ctx *x, const char *etag)
{
    struct http_span v;
    if (http_request_header_value(x->req, "If-None-Match", &v) < 0) {
        return false;
    }
    size_t n = strlen(etag);
    for (size_t i = 0; i < v.len;) {
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ',')) {
            i++;
        }
        if (i + 2 <= v.len && v.ptr[i] == 'W' && v.ptr[i + 1] == '/') {
            i += 2;
        }
        if (i < v.len && v.ptr[i] == '*') {
            return true;
        }
        if (i + n <= v.len && memcmp(v.ptr + i, etag, n) == 0 &&
            (i + n == v.len || v.ptr[i + n] == ',' || v.ptr[i + n] == ' ')) {
            return true;
        }
        while (i < v.len && v.ptr[i] != ',') {
            i++;
        }
    }
    return false;
}

static void serve_asset(struct rest_ctx *x, const char *name)
{
    security_fields(x);
    const struct ui_asset *a = asset_find(name);
    if (a == NULL) {
        rest_error(x, 404, "general/Not Found", "the web UI has no file '%.64s'", name ? name : "");
        return;
    }
    /* A URL carrying the current version never changes its content; others revalidate. */
    const char *v = http_query_get(&x->query, "v");
    bool versioned = v != NULL && strcmp(v, ui_version) == 0 && strcmp(a->name, "index.html") != 0;
    rest_field(x, "Cache-Control", versioned ? "public, max-age=31536000, immutable" : "no-cache");
    rest_field(x, "ETag", a->etag);
    if (not_modified(x, a->etag)) {
        rest_empty(x, 304);
        return;
    }
    rest_bytes(x, 200, a->data, a->len, media_of(a->name));
}

static void get_index(struct rest_ctx *x)
{
    serve_asset(x, "index.html");
}

static void get_file(struct rest_ctx *x)
{
    serve_asset(x, rest_param(x, "file"));
}

/* ---- sessions ---------------------------------------------------------------------------- */

static json_t *role_names(uint32_t mask)
{
    json_t *arr = json_array();
    int it = 0;
    uint32_t bit;
    while (arr != NULL && (bit = roles_next(mask, &it)) != 0) {
        const char *name = roles_name(bit);
        if (name != NULL) {
            json_array_append_new(arr, json_string(name));
        }
    }
    return arr;
}

static void answer_session(struct rest_ctx *x, int status, const struct session_view *v)
{
    json_t *body = json_pack("{s:s, s:s, s:o, s:b, s:s, s:o, s:o, s:I}", "tenant", v->who.tenant,
                             "user", v->who.user, "roles", role_names(v->who.roles), "management",
                             principal_in_management(&v->who), "csrfToken", v->csrf, "expiresAt",
                             rest_time(v->absolute_expires_ms), "idleExpiresAt",
                             rest_time(v->idle_expires_ms), "idleTimeoutSeconds",
                             (json_int_t)((v->idle_expires_ms - v->last_used_ms) / 1000));
    if (body == NULL) {
        rest_fail(x, -ENOMEM, "security", "", "");
        return;
    }
    rest_json(x, status, body, NULL);
    x->keep_body = true;
}

static void not_signed_in(struct rest_ctx *x, const char *message)
{
    /* No WWW-Authenticate: the browser must not open its own password dialog. */
    rest_error(x, 401, "security/Unauthorized", "%s", message);
}

static void set_cookie(struct rest_ctx *x, const char *id)
{
    char cookie[160];
    if (id != NULL) {
        snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; Secure; HttpOnly; SameSite=Strict",
                 SESSION_COOKIE_NAME, id);
    } else {
        snprintf(cookie, sizeof(cookie),
                 "%s=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0", SESSION_COOKIE_NAME);
    }
    rest_field(x, "Set-Cookie", cookie);
    secure_zero(cookie, sizeof(cookie));
}

/* A member of the sign-in body: a string of 0 (when optional) to max bytes, or NULL. */
static const char *member(const json_t *o, const char *key, size_t max)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) > max) {
        return NULL;
    }
    return json_string_value(v);
}

/* Overwrite a JSON string's bytes in place (the password) before the value is freed. */
static void zero_member(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        secure_zero((void *)json_string_value(v), json_string_length(v));
    }
}

static void post_session(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    char id[SESSION_TOKEN_LEN + 1] = "";
    char csrf[SESSION_TOKEN_LEN + 1] = "";
    struct principal who;
    json_t *body = NULL;
    memset(&who, 0, sizeof(who));
    security_fields(x);
    /* Only a script of our own origin can send JSON here without a CORS preflight, which
     * certgate never grants: a cross-site form cannot sign a victim in (login CSRF). */
    char *ctype = rest_header(x, "Content-Type");
    struct http_content_type ct;
    bool json = ctype != NULL && http_content_type_parse(ctype, strlen(ctype), &ct) == 0 &&
                http_content_type_is(&ct, "application", "json");
    free(ctype);
    if (!json) {
        rest_error(x, 415, "general/Unsupported Media Type",
                   "sign in with a JSON body {\"tenant\", \"user\", \"password\"} and "
                   "Content-Type: application/json");
        goto out;
    }
    if ((body = rest_body_json(x)) == NULL) {
        goto out;
    }
    const char *tenant = member(body, "tenant", REG_TENANT_ID_MAX - 1);
    const char *user = member(body, "user", REG_NAME_MAX - 1);
    const char *password = member(body, "password", 1024);
    if (json_object_get(body, "tenant") != NULL && !json_is_null(json_object_get(body, "tenant")) &&
        tenant == NULL) {
        rest_error(x, 422, "security/Unprocessable Entity",
                   "tenant must be a tenant id of at most %d characters", REG_TENANT_ID_MAX - 1);
        goto out;
    }
    if (user == NULL || user[0] == 0 || password == NULL || password[0] == 0) {
        rest_error(x, 422, "security/Unprocessable Entity",
                   "user and password are required (strings)");
        goto out;
    }
    int rc = registry_auth_basic(x->reg, tenant, user, password, x->peer, &who, why);
    zero_member(body, "password");
    if (rc == -EAGAIN) {
        log_info("web sign-in refused for %.32s/%.64s from %s: %s", tenant ? tenant : "", user,
                 x->peer, why);
        rest_error(x, 429, "security/Too Many Requests",
                   "Too many failed logins; try again later.");
        rest_field(x, "Retry-After", "60");
        goto out;
    }
    if (rc == CG_EDENIED) {
        log_info("web sign-in failed from %s: %s", x->peer, why);
        const char *t = tenant != NULL && tenant[0] && registry_tenant_exists(x->reg, tenant)
                            ? tenant
                            : REG_MANAGEMENT_TENANT;
        registry_audit(x->reg, true, t, "UserAuthentication", "Login failed", "WARNING", "",
                       x->peer, "Failed web sign-in from %s: %s", x->peer, why);
        not_signed_in(x, "Invalid credentials! : Bad credentials");
        goto out;
    }
    if (rc < 0) {
        rest_fail(x, rc, "security", "", "");
        goto out;
    }
    if (who.device[0] != 0 || (who.roles & ROLE_DEVICE) != 0) {
        rest_error(x, 403, "security/Forbidden",
                   "device users cannot sign in to the web UI; sign in as a tenant user");
        goto out;
    }
    int64_t now = time_now_ms();
    struct sessions *table = sessions_default();
    rc = table ? sessions_create(table, &who, now, id, csrf) : -ENOMEM;
    if (rc == CG_ELIMIT) {
        rest_error(x, 503, "general/Service Unavailable",
                   "too many open web sessions; try again later");
        goto out;
    }
    if (rc < 0) {
        rest_fail(x, rc, "security", "", "");
        goto out;
    }
    struct session_view v;
    if (sessions_get(table, id, strlen(id), now, false, &v) < 0) {
        rest_fail(x, CG_EINTERNAL, "security", "", "");
        goto out;
    }
    registry_audit(x->reg, false, who.tenant, "UserAuthentication", "User login", "INFORMATION",
                   who.user, x->peer, "User %s signed in to the web UI from %s", who.user, x->peer);
    set_cookie(x, id);
    answer_session(x, 201, &v);
    secure_zero(&v, sizeof(v));
out:
    if (body != NULL) {
        zero_member(body, "password");
        json_decref(body);
    }
    /* The request body held the password; nothing reads it after the handler. */
    if (x->body != NULL && x->body_len > 0) {
        secure_zero((void *)x->body, x->body_len);
    }
    secure_zero(id, sizeof(id));
    secure_zero(csrf, sizeof(csrf));
    secure_zero(&who, sizeof(who));
}

static void get_session(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    struct principal who;
    struct session_view v;
    security_fields(x);
    int rc = sessions_authenticate(sessions_default(), x->reg, x->req, false, time_now_ms(), &who,
                                   &v, why);
    if (rc == -ENOENT) {
        not_signed_in(x, "not signed in");
        return;
    }
    if (rc == CG_EDENIED) {
        log_info("web session refused from %s: %s", x->peer, why);
        set_cookie(x, NULL);
        not_signed_in(x, "the session has ended; sign in again");
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "security", "", "");
        return;
    }
    answer_session(x, 200, &v);
    secure_zero(&v, sizeof(v));
    secure_zero(&who, sizeof(who));
}

static void delete_session(struct rest_ctx *x)
{
    /* authenticate() has checked the session and its CSRF token, or other credentials: then
     * only a session of that same user is ended. */
    const char *id = NULL;
    size_t len = 0;
    struct session_view v;
    struct sessions *table = sessions_default();
    memset(&v, 0, sizeof(v));
    security_fields(x);
    if (session_cookie_find(x->req, &id, &len) == 0 && table != NULL &&
        sessions_get(table, id, len, time_now_ms(), false, &v) == 0 &&
        strcmp(v.who.tenant, x->who.tenant) == 0 && strcmp(v.who.user, x->who.user) == 0 &&
        sessions_remove(table, id, len) == 0) {
        registry_audit(x->reg, false, x->who.tenant, "UserAuthentication", "User logout",
                       "INFORMATION", x->who.user, x->peer, "User %s signed out of the web UI",
                       x->who.user);
    }
    secure_zero(&v, sizeof(v));
    set_cookie(x, NULL);
    rest_empty(x, 204);
}

/* ---- broker data --------------------------------------------------------------------------- */

static bool broker_wired(const struct rest_ctx *x)
{
    return x->srv->broker != NULL;
}

static bool device_connected(const struct rest_ctx *x, const char *tenant, const char *device)
{
    return x->srv->broker != NULL && broker_device_connected(x->srv->broker, tenant, device);
}

/* The trust snapshot's cache of verified intermediates (instance-wide: it spans tenants). */
static json_t *verify_cache_json(struct rest_ctx *x)
{
    struct pki_trust_cache_stats cs;
    registry_verify_cache_stats(x->reg, &cs);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "hits", (json_int_t)cs.hits, "misses",
                     (json_int_t)cs.misses, "inserts", (json_int_t)cs.inserts, "evictions",
                     (json_int_t)cs.evictions, "entries", (json_int_t)cs.entries, "capacity",
                     (json_int_t)cs.capacity, "signatureHits", (json_int_t)cs.signature_hits);
}

/* The connect figures: the instance's for the management tenant's tenant managers, the
 * caller's tenant's otherwise. */
static json_t *broker_json(struct rest_ctx *x)
{
    struct broker *b = x->srv->broker;
    uint64_t accepted, minute, online;
    const uint64_t *refused_minute, *refused_total;
    struct broker_stats st;
    struct broker_tenant_stats ts;
    bool instance = principal_in_management(&x->who) && principal_has(&x->who, BROKER_STATS_ROLES);
    if (instance) {
        broker_stats_get(b, &st);
        accepted = st.connects_accepted;
        minute = st.connects_last_minute;
        online = st.sessions_online;
        refused_minute = st.refused_last_minute;
        refused_total = st.refused;
    } else {
        broker_tenant_stats_get(b, x->who.tenant, &ts);
        accepted = ts.connects_accepted;
        minute = ts.connects_last_minute;
        online = ts.devices_online;
        refused_minute = ts.refused_last_minute;
        refused_total = ts.refused;
    }
    json_t *by_minute = json_object();
    json_t *total = json_object();
    for (int i = 0; i < BROKER_REFUSED_NREASONS; i++) {
        json_object_set_new(by_minute, broker_refusal_name(i),
                            json_integer((json_int_t)refused_minute[i]));
        json_object_set_new(total, broker_refusal_name(i),
                            json_integer((json_int_t)refused_total[i]));
    }
    json_t *out =
        json_pack("{s:b, s:s, s:I, s:I, s:I, s:o, s:o}", "wired", true, "scope",
                  instance ? "instance" : "tenant", instance ? "sessionsOnline" : "devicesOnline",
                  (json_int_t)online, "connectsTotal", (json_int_t)accepted, "connectsLastMinute",
                  (json_int_t)minute, "refusedLastMinute", by_minute, "refusedTotal", total);
    if (out != NULL && instance) {
        json_object_set_new(out, "verifyCache", verify_cache_json(x));
    }
    return out;
}

/* ---- overview ------------------------------------------------------------------------------ */

static void count_devices(struct rest_ctx *x, json_t *out)
{
    struct reg_device *items = NULL;
    int n = 0;
    int64_t total = 0;
    if (registry_device_list(x->reg, x->who.tenant, NULL, 0, 1, &items, &n, &total) < 0) {
        return;
    }
    reg_device_list_free(items, n);
    json_object_set_new(out, "devices", json_integer(total));
    if (broker_wired(x)) {
        struct broker_tenant_stats ts;
        broker_tenant_stats_get(x->srv->broker, x->who.tenant, &ts);
        json_object_set_new(out, "connectedNow", json_integer((json_int_t)ts.devices_online));
    }
}

static void count_certs(struct rest_ctx *x, json_t *out)
{
    struct reg_cert *items = NULL;
    int n = 0;
    int64_t total = 0;
    if (registry_cert_list(x->reg, x->who.tenant, 0, OVERVIEW_CERTS_MAX, &items, &n, &total) < 0) {
        return;
    }
    int enabled = 0, pop = 0;
    for (int i = 0; i < n; i++) {
        enabled += items[i].enabled;
        pop += items[i].pop_valid;
    }
    reg_cert_list_free(items, n);
    json_object_set_new(out, "trustedCertificates",
                        json_pack("{s:I, s:i, s:i}", "total", (json_int_t)total, "enabled", enabled,
                                  "proofOfPossessionComplete", pop));
}

static void get_overview(struct rest_ctx *x)
{
    security_fields(x);
    json_t *v = json_pack("{s:s, s:s}", "tenant", x->who.tenant, "user", x->who.user);
    if (v == NULL) {
        rest_fail(x, -ENOMEM, "general", "", "");
        return;
    }
    if (principal_has(&x->who, INVENTORY_READ_ROLES)) {
        count_devices(x, v);
    }
    if (principal_has(&x->who, CERT_READ_ROLES)) {
        count_certs(x, v);
    }
    json_t *broker = broker_wired(x) && principal_has(&x->who, INVENTORY_READ_ROLES)
                         ? broker_json(x)
                         : json_pack("{s:b}", "wired", broker_wired(x));
    json_object_set_new(v, "broker", broker);
    rest_json(x, 200, v, NULL);
}

/* ---- connected devices --------------------------------------------------------------------- */

static void get_connected(struct rest_ctx *x)
{
    security_fields(x);
    if (!rest_require(x, INVENTORY_READ_ROLES)) {
        return;
    }
    const char *ids = http_query_get(&x->query, "ids");
    json_t *list = json_array();
    char *copy = str_ndup(ids ? ids : "", ids ? strlen(ids) : 0);
    if (list == NULL || copy == NULL) {
        json_decref(list);
        free(copy);
        rest_fail(x, -ENOMEM, "inventory", "", "");
        return;
    }
    int count = 0;
    char *save = NULL;
    for (char *id = strtok_r(copy, ",", &save); id != NULL; id = strtok_r(NULL, ",", &save)) {
        if (++count > CONNECTED_IDS_MAX) {
            json_decref(list);
            free(copy);
            rest_error(x, 422, "inventory/Unprocessable Entity", "ids may name at most %d devices",
                       CONNECTED_IDS_MAX);
            return;
        }
        if (id[0] != 0 && device_connected(x, x->who.tenant, id)) {
            json_array_append_new(list, json_string(id));
        }
    }
    free(copy);
    rest_json(x, 200, json_pack("{s:b, s:o}", "brokerWired", broker_wired(x), "connected", list),
              NULL);
}

/* ---- revocations --------------------------------------------------------------------------- */

static void get_revocations(struct rest_ctx *x)
{
    security_fields(x);
    if (!rest_require(x, CERT_READ_ROLES)) {
        return;
    }
    struct reg_revoked *items = NULL;
    int n = 0;
    int rc = registry_crl_list(x->reg, x->who.tenant, &items, &n);
    if (rc < 0) {
        rest_fail(x, rc, "certificate", "", "");
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; arr != NULL && i < n; i++) {
        json_array_append_new(arr,
                              json_pack("{s:s, s:o, s:s}", "serialNumberInHex", items[i].serial_hex,
                                        "revocationDate", rest_time(items[i].revoked_ms), "source",
                                        items[i].source));
    }
    free(items);
    if (arr == NULL) {
        rest_fail(x, -ENOMEM, "certificate", "", "");
        return;
    }
    rest_json(x, 200, json_pack("{s:s, s:o}", "tenant", x->who.tenant, "revoked", arr), NULL);
}

REST_ROUTES(rest_routes_ui, {HTTP_METHOD_GET, "/", REST_PUBLIC, get_index},
            {HTTP_METHOD_GET, "/ui", REST_PUBLIC, get_index},
            {HTTP_METHOD_GET, "/ui/{file}", REST_PUBLIC, get_file},
            {HTTP_METHOD_POST, "/ui/session", REST_PUBLIC, post_session},
            {HTTP_METHOD_GET, "/ui/session", REST_PUBLIC, get_session},
            {HTTP_METHOD_DELETE, "/ui/session", REST_AUTH, delete_session},
            {HTTP_METHOD_GET, "/certgate/overview", REST_AUTH, get_overview},
            {HTTP_METHOD_GET, "/certgate/devices/connected", REST_AUTH, get_connected},
            {HTTP_METHOD_GET, "/certgate/revocations", REST_AUTH, get_revocations}, );
