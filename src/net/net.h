/* net: worker threads with libevent loops, listeners, (TLS) connections, cross-thread
 * messages, the blocking-work pool and admission control.
 *
 * Threads (see docs/design/net.md):
 *  - the *control thread* creates the server, adds listeners, starts, stops and frees it;
 *  - each *worker* runs one event loop and owns its listening sockets and every connection
 *    accepted on them, for the connection's whole life;
 *  - *pool threads* run blocking work submitted with net_pool_submit.
 * Unless a contract says "any thread", a function on a connection may only be called on the
 * thread of the worker that owns it (net_conn_worker), normally from a protocol callback or a
 * message posted to that worker.
 *
 * Protocol callbacks (struct net_proto) always run on the owning worker and are never nested
 * for one connection. A connection is never freed inside one of its own callbacks:
 * net_conn_close only marks it, and the teardown happens from the worker's loop afterwards.
 */
#ifndef CERTGATE_NET_NET_H
#define CERTGATE_NET_NET_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"

struct net_server;
struct net_worker;
struct net_conn;

/* ---------------------------------------------------------------------------------------
 * Protocol vtable
 * ------------------------------------------------------------------------------------- */

/* Why a connection was closed; passed to on_close. */
enum net_close_reason {
    NET_REASON_LOCAL = 1,   /* the protocol (or the server) called net_conn_close */
    NET_REASON_PROTOCOL,    /* on_open or on_data returned a negative value */
    NET_REASON_PEER_CLOSED, /* EOF or TLS close_notify from the peer */
    NET_REASON_IO_ERROR,    /* socket error (reset, ...) */
    NET_REASON_TLS_ERROR,   /* TLS failure after the handshake */
    NET_REASON_INPUT_LIMIT, /* input buffer full and the protocol did not consume from it */
    NET_REASON_NOMEM,       /* allocation failure */
    NET_REASON_SHUTDOWN,    /* net_server_stop */
};

/* net_close_reason_str: static text for a reason ("peer closed", ...). Never NULL. */
const char *net_close_reason_str(int reason);

/* The hooks of a protocol. Every hook runs on the connection's worker thread; none is ever
 * called again for a connection once it has been asked to close (except on_close).
 *
 *  on_open    after the TLS handshake completed (or at accept for plain TCP). May be NULL.
 *             A negative return closes the connection (NET_CLOSE_FLUSH, NET_REASON_PROTOCOL).
 *  on_data    new plaintext was appended to net_conn_input(c); consume what you can with
 *             buf_consume. Unconsumed bytes stay for the next call. When the input buffer
 *             is full (listener max_input) and on_data consumed nothing, the connection is
 *             closed with NET_REASON_INPUT_LIMIT. A negative return closes the connection
 *             (NET_CLOSE_FLUSH, NET_REASON_PROTOCOL). Required.
 *  on_drain   the output fell to the low-water mark after having reached the high-water
 *             mark (net_conn_over_highwater went from true to false). May be NULL.
 *  on_timeout the timer armed with net_conn_set_timer expired (it is then disarmed).
 *             May be NULL if the protocol never arms it.
 *  on_close   called exactly once for every connection on which on_open was called (even
 *             when on_open failed), after it was asked to close and after the callback that
 *             asked returned; never for connections that failed before on_open (handshake
 *             errors, admission). After on_close returns the protocol must not use the
 *             connection except through references it holds (net_conn_ref); the net module
 *             frees it once flushing is over and the last reference is gone. May be NULL.
 */
struct net_proto {
    const char *name;
    int (*on_open)(struct net_conn *c);
    int (*on_data)(struct net_conn *c);
    void (*on_drain)(struct net_conn *c);
    void (*on_timeout)(struct net_conn *c);
    void (*on_close)(struct net_conn *c, int reason);
};

/* ---------------------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------------------- */

