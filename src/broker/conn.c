/* Connections: the per-connection MQTT state machine
 *
 *   CONNECT --(CONNECT, checks)--> AUTH --(registry verdict)--> [ATTACH] --> CONNECTED
 *      \___ any refusal: CONNACK code, close; DONE ________________________________/
 *
 * input processing (with the rule that publishes, subscriptions and DISCONNECT wait while
 * the connection is blocked, but acknowledgements and PINGREQ do not), authentication,
 * session attach and takeover, keep-alive, wills, tokens (s/uat) and registry events.
 * Everything here runs on the connection's worker.
 */
#define LOG_MODULE "broker"

#include "broker/broker_int.h"

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "mqtt/topic.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 10000
/* Input kept while publishes wait (back-pressure, authentication) before reading stops. */
#define INPUT_HOLD (64 * 1024)
#define MAX_SUBS_PER_SESSION 1000
#define MAX_ATTACH_TRIES 5
/* Audit records written per worker for one registry event; then one summary. */
#define EVENT_AUDIT_MAX 50
#define AUDIT_TENANT_FALLBACK REG_MANAGEMENT_TENANT

static const struct broker_transport *tp_of(const struct bconn *bc)
{
    return bc->b->tp;
}

int bconn_write(struct bconn *bc, struct buf *out)
{
    if (bc == NULL || out->len == 0) {
        return 0;
    }
    int rc = tp_of(bc)->write(bc->c, buf_data(out), out->len);
    if (rc < 0 && rc != -EPIPE) {
        /* Output beyond the hard cap: the client does not read. */
        bworker_log(bc->w, "MQTT client %s: cannot queue output (%s); closing",
                    tp_of(bc)->peer(bc->c), cg_strerror(rc));
        tp_of(bc)->close(bc->c, true);
    }
    return rc;
}

static void send_bare(struct bconn *bc, enum mqtt_type type)
{
    buf_reset(&bc->w->out);
    if (mqtt_bare_encode(&bc->w->out, type) > 0) {
        bconn_write(bc, &bc->w->out);
    }
}

static void send_ack(struct bconn *bc, enum mqtt_type type, uint16_t pid)
{
    buf_reset(&bc->w->out);
    if (mqtt_ack_encode(&bc->w->out, type, pid) > 0) {
        bconn_write(bc, &bc->w->out);
    }
}

static void send_connack(struct bconn *bc, bool present, uint8_t code)
{
    buf_reset(&bc->w->out);
    if (mqtt_connack_encode(&bc->w->out, present, code) > 0) {
        bconn_write(bc, &bc->w->out);
    }
}

