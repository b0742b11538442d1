/* Internal to src/broker (and its fuzz target, which drives sessions without sockets through
 * the transport vtable below). Structures, invariants and the functions shared by
 * broker.c, conn.c, session.c, route.c and acl.c. See docs/design/broker.md.
 *
 * Ownership and threads, in one place:
 *  - struct bconn: one per connection; created in on_open, freed in on_close; only the
 *    connection's worker touches it. Code running later (posted messages, pool results)
 *    reaches it through a transport reference: `!is_closed(c)` then `get_data(c)`.
 *  - struct bsess: one per session (ClientId key); reference counted; `lock` guards the
 *    queue, the waiters, `conn` and `dead`; `owner` (atomic) is the worker index of the
 *    attached connection, or -1 while offline, and only changes under both
 *    broker.clients_lock and bsess.lock. The "owner-only" fields are used by the worker
 *    of the attached connection, or by nobody while offline (handing over goes through
 *    the locks, which orders the accesses).
 *  - struct btenant: one per tenant, created on first use, freed by broker_free; its
 *    retained store is guarded by retain_lock; w[i] (subscription tree replica and the
 *    list of connected bconns) belongs to worker i.
 *  - struct bworker: per worker, used only by that worker's thread, except the counters
 *    (read by broker_stats_get).
 */
#ifndef CERTGATE_BROKER_INT_H
#define CERTGATE_BROKER_INT_H

#include "broker/broker.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/hmap.h"
#include "core/ratelimit.h"
#include "mqtt/codec.h"
#include "mqtt/retain.h"
#include "mqtt/tree.h"
#include "registry/registry.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---------------------------------------------------------------------------------------
 * Transport: what the broker needs from net. `c` is a connection handle (struct net_conn *
 * in production), `env` the environment (struct net_server *). The semantics are those of
 * the corresponding net_* functions (net/net.h): close only marks the connection and
 * on_close runs later from the loop; posted functions run in order per sender; the pool's
 * done runs on the given worker.
 * ------------------------------------------------------------------------------------- */
struct broker_transport {
    int (*write)(void *c, const void *p, size_t n);
    void (*close)(void *c, bool now);
    void (*pause_reading)(void *c, bool pause);
    void (*set_timer)(void *c, unsigned ms);
    bool (*over_highwater)(void *c);
    struct buf *(*input)(void *c);
    const struct reg_identity *(*identity)(void *c);
    void (*drop_identity)(void *c); /* free the identity once copied: memory per session */
    const char *(*peer)(void *c);
    void (*ref)(void *c);
    void (*unref)(void *c);
    bool (*is_closed)(void *c);
    unsigned (*worker_of)(void *c);
    void (*set_data)(void *c, void *data);
    void *(*get_data)(void *c);
    uint64_t (*id)(void *c);
    /* environment */
    unsigned (*nworkers)(void *env);
    int (*current_worker)(void *env); /* index of the calling worker, -1 off the workers */
    int (*post)(void *env, unsigned worker, void (*fn)(void *arg), void *arg);
    /* done runs on worker `worker` (>= 0). 0, CG_ELIMIT (queue full), -ESHUTDOWN, -ENOMEM. */
    int (*pool_submit)(void *env, void (*work)(void *arg), void (*done)(void *arg), unsigned worker,
                       void *arg);
};

/* The net-backed transport (broker.c). */
extern const struct broker_transport broker_net_transport;

/* broker_new_transport: broker_new over any transport (the fuzz target's in-memory one). */
int broker_new_transport(const struct broker_config *cfg, struct registry *reg,
                         const struct broker_transport *tp, void *env,
                         const struct broker_hooks *hooks, struct broker **out);

/* The protocol callbacks, transport-neutral (the net_proto wraps them). */
int bconn_on_open(struct broker *b, void *c);
int bconn_on_data(struct broker *b, void *c);
void bconn_on_drain(struct broker *b, void *c);
void bconn_on_timeout(struct broker *b, void *c);
/* `shutdown`: the server is stopping (no will is published). */
void bconn_on_close(struct broker *b, void *c, bool shutdown);

/* ---------------------------------------------------------------------------------------
 * Messages and queues
 * ------------------------------------------------------------------------------------- */

/* A routed message: immutable once made, shared by every queue it is in. */
struct bmsg {
    atomic_uint refs;
    uint32_t tlen;
    uint32_t plen;
    uint8_t qos; /* as published */
    bool secret; /* zero the payload when freed (access tokens) */
    char data[]; /* topic (tlen bytes), payload (plen bytes) */
};

