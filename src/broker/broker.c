/* The broker object: configuration, workers, tenants, the net transport and protocol,
 * statistics, registry events and publishing on behalf of other services.
 */
#define LOG_MODULE "broker"

#include "broker/broker_int.h"

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "mqtt/topic.h"
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * The net transport
 * ------------------------------------------------------------------------------------- */

static int nt_write(void *c, const void *p, size_t n)
{
    return net_conn_write(c, p, n);
}

static void nt_close(void *c, bool now)
{
    net_conn_close(c, now ? NET_CLOSE_NOW : NET_CLOSE_FLUSH);
}

static void nt_pause(void *c, bool pause)
{
    net_conn_pause_reading(c, pause);
}

static void nt_set_timer(void *c, unsigned ms)
{
    net_conn_set_timer(c, ms);
}

static bool nt_over_highwater(void *c)
{
    return net_conn_over_highwater(c);
}

static struct buf *nt_input(void *c)
{
    return net_conn_input(c);
}

static const struct reg_identity *nt_identity(void *c)
{
    return net_conn_identity(c);
}

static void nt_drop_identity(void *c)
{
    net_conn_set_identity(c, NULL, NULL);
}

static const char *nt_peer(void *c)
{
    return net_conn_peer_addr(c)->text;
}

static void nt_ref(void *c)
{
    net_conn_ref(c);
}

static void nt_unref(void *c)
{
    net_conn_unref(c);
}

static bool nt_is_closed(void *c)
{
    return net_conn_is_closed(c);
}

static unsigned nt_worker_of(void *c)
{
    return net_worker_index(net_conn_worker(c));
}

static void nt_set_data(void *c, void *data)
{
    net_conn_set_data(c, data);
}

static void *nt_get_data(void *c)
{
    return net_conn_get_data(c);
}

static uint64_t nt_id(void *c)
{
    return net_conn_id(c);
}

static unsigned nt_nworkers(void *env)
{
    return net_server_workers(env);
}

static int nt_current_worker(void *env)
{
    struct net_worker *w = net_current_worker();
    if (w == NULL || net_worker_server(w) != env) {
        return -1;
    }
    return (int)net_worker_index(w);
}

static int nt_post(void *env, unsigned worker, void (*fn)(void *arg), void *arg)
{
    struct net_worker *w = net_server_worker(env, worker);
    if (w == NULL) {
        return -EINVAL;
    }
    return net_worker_post(w, fn, arg);
}

static int nt_pool_submit(void *env, void (*work)(void *arg), void (*done)(void *arg),
                          unsigned worker, void *arg)
{
    return net_pool_submit(env, work, done, net_server_worker(env, worker), arg);
}

const struct broker_transport broker_net_transport = {
    .write = nt_write,
    .close = nt_close,
    .pause_reading = nt_pause,
    .set_timer = nt_set_timer,
    .over_highwater = nt_over_highwater,
    .input = nt_input,
    .identity = nt_identity,
    .drop_identity = nt_drop_identity,
    .peer = nt_peer,
    .ref = nt_ref,
    .unref = nt_unref,
    .is_closed = nt_is_closed,
    .worker_of = nt_worker_of,
    .set_data = nt_set_data,
    .get_data = nt_get_data,
    .id = nt_id,
    .nworkers = nt_nworkers,
    .current_worker = nt_current_worker,
    .post = nt_post,
    .pool_submit = nt_pool_submit,
};

/* The net protocol: its proto_arg is the broker. */

static int np_open(struct net_conn *c)
{
    return bconn_on_open(net_conn_proto_arg(c), c);
}

static int np_data(struct net_conn *c)
{
    return bconn_on_data(net_conn_proto_arg(c), c);
}

static void np_drain(struct net_conn *c)
{
    bconn_on_drain(net_conn_proto_arg(c), c);
}

static void np_timeout(struct net_conn *c)
{
    bconn_on_timeout(net_conn_proto_arg(c), c);
}