void bworker_log(struct bworker *w, const char *fmt, ...)
{
    char line[512];
    if (!ratelimit_take(&w->log_rl, time_mono_ms())) {
        w->log_suppressed++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (w->log_suppressed > 0) {
        log_info("%s (%llu similar lines suppressed)", line, (unsigned long long)w->log_suppressed);
        w->log_suppressed = 0;
    } else {
        log_info("%s", line);
    }
}

static const char *cid_of(const struct bconn *bc)
{
    return bc->client_id != NULL ? bc->client_id : "";
}

/* Close for a protocol violation or a failure: the will is published (abnormal). */
static int bconn_fail(struct bconn *bc, const char *why)
{
    log_debug("MQTT client %s (ClientId '%.100s'): %s; closing", tp_of(bc)->peer(bc->c), cid_of(bc),
              why);
    bc->state = BC_DONE;
    tp_of(bc)->close(bc->c, false);
    return -1;
}

/* ---------------------------------------------------------------------------------------
 * Refusals
 * ------------------------------------------------------------------------------------- */

struct refusal_ctx {
    const char *tenant; /* for the audit record: NULL -> management */
    const char *user;
    bool certificate;
};

static void refuse(struct bconn *bc, uint8_t code, int reason, const struct refusal_ctx *rc,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void refuse(struct bconn *bc, uint8_t code, int reason, const struct refusal_ctx *rc,
                   const char *fmt, ...)
{
    struct broker *b = bc->b;
    char why[REG_WHY_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (code >= 1 && code <= 5) {
        send_connack(bc, false, code);
    }
    bc->state = BC_DONE;
    tp_of(bc)->close(bc->c, false);
    broker_count_connect(b, rc != NULL ? rc->tenant : NULL, reason);
    const char *peer = tp_of(bc)->peer(bc->c);
    bworker_log(bc->w,
                "MQTT connection from %s (ClientId '%.100s') refused with CONNACK %d (%s): %s",
                peer, cid_of(bc), code, broker_refusal_name(reason), why);
    const char *tenant = rc != NULL && rc->tenant != NULL && rc->tenant[0] != 0 &&
                                 registry_tenant_exists(b->reg, rc->tenant)
                             ? rc->tenant
                             : AUDIT_TENANT_FALLBACK;
    registry_audit(
        b->reg, true, tenant, rc != NULL && rc->certificate ? "Inventory" : "UserAuthentication",
        "Device connection refused", "WARNING", rc != NULL && rc->user != NULL ? rc->user : "",
        peer, "MQTT connection refused with CONNACK %d (%s): %s", code, broker_refusal_name(reason),
        why);
}

/* ---------------------------------------------------------------------------------------
 * Session attach, detach, takeover
 * ------------------------------------------------------------------------------------- */

static void tenant_link(struct bconn *bc)
{
    struct wtenant *wt = &bc->t->w[bc->w->index];
    bc->tprev = NULL;
    bc->tnext = wt->conns;
    if (wt->conns != NULL) {
        wt->conns->tprev = bc;
    }
    wt->conns = bc;
}

static void tenant_unlink(struct bconn *bc)
{
    struct wtenant *wt = &bc->t->w[bc->w->index];
    if (bc->tprev != NULL) {
        bc->tprev->tnext = bc->tnext;
    } else if (wt->conns == bc) {
        wt->conns = bc->tnext;
    }
    if (bc->tnext != NULL) {
        bc->tnext->tprev = bc->tprev;
    }
    bc->tnext = bc->tprev = NULL;
}

/* Under clients_lock. */
static void sess_unmap(struct broker *b, struct bsess *s)
{
    if (!s->in_map) {
        return;
    }
    hmap_del(b->clients, s->key, s->keylen);
    s->in_map = false;
    if (s->tprev != NULL) {
        s->tprev->tnext = s->tnext;
    } else {
        s->t->sessions = s->tnext;
    }
    if (s->tnext != NULL) {
        s->tnext->tprev = s->tprev;
    }
    s->tnext = s->tprev = NULL;
}

/* Under clients_lock. */
static void device_count(struct broker *b, const struct bconn *bc, int delta)
{
    if (bc->p.device == NULL) {
        return;
    }
    char key[REG_TENANT_ID_MAX + REG_NAME_MAX + 2];
    int n = snprintf(key, sizeof(key), "%s\x1f%s", bc->t->id, bc->p.device);
    if (n < 0 || (size_t)n >= sizeof(key)) {
        return;
    }
    intptr_t v = (intptr_t)hmap_get(b->devices, key, (size_t)n) + delta;
    if (v <= 0) {
        hmap_del(b->devices, key, (size_t)n);
    } else {
        hmap_put(b->devices, key, (size_t)n, (void *)v, NULL);
    }
}

struct kick_msg {
    struct broker *b;
    struct bsess *s; /* reference */
    void *claimant;  /* transport reference */
    unsigned claimant_w;
    int64_t since_ms; /* registry events after this must be checked before attaching */
};

static void publish_will(struct bconn *bc)
{
    struct bwill *wl = bc->will;
    bc->will = NULL;
    if (wl == NULL) {
        return;
    }
    if (bc->t != NULL) {
        struct bmsg *m = wl->m;
        bctr_add(&bc->w->ctr.publishes_in, 1);
        if (route_publish(bc->w, bc->t, bmsg_topic(m), m->tlen, bmsg_payload(m), m->plen, wl->qos,
                          wl->retain, NULL) < 0) {
            log_error("the will of ClientId '%.100s' was not published (out of memory)",
                      cid_of(bc));
        }
    }
    bmsg_unref(wl->m);
    free(wl);
}

/* bconn_detach: the connection lets go of its session (closing, taken over, closed by the
 * registry). A clean session (or one closed by the registry) is destroyed; a persistent
 * one stays in the map, offline. */
static void bconn_detach(struct bconn *bc, bool will)
{
    struct broker *b = bc->b;
    struct bsess *s = bc->s;
    if (s == NULL) {
        return;
    }
    bc->s = NULL;
    tenant_unlink(bc);
    bool destroy = s->clean || bc->registry_closed;
    bool unmapped = false;
    pthread_mutex_lock(&b->clients_lock);
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->owner, -1);
    s->conn = NULL;
    struct bwaiter *wl = s->waiters;
    s->waiters = NULL;
    pthread_mutex_unlock(&s->lock);
    if (destroy) {
        unmapped = s->in_map;
        sess_unmap(b, s);
    } else {
        atomic_fetch_add(&b->offline, 1);
    }
    atomic_fetch_sub(&b->online, 1);
    device_count(b, bc, -1);
    pthread_mutex_unlock(&b->clients_lock);
    /* Publishers paused by this session: it is offline now, they must not wait for it. */
    waiters_wake(b, wl);
    if (unmapped) {
        sess_destroy(b, s);
    }
    sess_unref(b, s);
    if (will) {
        publish_will(bc);
    }
}

static void bconn_refresh_pause(struct bconn *bc);
static void bconn_process(struct bconn *bc);
static void bconn_kick(void *arg);

/* Owner ids: who may resume a persistent session ('d'evice or 'a'pplication + user). */
static char *owner_id_of(const struct bconn *bc)
{
    return str_printf("%c%s", bc->p.device != NULL ? 'd' : 'a', bc->p.user);
}

static void bconn_attach(struct bconn *bc)
{
    struct broker *b = bc->b;
    struct bsess *old = NULL, *s = NULL;
    bool present = false;
    const struct refusal_ctx rctx = {
        .tenant = bc->t->id, .user = bc->p.user, .certificate = bc->p.kind == BK_DEVICE_CERT};
    char *owner = owner_id_of(bc);
    if (owner == NULL) {
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx, "out of memory");
        return;
    }
    pthread_mutex_lock(&b->clients_lock);
    s = hmap_get(b->clients, bc->key, bc->keylen);
    if (s != NULL && atomic_load(&s->owner) >= 0) {
        /* Online: its connection must let go first (on its worker). */
        int target = atomic_load(&s->owner);
        if (bc->attach_tries++ >= MAX_ATTACH_TRIES) {
            pthread_mutex_unlock(&b->clients_lock);
            free(owner);
            refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx,
                   "the previous connection of this ClientId did not let go");
            return;
        }
        struct kick_msg *k = malloc(sizeof(*k));
        if (k != NULL) {
            k->b = b;
            k->s = s;
            sess_ref(s);
            k->claimant = bc->c;
            b->tp->ref(bc->c);
            k->claimant_w = bc->w->index;
            k->since_ms = time_mono_ms();
        }
        pthread_mutex_unlock(&b->clients_lock);
        free(owner);
        if (k == NULL || b->tp->post(b->env, (unsigned)target, bconn_kick, k) < 0) {
            if (k != NULL) {
                b->tp->unref(k->claimant);
                sess_unref(b, k->s);
                free(k);
            }
            refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx,
                   "cannot reach the previous connection of this ClientId");
            return;
        }
        bc->state = BC_ATTACH;
        return;
    }
    if (s != NULL) {
        if (bc->clean || strcmp(s->owner_id, owner) != 0) {
            /* A clean start, or another principal: the old state is not handed over. */
            sess_unmap(b, s);
            atomic_fetch_sub(&b->offline, 1);
            old = s;
            s = NULL;
        } else {
            present = true;
            atomic_fetch_sub(&b->offline, 1);
        }
    }
    if (s == NULL) {
        s = sess_new(b, bc->t, bc->key, bc->keylen, owner, bc->p.device);
        if (s == NULL || hmap_put(b->clients, s->key, s->keylen, s, NULL) < 0) {
            pthread_mutex_unlock(&b->clients_lock);
            free(owner);
            if (s != NULL) {
                sess_unref(b, s);
            }
            if (old != NULL) {
                sess_destroy(b, old);
            }
            refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx,
                   "out of memory");
            return;
        }
        s->in_map = true;
        s->tnext = bc->t->sessions;
        if (bc->t->sessions != NULL) {
            bc->t->sessions->tprev = s;
        }
        bc->t->sessions = s;
    }
    free(owner);
    s->clean = bc->clean;
    sess_ref(s); /* the connection's */
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->owner, (int)bc->w->index);
    s->conn = bc;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&b->online, 1);
    device_count(b, bc, 1);
    pthread_mutex_unlock(&b->clients_lock);
    if (old != NULL) {
        sess_destroy(b, old);
    }

    bc->s = s;
    bc->state = BC_CONNECTED;
    free(bc->key);
    bc->key = NULL;
    tenant_link(bc);
    send_connack(bc, present, MQTT_CONNACK_ACCEPTED);
    atomic_fetch_add(&b->connects_accepted, 1);
    broker_count_connect(b, bc->t->id, -1);
    tp_of(bc)->set_timer(bc->c, bc->keepalive_ms);
    bc->last_rx_ms = time_mono_ms();
    if (bc->p.device != NULL) {
        registry_device_touch(b->reg, bc->t->id, bc->p.device);
    }
    log_debug("MQTT client %s connected: ClientId '%.100s', tenant %s, user %s%s",
              tp_of(bc)->peer(bc->c), cid_of(bc), bc->t->id, bc->p.user,
              present ? ", session resumed" : "");
    atomic_store(&s->scheduled, false);
    if (present) {
        sess_resend(bc->w, s);
    }
    sess_pump(bc->w, s);
}

static void bconn_attach_retry(void *arg);
static bool removed_since(const struct bworker *w, const struct bconn *bc, int64_t since_ms);

