/* Web UI sign-in sessions (sessions.h). */
#include "server/sessions.h"

#include "core/err.h"
#include "core/hmap.h"
#include "core/str.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LEN 32 /* SHA-256 of the session id */

struct session {
    uint8_t key[KEY_LEN];
    struct principal who;
    char csrf[SESSION_TOKEN_LEN + 1];
    int64_t created_ms;
    int64_t last_used_ms;
};

struct sessions {
    pthread_mutex_t lock;
    struct session_limits lim;
    struct hmap *map; /* key -> struct session (owned) */
};

/* ---- the table ------------------------------------------------------------------------ */

struct sessions *sessions_new(const struct session_limits *lim)
{
    struct session_limits d = {SESSION_IDLE_MS_DEFAULT, SESSION_ABSOLUTE_MS_DEFAULT, SESSIONS_MAX,
                               SESSIONS_PER_USER_MAX};
    if (lim != NULL) {
        if (lim->idle_ms <= 0 || lim->absolute_ms <= 0 || lim->max == 0 || lim->per_user_max == 0) {
            return NULL;
        }
        d = *lim;
    }
    struct sessions *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->lim = d;
    s->map = hmap_new();
    if (s->map == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        hmap_free(s->map);
        free(s);
        return NULL;
    }
    return s;
}

static void session_free(struct session *e)
{
    if (e != NULL) {
        secure_zero(e, sizeof(*e));
        free(e);
    }
}

/* Collect the keys of the entries `pick` selects (the map may not change while iterating). */
struct pick_ctx {
    const struct sessions *s;
    int64_t now_ms;
    const char *tenant;
    const char *user;
    uint8_t (*keys)[KEY_LEN];
    size_t n, cap;
    /* for the per-user cap: that user's live sessions and the least recently used one */
    size_t user_live;
    uint8_t lru_key[KEY_LEN];
    int64_t lru_ms;
};

static bool expired(const struct sessions *s, const struct session *e, int64_t now_ms)
{
    return now_ms - e->last_used_ms >= s->lim.idle_ms ||
           now_ms - e->created_ms >= s->lim.absolute_ms || now_ms < e->created_ms;
}

static int pick_add(struct pick_ctx *p, const uint8_t *key)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        void *k = realloc(p->keys, cap * KEY_LEN);
        if (k == NULL) {
            return 1; /* stop: what was collected is still removed */
        }
        p->keys = k;
        p->cap = cap;
    }
    memcpy(p->keys[p->n++], key, KEY_LEN);
    return 0;
}

static int pick_expired_or_user(const void *key, size_t klen, void *value, void *arg)
{
    struct pick_ctx *p = arg;
    struct session *e = value;
    (void)klen;
    if (expired(p->s, e, p->now_ms)) {
        return pick_add(p, key);
    }
    if (p->tenant != NULL && strcmp(e->who.tenant, p->tenant) == 0 &&
        strcmp(e->who.user, p->user) == 0) {
        if (p->user_live == 0 || e->last_used_ms < p->lru_ms) {
            memcpy(p->lru_key, key, KEY_LEN);
            p->lru_ms = e->last_used_ms;
        }
        p->user_live++;
    }
    return 0;
}

static int pick_user(const void *key, size_t klen, void *value, void *arg)
{
    struct pick_ctx *p = arg;
    struct session *e = value;
    (void)klen;
    if (strcmp(e->who.tenant, p->tenant) == 0 && strcmp(e->who.user, p->user) == 0) {
        return pick_add(p, key);
    }
    return 0;
}

static int pick_all(const void *key, size_t klen, void *value, void *arg)
{
    (void)klen;
    (void)value;
    return pick_add(arg, key);
}

static void remove_picked(struct sessions *s, struct pick_ctx *p)
{
    for (size_t i = 0; i < p->n; i++) {
        session_free(hmap_del(s->map, p->keys[i], KEY_LEN));
    }
    free(p->keys);
    p->keys = NULL;
    p->n = p->cap = 0;
}

void sessions_free(struct sessions *s)
{
    if (s == NULL) {
        return;
    }
    struct pick_ctx p = {.s = s};
    hmap_iter(s->map, pick_all, &p);
    remove_picked(s, &p);
    hmap_free(s->map);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static struct sessions *default_table;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    default_table = sessions_new(NULL);
}

struct sessions *sessions_default(void)
{
    pthread_once(&default_once, default_init);
    return default_table;
}

/* ---- ids ------------------------------------------------------------------------------ */