/* Admission limits of a listener, applied at accept before any TLS work. */
struct net_admission_config {
    /* New connections per second for the whole listener; each of N workers enforces
     * connect_rate / N with a burst of connect_burst / N (at least 1). When no token is
     * available the worker stops accepting until one is due: connections wait in the kernel
     * backlog. <= 0: unlimited. */
    double connect_rate;
    double connect_burst;
    /* With a connect rate, the listen backlog is capped at max_queue_s seconds of it (at
     * least 64), so that a waiting client waits at most about that long before its
     * connection is accepted or its SYN is retried; longer waits only fill the queue with
     * clients that have given up. <= 0: 2 seconds. */
    double max_queue_s;
    /* New connections per second from one source address (IPv4 address, or full IPv6
     * address; IPv4-mapped IPv6 counts as IPv4), per worker. A connection over the limit is
     * accepted and immediately reset (counted in refused_by_address). <= 0: unlimited. */
    double per_addr_rate;
    double per_addr_burst;
    /* Source addresses remembered per worker; the least recently seen is evicted. */
    unsigned per_addr_table_size;
    /* TLS handshakes in progress per worker on this listener; when reached the worker stops
     * accepting until one finishes. 0: unlimited. Ignored for plain TCP listeners. */
    unsigned max_handshakes;
};

struct net_listen_config {
    /* IPv4 or IPv6 literal ("127.0.0.1", "::1", "[::1]"), "*" (every IPv4 address) or
     * "::" (every IPv6 address, IPv4-mapped included). Copied. */
    const char *address;
    uint16_t port; /* 0: the kernel picks one (see net_server_port) */
    /* TLS context for new connections, or NULL for plain TCP. The server takes its own
     * reference (SSL_CTX_up_ref); the caller keeps its own. net sets, per connection,
     * SSL_MODE_RELEASE_BUFFERS | ENABLE_PARTIAL_WRITE | ACCEPT_MOVING_WRITE_BUFFER. */
    SSL_CTX *ssl_ctx;
    const struct net_proto *proto; /* borrowed; must outlive the server */
    void *proto_arg;               /* borrowed; see net_conn_proto_arg */
    int backlog;                   /* listen(2) backlog; default 4096 */
    size_t max_input;              /* input buffer cap in bytes; default 1 MiB */
    size_t out_highwater;          /* back-pressure mark; default 256 KiB */
    size_t out_lowwater;           /* on_drain fires at or below; default highwater / 4 */
    size_t out_max;                /* hard cap: net_conn_write fails beyond; default 4 MiB */
    unsigned handshake_timeout_ms; /* default 10000 */
    unsigned linger_ms;            /* bound of a NET_CLOSE_FLUSH close; default 2000 */
    unsigned accepts_per_event;    /* accept4 calls per readiness event; default 64 */
    struct net_admission_config admission;
};

struct net_config {
    unsigned workers;        /* worker threads; default: online CPUs */
    unsigned pool_threads;   /* blocking pool threads; default 4 (at least 1) */
    unsigned pool_queue_max; /* queued (not yet running) pool jobs; default 1024 */
    unsigned drain_ms;       /* net_server_stop: time for closing connections to flush;
                                default 2000 */
};

/* net_config_defaults / net_listen_config_defaults: fill with the defaults above (the
 * listener: address "*", port 0, plain TCP, no proto, no admission limits except
 * per_addr_table_size 4096 and max_handshakes 128). Any thread. */
void net_config_defaults(struct net_config *cfg);
void net_listen_config_defaults(struct net_listen_config *cfg);

/* ---------------------------------------------------------------------------------------
 * Server lifecycle (control thread)
 * ------------------------------------------------------------------------------------- */

/* net_server_new: create workers (event bases, not yet running) and the pool. Blocks
 * SIGPIPE in the threads it will start (OpenSSL writes with write(2)). The caller owns the
 * result (net_server_free). 0, -EINVAL (bad config), -ENOMEM or -errno. */
int net_server_new(const struct net_config *cfg, struct net_server **out);

