/* The MQTT 3.1.1 broker: sessions on top of net connections, authenticated with the
 * registry (client certificates or user name and password), routing inside per-tenant
 * topic namespaces.
 *
 * Threads (see docs/design/broker.md):
 *  - every connection, and the MQTT session attached to it, belongs to the net worker that
 *    accepted it; the net_proto callbacks of broker_net_proto() run there;
 *  - each worker keeps its own replica of every tenant's subscription index; SUBSCRIBE and
 *    UNSUBSCRIBE are applied to every replica (through the workers' message queues) before
 *    SUBACK/UNSUBACK is sent, so the publish path takes no global lock;
 *  - a PUBLISH is matched on the publisher's worker and appended to each matching session's
 *    queue (a short per-session lock); the worker owning that session is woken with a
 *    message and writes the packets;
 *  - password checks and token issuing run on the net blocking pool; auto-registration on
 *    the store's writer thread; their results come back to the connection's worker.
 *
 * Sessions live in memory only: persistent sessions (CleanSession 0) survive disconnects
 * but not a restart of the process.
 */
#ifndef CERTGATE_BROKER_BROKER_H
#define CERTGATE_BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct broker;
struct registry;
struct net_server;
struct net_proto;
struct principal;
struct reg_event;
struct reg_identity;

struct broker_config {
    size_t max_packet;     /* largest packet accepted from a client (bytes); larger closes.
                              0: 256 KiB. Give the listener max_input >= max_packet + 64 KiB */
    int max_queued;        /* messages queued per session: beyond it publishers to an online
                              session are paused, and messages for an offline persistent
                              session are dropped (and counted). 0: 1000 */
    int max_inflight;      /* unacknowledged QoS 1/2 messages sent to one client. 0: 32 */
    int max_client_id;     /* longest ClientId in bytes. 0: 256 */
    int retained_max;      /* retained messages per tenant; 0 keeps none (a retained
                              PUBLISH is still delivered). Default 100000 */
    size_t retained_bytes; /* retained topic + payload bytes per tenant; 0 keeps none.
                              Default 64 MiB */
    int keepalive_max_s;   /* longest keep-alive honoured (a larger or zero one is replaced by
                              it); 0: any */
};

/* broker_config_defaults: the defaults above (all fields explicit; start from these and
 * override). Any thread. */
void broker_config_defaults(struct broker_config *cfg);

struct broker_hooks {
    /* Issue a device access token for the MQTT `s/uat` request of a device connected with
     * its certificate. `id` is the session's accepted certificate identity (tenant,
     * device_id, anchor_fp and serials, leaf first, as recorded at the handshake; borrowed
     * for the call), which a token bound to its certificate needs (tokens_issue). Called on
     * a pool thread; on success returns 0 and sets *token to a malloc'd NUL-terminated
     * string that the broker delivers as "71,<token>" on `s/dat` to that connection only,
     * then zeroes and frees. Any negative value: nothing is delivered. May be NULL (s/uat is
     * then ignored). */
    int (*issue_token)(void *arg, const struct reg_identity *id, char **token);
    void *arg;
};

/* broker_new: a broker for the workers of `net` (created, not yet started), using `reg`
 * (borrowed, must outlive the broker) for authentication, admission and audit records.
 * hooks may be NULL; it is copied. The caller owns *out (broker_free) and opens the MQTT
 * listener with proto broker_net_proto() and proto_arg *out. Control thread, before
 * net_server_start. 0, -EINVAL (bad config), -ENOMEM. */
int broker_new(const struct broker_config *cfg, struct registry *reg, struct net_server *net,
               const struct broker_hooks *hooks, struct broker **out);

/* broker_free: free every session, queue, subscription index and retained store. Control
 * thread, after net_server_stop (no worker may run any more). NULL is a no-op. */
void broker_free(struct broker *b);

/* broker_net_proto: the protocol of the MQTT listener (static; its proto_arg must be the
 * broker). Any thread. */
const struct net_proto *broker_net_proto(void);

/* broker_registry_event: a registry change that removes access (registry_set_event_handler
 * forwards them here; ev is copied). Every live session depending on it is closed on its
 * worker (within milliseconds: one message per worker), with a log line and an audit record
 * per closed session; affected persistent sessions are discarded. Kinds and what they
 * close: ANCHOR_REMOVED (certificate sessions whose chain reached that trusted
 * certificate), SERIAL_REVOKED (certificate sessions with that serial anywhere in their
 * chain), DEVICE_REMOVED (sessions of that device), TENANT_SUSPENDED (every session of the
 * tenant), USER_REMOVED (sessions of that user). Any thread; no I/O (it takes the ClientId
 * map's lock briefly and posts one message per worker). */
void broker_registry_event(struct broker *b, const struct reg_event *ev);

