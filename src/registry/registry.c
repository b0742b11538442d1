/* The registry's core: opening, in-memory indexes, settings, events, tokens, touches. */
#define LOG_MODULE "registry"
#include "registry/registry_int.h"

#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/trust.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void registry_config_defaults(struct registry_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_chain_len = 10;
    cfg->pop_code_lifetime_s = 86400;
    cfg->audit_rate_per_tenant = 20;
}

size_t reg_key2(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s\x1f%s", a, b);
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

void reg_why(char *why, const char *fmt, ...)
{
    if (why == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, REG_WHY_MAX, fmt, ap);
    va_end(ap);
}

bool principal_has(const struct principal *p, uint32_t any)
{
    return p != NULL && (p->roles & any) != 0;
}

bool principal_in_management(const struct principal *p)
{
    return p != NULL && strcmp(p->tenant, REG_MANAGEMENT_TENANT) == 0;
}

bool principal_may_see_tenant(const struct principal *p, const char *tenant)
{
    if (p == NULL || tenant == NULL) {
        return false;
    }
    if (p->via == PRINCIPAL_SYSTEM || strcmp(p->tenant, tenant) == 0) {
        return true;
    }
    return principal_in_management(p) &&
           principal_has(p, ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ);
}

void principal_system(struct principal *p, const char *tenant)
{
    memset(p, 0, sizeof(*p));
    p->via = PRINCIPAL_SYSTEM;
    str_lcpy(p->tenant, tenant ? tenant : REG_MANAGEMENT_TENANT, sizeof(p->tenant));
    str_lcpy(p->user, "certgate", sizeof(p->user));
    p->roles = ROLES_MANAGEMENT_ADMIN;
}

void reg_emit(struct registry *r, const struct reg_event *ev)
{
    if (r->event_fn != NULL) {
        r->event_fn(ev, r->event_arg);
    }
}

void registry_set_event_handler(struct registry *r,
                                void (*fn)(const struct reg_event *ev, void *arg), void *arg)
{
    r->event_fn = fn;
    r->event_arg = arg;
}

/* ---- settings ---- */

void reg_settings_defaults(const struct registry *r, struct reg_settings *s)
{
    s->token_lifetime_s = 3600;
    s->crl_offline = true;
    s->crl_online = false;
    s->pop_self_attested = false;
    s->max_chain_len = r->cfg.max_chain_len;
    s->acl_open = false;
}

static bool parse_bool(const char *v, bool *out)
{
    if (strcasecmp(v, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcasecmp(v, "false") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_int(const char *v, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != 0 || n < min || n > max) {
        return false;
    }
    *out = (int)n;
    return true;
}

/* The options certgate acts on; anything else is stored and returned as is. */
static const struct known_option {
    const char *category;
    const char *key;
    enum { OPT_BOOL, OPT_INT, OPT_ACL } kind;
    long min, max;
} known_options[] = {
    {"oauth.internal", "device-token.lifespan.seconds", OPT_INT, 300, 2592000},
    {"configuration", "crl.offline.check.enabled", OPT_BOOL, 0, 0},
    {"configuration", "crl.online.check.enabled", OPT_BOOL, 0, 0},
    {"trusted-certificates", "pop.self-attested.enabled", OPT_BOOL, 0, 0},
    {"trusted-certificates", "max.chain.length", OPT_INT, 1, 10},
    {"mqtt", "acl.mode", OPT_ACL, 0, 0},
};

static const struct known_option *find_option(const char *category, const char *key)
{
    for (size_t i = 0; i < sizeof(known_options) / sizeof(known_options[0]); i++) {
        if (strcmp(known_options[i].category, category) == 0 &&
            strcmp(known_options[i].key, key) == 0) {
            return &known_options[i];
        }
    }
    return NULL;
}

int reg_validate_option(const char *category, const char *key, const char *value, char *why)
{
    const struct known_option *o = find_option(category, key);
    if (o == NULL) {
        return 0;
    }
    bool b;
    int n;
    switch (o->kind) {
    case OPT_BOOL:
        if (!parse_bool(value, &b)) {
            reg_why(why, "option %s/%s takes \"true\" or \"false\", not \"%.64s\"", category, key,
                    value);
            return -EINVAL;
        }
        return 0;
    case OPT_INT:
        if (!parse_int(value, o->min, o->max, &n)) {
            reg_why(why, "option %s/%s takes a whole number from %ld to %ld, not \"%.64s\"",
                    category, key, o->min, o->max, value);
            return -EINVAL;
        }
        return 0;
    case OPT_ACL:
        if (strcmp(value, "default") != 0 && strcmp(value, "open") != 0) {
            reg_why(why, "option %s/%s takes \"default\" or \"open\", not \"%.64s\"", category, key,
                    value);
            return -EINVAL;
        }
        return 0;
    }
    return 0;
}

void reg_settings_apply(struct reg_settings *s, const char *category, const char *key,
                        const char *value)
{
    const struct known_option *o = find_option(category, key);
    if (o == NULL) {
        return;
    }
    bool b = false;
    int n = 0;
    if (strcmp(key, "device-token.lifespan.seconds") == 0 && parse_int(value, 300, 2592000, &n)) {
        s->token_lifetime_s = n;
    } else if (strcmp(key, "crl.offline.check.enabled") == 0 && parse_bool(value, &b)) {
        s->crl_offline = b;
    } else if (strcmp(key, "crl.online.check.enabled") == 0 && parse_bool(value, &b)) {
        s->crl_online = b;
    } else if (strcmp(key, "pop.self-attested.enabled") == 0 && parse_bool(value, &b)) {
        s->pop_self_attested = b;
    } else if (strcmp(key, "max.chain.length") == 0 && parse_int(value, 1, 10, &n)) {
        s->max_chain_len = n;
    } else if (strcmp(key, "acl.mode") == 0) {
        s->acl_open = strcmp(value, "open") == 0;
    }
}

struct tenant_mem *reg_tenant_mem(struct registry *r, const char *id)
{
    return hmap_get_str(r->tenants, id);
}

void registry_settings(struct registry *r, const char *tenant, struct reg_settings *out)
{
    pthread_rwlock_rdlock(&r->lock);
    struct tenant_mem *t = tenant ? reg_tenant_mem(r, tenant) : NULL;
    if (t != NULL) {
        *out = t->settings;
    } else {
        reg_settings_defaults(r, out);
    }
    pthread_rwlock_unlock(&r->lock);
}

bool registry_tenant_active(struct registry *r, const char *id)
{
    pthread_rwlock_rdlock(&r->lock);
    struct tenant_mem *t = reg_tenant_mem(r, id);
    bool active = t != NULL && !t->suspended;
    pthread_rwlock_unlock(&r->lock);
    return active;
}

bool registry_tenant_exists(struct registry *r, const char *id)
{
    pthread_rwlock_rdlock(&r->lock);
    bool exists = reg_tenant_mem(r, id) != NULL;
    pthread_rwlock_unlock(&r->lock);
    return exists;
}

/* ---- memory indexes ---- */

struct tenant_mem *reg_tenant_mem_add(struct registry *r, const char *id, bool suspended)
{
    struct tenant_mem *t = reg_tenant_mem(r, id);
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        if (t == NULL || (t->revoked = hmap_new()) == NULL) {
            free(t);
            return NULL;
        }
        str_lcpy(t->id, id, sizeof(t->id));
        reg_settings_defaults(r, &t->settings);
        if (hmap_put_str(r->tenants, id, t, NULL) < 0) {
            hmap_free(t->revoked);
            free(t);
            return NULL;
        }
    }
    t->suspended = suspended;
    return t;
}

static void tenant_mem_free(struct tenant_mem *t)
{
    if (t != NULL) {
        hmap_free(t->revoked);
        free(t);
    }
}

struct prefix_scan {
    const char *prefix;
    size_t plen;
    char **keys;
    size_t n, cap;
};

static int collect_prefixed(const void *key, size_t klen, void *value, void *arg)
{
    struct prefix_scan *ps = arg;
    if (klen > ps->plen && memcmp(key, ps->prefix, ps->plen) == 0) {
        if (ps->n == ps->cap) {
            size_t cap = ps->cap ? ps->cap * 2 : 16;
            char **k = realloc(ps->keys, cap * sizeof(*k));
            if (k == NULL) {
                return -ENOMEM;
            }
            ps->keys = k;
            ps->cap = cap;
        }
        ps->keys[ps->n] = str_ndup(key, klen);
        if (ps->keys[ps->n] == NULL) {
            return -ENOMEM;
        }
        ps->n++;
    }
    return 0;
}

/* Remove every entry of `map` whose key starts with "tenant\x1f", freeing values with fn. */
static void remove_tenant_entries(struct hmap *map, const char *tenant, void (*fn)(void *))
{
    char prefix[REG_TENANT_ID_MAX + 2];
    snprintf(prefix, sizeof(prefix), "%s\x1f", tenant);
    struct prefix_scan ps = {.prefix = prefix, .plen = strlen(prefix)};
    hmap_iter(map, collect_prefixed, &ps);
    for (size_t i = 0; i < ps.n; i++) {
        void *v = hmap_del_str(map, ps.keys[i]);
        if (fn != NULL) {
            fn(v);
        }
        free(ps.keys[i]);
    }
    free(ps.keys);
}

static void anchor_mem_free(void *p)
{
    struct anchor_mem *a = p;
    if (a != NULL) {
        X509_free(a->cert);
        free(a);
    }
}

void reg_tenant_mem_remove(struct registry *r, const char *id)
{
    tenant_mem_free(hmap_del_str(r->tenants, id));
    remove_tenant_entries(r->anchors, id, anchor_mem_free);
    remove_tenant_entries(r->devices, id, free);
}

void reg_anchor_mem_put(struct registry *r, const char *tenant, const char *fp, X509 *cert,
                        bool enabled, bool autoreg, bool pop_valid)
{
    char key[REG_TENANT_ID_MAX + REG_FP_MAX + 2];
    reg_key2(key, sizeof(key), tenant, fp);
    struct anchor_mem *a = hmap_get_str(r->anchors, key);
    if (a == NULL) {
        a = calloc(1, sizeof(*a));
        if (a == NULL) {
            log_error("out of memory indexing a trusted certificate");
            return;
        }
        str_lcpy(a->tenant, tenant, sizeof(a->tenant));
        str_lcpy(a->fingerprint, fp, sizeof(a->fingerprint));
        if (hmap_put_str(r->anchors, key, a, NULL) < 0) {
            free(a);
            log_error("out of memory indexing a trusted certificate");
            return;
        }
    }
    if (cert != NULL) {
        X509_up_ref(cert);
        X509_free(a->cert);
        a->cert = cert;
    }
    a->enabled = enabled;
    a->auto_registration = autoreg;
    a->pop_valid = pop_valid;
}

void reg_anchor_mem_remove(struct registry *r, const char *tenant, const char *fp)
{
    char key[REG_TENANT_ID_MAX + REG_FP_MAX + 2];
    reg_key2(key, sizeof(key), tenant, fp);
    anchor_mem_free(hmap_del_str(r->anchors, key));
}

void reg_device_mem_put(struct registry *r, const char *tenant, const char *external_id, int64_t id,
                        int auth, int registration)
{
    char key[REG_TENANT_ID_MAX + REG_NAME_MAX + 2];
    reg_key2(key, sizeof(key), tenant, external_id);
    struct device_mem *d = hmap_get_str(r->devices, key);
    if (d == NULL) {
        d = malloc(sizeof(*d));
        if (d == NULL || hmap_put_str(r->devices, key, d, NULL) < 0) {
            free(d);
            log_error("out of memory indexing a device");
            return;
        }
    }
    d->id = id;
    d->auth = (uint8_t)auth;
    d->registration = (uint8_t)registration;
}

void reg_device_mem_remove(struct registry *r, const char *tenant, const char *external_id)
{
    char key[REG_TENANT_ID_MAX + REG_NAME_MAX + 2];
    reg_key2(key, sizeof(key), tenant, external_id);
    free(hmap_del_str(r->devices, key));
}

int registry_device_lookup(struct registry *r, const char *tenant, const char *external_id,
                           struct reg_device_brief *out)
{
    char key[REG_TENANT_ID_MAX + REG_NAME_MAX + 2];
    reg_key2(key, sizeof(key), tenant, external_id);
    int rc = -ENOENT;
    pthread_rwlock_rdlock(&r->lock);
    struct device_mem *d = hmap_get_str(r->devices, key);
    if (d != NULL) {
        out->id = d->id;
        out->auth = (enum reg_auth_type)d->auth;
        out->registration = (enum reg_registration)d->registration;
        rc = 0;
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

/* ---- tokens ---- */

static int load_token_row(const struct store_row *row, void *arg)
{
    struct registry *r = arg;
    const char *jti = store_row_text(row, 0);
    int64_t exp_ms = store_row_int(row, 1);
    if (jti != NULL) {
        hmap_put_str(r->tokens, jti, (void *)(intptr_t)(exp_ms / 1000), NULL);
    }
    return 0;
}

int reg_load_tokens(struct registry *r, struct store_conn *c)
{
    struct store_val p[] = {SV_INT(time_now_ms())};
    int rc = store_query(c, "SELECT jti, expires_ms FROM revoked_tokens WHERE expires_ms > $1", p,
                         1, load_token_row, r);
    return rc < 0 ? rc : 0;
}

struct token_args {
    struct registry *r;
    const char *tenant;
    const char *jti;
    int64_t expires_ms;
};

static int token_insert(struct store_conn *c, void *arg)
{
    struct token_args *a = arg;
    struct store_val p[] = {SV_TEXT(a->jti), SV_TEXT(a->tenant), SV_INT(a->expires_ms)};
    return store_exec(c,
                      "INSERT INTO revoked_tokens(jti, tenant_id, expires_ms) VALUES ($1,$2,$3)"
                      " ON CONFLICT (jti) DO NOTHING",
                      p, 3);
}

static void token_committed(void *arg, int rc)
{
    struct token_args *a = arg;
    pthread_rwlock_wrlock(&a->r->lock);
    hmap_put_str(a->r->tokens, a->jti, (void *)(intptr_t)(a->expires_ms / 1000), NULL);
    pthread_rwlock_unlock(&a->r->lock);
}

int registry_token_revoke(struct registry *r, const char *tenant, const char *jti,
                          int64_t expires_ms)
{
    struct token_args a = {.r = r, .tenant = tenant, .jti = jti, .expires_ms = expires_ms};
    int rc = store_write(r->store, token_insert, token_committed, &a);
    return rc < 0 ? rc : 0;
}

bool registry_token_revoked(struct registry *r, const char *jti)
{
    pthread_rwlock_rdlock(&r->lock);
    bool revoked = hmap_get_str(r->tokens, jti) != NULL;
    pthread_rwlock_unlock(&r->lock);
    return revoked;
}

/* ---- device touches, written in the background ---- */

struct touch_batch {
    char **keys;
    int64_t *secs;
    size_t n;
};

static int touch_collect(const void *key, size_t klen, void *value, void *arg)
{
    struct touch_batch *b = arg;
    b->keys[b->n] = str_ndup(key, klen);
    b->secs[b->n] = (int64_t)(intptr_t)value;
    if (b->keys[b->n] != NULL) {
        b->n++;
    }
    return 0;
}

static int touch_write(struct store_conn *c, void *arg)
{
    struct touch_batch *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        char *sep = strchr(b->keys[i], '\x1f');
        if (sep == NULL) {
            continue;
        }
        *sep = 0;
        struct store_val p[] = {SV_TEXT(b->keys[i]), SV_TEXT(sep + 1), SV_INT(b->secs[i] * 1000)};
        int rc = store_exec(c,
                            "UPDATE devices SET last_seen_ms = $3,"
                            " first_seen_ms = COALESCE(first_seen_ms, $3)"
                            " WHERE tenant_id = $1 AND external_id = $2",
                            p, 3);
        *sep = '\x1f';
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

static void flush_touches(struct registry *r)
{
    pthread_mutex_lock(&r->touch_lock);
    size_t n = hmap_count(r->touched);
    if (n == 0) {
        pthread_mutex_unlock(&r->touch_lock);
        return;
    }
    struct touch_batch b = {.keys = calloc(n, sizeof(char *)), .secs = calloc(n, sizeof(int64_t))};
    if (b.keys == NULL || b.secs == NULL) {
        pthread_mutex_unlock(&r->touch_lock);
        free(b.keys);
        free(b.secs);
        return;
    }
    hmap_iter(r->touched, touch_collect, &b);
    struct hmap *fresh = hmap_new();
    if (fresh != NULL) {
        hmap_free(r->touched);
        r->touched = fresh;
    }
    pthread_mutex_unlock(&r->touch_lock);
    if (store_write(r->store, touch_write, NULL, &b) < 0) {
        log_warn("could not record device last-seen times (%zu devices)", b.n);
    }
    for (size_t i = 0; i < b.n; i++) {
        free(b.keys[i]);
    }
    free(b.keys);
    free(b.secs);
}

static void *flusher_main(void *arg)
{
    struct registry *r = arg;
    pthread_mutex_lock(&r->touch_lock);
    while (!r->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 2;
        pthread_cond_timedwait(&r->flusher_wake, &r->touch_lock, &ts);
        pthread_mutex_unlock(&r->touch_lock);
        flush_touches(r);
        pthread_mutex_lock(&r->touch_lock);
    }
    pthread_mutex_unlock(&r->touch_lock);
    flush_touches(r);
    return NULL;
}

void registry_device_touch(struct registry *r, const char *tenant, const char *external_id)
{
    char key[REG_TENANT_ID_MAX + REG_NAME_MAX + 2];
    reg_key2(key, sizeof(key), tenant, external_id);
    pthread_mutex_lock(&r->touch_lock);
    hmap_put_str(r->touched, key, (void *)(intptr_t)(time_now_ms() / 1000), NULL);
    pthread_mutex_unlock(&r->touch_lock);
}

/* ---- open / close ---- */

static int load_all(struct store_conn *c, void *arg)
{
    struct registry *r = arg;
    int rc;
    if ((rc = reg_load_tenants(r, c)) < 0 || (rc = reg_load_anchors(r, c)) < 0 ||
        (rc = reg_load_devices(r, c)) < 0 || (rc = reg_load_revocations(r, c)) < 0 ||
        (rc = reg_load_tokens(r, c)) < 0) {
        return rc;
    }
    return 0;
}

static int free_tenant_cb(const void *k, size_t kl, void *v, void *arg)
{
    tenant_mem_free(v);
    return 0;
}

static int free_anchor_cb(const void *k, size_t kl, void *v, void *arg)
{
    anchor_mem_free(v);
    return 0;
}

static int free_plain_cb(const void *k, size_t kl, void *v, void *arg)
{
    free(v);
    return 0;
}

static int free_ratelimit_cb(const void *k, size_t kl, void *v, void *arg)
{
    free(v);
    return 0;
}

struct registry *registry_open(const struct registry_config *cfg, char *err, size_t errlen)
{
    struct registry *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    r->store = cfg->store;
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->snap_lock, NULL);
    pthread_mutex_init(&r->touch_lock, NULL);
    pthread_cond_init(&r->flusher_wake, NULL);
    pthread_mutex_init(&r->audit_lock, NULL);
    r->tenants = hmap_new();
    r->anchors = hmap_new();
    r->devices = hmap_new();
    r->tokens = hmap_new();
    r->touched = hmap_new();
    r->audit_limits = hmap_new();
    if (r->tenants == NULL || r->anchors == NULL || r->devices == NULL || r->tokens == NULL ||
        r->touched == NULL || r->audit_limits == NULL || reg_auth_init(r) < 0) {
        snprintf(err, errlen, "out of memory");
        registry_close(r);
        return NULL;
    }
    pthread_rwlock_wrlock(&r->lock);
    int rc = store_read(r->store, load_all, r);
    pthread_rwlock_unlock(&r->lock);
    if (rc < 0) {
        snprintf(err, errlen, "cannot load the registry from the database (%s)", cg_strerror(rc));
        registry_close(r);
        return NULL;
    }
    if (reg_bootstrap(r, err, errlen) < 0) {
        registry_close(r);
        return NULL;
    }
    pthread_rwlock_rdlock(&r->lock);
    reg_snapshot_rebuild(r);
    pthread_rwlock_unlock(&r->lock);
    if (r->snap == NULL) {
        snprintf(err, errlen, "cannot build the trust snapshot");
        registry_close(r);
        return NULL;
    }
    if (pthread_create(&r->flusher, NULL, flusher_main, r) != 0) {
        snprintf(err, errlen, "cannot start the registry's background thread");
        registry_close(r);
        return NULL;
    }
    log_info("registry loaded: %zu tenants, %zu trusted certificates, %zu devices",
             hmap_count(r->tenants), hmap_count(r->anchors), hmap_count(r->devices));
    return r;
}

void registry_close(struct registry *r)
{
    if (r == NULL) {
        return;
    }
    if (r->flusher) {
        pthread_mutex_lock(&r->touch_lock);
        r->stopping = true;
        pthread_cond_signal(&r->flusher_wake);
        pthread_mutex_unlock(&r->touch_lock);
        pthread_join(r->flusher, NULL);
    }
    reg_snapshot_put(r->snap);
    if (r->tenants != NULL) {
        hmap_iter(r->tenants, free_tenant_cb, NULL);
    }
    if (r->anchors != NULL) {
        hmap_iter(r->anchors, free_anchor_cb, NULL);
    }
    if (r->devices != NULL) {
        hmap_iter(r->devices, free_plain_cb, NULL);
    }
    if (r->audit_limits != NULL) {
        hmap_iter(r->audit_limits, free_ratelimit_cb, NULL);
    }
    hmap_free(r->tenants);
    hmap_free(r->anchors);
    hmap_free(r->devices);
    hmap_free(r->tokens);
    hmap_free(r->touched);
    hmap_free(r->audit_limits);
    reg_auth_cleanup(r);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->snap_lock);
    pthread_mutex_destroy(&r->touch_lock);
    pthread_cond_destroy(&r->flusher_wake);
    pthread_mutex_destroy(&r->audit_lock);
    free(r);
}