/* bconn_kick: on the worker owning the session: close its connection (a newer one with the
 * same ClientId wants the session), then let the claimant try again. */
static void bconn_kick(void *arg)
{
    struct kick_msg *k = arg;
    struct broker *b = k->b;
    struct bworker *w = broker_current_worker(b);
    struct bconn *old = NULL;
    if (w != NULL && atomic_load(&k->s->owner) == (int)w->index) {
        old = k->s->conn; /* we are its owner: nobody else changes it */
    }
    if (old != NULL && old->s == k->s) {
        atomic_fetch_add(&b->takeovers, 1);
        bworker_log(w, "MQTT ClientId '%.100s' of tenant %s connected again: closing %s",
                    cid_of(old), old->t->id, b->tp->peer(old->c));
        old->state = BC_DONE;
        /* Closing the network connection without DISCONNECT: the will is published
         * [MQTT-3.1.2-8]. */
        bconn_detach(old, true);
        b->tp->close(old->c, false);
    }
    sess_unref(b, k->s);
    k->s = NULL;
    if (b->tp->post(b->env, k->claimant_w, bconn_attach_retry, k) < 0) {
        b->tp->unref(k->claimant);
        free(k);
    }
    if (w != NULL) {
        bworker_flush(w);
    }
}

static void bconn_attach_retry(void *arg)
{
    struct kick_msg *k = arg;
    struct broker *b = k->b;
    void *c = k->claimant;
    struct bconn *bc = !b->tp->is_closed(c) ? b->tp->get_data(c) : NULL;
    if (bc != NULL && bc->state == BC_ATTACH) {
        if (removed_since(bc->w, bc, k->since_ms)) {
            struct refusal_ctx rctx = {.tenant = bc->t->id,
                                       .user = bc->p.user,
                                       .certificate = bc->p.kind == BK_DEVICE_CERT};
            refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED,
                   bc->p.kind == BK_APP ? BROKER_REFUSED_CREDENTIALS : BROKER_REFUSED_DEVICE, &rctx,
                   "access was removed while the connection was being checked");
        } else {
            bconn_attach(bc);
            bconn_process(bc);
        }
        bworker_flush(bc->w);
    }
    b->tp->unref(c);
    free(k);
}

/* ---------------------------------------------------------------------------------------
 * Authentication
 * ------------------------------------------------------------------------------------- */

struct bauth {
    struct broker *b;
    void *c; /* transport reference */
    unsigned widx;
    bool cert;
    int64_t started_ms;
    /* password path */
    char tenant[REG_TENANT_ID_MAX];
    char user[REG_NAME_MAX];
    char *password; /* secret */
    char source[64];
    struct principal pr;
    /* result */
    int rc;
    char why[REG_WHY_MAX];
};

static void bauth_free(struct bauth *a)
{
    free_secret(a->password);
    a->b->tp->unref(a->c);
    secure_zero(a, sizeof(*a));
    free(a);
}

static bool serial_in(const char *list, const char *serial);

/* Whether a registry event that removes this principal was seen by this worker since
 * since_ms (an authentication or takeover in flight when it was applied). */
static bool removed_since(const struct bworker *w, const struct bconn *bc, int64_t since_ms)
{
    for (unsigned i = 0; i < BRECENT_MAX && i < w->nrecent; i++) {
        const struct brecent *r = &w->recent[i];
        if (r->ms < since_ms || strcmp(r->tenant, bc->t != NULL ? bc->t->id : "") != 0) {
            continue;
        }
        bool cert = bc->p.kind == BK_DEVICE_CERT;
        if (r->kind == REG_EVENT_TENANT_SUSPENDED ||
            (r->kind == REG_EVENT_USER_REMOVED && strcmp(r->name, bc->p.user) == 0) ||
            (r->kind == REG_EVENT_DEVICE_REMOVED && bc->p.device != NULL &&
             strcmp(r->name, bc->p.device) == 0) ||
            (r->kind == REG_EVENT_ANCHOR_REMOVED && cert &&
             strcmp(r->name, bc->p.anchor_fp) == 0) ||
            (r->kind == REG_EVENT_SERIAL_REVOKED && cert && serial_in(bc->p.serials, r->name))) {
            return true;
        }
    }
    return false;
}

static bool will_allowed(const struct bconn *bc)
{
    if (bc->will == NULL) {
        return true;
    }
    const struct bmsg *m = bc->will->m;
    const char *t = bmsg_topic(m);
    if (btopic_is(t, m->tlen, BTOPIC_TOKEN_REQ) || btopic_is(t, m->tlen, BTOPIC_TOKEN_RESP)) {
        return false;
    }
    return bacl_may_publish(&bc->p, t, m->tlen);
}

static char *key_of(const char *tenant, const char *client_key, size_t len, size_t *keylen)
{
    size_t tl = strlen(tenant);
    char *k = malloc(tl + 1 + len + 1);
    if (k == NULL) {
        return NULL;
    }
    memcpy(k, tenant, tl);
    k[tl] = '\x1f';
    memcpy(k + tl + 1, client_key, len);
    k[tl + 1 + len] = 0;
    *keylen = tl + 1 + len;
    return k;
}

/* After a positive verdict: the re-checks that close the race with registry events, the
 * tenant, then attach. */
static void auth_accept(struct bconn *bc, int64_t started_ms)
{
    struct refusal_ctx rctx = {.tenant = bc->t != NULL ? bc->t->id : NULL,
                               .user = bc->p.user,
                               .certificate = bc->p.kind == BK_DEVICE_CERT};
    if (removed_since(bc->w, bc, started_ms)) {
        refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED,
               bc->p.kind == BK_APP ? BROKER_REFUSED_CREDENTIALS : BROKER_REFUSED_DEVICE, &rctx,
               "access was removed while the connection was being checked");
        return;
    }
    bconn_attach(bc);
}

static void cert_admitted(void *arg)
{
    struct bauth *a = arg;
    struct broker *b = a->b;
    struct bconn *bc = !b->tp->is_closed(a->c) ? b->tp->get_data(a->c) : NULL;
    if (bc == NULL || bc->state != BC_AUTH) {
        bauth_free(a);
        return;
    }
    struct refusal_ctx rctx = {.tenant = bc->t->id, .user = bc->p.user, .certificate = true};
    if (a->rc == CG_EDENIED) {
        refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED, BROKER_REFUSED_DEVICE, &rctx, "%s", a->why);
    } else if (a->rc < 0) {
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx,
               "device admission failed: %s", a->why[0] ? a->why : cg_strerror(a->rc));
    } else {
        /* The verdict was taken at the handshake: make sure nothing was revoked since. */
        struct reg_identity id;
        char why[REG_WHY_MAX] = "";
        struct reg_device_brief brief;
        memset(&id, 0, sizeof(id));
        id.accepted = true;
        str_lcpy(id.tenant, bc->t->id, sizeof(id.tenant));
        str_lcpy(id.anchor_fp, bc->p.anchor_fp, sizeof(id.anchor_fp));
        for (const char *sn = bc->p.serials; sn != NULL && *sn != 0 && id.nserials < 10;
             sn += strlen(sn) + 1) {
            str_lcpy(id.serials[id.nserials++], sn, REG_SERIAL_MAX);
        }
        if (registry_identity_check(b->reg, &id, why) < 0) {
            refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED, BROKER_REFUSED_CERTIFICATE, &rctx, "%s", why);
        } else if (registry_device_lookup(b->reg, bc->t->id, bc->p.device, &brief) < 0) {
            refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED, BROKER_REFUSED_DEVICE, &rctx,
                   "device %s is no longer registered", bc->p.device);
        } else {
            auth_accept(bc, a->started_ms);
            bconn_process(bc);
        }
    }
    bworker_flush(bc->w);
    bauth_free(a);
}