/* net_server_listen: open one listening socket per worker (SO_REUSEPORT) for cfg. Control
 * thread, only before net_server_start. With port 0 the first worker's bind picks the port and the
 * other workers bind to it. Returns the listener index (>= 0) or -EINVAL, -EBUSY (already started),
 * -ENOMEM, -errno from socket/bind/listen. */
int net_server_listen(struct net_server *srv, const struct net_listen_config *cfg);

/* net_server_port: the bound port of listener `index`, or 0 for a bad index. Any thread. */
uint16_t net_server_port(const struct net_server *srv, int index);

/* net_server_start: start the worker and pool threads. 0, -EBUSY or -errno. */
int net_server_start(struct net_server *srv);

/* net_server_stop: graceful stop. Each worker stops accepting and closes its listening
 * sockets, closes every connection (NET_CLOSE_FLUSH, NET_REASON_SHUTDOWN; on_close is
 * called for each opened one), and gives them up to drain_ms to flush before tearing the
 * rest down. Then the pool stops taking jobs and runs the queued ones to completion (their
 * done callbacks still run on their workers), and the workers' loops end (messages already
 * posted are run). Joins every thread. Must not be called from a worker or pool thread.
 * Idempotent; a no-op for a server never started. */
void net_server_stop(struct net_server *srv);

/* net_server_free: stop (if running) and free everything, including listener SSL_CTX
 * references. NULL is a no-op. Control thread. */
void net_server_free(struct net_server *srv);

/* net_listener_set_tls: TLS hot reload. New connections of listener `index` use `ctx` (the
 * server takes a reference); existing connections keep theirs (each SSL holds one). Safe
 * against concurrent accepts on every worker. 0, or -EINVAL (bad index, NULL ctx or a plain
 * listener). Any thread, once the listener exists (not concurrently with
 * net_server_listen). */
int net_listener_set_tls(struct net_server *srv, int index, SSL_CTX *ctx);

/* ---------------------------------------------------------------------------------------
 * Workers and messages
 * ------------------------------------------------------------------------------------- */

/* net_server_workers / net_server_worker: count and the i-th worker (NULL if out of range).
 * Any thread. */
unsigned net_server_workers(const struct net_server *srv);
struct net_worker *net_server_worker(struct net_server *srv, unsigned i);

/* net_worker_index: 0..workers-1. net_worker_server: the owner. Any thread. */
unsigned net_worker_index(const struct net_worker *w);
struct net_server *net_worker_server(const struct net_worker *w);

/* net_current_worker: the worker whose loop runs on the calling thread, or NULL. */
struct net_worker *net_current_worker(void);

/* net_worker_post: run fn(arg) on w's loop thread. Any thread. Messages from one thread to
 * one worker run in the order posted; each accepted message runs exactly once, on w's
 * thread (messages still queued when the loop ends run then, on that thread). The queue is
 * unbounded: bounding what is posted is the caller's concern (its depth is in the stats).
 * 0, -ENOMEM, or -ESHUTDOWN once w's loop has ended (fn will not run; arg stays the
 * caller's). */
int net_worker_post(struct net_worker *w, void (*fn)(void *arg), void *arg);

/* net_server_broadcast: net_worker_post(worker i, fn, args[i]) for every worker; args may be
 * NULL (fn gets NULL). Stops at the first failure and returns its code; messages already
 * posted still run. Any thread. */
int net_server_broadcast(struct net_server *srv, void (*fn)(void *arg), void *const *args);

/* net_worker_foreach_conn: call fn on every open connection of w (handshake done, not
 * closing) until fn returns non-zero, which is returned. fn may close connections
 * (the teardown is deferred) but must not free them. w's thread only. */
int net_worker_foreach_conn(struct net_worker *w, int (*fn)(struct net_conn *c, void *arg),
                            void *arg);

/* net_worker_add_timer: run fn(arg) on w's thread every interval_ms (> 0) until the server
 * stops. Before net_server_start or from any thread while running. 0, -EINVAL, -ENOMEM. */