struct bmsg *bmsg_new(const char *topic, size_t tlen, const void *payload, size_t plen,
                      uint8_t qos);
static inline const char *bmsg_topic(const struct bmsg *m)
{
    return m->data;
}
static inline const uint8_t *bmsg_payload(const struct bmsg *m)
{
    return (const uint8_t *)m->data + m->tlen;
}
void bmsg_ref(struct bmsg *m);
void bmsg_unref(struct bmsg *m);

/* An entry of a session's queue: a message waiting to be sent. */
struct qent {
    struct bmsg *m;
    uint8_t qos; /* delivery QoS: min(publish, granted) */
    bool retain; /* RETAIN=1: sent because of a new subscription [MQTT-3.3.1-8] */
};

/* Outbound QoS 1/2 message sent and not yet acknowledged. */
enum { INFL_FREE = 0, INFL_PUBACK, INFL_PUBREC, INFL_PUBCOMP };
struct infl {
    struct bmsg *m; /* NULL once PUBREC arrived (only the id matters then) */
    uint16_t pid;
    uint8_t qos;
    uint8_t state;
    bool retain;
};

/* Something waiting for a session's queue to drain below half of max_queued. */
struct pubwait;
struct bwaiter {
    struct bwaiter *next;
    struct broker *b;
    void *c;            /* a paused publishing connection (transport reference), or NULL */
    unsigned widx;      /* its worker */
    struct pubwait *pw; /* or a broker_publish waiting to report */
};

/* ---------------------------------------------------------------------------------------
 * Principals and ACL (acl.c: pure functions)
 * ------------------------------------------------------------------------------------- */

enum bkind {
    BK_APP = 0,          /* an application user: the whole tenant namespace */
    BK_DEVICE_BASIC = 1, /* a device user (device_<id>) with a password */
    BK_DEVICE_CERT = 2,  /* a device with a client certificate */
};

struct bprincipal {
    uint8_t kind;    /* enum bkind */
    bool acl_open;   /* tenant option mqtt/acl.mode = open (at connect time) */
    char *user;      /* malloc'd: user name; device_<id> for devices */
    char *device;    /* malloc'd device id; NULL for BK_APP */
    char *anchor_fp; /* malloc'd; certificates only */
    char *serials;   /* malloc'd "s1\0s2\0...\0"; certificates only */
};

void bprincipal_cleanup(struct bprincipal *p);

/* bacl_may_publish / bacl_may_subscribe: the ACL (docs/mqtt.md). The topic or filter must
 * be valid; reserved topics (s/uat, s/dat) are decided by the caller. */
bool bacl_may_publish(const struct bprincipal *p, const char *topic, size_t len);
bool bacl_may_subscribe(const struct bprincipal *p, const char *filter, size_t len);

/* bacl_device_ns_ok: whether a device id can own a topic namespace (non-empty, no '/', '+'
 * or '#', which would reach into another device's topics). */
bool bacl_device_ns_ok(const char *device);

/* bclientid_device: the deviceIdentifier of a Cumulocity ClientId
 * "[connectionType:]deviceIdentifier[:defaultTemplateIdentifier]" into *out (pointing
 * into cid). 0, or -EINVAL (empty identifier, more than three parts). */
int bclientid_device(const char *cid, size_t len, struct mqtt_str *out);

/* Reserved topics: private to the connection, never routed through the tenant tree. */
#define BTOPIC_TOKEN_REQ "s/uat"
#define BTOPIC_TOKEN_RESP "s/dat"
bool btopic_is(const char *s, size_t len, const char *lit);

/* ---------------------------------------------------------------------------------------
 * Tenants, sessions, connections, workers
 * ------------------------------------------------------------------------------------- */

struct bconn;
struct bsess;

/* Worker i's part of a tenant: padded so workers do not share cache lines. */
struct wtenant {
    struct mqtt_tree *tree; /* this worker's replica of the tenant's subscriptions */
    struct bconn *conns;    /* connected (CONNACK 0 sent) connections of this worker */
    char pad[48];
};

struct btenant {
    char id[REG_TENANT_ID_MAX];
    pthread_mutex_t retain_lock;
    struct mqtt_retain *retain; /* NULL when retained messages are disabled */
    struct bsess *sessions;     /* every session of the tenant (under clients_lock) */
    struct wtenant *w;          /* [nworkers] */
};