static void cert_admit_done(void *arg, int rc, const struct reg_device_brief *brief,
                            const char *why)
{
    struct bauth *a = arg;
    a->rc = rc;
    str_lcpy(a->why, why != NULL ? why : "", sizeof(a->why));
    if (a->b->tp->post(a->b->env, a->widx, cert_admitted, a) < 0) {
        bauth_free(a);
    }
}

static void basic_work(void *arg)
{
    struct bauth *a = arg;
    a->rc = registry_auth_basic(a->b->reg, a->tenant[0] ? a->tenant : NULL, a->user, a->password,
                                a->source, &a->pr, a->why);
    free_secret(a->password);
    a->password = NULL;
}

static void basic_done(void *arg)
{
    struct bauth *a = arg;
    struct broker *b = a->b;
    struct bconn *bc = !b->tp->is_closed(a->c) ? b->tp->get_data(a->c) : NULL;
    if (bc == NULL || bc->state != BC_AUTH) {
        bauth_free(a);
        return;
    }
    struct refusal_ctx rctx = {.tenant = a->tenant[0] ? a->tenant : NULL, .user = a->user};
    if (a->rc == CG_EDENIED) {
        refuse(bc, MQTT_CONNACK_BAD_CREDENTIALS, BROKER_REFUSED_CREDENTIALS, &rctx, "%s", a->why);
        goto out;
    }
    if (a->rc < 0) {
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx, "%s",
               a->rc == -EAGAIN ? a->why : cg_strerror(a->rc));
        goto out;
    }
    struct reg_settings st;
    registry_settings(b->reg, a->pr.tenant, &st);
    bc->p.kind = a->pr.device[0] != 0 ? BK_DEVICE_BASIC : BK_APP;
    bc->p.acl_open = st.acl_open;
    bc->p.user = strdup(a->pr.user);
    bc->p.device = a->pr.device[0] != 0 ? strdup(a->pr.device) : NULL;
    bc->t = broker_tenant_get(b, a->pr.tenant);
    if (bc->p.user == NULL || (a->pr.device[0] != 0 && bc->p.device == NULL) || bc->t == NULL) {
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx, "out of memory");
        goto out;
    }
    rctx.tenant = bc->t->id;
    rctx.user = bc->p.user;
    if (!will_allowed(bc)) {
        refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED, BROKER_REFUSED_WILL, &rctx,
               "the will topic '%.*s' is outside the ACL of %s", (int)bc->will->m->tlen,
               bmsg_topic(bc->will->m), bc->p.user);
        goto out;
    }
    if (bc->client_id[0] != 0) {
        bc->key = key_of(bc->t->id, bc->client_id, strlen(bc->client_id), &bc->keylen);
    } else {
        /* Empty ClientId (clean session only): a key nobody else can have. */
        char unique[32];
        int n = snprintf(unique, sizeof(unique), "\x01%llu", (unsigned long long)b->tp->id(bc->c));
        bc->key = key_of(bc->t->id, unique, (size_t)n, &bc->keylen);
    }
    if (bc->key == NULL) {
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx, "out of memory");
        goto out;
    }
    auth_accept(bc, a->started_ms);
    bconn_process(bc);
out:
    bworker_flush(bc->w);
    bauth_free(a);
}

static struct bauth *bauth_new(struct bconn *bc)
{
    struct bauth *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    a->b = bc->b;
    a->c = bc->c;
    tp_of(bc)->ref(bc->c);
    a->widx = bc->w->index;
    a->started_ms = time_mono_ms();
    return a;
}

static char *serials_join(const struct reg_identity *id)
{
    size_t n = 1;
    for (int i = 0; i < id->nserials; i++) {
        n += strlen(id->serials[i]) + 1;
    }
    char *s = malloc(n);
    if (s == NULL) {
        return NULL;
    }
    char *p = s;
    for (int i = 0; i < id->nserials; i++) {
        size_t l = strlen(id->serials[i]) + 1;
        memcpy(p, id->serials[i], l);
        p += l;
    }
    *p = 0;
    return s;
}

/* The certificate path: the TLS layer recorded a verdict; the certificate wins over any
 * user name and password (reference 7.3). */
static void connect_cert(struct bconn *bc, const struct reg_identity *id)
{
    struct broker *b = bc->b;
    struct refusal_ctx rctx = {.tenant = id->tenant, .certificate = true};
    char user[REG_NAME_MAX + 8];
    snprintf(user, sizeof(user), "device_%s", id->device_id);
    rctx.user = user;
    if (!id->accepted) {
        refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED, BROKER_REFUSED_CERTIFICATE, &rctx, "%s: %s",
               id->reason, id->message);
        return;
    }
    struct mqtt_str dev;
    if (bclientid_device(bc->client_id, strlen(bc->client_id), &dev) < 0 ||
        !mqtt_str_eq(dev, mqtt_str_c(id->device_id))) {
        refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED, BROKER_REFUSED_CLIENT_ID_MISMATCH, &rctx,
               "client-id-mismatch: the deviceIdentifier of ClientId '%.100s' is not the "
               "certificate's common name '%.100s'",
               bc->client_id, id->device_id);
        return;
    }
    struct reg_settings st;
    registry_settings(b->reg, id->tenant, &st);
    bc->p.kind = BK_DEVICE_CERT;
    bc->p.acl_open = st.acl_open;
    bc->p.user = strdup(user);
    bc->p.device = strdup(id->device_id);
    bc->p.anchor_fp = strdup(id->anchor_fp);
    bc->p.serials = serials_join(id);
    bc->t = broker_tenant_get(b, id->tenant);
    bc->key = key_of(id->tenant, dev.ptr, dev.len, &bc->keylen);
    if (bc->p.user == NULL || bc->p.device == NULL || bc->p.anchor_fp == NULL ||
        bc->p.serials == NULL || bc->t == NULL || bc->key == NULL) {
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx, "out of memory");
        return;
    }
    if (!will_allowed(bc)) {
        refuse(bc, MQTT_CONNACK_NOT_AUTHORIZED, BROKER_REFUSED_WILL, &rctx,
               "the will topic '%.*s' is outside the ACL of device %s", (int)bc->will->m->tlen,
               bmsg_topic(bc->will->m), id->device_id);
        return;
    }
    struct bauth *a = bauth_new(bc);
    if (a == NULL) {
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx, "out of memory");
        return;
    }
    a->cert = true;
    bc->state = BC_AUTH;
    /* done() may run right here (known device) or on the store's writer thread after a
     * durable auto-registration; either way it posts back to this worker. */
    if (registry_device_admit_async(b->reg, id, cert_admit_done, a) < 0) {
        bauth_free(a);
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx, "out of memory");
        return;
    }
    /* Everything needed was copied: the identity's ~2 KB need not stay with the session. */
    tp_of(bc)->drop_identity(bc->c);
}