static void np_close(struct net_conn *c, int reason)
{
    bconn_on_close(net_conn_proto_arg(c), c, reason == NET_REASON_SHUTDOWN);
}

static const struct net_proto mqtt_proto = {
    .name = "mqtt",
    .on_open = np_open,
    .on_data = np_data,
    .on_drain = np_drain,
    .on_timeout = np_timeout,
    .on_close = np_close,
};

const struct net_proto *broker_net_proto(void)
{
    return &mqtt_proto;
}

/* ---------------------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------------------- */

void broker_config_defaults(struct broker_config *cfg)
{
    cfg->max_packet = 256u << 10;
    cfg->max_queued = 1000;
    cfg->max_inflight = 32;
    cfg->max_client_id = MQTT_DEFAULT_MAX_CLIENT_ID;
    cfg->retained_max = 100000;
    cfg->retained_bytes = 64u << 20;
    cfg->keepalive_max_s = 0;
}

struct bworker *broker_current_worker(struct broker *b)
{
    int i = b->tp->current_worker(b->env);
    return i >= 0 && (unsigned)i < b->nworkers ? &b->w[i] : NULL;
}

int broker_new_transport(const struct broker_config *cfg, struct registry *reg,
                         const struct broker_transport *tp, void *env,
                         const struct broker_hooks *hooks, struct broker **out)
{
    struct broker_config defaults;
    broker_config_defaults(&defaults);
    if (cfg == NULL || reg == NULL || tp == NULL || cfg->max_queued < 0 || cfg->max_inflight < 0 ||
        cfg->max_inflight > 65535 || cfg->max_client_id < 0 || cfg->keepalive_max_s < 0 ||
        cfg->keepalive_max_s > 65535 || (cfg->max_packet != 0 && cfg->max_packet < 64) ||
        cfg->max_packet > MQTT_MAX_PACKET) {
        return -EINVAL;
    }
    unsigned nworkers = tp->nworkers(env);
    if (nworkers == 0) {
        return -EINVAL;
    }
    struct broker *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return -ENOMEM;
    }
    b->cfg = *cfg;
    if (b->cfg.max_packet == 0) {
        b->cfg.max_packet = defaults.max_packet;
    }
    if (b->cfg.max_queued == 0) {
        b->cfg.max_queued = defaults.max_queued;
    }
    if (b->cfg.max_inflight == 0) {
        b->cfg.max_inflight = defaults.max_inflight;
    }
    if (b->cfg.max_client_id == 0) {
        b->cfg.max_client_id = defaults.max_client_id;
    }
    b->limits.max_client_id = (size_t)b->cfg.max_client_id;
    b->reg = reg;
    b->tp = tp;
    b->env = env;
    if (hooks != NULL) {
        b->hooks = *hooks;
    }
    b->nworkers = nworkers;
    pthread_mutex_init(&b->tenants_lock, NULL);
    pthread_mutex_init(&b->clients_lock, NULL);
    pthread_mutex_init(&b->all_lock, NULL);
    pthread_mutex_init(&b->refusal_lock, NULL);
    b->tenant_windows = hmap_new();
    b->tenants = hmap_new();
    b->clients = hmap_new();
    b->devices = hmap_new();
    b->w = calloc(nworkers, sizeof(*b->w));
    if (b->tenants == NULL || b->clients == NULL || b->devices == NULL || b->w == NULL ||
        b->tenant_windows == NULL) {
        broker_free(b);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < nworkers; i++) {
        struct bworker *w = &b->w[i];
        w->b = b;
        w->index = i;
        /* Room for the largest PUBLISH we send: a received one may gain a packet id. */
        buf_init(&w->out, b->cfg.max_packet + 16);
        ratelimit_init(&w->log_rl, 20, 50);
        w->wake = calloc(nworkers, sizeof(*w->wake));
        if (w->wake == NULL) {
            broker_free(b);
            return -ENOMEM;
        }
    }
    *out = b;
    return 0;
}