static bool token_shape_ok(const char *t, size_t len)
{
    if (len != SESSION_TOKEN_LEN) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

static int key_of(const char *id, size_t len, uint8_t key[KEY_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(id, len, key, &n, EVP_sha256(), NULL) != 1 || n != KEY_LEN) {
        return CG_ECRYPTO;
    }
    return 0;
}

static int new_token(char out[SESSION_TOKEN_LEN + 1])
{
    uint8_t raw[32];
    char text[48];
    if (random_bytes(raw, sizeof(raw)) < 0) {
        return -EIO;
    }
    size_t n = b64_encode(raw, sizeof(raw), text, true);
    secure_zero(raw, sizeof(raw));
    if (n != SESSION_TOKEN_LEN) {
        secure_zero(text, sizeof(text));
        return CG_EINTERNAL;
    }
    memcpy(out, text, SESSION_TOKEN_LEN);
    out[SESSION_TOKEN_LEN] = 0;
    secure_zero(text, sizeof(text));
    return 0;
}

/* ---- operations ------------------------------------------------------------------------ */

int sessions_create(struct sessions *s, const struct principal *who, int64_t now_ms,
                    char id[SESSION_TOKEN_LEN + 1], char csrf[SESSION_TOKEN_LEN + 1])
{
    int rc = -ENOMEM;
    char new_id[SESSION_TOKEN_LEN + 1];
    struct session *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return -ENOMEM;
    }
    if ((rc = new_token(new_id)) < 0 || (rc = new_token(e->csrf)) < 0 ||
        (rc = key_of(new_id, SESSION_TOKEN_LEN, e->key)) < 0) {
        goto out;
    }
    e->who = *who;
    e->created_ms = now_ms;
    e->last_used_ms = now_ms;

    pthread_mutex_lock(&s->lock);
    struct pick_ctx p = {.s = s, .now_ms = now_ms, .tenant = who->tenant, .user = who->user};
    hmap_iter(s->map, pick_expired_or_user, &p);
    if (p.user_live >= s->lim.per_user_max) {
        pick_add(&p, p.lru_key); /* this user's least recently used session makes room */
    }
    remove_picked(s, &p);
    if (hmap_count(s->map) >= s->lim.max) {
        rc = CG_ELIMIT;
    } else {
        rc = hmap_put(s->map, e->key, KEY_LEN, e, NULL);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc < 0) {
        goto out;
    }
    memcpy(id, new_id, sizeof(new_id));
    memcpy(csrf, e->csrf, sizeof(e->csrf));
    e = NULL; /* the table owns it */
    rc = 0;
out:
    secure_zero(new_id, sizeof(new_id));
    session_free(e);
    return rc;
}

int sessions_get(struct sessions *s, const char *id, size_t len, int64_t now_ms, bool touch,
                 struct session_view *out)
{
    uint8_t key[KEY_LEN];
    if (!token_shape_ok(id, len) || key_of(id, len, key) < 0) {
        return -ENOENT;
    }
    int rc = -ENOENT;
    pthread_mutex_lock(&s->lock);
    struct session *e = hmap_get(s->map, key, KEY_LEN);
    if (e != NULL && expired(s, e, now_ms)) {
        session_free(hmap_del(s->map, key, KEY_LEN));
        e = NULL;
    }
    if (e != NULL) {
        if (touch && now_ms > e->last_used_ms) {
            e->last_used_ms = now_ms;
        }
        memset(out, 0, sizeof(*out));
        out->who = e->who;
        memcpy(out->csrf, e->csrf, sizeof(out->csrf));
        out->created_ms = e->created_ms;
        out->last_used_ms = e->last_used_ms;
        out->idle_expires_ms = e->last_used_ms + s->lim.idle_ms;
        out->absolute_expires_ms = e->created_ms + s->lim.absolute_ms;
        if (out->idle_expires_ms > out->absolute_expires_ms) {
            out->idle_expires_ms = out->absolute_expires_ms;
        }
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sessions_remove(struct sessions *s, const char *id, size_t len)
{
    uint8_t key[KEY_LEN];
    if (!token_shape_ok(id, len) || key_of(id, len, key) < 0) {
        return -ENOENT;
    }
    pthread_mutex_lock(&s->lock);
    struct session *e = hmap_del(s->map, key, KEY_LEN);
    pthread_mutex_unlock(&s->lock);
    session_free(e);
    return e != NULL ? 0 : -ENOENT;
}

int sessions_remove_user(struct sessions *s, const char *tenant, const char *user)
{
    struct pick_ctx p = {.s = s, .tenant = tenant, .user = user};
    pthread_mutex_lock(&s->lock);
    hmap_iter(s->map, pick_user, &p);
    int n = (int)p.n;
    remove_picked(s, &p);
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t sessions_count(struct sessions *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = hmap_count(s->map);
    pthread_mutex_unlock(&s->lock);
    return n;
}

bool sessions_csrf_valid(const struct session_view *v, const char *token, size_t len)
{
    return token != NULL && len == SESSION_TOKEN_LEN && v->csrf[0] != 0 &&
           ct_equal(v->csrf, token, SESSION_TOKEN_LEN);
}

/* ---- requests -------------------------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int session_cookie_find(const struct http_request *req, const char **value, size_t *len)
{
    static const char name[] = SESSION_COOKIE_NAME;
    const size_t nlen = sizeof(name) - 1;
    const char *found = NULL;
    size_t found_len = 0;
    size_t idx = 0;
    const struct http_span *h;
    while ((h = http_request_header(req, "Cookie", &idx)) != NULL) {
        const char *p = h->ptr;
        const char *end = h->ptr + h->len;
        while (p < end) {
            /* one "name=value" pair, up to ';' */
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *pair_end = semi ? semi : end;
            while (p < pair_end && is_space(*p)) {
                p++;
            }
            const char *eq = memchr(p, '=', (size_t)(pair_end - p));
            if (eq != NULL && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
                const char *v = eq + 1;
                const char *ve = pair_end;
                while (ve > v && is_space(ve[-1])) {
                    ve--;
                }
                if (found != NULL) {
                    return CG_EPARSE;
                }
                found = v;
                found_len = (size_t)(ve - v);
            }
            p = semi ? semi + 1 : end;
        }
    }
    if (found == NULL) {
        return -ENOENT;
    }
    *value = found;
    *len = found_len;
    return 0;
}