static void connect_basic(struct bconn *bc, const struct mqtt_connect *con)
{
    struct broker *b = bc->b;
    struct refusal_ctx rctx = {0};
    char tenant[REG_TENANT_ID_MAX], user[REG_NAME_MAX];
    if (!con->has_username || !con->has_password) {
        refuse(bc, MQTT_CONNACK_BAD_CREDENTIALS, BROKER_REFUSED_CREDENTIALS, &rctx,
               "no client certificate and no user name and password");
        return;
    }
    /* "tenant/user" or "user". */
    const char *u = con->username.ptr;
    size_t ulen = con->username.len;
    const char *slash = ulen > 0 ? memchr(u, '/', ulen) : NULL;
    size_t tlen = slash != NULL ? (size_t)(slash - u) : 0;
    const char *name = slash != NULL ? slash + 1 : u;
    size_t nlen = slash != NULL ? ulen - tlen - 1 : ulen;
    if (tlen >= sizeof(tenant) || nlen == 0 || nlen >= sizeof(user) || con->password.len == 0 ||
        memchr(con->password.ptr, 0, con->password.len) != NULL) {
        refuse(bc, MQTT_CONNACK_BAD_CREDENTIALS, BROKER_REFUSED_CREDENTIALS, &rctx,
               "malformed user name or password");
        return;
    }
    memcpy(tenant, u, tlen);
    tenant[tlen] = 0;
    memcpy(user, name, nlen);
    user[nlen] = 0;
    rctx.tenant = tenant;
    rctx.user = user;
    struct bauth *a = bauth_new(bc);
    if (a != NULL) {
        a->password = str_ndup((const char *)con->password.ptr, con->password.len);
    }
    if (a == NULL || a->password == NULL) {
        if (a != NULL) {
            bauth_free(a);
        }
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx, "out of memory");
        return;
    }
    memcpy(a->tenant, tenant, tlen + 1);
    memcpy(a->user, user, nlen + 1);
    str_lcpy(a->source, tp_of(bc)->peer(bc->c), sizeof(a->source));
    /* The source's port is not part of the login limiter's key. */
    char *colon = strrchr(a->source, ':');
    if (colon != NULL) {
        *colon = 0;
    }
    bc->state = BC_AUTH;
    int rc = b->tp->pool_submit(b->env, basic_work, basic_done, bc->w->index, a);
    if (rc < 0) {
        bauth_free(a);
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, &rctx,
               rc == CG_ELIMIT ? "the password check queue is full" : "cannot check passwords");
    }
}

static int on_connect(struct bconn *bc, const struct mqtt_connect *con)
{
    struct broker *b = bc->b;
    bc->level = con->level;
    bc->clean = con->clean_session;
    bc->client_id = str_ndup(con->client_id.ptr, con->client_id.len);
    if (bc->client_id == NULL) {
        refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, NULL, "out of memory");
        return 0;
    }
    uint32_t ka = con->keep_alive;
    if (b->cfg.keepalive_max_s > 0 && (ka == 0 || ka > (uint32_t)b->cfg.keepalive_max_s)) {
        ka = (uint32_t)b->cfg.keepalive_max_s;
    }
    bc->keepalive_ms = ka * 1500u; /* 1.5 x keep-alive [MQTT-3.1.2-24] */
    if (con->will) {
        bc->will = calloc(1, sizeof(*bc->will));
        if (bc->will != NULL) {
            bc->will->m = bmsg_new(con->will_topic.ptr, con->will_topic.len, con->will_message.ptr,
                                   con->will_message.len, con->will_qos);
            bc->will->qos = con->will_qos;
            bc->will->retain = con->will_retain;
        }
        if (bc->will == NULL || bc->will->m == NULL) {
            refuse(bc, MQTT_CONNACK_UNAVAILABLE, BROKER_REFUSED_UNAVAILABLE, NULL, "out of memory");
            return 0;
        }
    }
    const struct reg_identity *id = tp_of(bc)->identity(bc->c);
    if (id != NULL) {
        connect_cert(bc, id);
    } else {
        connect_basic(bc, con);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Packets of a connected client
 * ------------------------------------------------------------------------------------- */

struct token_job {
    struct broker *b;
    void *c; /* transport reference */
    unsigned widx;
    char *token;
    int rc;
    struct reg_identity id; /* accepted; tenant, device, anchor, serials */
};

static void token_work(void *arg)
{
    struct token_job *j = arg;
    const struct broker_hooks *h = &j->b->hooks;
    j->rc = h->issue_token(h->arg, &j->id, &j->token);
    if (j->rc < 0) {
        free_secret(j->token);
        j->token = NULL;
    }
}

static void token_done(void *arg)
{
    struct token_job *j = arg;
    struct broker *b = j->b;
    struct bconn *bc = !b->tp->is_closed(j->c) ? b->tp->get_data(j->c) : NULL;
    if (bc != NULL) {
        bc->token_pending = false;
    }
    if (bc != NULL && bc->s != NULL && bc->state == BC_CONNECTED && j->token != NULL &&
        bc->s->sdat_qos >= 0) {
        size_t tl = strlen(j->token);
        char *payload = malloc(3 + tl);
        if (payload != NULL) {
            memcpy(payload, "71,", 3);
            memcpy(payload + 3, j->token, tl);
            struct bmsg *m = bmsg_new(BTOPIC_TOKEN_RESP, strlen(BTOPIC_TOKEN_RESP), payload, 3 + tl,
                                      (uint8_t)bc->s->sdat_qos);
            secure_zero(payload, 3 + tl);
            free(payload);
            if (m != NULL) {
                m->secret = true;
                sess_enqueue(bc->w, bc->s, m, m->qos, false, NULL);
                bmsg_unref(m);
            }
        }
        bworker_flush(bc->w);
    } else if (bc != NULL && j->rc < 0) {
        bworker_log(bc->w, "no access token for device %s of tenant %s: %s", j->id.device_id,
                    j->id.tenant, cg_strerror(j->rc));
    }
    free_secret(j->token);
    b->tp->unref(j->c);
    secure_zero(j, sizeof(*j));
    free(j);
}

static void token_request(struct bconn *bc)
{
    struct broker *b = bc->b;
    if (bc->token_pending || bc->p.kind != BK_DEVICE_CERT || b->hooks.issue_token == NULL) {
        return; /* certificate sessions only; one request at a time per connection */
    }
    struct token_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return;
    }
    j->b = b;
    j->c = bc->c;
    tp_of(bc)->ref(bc->c);
    j->widx = bc->w->index;
    j->id.accepted = true;
    str_lcpy(j->id.reason, "ok", sizeof(j->id.reason));
    str_lcpy(j->id.tenant, bc->t->id, sizeof(j->id.tenant));
    str_lcpy(j->id.device_id, bc->p.device, sizeof(j->id.device_id));
    str_lcpy(j->id.anchor_fp, bc->p.anchor_fp, sizeof(j->id.anchor_fp));
    for (const char *sn = bc->p.serials; sn != NULL && *sn != 0 && j->id.nserials < 10;
         sn += strlen(sn) + 1) {
        str_lcpy(j->id.serials[j->id.nserials++], sn, REG_SERIAL_MAX);
    }
    if (b->tp->pool_submit(b->env, token_work, token_done, bc->w->index, j) < 0) {
        bworker_log(bc->w, "no access token for device %s: the pool is busy", bc->p.device);
        b->tp->unref(j->c);
        secure_zero(j, sizeof(*j));
        free(j);
        return;
    }
    bc->token_pending = true;
}