int net_worker_add_timer(struct net_worker *w, unsigned interval_ms, void (*fn)(void *arg),
                         void *arg);

/* ---------------------------------------------------------------------------------------
 * Blocking pool
 * ------------------------------------------------------------------------------------- */

/* net_pool_submit: run work(arg) on a pool thread, then done(arg) (if not NULL) on
 * done_on's loop thread, or on the pool thread when done_on is NULL. Jobs start in FIFO
 * order. Any thread. 0; CG_ELIMIT when pool_queue_max jobs are already waiting (answer
 * 503); -ESHUTDOWN once net_server_stop has begun stopping the pool; -ENOMEM. On failure
 * nothing runs and arg stays the caller's. A job holding a connection must hold a
 * reference (net_conn_ref) and check net_conn_is_closed in done. If the result cannot be
 * handed to done_on (its loop has ended, a misuse: net_server_stop stops the pool first; or
 * no memory) done runs on the pool thread and an error is logged. */
int net_pool_submit(struct net_server *srv, void (*work)(void *arg), void (*done)(void *arg),
                    struct net_worker *done_on, void *arg);

/* ---------------------------------------------------------------------------------------
 * Connections (owning worker's thread unless stated)
 * ------------------------------------------------------------------------------------- */

enum net_close_mode {
    NET_CLOSE_FLUSH, /* send what is queued, TLS close_notify, close (bounded by linger_ms) */
    NET_CLOSE_NOW,   /* drop queued output and close */
};

/* net_conn_close: ask for the connection to be closed; reason NET_REASON_LOCAL. Returns at
 * once: on_close and the teardown run from the loop after the current callback returns.
 * Later calls only upgrade FLUSH to NOW, until on_close has been called: from then on (in
 * on_close too) it is a no-op, so cleanup code cannot cut a flush short. */
void net_conn_close(struct net_conn *c, enum net_close_mode mode);

/* net_conn_write: queue len bytes of plaintext (copied). The output is flushed from the loop
 * before it next waits for I/O, so writes made in one callback go out together. 0;
 * CG_ELIMIT when the queue would exceed out_max (nothing is queued; the connection stays
 * open: the protocol decides); -EPIPE when the connection is closing or closed, or has not
 * finished its handshake; -ENOMEM. */
int net_conn_write(struct net_conn *c, const void *data, size_t len);

/* net_conn_output_pending: plaintext bytes queued and not yet accepted by the TLS layer or
 * the kernel. */
size_t net_conn_output_pending(const struct net_conn *c);

/* net_conn_over_highwater: true from the moment the output reached out_highwater until it
 * falls to out_lowwater (when on_drain is called). A producer that sees true should pause
 * and resume from on_drain. */
bool net_conn_over_highwater(const struct net_conn *c);

/* net_conn_pause_reading: stop (true) or resume (false) reading from the peer. While
 * paused, on_data is not called, even for data the TLS layer already decrypted; on resume,
 * on_data is called (from the loop) for input still buffered, then reading continues. */
void net_conn_pause_reading(struct net_conn *c, bool pause);

/* net_conn_input: the input buffer; consume from it in on_data. */
struct buf *net_conn_input(struct net_conn *c);

/* net_conn_set_timer: arm (or re-arm) the connection's one protocol timer to call
 * on_timeout after ms milliseconds; 0 disarms. Only once open: a no-op otherwise. */
void net_conn_set_timer(struct net_conn *c, unsigned ms);

/* net_conn_set_data / net_conn_get_data: the protocol's per-connection state (borrowed). */
void net_conn_set_data(struct net_conn *c, void *data);
void *net_conn_get_data(const struct net_conn *c);

/* net_conn_proto_arg: the listener's proto_arg. Any thread holding a reference. */
void *net_conn_proto_arg(const struct net_conn *c);

/* net_conn_listener: index of the listener that accepted c. Any thread holding a ref. */
int net_conn_listener(const struct net_conn *c);

