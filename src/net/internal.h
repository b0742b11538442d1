/* Private to src/net: the structures shared by server.c, conn.c and pool.c.
 * Nothing outside src/net may include this header.
 */
#ifndef CERTGATE_NET_INTERNAL_H
#define CERTGATE_NET_INTERNAL_H

#include "core/buf.h"
#include "core/ratelimit.h"
#include "net/addrlimit.h"
#include "net/net.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <pthread.h>
#include <stdatomic.h>

/* Counters written by one worker thread and read by any thread (snapshots): relaxed
 * atomics, updated with load+store by their single writer (no locked instructions). */
struct net_counters {
    atomic_uint_fast64_t accepted;
    atomic_uint_fast64_t refused_by_address;
    atomic_uint_fast64_t abandoned;
    atomic_uint_fast64_t accept_errors;
    atomic_uint_fast64_t accept_pauses;
    atomic_uint_fast64_t handshakes_ok;
    atomic_uint_fast64_t handshakes_failed;
    atomic_uint_fast64_t handshake_timeouts;
    atomic_uint_fast64_t handshakes_in_progress;
    atomic_uint_fast64_t conns_open;
    atomic_uint_fast64_t closed_input_limit;
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t bytes_out;
    atomic_uint_fast64_t posts_run;
};

static inline void ctr_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void ctr_sub(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n,
                          memory_order_relaxed);
}

/* A listener as configured; shared by every worker. Immutable after net_server_listen,
 * except ctx (under ctx_lock). */
struct net_listener {
    struct net_server *srv;
    int index;
    struct net_listen_config cfg; /* cfg.address points to `address`; cfg.ssl_ctx unused */
    char *address;
    bool tls;
    _Atomic uint16_t port;
    pthread_mutex_t ctx_lock;
    SSL_CTX *ctx;              /* one reference held */
    struct net_wlistener *wls; /* [nworkers]: wls[i] belongs to worker i */
};

/* Why a worker's listening socket is not watched (bits). */
enum {
    WL_PAUSE_HANDSHAKES = 1, /* max_handshakes in progress */
    WL_PAUSE_RATE = 2,       /* no connect token; resume_ev set for when one is due */
    WL_PAUSE_ERROR = 4,      /* accept4 failed with EMFILE & co; resume_ev backs off */
    WL_PAUSE_STOPPED = 8,    /* server stopping */
};

/* A listener's socket on one worker. Owned by that worker. */
struct net_wlistener {
    struct net_listener *l;
    struct net_worker *w;
    int fd;
    unsigned paused;     /* WL_PAUSE_* */
    bool ev_added;       /* ev is pending */
    bool resume_armed;   /* resume_ev is pending */
    unsigned handshakes; /* in progress on this worker for this listener */
    struct ratelimit rate;
    struct net_addrlimit *addrs; /* NULL without a per-address limit */
    struct event ev;
    struct event resume_ev;
};

struct net_msg {
    struct net_msg *next;
    void (*fn)(void *arg);
    void *arg;
};

struct net_timer {
    struct net_timer *next;
    struct net_worker *w;
    void (*fn)(void *arg);
    void *arg;
    struct timeval interval;
    struct event ev;
};

struct net_worker {
    struct net_server *srv;
    unsigned index;
    struct event_base *base;
    pthread_t thread;
    bool thread_started;

    /* Posted messages: any thread appends under post_lock. */
    pthread_mutex_t post_lock;
    struct net_msg *post_head, *post_tail;
    bool post_scheduled; /* post_ev activated and not yet run */
    bool post_closed;    /* loop ended: refuse new messages */
    atomic_uint_fast64_t post_depth;
    struct event post_ev;

    /* Deferred per-connection work (close, flush, read resume), run from `todo_ev` after
     * the callbacks already active. */
    struct net_conn *todo_head, *todo_tail;
    bool todo_scheduled;
    struct event todo_ev;
    /* Work for the next loop iteration, after the sockets have been polled again (a read
     * budget spent while plaintext waits inside OpenSSL): `later_ev` is a 0 s timer. */
    struct net_conn *later_head, *later_tail;
    bool later_scheduled;
    struct event later_ev;