static int on_publish(struct bconn *bc, const struct mqtt_publish *p)
{
    struct bsess *s = bc->s;
    struct bworker *w = bc->w;
    if (p->qos == 2 && sess_q2_has(s, p->packet_id)) {
        /* A retransmission of a message routed already: acknowledge only [MQTT-4.3.3-2]. */
        send_ack(bc, MQTT_PUBREC, p->packet_id);
        return 0;
    }
    const char *topic = p->topic.ptr;
    size_t tlen = p->topic.len;
    if (btopic_is(topic, tlen, BTOPIC_TOKEN_REQ) && bc->p.device != NULL) {
        bctr_add(&w->ctr.publishes_in, 1);
        if (p->payload.len == 0) {
            token_request(bc);
        }
    } else if (btopic_is(topic, tlen, BTOPIC_TOKEN_REQ) ||
               btopic_is(topic, tlen, BTOPIC_TOKEN_RESP) ||
               !bacl_may_publish(&bc->p, topic, tlen)) {
        /* Refused: acknowledged anyway so that the client does not retry forever. */
        bctr_add(&w->ctr.publishes_denied, 1);
        bworker_log(w, "MQTT PUBLISH of %s (tenant %s) to '%.*s' refused by the ACL", bc->p.user,
                    bc->t->id, (int)(tlen > 200 ? 200 : tlen), topic);
    } else {
        struct bwaiter waiter = {.c = bc->c, .widx = w->index};
        int rc = route_publish(w, bc->t, topic, tlen, p->payload.ptr, p->payload.len, p->qos,
                               p->retain, &waiter);
        if (rc < 0) {
            return bconn_fail(bc, "out of memory while routing"); /* not acknowledged */
        }
        bctr_add(&w->ctr.publishes_in, 1);
        if (rc == 1) {
            /* A matching session is full: this message is queued (nothing acknowledged is
             * dropped), the next ones wait until it drains. */
            bc->pub_blocked = true;
            bctr_add(&w->ctr.publisher_pauses, 1);
        }
    }
    if (p->qos == 1) {
        send_ack(bc, MQTT_PUBACK, p->packet_id);
    } else if (p->qos == 2) {
        int rc = sess_q2_add(s, p->packet_id);
        if (rc < 0) {
            return bconn_fail(bc, "too many QoS 2 messages waiting for PUBREL");
        }
        send_ack(bc, MQTT_PUBREC, p->packet_id);
    }
    return 0;
}

static int on_subscribe(struct bconn *bc, const struct mqtt_packet *pkt, bool unsubscribe)
{
    struct bsess *s = bc->s;
    size_t count = pkt->subscribe.count;
    struct rop_item *items = calloc(count, sizeof(*items));
    uint8_t *codes = malloc(count);
    int nitems = 0;
    if (items == NULL || codes == NULL) {
        free(items);
        free(codes);
        return bconn_fail(bc, "out of memory");
    }
    struct mqtt_filter_iter it;
    struct mqtt_str f;
    uint8_t qos;
    size_t i = 0;
    int nsubs = atomic_load(&s->nsubs);
    mqtt_filter_iter_init(&it, pkt);
    while (mqtt_filter_iter_next(&it, &f, &qos) && i < count) {
        uint8_t code = qos;
        bool index = false;
        if (btopic_is(f.ptr, f.len, BTOPIC_TOKEN_RESP)) {
            s->sdat_qos = unsubscribe ? -1 : (int8_t)qos; /* private to the connection */
        } else if (unsubscribe) {
            index = true;
        } else if (btopic_is(f.ptr, f.len, BTOPIC_TOKEN_REQ) ||
                   !bacl_may_subscribe(&bc->p, f.ptr, f.len)) {
            code = MQTT_SUBACK_FAILURE;
            bworker_log(bc->w, "MQTT SUBSCRIBE of %s (tenant %s) to '%.*s' refused by the ACL",
                        bc->p.user, bc->t->id, (int)(f.len > 200 ? 200 : f.len), f.ptr);
        } else if (nsubs + nitems >= MAX_SUBS_PER_SESSION) {
            code = MQTT_SUBACK_FAILURE;
            bworker_log(bc->w, "MQTT SUBSCRIBE of %s (tenant %s): more than %d subscriptions",
                        bc->p.user, bc->t->id, MAX_SUBS_PER_SESSION);
        } else {
            index = true;
        }
        if (index) {
            items[nitems].filter = str_ndup(f.ptr, f.len);
            items[nitems].len = (uint16_t)f.len;
            items[nitems].qos = qos;
            if (items[nitems].filter == NULL) {
                for (int k = 0; k < nitems; k++) {
                    free(items[k].filter);
                }
                free(items);
                free(codes);
                return bconn_fail(bc, "out of memory");
            }
            nitems++;
        }
        codes[i++] = code;
    }
    if (nitems == 0) {
        buf_reset(&bc->w->out);
        if (unsubscribe) {
            mqtt_ack_encode(&bc->w->out, MQTT_UNSUBACK, pkt->subscribe.packet_id);
        } else {
            mqtt_suback_encode(&bc->w->out, pkt->subscribe.packet_id, codes, i);
        }
        bconn_write(bc, &bc->w->out);
        free(items);
        free(codes);
        return 0;
    }
    if (sess_subscribe_broadcast(bc, unsubscribe, pkt->subscribe.packet_id, items, nitems, codes,
                                 (int)i) < 0) {
        return bconn_fail(bc, "out of memory");
    }
    return 0;
}

/* Frames handled even while the connection is blocked: acknowledgements of our outbound
 * flows (the subscriber side must keep draining, or a client that both publishes and
 * subscribes could wait for itself) and PINGREQ. */
static bool side_type(int type)
{
    return type == MQTT_PUBACK || type == MQTT_PUBREC || type == MQTT_PUBREL ||
           type == MQTT_PUBCOMP || type == MQTT_PINGREQ;
}