/* net_conn_ssl: the connection's SSL (NULL for plain TCP, and after teardown). */
SSL *net_conn_ssl(const struct net_conn *c);

/* net_conn_worker: the owning worker. Any thread holding a reference. */
struct net_worker *net_conn_worker(const struct net_conn *c);

/* net_conn_id: a process-unique id (never 0). Any thread holding a reference. */
uint64_t net_conn_id(const struct net_conn *c);

#define NET_ADDR_STRLEN 56 /* "[" IPv6 "]:" port, NUL */

struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[NET_ADDR_STRLEN]; /* "192.0.2.1:5000" or "[2001:db8::1]:5000" */
};

/* net_conn_peer_addr: the peer's address as accepted. Any thread holding a reference. */
const struct net_addr *net_conn_peer_addr(const struct net_conn *c);

/* net_conn_from_ssl: the connection an SSL belongs to, for callbacks set on the SSL_CTX
 * (certificate verification, SNI, ...). NULL for an SSL not created by net. */
struct net_conn *net_conn_from_ssl(const SSL *ssl);

/* net_conn_set_identity: attach the identity verdict (e.g. from the TLS verify callback);
 * the connection owns ptr and calls free_fn(ptr) (if not NULL) when the identity is
 * replaced or when the connection memory is freed, which happens on the thread that drops
 * the last reference (normally the worker). net_conn_identity returns it (or NULL). */
void net_conn_set_identity(struct net_conn *c, void *ptr, void (*free_fn)(void *));
void *net_conn_identity(const struct net_conn *c);

/* net_conn_ref / net_conn_unref: keep the connection memory valid (not the socket) across
 * threads, e.g. for a pool job. Atomic: any thread that holds (or, for ref, is handed by
 * the owner) a reference. The last unref frees the memory and runs the identity free_fn
 * on the calling thread. */
void net_conn_ref(struct net_conn *c);
void net_conn_unref(struct net_conn *c);

/* net_conn_is_closed: whether the connection has been asked to close (or is gone). Any
 * thread holding a reference. */
bool net_conn_is_closed(const struct net_conn *c);

/* ---------------------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------------------- */

struct net_stats {
    uint64_t accepted;               /* connections admitted */
    uint64_t refused_by_address;     /* accepted and reset: per-address rate exceeded */
    uint64_t abandoned;              /* accepted after the client had already given up
                                        (closed before any TLS work): dropped at once */
    uint64_t accept_errors;          /* accept4 failures (EMFILE, ENFILE, ENOBUFS, ...) */
    uint64_t accept_pauses;          /* times admission stopped the listener */
    uint64_t handshakes_ok;          /* TLS handshakes completed */
    uint64_t handshakes_failed;      /* TLS handshakes failed (timeouts excluded) */
    uint64_t handshake_timeouts;     /* TLS handshakes timed out */
    uint64_t handshakes_in_progress; /* gauge */
    uint64_t conns_open;             /* gauge: accepted and not yet torn down */
    uint64_t closed_input_limit;     /* connections closed for NET_REASON_INPUT_LIMIT */
    uint64_t bytes_in;               /* plaintext bytes read */
    uint64_t bytes_out;              /* plaintext bytes written */
    uint64_t post_queue;             /* gauge: messages posted and not yet run */
    uint64_t posts_run;              /* messages run */
    /* server totals only (0 in a worker snapshot): */
    uint64_t pool_queue;    /* gauge: jobs waiting */
    uint64_t pool_running;  /* gauge: jobs running */
    uint64_t pool_done;     /* jobs whose work finished */
    uint64_t pool_rejected; /* submits refused with CG_ELIMIT */
};

/* net_worker_stats / net_server_stats: a snapshot (each counter read atomically; the set is
 * not one instant). The server snapshot sums the workers and adds the pool. Any thread. */
void net_worker_stats(const struct net_worker *w, struct net_stats *out);
void net_server_stats(const struct net_server *srv, struct net_stats *out);

#endif