struct bsess {
    pthread_mutex_t lock;
    atomic_int refs;
    atomic_int owner;      /* worker of the attached connection, -1 offline */
    atomic_bool scheduled; /* a pump is on its way to the owner */
    atomic_bool dead;      /* destroyed: drops everything routed to it */
    struct btenant *t;
    /* under lock */
    struct qent *q;
    uint32_t qhead, qlen, qcap;
    struct bwaiter *waiters;
    struct bconn *conn; /* attached connection (dereferenced by the owner only) */
    /* under broker.clients_lock */
    bool in_map;
    bool clean;
    struct bsess *tnext, *tprev; /* btenant.sessions */
    struct bsess *anext, *aprev; /* broker.all (for broker_free) */
    char *key;                   /* map key: tenant \x1f client key */
    size_t keylen;
    char *owner_id; /* 'd'/'a' + user name: who may resume it */
    char *device;   /* device id for device sessions (registry events) */
    /* owner-only */
    struct infl *infl; /* ring of icap entries, lazily allocated */
    uint32_t ihead, icount, icap, iused;
    uint16_t next_pid;
    uint16_t nq2, capq2; /* inbound QoS 2 ids awaiting PUBREL */
    uint16_t *q2;
    int8_t sdat_qos;  /* -1: not subscribed to s/dat */
    atomic_int nsubs; /* subscriptions in the replicas (written by worker 0) */
};

enum bc_state {
    BC_CONNECT = 0, /* waiting for CONNECT */
    BC_AUTH,        /* credentials being checked (pool / registry) */
    BC_ATTACH,      /* waiting for the previous connection of the ClientId to let go */
    BC_CONNECTED,   /* CONNACK 0 sent */
    BC_DONE,        /* refused or closing: nothing more is processed */
};

struct bwill {
    struct bmsg *m;
    uint8_t qos;
    bool retain;
};

struct bconn {
    struct broker *b;
    void *c;
    struct bworker *w;
    struct btenant *t;
    struct bsess *s;
    struct bprincipal p;
    char *client_id; /* as sent */
    char *key;       /* session key while connecting */
    size_t keylen;
    struct bwill *will;
    int64_t last_rx_ms;
    uint32_t keepalive_ms; /* 1.5 x keep-alive; 0: none */
    uint8_t state;         /* enum bc_state */
    uint8_t level;
    bool clean;
    bool disconnected;    /* DISCONNECT received: no will */
    bool registry_closed; /* closed by a registry event: no will, session discarded */
    bool pub_blocked;     /* a subscriber queue is full: publishes wait */
    bool paused;          /* we paused the transport */
    bool token_pending;
    uint8_t attach_tries;
    uint16_t ops_pending;        /* SUBSCRIBE/UNSUBSCRIBE waiting for the replicas */
    struct bconn *tnext, *tprev; /* wtenant.conns */
};

/* A refusal or event remembered by a worker for the race between an authentication in
 * flight and a registry event (see conn.c). */
struct brecent {
    int64_t ms;
    int kind;
    char tenant[REG_TENANT_ID_MAX];
    char name[REG_NAME_MAX]; /* user or device */
};
#define BRECENT_MAX 16

struct wake_list {
    struct bsess **v;
    size_t n, cap;
};

struct bworker_ctr {
    atomic_uint_fast64_t publishes_in;
    atomic_uint_fast64_t publishes_denied;
    atomic_uint_fast64_t deliveries_out;
    atomic_uint_fast64_t qos0_dropped;
    atomic_uint_fast64_t queue_dropped;
    atomic_uint_fast64_t publisher_pauses;
    atomic_uint_fast64_t keepalive_timeouts;
};

struct bworker {
    struct broker *b;
    unsigned index;
    struct buf out;          /* encoding scratch */
    struct wake_list *wake;  /* [nworkers]: sessions to pump, by owner */
    struct ratelimit log_rl; /* info lines about clients */
    uint64_t log_suppressed;
    struct brecent recent[BRECENT_MAX];
    unsigned nrecent;
    struct bworker_ctr ctr;
};

#define REFUSAL_SLOTS 60

/* Connects and refusals counted per second over the last REFUSAL_SLOTS seconds, plus
 * totals: for the instance, and for each tenant. */
struct connect_window {
    uint64_t accepted;
    uint64_t refused[BROKER_REFUSED_NREASONS];
    uint32_t accepted_slot[REFUSAL_SLOTS];
    uint32_t refused_slot[BROKER_REFUSED_NREASONS][REFUSAL_SLOTS];
    int64_t slot_sec[REFUSAL_SLOTS];
};

struct broker {
    struct broker_config cfg;
    struct registry *reg;
    const struct broker_transport *tp;
    void *env;
    struct broker_hooks hooks;
    unsigned nworkers;
    struct bworker *w;
    struct mqtt_limits limits;