bool sessions_is_browser(const struct http_request *req)
{
    const char *v;
    size_t n;
    size_t idx = 0;
    return http_request_header(req, "X-Requested-With", &idx) != NULL ||
           session_cookie_find(req, &v, &n) != -ENOENT;
}

static void set_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_why(char *why, const char *fmt, ...)
{
    if (why != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, REG_WHY_MAX, fmt, ap);
        va_end(ap);
    }
}

int sessions_authenticate(struct sessions *s, struct registry *reg, const struct http_request *req,
                          bool unsafe, int64_t now_ms, struct principal *who,
                          struct session_view *view, char *why)
{
    const char *id = NULL;
    size_t idlen = 0;
    int rc = session_cookie_find(req, &id, &idlen);
    if (rc == -ENOENT) {
        return -ENOENT;
    }
    if (rc < 0) {
        set_why(why, "the request carries more than one %s cookie", SESSION_COOKIE_NAME);
        return CG_EDENIED;
    }
    if (s == NULL) {
        return -ENOMEM;
    }
    struct session_view v;
    if (sessions_get(s, id, idlen, now_ms, false, &v) < 0) {
        set_why(why, "unknown or expired web session");
        return CG_EDENIED;
    }
    /* The user as the registry knows it now: a disabled or deleted user, a new password or a
     * suspended tenant ends the session; the roles are the current ones. */
    struct reg_user u;
    rc = registry_user_get(reg, v.who.tenant, v.who.user, &u);
    if (rc == -ENOENT || (rc == 0 && (!u.enabled || u.password_changed_ms > v.created_ms)) ||
        (rc == 0 && !registry_tenant_active(reg, v.who.tenant))) {
        set_why(why,
                "the web session of %.40s/%.80s ended: the user was removed or disabled, "
                "changed password, or the tenant was suspended",
                v.who.tenant, v.who.user);
        sessions_remove(s, id, idlen);
        secure_zero(&v, sizeof(v));
        return CG_EDENIED;
    }
    if (rc < 0) {
        secure_zero(&v, sizeof(v));
        return rc;
    }
    if (unsafe) {
        struct http_span token;
        if (http_request_header_value(req, SESSION_CSRF_HEADER, &token) < 0 ||
            !sessions_csrf_valid(&v, token.ptr, token.len)) {
            set_why(why, "the %s header is missing or does not match the web session of %s",
                    SESSION_CSRF_HEADER, v.who.user);
            secure_zero(&v, sizeof(v));
            return -EPERM;
        }
    }
    /* Only a request that passed every check counts as activity. */
    if (sessions_get(s, id, idlen, now_ms, true, &v) < 0) {
        set_why(why, "unknown or expired web session");
        return CG_EDENIED;
    }
    v.who.roles = u.roles;
    *who = v.who;
    if (view != NULL) {
        *view = v;
        view->who.roles = u.roles;
    }
    secure_zero(&v, sizeof(v));
    return 0;
}