/* broker_publish: publish as `who` (e.g. an HTTPS client; borrowed for the call), with the
 * ACL MQTT applies to that principal (device principals: the device ACL; others: the whole
 * tenant namespace). topic, payload (len bytes, at most max_packet - 16 - topic length) and
 * who are copied. Any thread.
 * The outcome goes to done(arg, rc) exactly once (done may be NULL): 0 once the message was
 * routed — for QoS 1 and 2, appended to the queue of every matching session (for a session
 * that is over max_queued, after it drained below half of it) —, CG_EDENIED when the ACL
 * refuses, -EINVAL for an invalid topic, QoS or size, -ESHUTDOWN when the broker stops,
 * -ENOMEM. done runs on a worker thread, or on the calling thread before broker_publish
 * returns for an immediate failure. Returns 0 when the message was handed to a worker, or
 * the (negative) code already given to done. */
int broker_publish(struct broker *b, const struct principal *who, const char *topic,
                   const void *payload, size_t len, int qos, bool retain,
                   void (*done)(void *arg, int rc), void *arg);

/* broker_device_connected: whether a device of this tenant has a live MQTT session now.
 * Any thread. */
bool broker_device_connected(struct broker *b, const char *tenant, const char *device_id);

/* Why a CONNECT was refused (the CONNACK code in brackets). */
enum broker_refusal {
    BROKER_REFUSED_PROTOCOL = 0,       /* (1) protocol level other than 3 or 4 */
    BROKER_REFUSED_CLIENT_ID,          /* (2) empty ClientId with CleanSession 0, or too long */
    BROKER_REFUSED_UNAVAILABLE,        /* (3) pool full, internal error, too many failed logins */
    BROKER_REFUSED_CREDENTIALS,        /* (4) no certificate and no or wrong user name/password */
    BROKER_REFUSED_CERTIFICATE,        /* (5) the certificate was refused (untrusted, revoked...) */
    BROKER_REFUSED_CLIENT_ID_MISMATCH, /* (5) deviceIdentifier is not the certificate's CN */
    BROKER_REFUSED_DEVICE,             /* (5) admission refused: not registered, no
                                          auto-registration, registered for passwords */
    BROKER_REFUSED_WILL,               /* (5) the will topic is outside the client's ACL */
    BROKER_REFUSED_NREASONS
};

/* broker_refusal_name: "protocol", "client-id", ... (static; "?" when out of range). */
const char *broker_refusal_name(int reason);

struct broker_stats {
    uint64_t sessions_online;   /* gauge: sessions with a connection */
    uint64_t sessions_offline;  /* gauge: persistent sessions without a connection */
    uint64_t subscriptions;     /* gauge: (filter, session) pairs, s/dat excluded */
    uint64_t retained;          /* gauge: retained messages, all tenants */
    uint64_t publishes_in;      /* PUBLISH accepted from clients, broker_publish, wills */
    uint64_t publishes_denied;  /* PUBLISH refused by the ACL (acknowledged and dropped) */
    uint64_t deliveries_out;    /* PUBLISH packets sent to clients (resends included) */
    uint64_t qos0_dropped;      /* QoS 0 messages for an offline persistent session */
    uint64_t queue_dropped;     /* QoS 1/2 messages beyond max_queued for an offline
                                   session (or not queued for lack of memory) */
    uint64_t publisher_pauses;  /* times a publisher was paused by a full subscriber queue */
    uint64_t connects_accepted; /* CONNACK 0 sent */
    uint64_t refused[BROKER_REFUSED_NREASONS];             /* totals by reason */
    uint64_t refused_last_minute[BROKER_REFUSED_NREASONS]; /* in the last 60 seconds */
    uint64_t connects_last_minute;                         /* CONNACK 0 in the last 60 s */
    uint64_t takeovers;          /* connections closed because their ClientId reconnected */
    uint64_t closed_by_registry; /* sessions closed by broker_registry_event */
    uint64_t keepalive_timeouts; /* connections closed for silence beyond 1.5 x keep-alive */
};

/* broker_stats_get: a snapshot (each counter read atomically; not one instant). Any
 * thread. */
void broker_stats_get(struct broker *b, struct broker_stats *out);

/* One tenant's share: connects and refusals whose tenant was known (a chain that reaches
 * none of the tenant's certificates is counted for the instance only), and its devices with
 * a live session. */
struct broker_tenant_stats {
    uint64_t connects_accepted;
    uint64_t connects_last_minute;
    uint64_t refused[BROKER_REFUSED_NREASONS];
    uint64_t refused_last_minute[BROKER_REFUSED_NREASONS];
    uint64_t devices_online;
};

/* broker_tenant_stats_get: *out for `tenant` (zeros for a tenant never seen). Any thread. */
void broker_tenant_stats_get(struct broker *b, const char *tenant, struct broker_tenant_stats *out);

#endif