int broker_new(const struct broker_config *cfg, struct registry *reg, struct net_server *net,
               const struct broker_hooks *hooks, struct broker **out)
{
    if (net == NULL) {
        return -EINVAL;
    }
    return broker_new_transport(cfg, reg, &broker_net_transport, net, hooks, out);
}

static int free_value_cb(const void *key, size_t klen, void *value, void *arg)
{
    free(value);
    return 0;
}

struct online_count {
    const char *prefix; /* "tenant\x1f" */
    size_t plen;
    uint64_t n;
};

static int online_cb(const void *key, size_t klen, void *value, void *arg)
{
    struct online_count *oc = arg;
    if (klen > oc->plen && memcmp(key, oc->prefix, oc->plen) == 0 && (intptr_t)value > 0) {
        oc->n++;
    }
    return 0;
}

/* Devices of `tenant` with a live session. Caller holds clients_lock. */
static uint64_t broker_tenant_devices_online(struct broker *b, const char *tenant)
{
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "%s\x1f", tenant);
    struct online_count oc = {.prefix = prefix, .plen = strlen(prefix)};
    hmap_iter(b->devices, online_cb, &oc);
    return oc.n;
}

static int free_tenant_cb(const void *key, size_t klen, void *value, void *arg)
{
    struct broker *b = arg;
    struct btenant *t = value;
    if (t->w != NULL) {
        for (unsigned i = 0; i < b->nworkers; i++) {
            mqtt_tree_free(t->w[i].tree);
        }
        free(t->w);
    }
    mqtt_retain_free(t->retain);
    pthread_mutex_destroy(&t->retain_lock);
    free(t);
    return 0;
}

void broker_free(struct broker *b)
{
    if (b == NULL) {
        return;
    }
    /* Every session left (offline persistent ones, and any whose subscriptions could not be
     * dropped everywhere): no thread uses them any more. */
    while (b->all != NULL) {
        struct bsess *s = b->all;
        b->all = s->anext;
        sess_free_final(b, s);
    }
    if (b->tenants != NULL) {
        hmap_iter(b->tenants, free_tenant_cb, b);
    }
    if (b->w != NULL) {
        for (unsigned i = 0; i < b->nworkers; i++) {
            buf_cleanup(&b->w[i].out);
            if (b->w[i].wake != NULL) {
                for (unsigned j = 0; j < b->nworkers; j++) {
                    free(b->w[i].wake[j].v);
                }
                free(b->w[i].wake);
            }
        }
        free(b->w);
    }
    hmap_free(b->tenants);
    hmap_free(b->clients);
    hmap_free(b->devices);
    pthread_mutex_destroy(&b->tenants_lock);
    pthread_mutex_destroy(&b->clients_lock);
    pthread_mutex_destroy(&b->all_lock);
    if (b->tenant_windows != NULL) {
        hmap_iter(b->tenant_windows, free_value_cb, NULL);
        hmap_free(b->tenant_windows);
    }
    pthread_mutex_destroy(&b->refusal_lock);
    free(b);
}

/* ---------------------------------------------------------------------------------------
 * Tenants
 * ------------------------------------------------------------------------------------- */

struct btenant *broker_tenant_find(struct broker *b, const char *id)
{
    pthread_mutex_lock(&b->tenants_lock);
    struct btenant *t = hmap_get_str(b->tenants, id);
    pthread_mutex_unlock(&b->tenants_lock);
    return t;
}