    pthread_mutex_t tenants_lock;
    struct hmap *tenants; /* id -> struct btenant */

    pthread_mutex_t clients_lock;
    struct hmap *clients; /* session key -> struct bsess */
    struct hmap *devices; /* tenant \x1f device -> (intptr_t) live session count */
    pthread_mutex_t all_lock;
    struct bsess *all; /* every session not yet freed (under all_lock) */

    atomic_uint publish_rr;

    /* gauges and rare counters */
    atomic_int_fast64_t online, offline, subscriptions;
    atomic_uint_fast64_t connects_accepted, takeovers, closed_by_registry;

    pthread_mutex_t refusal_lock;   /* guards the connect windows below */
    struct connect_window instance; /* the whole instance */
    struct hmap *tenant_windows;    /* tenant id -> struct connect_window (bounded) */
};

/* Counters written by their worker only (no locked instruction). */
static inline void bctr_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* broker.c */

/* broker_count_connect: count an accepted connect (reason < 0) or a refusal with its
 * reason, for the instance and, when known, for `tenant`. Any thread. */
void broker_count_connect(struct broker *b, const char *tenant, int reason);
struct btenant *broker_tenant_get(struct broker *b, const char *id); /* get or create */
struct btenant *broker_tenant_find(struct broker *b, const char *id);
struct bworker *broker_current_worker(struct broker *b); /* NULL off the workers */

/* session.c */
struct bsess *sess_new(struct broker *b, struct btenant *t, const char *key, size_t keylen,
                       const char *owner_id, const char *device);
void sess_ref(struct bsess *s);
void sess_unref(struct broker *b, struct bsess *s);
void sess_free_final(struct broker *b, struct bsess *s); /* broker_free: ignore refs */
/* sess_destroy: mark dead, drop its subscriptions on every replica, wake its waiters; the
 * caller's reference (the map's) is consumed. */
void sess_destroy(struct broker *b, struct bsess *s);
/* sess_enqueue: append m at qos for s. Returns 1 when the waiter was registered because
 * s is online and full (the publisher should pause), 0 otherwise. */
int sess_enqueue(struct bworker *w, struct bsess *s, struct bmsg *m, uint8_t qos, bool retain,
                 const struct bwaiter *waiter);
void sess_pump(struct bworker *w, struct bsess *s);
void sess_resend(struct bworker *w, struct bsess *s);
/* sess_ack: an acknowledgement from the client. 0, or < 0 to close the connection. */
int sess_ack(struct bworker *w, struct bsess *s, enum mqtt_type type, uint16_t pid);
void waiters_wake(struct broker *b, struct bwaiter *list);
/* pubwait_new / pubwait_release: a broker_publish waiting for full sessions (n starts at
 * 1; each registration adds one; done(arg, 0) at zero). */
struct pubwait *pubwait_new(void (*done)(void *arg, int rc), void *arg);
void pubwait_release(struct pubwait *pw);
void bworker_flush(struct bworker *w);
bool sess_q2_has(const struct bsess *s, uint16_t pid);
int sess_q2_add(struct bsess *s, uint16_t pid);
void sess_q2_del(struct bsess *s, uint16_t pid);
/* Replica operations (session.c). */
struct rop_item {
    char *filter;
    uint16_t len;
    uint8_t qos;
};
int sess_subscribe_broadcast(struct bconn *bc, bool unsubscribe, uint16_t pid,
                             struct rop_item *items, int nitems, uint8_t *codes, int ncodes);

/* route.c */
/* route_publish: retain (if asked) and deliver to every matching session of t, seen from
 * worker w's replica. `waiter` (may be NULL) is registered with full online sessions.
 * Returns 1 when some session was full (waiter registered), 0, or -ENOMEM (not routed). */
int route_publish(struct bworker *w, struct btenant *t, const char *topic, size_t tlen,
                  const void *payload, size_t plen, uint8_t qos, bool retain,
                  const struct bwaiter *waiter);
/* route_retained: queue the retained messages matching filter for s at up to qos. */
void route_retained(struct bworker *w, struct bsess *s, const char *filter, size_t flen,
                    uint8_t qos);

/* conn.c */
int bconn_write(struct bconn *bc, struct buf *out);
void bconn_resume(struct bconn *bc);
/* bconn_waiter_resume: posted with a struct bwaiter (consumed): its publisher may go on. */
void bconn_waiter_resume(void *arg);
void broker_event_apply(struct bworker *w, const struct reg_event *ev);

/* log lines about clients, rate-limited per worker */
void bworker_log(struct bworker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