static int handle_frame(struct bconn *bc, uint8_t *data, size_t n)
{
    struct broker *b = bc->b;
    struct mqtt_packet pkt;
    int type = data[0] >> 4;
    int rc = mqtt_packet_decode(data, n, MQTT_FROM_CLIENT, &b->limits, &pkt);
    if (bc->state == BC_CONNECT) {
        if (type != MQTT_CONNECT) {
            return bconn_fail(bc, "the first packet is not CONNECT");
        }
        if (rc < 0) {
            int code = mqtt_error_connack_code(rc);
            secure_zero(data, n);
            if (code < 0) {
                return bconn_fail(bc, mqtt_strerror(rc));
            }
            refuse(bc, (uint8_t)code,
                   code == MQTT_CONNACK_BAD_PROTOCOL ? BROKER_REFUSED_PROTOCOL
                                                     : BROKER_REFUSED_CLIENT_ID,
                   NULL, "%s", mqtt_strerror(rc));
            return 0;
        }
        rc = on_connect(bc, &pkt.connect);
        secure_zero(data, n); /* the password */
        return rc;
    }
    if (rc < 0) {
        return bconn_fail(bc, mqtt_strerror(rc));
    }
    switch (pkt.type) {
    case MQTT_CONNECT:
        return bconn_fail(bc, "a second CONNECT"); /* [MQTT-3.1.0-2] */
    case MQTT_PUBLISH:
        return on_publish(bc, &pkt.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBCOMP:
        return sess_ack(bc->w, bc->s, pkt.type, pkt.ack.packet_id) < 0 ? -1 : 0;
    case MQTT_PUBREL:
        sess_q2_del(bc->s, pkt.ack.packet_id);
        send_ack(bc, MQTT_PUBCOMP, pkt.ack.packet_id);
        return 0;
    case MQTT_SUBSCRIBE:
        return on_subscribe(bc, &pkt, false);
    case MQTT_UNSUBSCRIBE:
        return on_subscribe(bc, &pkt, true);
    case MQTT_PINGREQ:
        send_bare(bc, MQTT_PINGRESP);
        return 0;
    case MQTT_DISCONNECT:
        bc->disconnected = true; /* the will is discarded [MQTT-3.14.4-3] */
        bc->state = BC_DONE;
        tp_of(bc)->close(bc->c, false);
        return 0;
    default:
        return bconn_fail(bc, "unexpected packet type");
    }
}

/* Remove n bytes at offset off from the input buffer (a frame handled out of order). */
static void buf_cut(struct buf *in, size_t off, size_t n)
{
    uint8_t *d = buf_data(in);
    memmove(d + off, d + off + n, in->len - off - n);
    in->len -= n;
    d[in->len] = 0;
}

static bool blocked(const struct bconn *bc)
{
    return bc->pub_blocked || bc->ops_pending > 0;
}

static void bconn_refresh_pause(struct bconn *bc)
{
    const struct broker_transport *tp = tp_of(bc);
    if (tp->is_closed(bc->c)) {
        return;
    }
    size_t held = tp->input(bc->c)->len;
    bool pause = false;
    if (bc->state == BC_CONNECTED && tp->over_highwater(bc->c)) {
        pause = true; /* the client does not read: stop reading it (on_drain resumes) */
    } else if ((bc->state == BC_AUTH || bc->state == BC_ATTACH || blocked(bc)) &&
               held >= INPUT_HOLD) {
        pause = true;
    }
    if (pause != bc->paused) {
        bc->paused = pause;
        tp->pause_reading(bc->c, pause);
    }
}

static void bconn_process(struct bconn *bc)
{
    struct broker *b = bc->b;
    const struct broker_transport *tp = b->tp;
    struct buf *in = tp->input(bc->c);
    size_t pos = 0; /* frames before pos wait (blocked) */
    for (;;) {
        if (tp->is_closed(bc->c) || bc->state == BC_DONE || bc->state == BC_AUTH ||
            bc->state == BC_ATTACH) {
            break;
        }
        if (bc->state == BC_CONNECTED && tp->over_highwater(bc->c)) {
            break;
        }
        uint8_t *data = buf_data(in) + pos;
        size_t avail = in->len - pos;
        int n = mqtt_frame_split(data, avail, b->cfg.max_packet);
        if (n < 0) {
            bconn_fail(bc, n == MQTT_ETOOBIG ? "packet larger than the maximum packet size"
                                             : mqtt_strerror(n));
            break;
        }
        if (n == 0) {
            break;
        }
        if (bc->state == BC_CONNECTED && blocked(bc) && !side_type(data[0] >> 4)) {
            pos += (size_t)n; /* waits; look for acknowledgements behind it */
            continue;
        }
        int rc = handle_frame(bc, data, (size_t)n);
        if (pos == 0) {
            buf_consume(in, (size_t)n);
        } else {
            buf_cut(in, pos, (size_t)n);
        }
        if (rc < 0) {
            break;
        }
    }
    if (in->len == 0) {
        buf_shrink(in);
    }
    bconn_refresh_pause(bc);
}

void bconn_resume(struct bconn *bc)
{
    bconn_process(bc);
}

void bconn_waiter_resume(void *arg)
{
    struct bwaiter *wt = arg;
    struct broker *b = wt->b;
    struct bconn *bc = !b->tp->is_closed(wt->c) ? b->tp->get_data(wt->c) : NULL;
    if (bc != NULL) {
        bc->pub_blocked = false;
        bconn_process(bc);
        bworker_flush(bc->w);
    }
    b->tp->unref(wt->c);
    free(wt);
}

/* ---------------------------------------------------------------------------------------
 * Registry events (worker side)
 * ------------------------------------------------------------------------------------- */

static bool serial_in(const char *list, const char *serial)
{
    for (const char *s = list; s != NULL && *s != 0; s += strlen(s) + 1) {
        if (strcmp(s, serial) == 0) {
            return true;
        }
    }
    return false;
}

static bool event_matches(const struct bconn *bc, const struct reg_event *ev, char *why, size_t n)
{
    switch (ev->kind) {
    case REG_EVENT_TENANT_SUSPENDED:
        snprintf(why, n, "tenant %s was suspended or deleted", ev->tenant);
        return true;
    case REG_EVENT_ANCHOR_REMOVED:
        snprintf(why, n, "trusted certificate %s was disabled or deleted", ev->fingerprint);
        return bc->p.kind == BK_DEVICE_CERT && strcmp(bc->p.anchor_fp, ev->fingerprint) == 0;
    case REG_EVENT_SERIAL_REVOKED:
        snprintf(why, n, "certificate serial %s was revoked", ev->serial_hex);
        return bc->p.kind == BK_DEVICE_CERT && serial_in(bc->p.serials, ev->serial_hex);
    case REG_EVENT_DEVICE_REMOVED:
        snprintf(why, n, "device %s was deleted", ev->device_id);
        return bc->p.device != NULL && strcmp(bc->p.device, ev->device_id) == 0;
    case REG_EVENT_USER_REMOVED:
        snprintf(why, n, "user %s was disabled or deleted", ev->user);
        return strcmp(bc->p.user, ev->user) == 0;
    }
    return false;
}

void broker_event_apply(struct bworker *w, const struct reg_event *ev)
{
    struct broker *b = w->b;
    struct brecent *r = &w->recent[w->nrecent % BRECENT_MAX];
    r->ms = time_mono_ms();
    r->kind = (int)ev->kind;
    str_lcpy(r->tenant, ev->tenant, sizeof(r->tenant));
    const char *name = ev->user;
    if (ev->kind == REG_EVENT_DEVICE_REMOVED) {
        name = ev->device_id;
    } else if (ev->kind == REG_EVENT_ANCHOR_REMOVED) {
        name = ev->fingerprint;
    } else if (ev->kind == REG_EVENT_SERIAL_REVOKED) {
        name = ev->serial_hex;
    }
    str_lcpy(r->name, name, sizeof(r->name));
    w->nrecent++;
    if (w->nrecent >= 2 * BRECENT_MAX) {
        w->nrecent -= BRECENT_MAX; /* keep the index in range, the ring full */
    }

    struct btenant *t = broker_tenant_find(b, ev->tenant);
    if (t == NULL) {
        return;
    }
    struct wtenant *wt = &t->w[w->index];
    unsigned closed = 0;
    char why[REG_WHY_MAX];
    struct bconn *bc = wt->conns;
    while (bc != NULL) {
        struct bconn *next = bc->tnext;
        if (event_matches(bc, ev, why, sizeof(why))) {
            closed++;
            atomic_fetch_add(&b->closed_by_registry, 1);
            const char *peer = b->tp->peer(bc->c);
            if (closed <= EVENT_AUDIT_MAX) {
                log_info("MQTT session of %s (tenant %s, ClientId '%.100s', %s) closed: %s",
                         bc->p.user, t->id, cid_of(bc), peer, why);
                registry_audit(b->reg, false, t->id,
                               bc->p.device != NULL ? "Inventory" : "UserAuthentication",
                               "Device connection closed", "WARNING", bc->p.user, peer,
                               "MQTT session (ClientId '%.100s') closed: %s (by %s)", cid_of(bc),
                               why, ev->actor[0] ? ev->actor : "certgate");
            }
            bc->registry_closed = true; /* no will; the session is discarded */
            bc->state = BC_DONE;
            bconn_detach(bc, false);
            b->tp->close(bc->c, false);
        }
        bc = next;
    }
    if (closed > EVENT_AUDIT_MAX) {
        log_info("%u more MQTT sessions of tenant %s closed: %s", closed - EVENT_AUDIT_MAX, t->id,
                 why);
        registry_audit(b->reg, false, t->id, "Inventory", "Device connection closed", "WARNING",
                       ev->actor, "", "%u more MQTT sessions closed on worker %u: %s",
                       closed - EVENT_AUDIT_MAX, w->index, why);
    }
    bworker_flush(w);
}

/* ---------------------------------------------------------------------------------------
 * Protocol callbacks
 * ------------------------------------------------------------------------------------- */

int bconn_on_open(struct broker *b, void *c)
{
    unsigned widx = b->tp->worker_of(c);
    if (widx >= b->nworkers) {
        return -1;
    }
    struct bconn *bc = calloc(1, sizeof(*bc));
    if (bc == NULL) {
        return -1;
    }
    bc->b = b;
    bc->c = c;
    bc->w = &b->w[widx];
    bc->state = BC_CONNECT;
    bc->last_rx_ms = time_mono_ms();
    b->tp->set_data(c, bc);
    b->tp->set_timer(c, CONNECT_TIMEOUT_MS);
    return 0;
}

int bconn_on_data(struct broker *b, void *c)
{
    struct bconn *bc = b->tp->get_data(c);
    if (bc == NULL) {
        return -1;
    }
    bc->last_rx_ms = time_mono_ms();
    bconn_process(bc);
    bworker_flush(bc->w);
    return 0;
}

void bconn_on_drain(struct broker *b, void *c)
{
    struct bconn *bc = b->tp->get_data(c);
    if (bc == NULL) {
        return;
    }
    if (bc->s != NULL) {
        sess_pump(bc->w, bc->s);
    }
    bconn_process(bc);
    bworker_flush(bc->w);
}

void bconn_on_timeout(struct broker *b, void *c)
{
    struct bconn *bc = b->tp->get_data(c);
    if (bc == NULL) {
        return;
    }
    const struct broker_transport *tp = tp_of(bc);
    if (bc->state != BC_CONNECTED) {
        bworker_log(bc->w, "MQTT client %s: no complete CONNECT within %d s; closing", tp->peer(c),
                    CONNECT_TIMEOUT_MS / 1000);
        bc->state = BC_DONE;
        tp->close(c, false);
        return;
    }
    if (bc->keepalive_ms == 0) {
        return;
    }
    if (bc->paused || blocked(bc)) {
        /* We hold its input back (back-pressure): its PINGREQs may be waiting unread. */
        bc->last_rx_ms = time_mono_ms();
    }
    int64_t idle = time_mono_ms() - bc->last_rx_ms;
    if (idle >= (int64_t)bc->keepalive_ms) {
        bctr_add(&bc->w->ctr.keepalive_timeouts, 1);
        log_debug("MQTT client %s (ClientId '%.100s'): nothing received for %lld ms; closing",
                  tp->peer(c), cid_of(bc), (long long)idle);
        bc->state = BC_DONE;
        tp->close(c, false); /* abnormal: the will is published */
        return;
    }
    tp->set_timer(c, (unsigned)((int64_t)bc->keepalive_ms - idle));
}

/* Whether the unprocessed input holds a DISCONNECT (sent but not reached, e.g. behind a
 * publish waiting for back-pressure): then the client did disconnect cleanly. */
static bool input_has_disconnect(struct bconn *bc)
{
    struct buf *in = tp_of(bc)->input(bc->c);
    if (in == NULL) {
        return false;
    }
    size_t pos = 0;
    while (pos < in->len) {
        int n = mqtt_frame_split(buf_data(in) + pos, in->len - pos, bc->b->cfg.max_packet);
        if (n <= 0) {
            return false;
        }
        if ((buf_data(in)[pos] >> 4) == MQTT_DISCONNECT) {
            return true;
        }
        pos += (size_t)n;
    }
    return false;
}

void bconn_on_close(struct broker *b, void *c, bool shutdown)
{
    struct bconn *bc = b->tp->get_data(c);
    if (bc == NULL) {
        return;
    }
    struct bworker *w = bc->w;
    if (bc->s != NULL && !bc->disconnected && input_has_disconnect(bc)) {
        bc->disconnected = true;
    }
    bool will = bc->s != NULL && !bc->disconnected && !bc->registry_closed && !shutdown;
    bconn_detach(bc, will);
    if (bc->will != NULL) {
        bmsg_unref(bc->will->m);
        free(bc->will);
    }
    bprincipal_cleanup(&bc->p);
    free(bc->client_id);
    free(bc->key);
    b->tp->set_data(c, NULL);
    free(bc);
    bworker_flush(w);
}