struct btenant *broker_tenant_get(struct broker *b, const char *id)
{
    pthread_mutex_lock(&b->tenants_lock);
    struct btenant *t = hmap_get_str(b->tenants, id);
    if (t != NULL) {
        pthread_mutex_unlock(&b->tenants_lock);
        return t;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL || str_lcpy(t->id, id, sizeof(t->id)) >= sizeof(t->id)) {
        goto fail;
    }
    pthread_mutex_init(&t->retain_lock, NULL);
    if (b->cfg.retained_max > 0 && b->cfg.retained_bytes > 0) {
        t->retain = mqtt_retain_new((size_t)b->cfg.retained_max, b->cfg.retained_bytes);
        if (t->retain == NULL) {
            goto fail_mutex;
        }
    }
    /* One cache line per worker; the trees are created here so that a worker never sees a
     * tenant without its replica. */
    t->w = aligned_alloc(64, b->nworkers * sizeof(*t->w));
    if (t->w == NULL) {
        goto fail_mutex;
    }
    memset(t->w, 0, b->nworkers * sizeof(*t->w));
    for (unsigned i = 0; i < b->nworkers; i++) {
        if ((t->w[i].tree = mqtt_tree_new()) == NULL) {
            goto fail_trees;
        }
    }
    if (hmap_put_str(b->tenants, id, t, NULL) < 0) {
        goto fail_trees;
    }
    pthread_mutex_unlock(&b->tenants_lock);
    return t;
fail_trees:
    for (unsigned i = 0; i < b->nworkers; i++) {
        mqtt_tree_free(t->w[i].tree);
    }
    free(t->w);
fail_mutex:
    mqtt_retain_free(t->retain);
    pthread_mutex_destroy(&t->retain_lock);
fail:
    free(t);
    pthread_mutex_unlock(&b->tenants_lock);
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------------------- */

static const char *const refusal_names[BROKER_REFUSED_NREASONS] = {
    [BROKER_REFUSED_PROTOCOL] = "protocol",
    [BROKER_REFUSED_CLIENT_ID] = "client-id",
    [BROKER_REFUSED_UNAVAILABLE] = "unavailable",
    [BROKER_REFUSED_CREDENTIALS] = "credentials",
    [BROKER_REFUSED_CERTIFICATE] = "certificate",
    [BROKER_REFUSED_CLIENT_ID_MISMATCH] = "client-id-mismatch",
    [BROKER_REFUSED_DEVICE] = "device",
    [BROKER_REFUSED_WILL] = "will",
};

const char *broker_refusal_name(int reason)
{
    if (reason < 0 || reason >= BROKER_REFUSED_NREASONS) {
        return "?";
    }
    return refusal_names[reason];
}

/* Bring the window's slot for second `sec` up to date and return it. */
static int window_slot(struct connect_window *w, int64_t sec)
{
    int slot = (int)(sec % REFUSAL_SLOTS);
    if (w->slot_sec[slot] != sec) {
        w->slot_sec[slot] = sec;
        w->accepted_slot[slot] = 0;
        for (int r = 0; r < BROKER_REFUSED_NREASONS; r++) {
            w->refused_slot[r][slot] = 0;
        }
    }
    return slot;
}

static void window_count(struct connect_window *w, int64_t sec, int reason)
{
    int slot = window_slot(w, sec);
    if (reason < 0) {
        w->accepted_slot[slot]++;
        w->accepted++;
    } else {
        w->refused_slot[reason][slot]++;
        w->refused[reason]++;
    }
}

/* The last minute's sums of a window into out (connects_last_minute, refused...). */
static void window_read(const struct connect_window *w, int64_t sec, uint64_t *accepted_total,
                        uint64_t *accepted_minute, uint64_t *refused_total,
                        uint64_t *refused_minute)
{
    *accepted_total = w->accepted;
    *accepted_minute = 0;
    for (int r = 0; r < BROKER_REFUSED_NREASONS; r++) {
        refused_total[r] = w->refused[r];
        refused_minute[r] = 0;
    }
    for (int s = 0; s < REFUSAL_SLOTS; s++) {
        if (w->slot_sec[s] > sec - REFUSAL_SLOTS && w->slot_sec[s] <= sec) {
            *accepted_minute += w->accepted_slot[s];
            for (int r = 0; r < BROKER_REFUSED_NREASONS; r++) {
                refused_minute[r] += w->refused_slot[r][s];
            }
        }
    }
}

/* Tenants with their own window at most: beyond it, new tenants are counted only in the
 * instance's window (the map is bounded: tenant ids come from refused, possibly forged,
 * attempts as well). */
#define TENANT_WINDOWS_MAX 10000

void broker_count_connect(struct broker *b, const char *tenant, int reason)
{
    if (reason >= BROKER_REFUSED_NREASONS) {
        return;
    }
    int64_t sec = time_mono_ms() / 1000;
    pthread_mutex_lock(&b->refusal_lock);
    window_count(&b->instance, sec, reason);
    if (tenant != NULL && tenant[0] != 0 && b->tenant_windows != NULL) {
        struct connect_window *w = hmap_get_str(b->tenant_windows, tenant);
        if (w == NULL && hmap_count(b->tenant_windows) < TENANT_WINDOWS_MAX) {
            w = calloc(1, sizeof(*w));
            if (w != NULL && hmap_put_str(b->tenant_windows, tenant, w, NULL) < 0) {
                free(w);
                w = NULL;
            }
        }
        if (w != NULL) {
            window_count(w, sec, reason);
        }
    }
    pthread_mutex_unlock(&b->refusal_lock);
}

void broker_tenant_stats_get(struct broker *b, const char *tenant, struct broker_tenant_stats *out)
{
    memset(out, 0, sizeof(*out));
    int64_t sec = time_mono_ms() / 1000;
    pthread_mutex_lock(&b->refusal_lock);
    const struct connect_window *w =
        b->tenant_windows != NULL ? hmap_get_str(b->tenant_windows, tenant) : NULL;
    if (w != NULL) {
        window_read(w, sec, &out->connects_accepted, &out->connects_last_minute, out->refused,
                    out->refused_last_minute);
    }
    pthread_mutex_unlock(&b->refusal_lock);
    pthread_mutex_lock(&b->clients_lock);
    out->devices_online = broker_tenant_devices_online(b, tenant);
    pthread_mutex_unlock(&b->clients_lock);
}

static int retained_count_cb(const void *key, size_t klen, void *value, void *arg)
{
    struct btenant *t = value;
    uint64_t *n = arg;
    if (t->retain != NULL) {
        pthread_mutex_lock(&t->retain_lock);
        *n += mqtt_retain_count(t->retain);
        pthread_mutex_unlock(&t->retain_lock);
    }
    return 0;
}

#define LOADW(x) atomic_load_explicit(&(x), memory_order_relaxed)

void broker_stats_get(struct broker *b, struct broker_stats *out)
{
    memset(out, 0, sizeof(*out));
    int64_t v = atomic_load(&b->online);
    out->sessions_online = v > 0 ? (uint64_t)v : 0;
    v = atomic_load(&b->offline);
    out->sessions_offline = v > 0 ? (uint64_t)v : 0;
    v = atomic_load(&b->subscriptions);
    out->subscriptions = v > 0 ? (uint64_t)v : 0;
    out->connects_accepted = atomic_load(&b->connects_accepted);
    out->takeovers = atomic_load(&b->takeovers);
    out->closed_by_registry = atomic_load(&b->closed_by_registry);
    for (unsigned i = 0; i < b->nworkers; i++) {
        const struct bworker_ctr *c = &b->w[i].ctr;
        out->publishes_in += LOADW(c->publishes_in);
        out->publishes_denied += LOADW(c->publishes_denied);
        out->deliveries_out += LOADW(c->deliveries_out);
        out->qos0_dropped += LOADW(c->qos0_dropped);
        out->queue_dropped += LOADW(c->queue_dropped);
        out->publisher_pauses += LOADW(c->publisher_pauses);
        out->keepalive_timeouts += LOADW(c->keepalive_timeouts);
    }
    int64_t sec = time_mono_ms() / 1000;
    uint64_t accepted_total = 0;
    pthread_mutex_lock(&b->refusal_lock);
    window_read(&b->instance, sec, &accepted_total, &out->connects_last_minute, out->refused,
                out->refused_last_minute);
    pthread_mutex_unlock(&b->refusal_lock);
    pthread_mutex_lock(&b->tenants_lock);
    hmap_iter(b->tenants, retained_count_cb, &out->retained);
    pthread_mutex_unlock(&b->tenants_lock);
}

/* ---------------------------------------------------------------------------------------
 * Devices
 * ------------------------------------------------------------------------------------- */

bool broker_device_connected(struct broker *b, const char *tenant, const char *device_id)
{
    char key[REG_TENANT_ID_MAX + REG_NAME_MAX + 2];
    int n = snprintf(key, sizeof(key), "%s\x1f%s", tenant, device_id);
    if (n < 0 || (size_t)n >= sizeof(key)) {
        return false;
    }
    pthread_mutex_lock(&b->clients_lock);
    bool on = hmap_get(b->devices, key, (size_t)n) != NULL;
    pthread_mutex_unlock(&b->clients_lock);
    return on;
}

/* ---------------------------------------------------------------------------------------
 * Registry events
 * ------------------------------------------------------------------------------------- */

struct event_msg {
    atomic_int refs;
    struct broker *b;
    struct reg_event ev;
};

static void event_run(void *arg)
{
    struct event_msg *m = arg;
    struct bworker *w = broker_current_worker(m->b);
    if (w != NULL) {
        broker_event_apply(w, &m->ev);
    }
    if (atomic_fetch_sub(&m->refs, 1) == 1) {
        free(m);
    }
}

/* Whether an offline session depends on what the event removed. Certificate details are
 * not kept for offline sessions: a revoked or untrusted certificate cannot resume one. */
static bool offline_matches(const struct bsess *s, const struct reg_event *ev)
{
    switch (ev->kind) {
    case REG_EVENT_TENANT_SUSPENDED:
        return true;
    case REG_EVENT_DEVICE_REMOVED:
        return s->device != NULL && strcmp(s->device, ev->device_id) == 0;
    case REG_EVENT_USER_REMOVED:
        return strcmp(s->owner_id + 1, ev->user) == 0;
    default:
        return false;
    }
}

void broker_registry_event(struct broker *b, const struct reg_event *ev)
{
    struct btenant *t = broker_tenant_find(b, ev->tenant);
    if (t != NULL) {
        struct bsess *gone = NULL;
        unsigned n = 0;
        pthread_mutex_lock(&b->clients_lock);
        struct bsess *s = t->sessions;
        while (s != NULL) {
            struct bsess *next = s->tnext;
            if (atomic_load(&s->owner) < 0 && offline_matches(s, ev)) {
                hmap_del(b->clients, s->key, s->keylen);
                s->in_map = false;
                if (s->tprev != NULL) {
                    s->tprev->tnext = s->tnext;
                } else {
                    t->sessions = s->tnext;
                }
                if (s->tnext != NULL) {
                    s->tnext->tprev = s->tprev;
                }
                s->tprev = NULL;
                s->tnext = gone; /* reuse the link for the list to destroy */
                gone = s;
                atomic_fetch_sub(&b->offline, 1);
                n++;
            }
            s = next;
        }
        pthread_mutex_unlock(&b->clients_lock);
        while (gone != NULL) {
            struct bsess *next = gone->tnext;
            gone->tnext = NULL;
            sess_destroy(b, gone);
            gone = next;
        }
        if (n > 0) {
            log_info("%u offline MQTT sessions of tenant %s discarded", n, ev->tenant);
        }
    }
    struct event_msg *m = malloc(sizeof(*m));
    if (m == NULL) {
        log_error("registry event not applied to live MQTT sessions (out of memory)");
        return;
    }
    atomic_init(&m->refs, (int)b->nworkers);
    m->b = b;
    m->ev = *ev;
    for (unsigned i = 0; i < b->nworkers; i++) {
        if (b->tp->post(b->env, i, event_run, m) < 0 && atomic_fetch_sub(&m->refs, 1) == 1) {
            free(m);
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Publishing for other services
 * ------------------------------------------------------------------------------------- */

struct pubjob {
    struct broker *b;
    char tenant[REG_TENANT_ID_MAX];
    uint8_t qos;
    bool retain;
    size_t tlen, plen;
    void (*done)(void *arg, int rc);
    void *arg;
    char data[]; /* topic, payload */
};

static void report(void (*done)(void *, int), void *arg, int rc)
{
    if (done != NULL) {
        done(arg, rc);
    }
}

static void pubjob_run(void *arg)
{
    struct pubjob *j = arg;
    struct broker *b = j->b;
    struct bworker *w = broker_current_worker(b);
    struct btenant *t = w != NULL ? broker_tenant_get(b, j->tenant) : NULL;
    struct pubwait *pw = t != NULL ? pubwait_new(j->done, j->arg) : NULL;
    if (pw == NULL) {
        report(j->done, j->arg, -ENOMEM);
        free(j);
        return;
    }
    struct bwaiter waiter = {.pw = pw};
    int rc = route_publish(w, t, j->data, j->tlen, j->data + j->tlen, j->plen, j->qos, j->retain,
                           &waiter);
    if (rc < 0) {
        /* Nothing was routed, so nothing registered pw: report the failure directly. */
        free(pw);
        report(j->done, j->arg, rc);
    } else {
        bctr_add(&w->ctr.publishes_in, 1);
        pubwait_release(pw); /* done(0) now, or when the last full session drained */
    }
    free(j);
    bworker_flush(w);
}

int broker_publish(struct broker *b, const struct principal *who, const char *topic,
                   const void *payload, size_t len, int qos, bool retain,
                   void (*done)(void *arg, int rc), void *arg)
{
    size_t tlen = topic != NULL ? strlen(topic) : 0;
    if (who == NULL || topic == NULL || qos < 0 || qos > 2 ||
        mqtt_topic_name_check(topic, tlen) != 0 || (len > 0 && payload == NULL) ||
        tlen + len + 16 > b->cfg.max_packet) {
        report(done, arg, -EINVAL);
        return -EINVAL;
    }
    if (!registry_tenant_active(b->reg, who->tenant)) {
        report(done, arg, CG_EDENIED);
        return CG_EDENIED;
    }
    struct reg_settings st;
    registry_settings(b->reg, who->tenant, &st);
    struct bprincipal p = {
        .kind = who->device[0] == 0          ? BK_APP
                : who->via == PRINCIPAL_CERT ? BK_DEVICE_CERT
                                             : BK_DEVICE_BASIC,
        .acl_open = st.acl_open,
        .user = (char *)who->user,
        .device = who->device[0] != 0 ? (char *)who->device : NULL,
    };
    if (btopic_is(topic, tlen, BTOPIC_TOKEN_REQ) || btopic_is(topic, tlen, BTOPIC_TOKEN_RESP) ||
        !bacl_may_publish(&p, topic, tlen)) {
        report(done, arg, CG_EDENIED);
        return CG_EDENIED;
    }
    struct pubjob *j = malloc(sizeof(*j) + tlen + len);
    if (j == NULL) {
        report(done, arg, -ENOMEM);
        return -ENOMEM;
    }
    j->b = b;
    str_lcpy(j->tenant, who->tenant, sizeof(j->tenant));
    j->qos = (uint8_t)qos;
    j->retain = retain;
    j->tlen = tlen;
    j->plen = len;
    j->done = done;
    j->arg = arg;
    memcpy(j->data, topic, tlen);
    if (len > 0) {
        memcpy(j->data + tlen, payload, len);
    }
    struct bworker *w = broker_current_worker(b);
    if (w != NULL) {
        pubjob_run(j);
        return 0;
    }
    /* Off the workers: one worker per publisher, so that one caller's messages keep their
     * order (posts from one thread to one worker run in order). */
    char key[REG_TENANT_ID_MAX + REG_NAME_MAX + 2];
    snprintf(key, sizeof(key), "%s/%s", who->tenant, who->user);
    uint32_t h = 2166136261u;
    for (const char *k = key; *k != 0; k++) {
        h = (h ^ (uint8_t)*k) * 16777619u;
    }
    int rc = b->tp->post(b->env, h % b->nworkers, pubjob_run, j);
    if (rc < 0) {
        free(j);
        report(done, arg, rc);
        return rc;
    }
    return 0;
}