    /* Every connection of this worker not yet torn down. */
    struct net_conn *conns;
    size_t nconns;

    struct net_timer *timers; /* under post_lock */

    uint8_t *scratch; /* read buffer for the loop thread */
    size_t scratch_len;

    /* Graceful stop. */
    bool stopping;
    bool drained; /* reported to the server */
    struct event drain_ev;
    struct event exit_ev;

    struct ratelimit hs_log_rl; /* info-level handshake failure lines */
    uint64_t hs_log_suppressed;
    struct ratelimit accept_log_rl;

    struct net_counters st;
};

struct net_pool;

struct net_server {
    struct net_config cfg;
    struct net_worker *workers;
    unsigned nworkers;
    struct net_listener **listeners;
    size_t nlisteners;
    struct net_pool *pool;
    bool started, stopped;

    pthread_mutex_t lock; /* drained_count */
    pthread_cond_t cond;
    unsigned drained_count;
};

/* Connection states. */
enum conn_state {
    CONN_HANDSHAKE = 1, /* TLS handshake in progress */
    CONN_OPEN,          /* on_open called (or about to be) */
    CONN_CLOSING,       /* flushing output and close_notify, bounded by linger */
    CONN_CLOSED,        /* torn down: no fd, no SSL, off every list */
};

/* Deferred work bits (struct net_conn.todo). */
enum {
    TODO_CLOSE = 1,
    TODO_FLUSH = 2,
    TODO_READ = 4,
};

struct net_conn {
    uint64_t id;
    struct net_worker *w;
    struct net_wlistener *wl;
    int fd;
    SSL *ssl;
    enum conn_state state;
    atomic_int refs;
    atomic_bool closed; /* close requested or done: readable by ref holders */

    /* Flags (worker thread). */
    unsigned close_requested : 1;
    unsigned close_now : 1;
    unsigned opened : 1; /* on_open called: on_close owed */
    unsigned on_close_called : 1;
    unsigned paused : 1;
    unsigned above_hw : 1;
    unsigned read_wants_write : 1; /* SSL_read returned WANT_WRITE */
    unsigned write_wants_read : 1; /* SSL_write returned WANT_READ */
    unsigned write_blocked : 1;    /* last flush stopped on EAGAIN / WANT_WRITE */
    unsigned tls_dead : 1;         /* fatal TLS error: no close_notify */
    unsigned shutdown_sent : 1;    /* close_notify (or SHUT_WR) done */
    unsigned hs_counted : 1;       /* counted in handshakes in progress */
    unsigned in_todo : 1;
    unsigned in_later : 1;
    unsigned in_callback : 1;
    int close_reason;
    short want;          /* EV_READ / EV_WRITE wanted by the handshake or the closing steps */
    short io_mask;       /* which of rev / wev are pending (IO_READ, IO_WRITE in conn.c) */
    unsigned todo;       /* TODO_* bits for the todo list */
    unsigned todo_later; /* TODO_* bits for the later list */

    struct buf in, out;
    void *data;
    void *identity;
    void (*identity_free)(void *);

    struct net_conn *prev, *next; /* worker->conns */
    struct net_conn *todo_next;
    struct net_conn *later_next;

    struct event rev, wev; /* persistent read / write readiness */
    struct event timer;    /* handshake timeout, protocol timer or linger, by state */

    struct net_addr peer;
};

/* conn.c */
void conn_accepted(struct net_wlistener *wl, int fd, const struct sockaddr_storage *ss,
                   socklen_t sslen);
void conn_todo_run(evutil_socket_t fd, short what, void *arg);
void conn_later_run(evutil_socket_t fd, short what, void *arg);
void conn_close_internal(struct net_conn *c, int reason, bool now);
void conn_force_teardown(struct net_conn *c);
int conn_ssl_index(void);

/* server.c */
void worker_handshake_done(struct net_wlistener *wl);
void worker_conn_gone(struct net_worker *w);

/* pool.c */
int pool_new(unsigned threads, unsigned queue_max, struct net_pool **out);
int pool_start(struct net_pool *p);
void pool_stop(struct net_pool *p);
void pool_free(struct net_pool *p);
void pool_stats(const struct net_pool *p, struct net_stats *out);

#endif
