/* certgate bench: the load generator's event loops and its mutual-TLS client connections.
 *
 * A struct bench_client holds what every connection shares: the client SSL_CTX (server
 * verification against --cafile, the device chain to send, session resumption), the
 * target address and the loopback source addresses. It runs `threads` struct bench_loop,
 * each a thread with its own epoll instance; a connection belongs to the loop that opened
 * it for its whole life and is only touched from that loop's thread (the mode's callbacks
 * run there). The main thread starts and stops the loops and reads their counters after
 * they stopped.
 *
 * A connection: non-blocking TCP connect from 127.0.0.x (bind before connect with
 * IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port per 4-tuple: no port exhaustion),
 * TLS handshake with the device's certificate and key (and the device's last session with
 * resume), then plaintext in c->rx and out through c->tx. Level-triggered epoll; the TLS
 * buffers are released while a connection is idle (SSL_MODE_RELEASE_BUFFERS), so a held
 * connection costs the generator little memory.
 *
 * Lifetime: bench_conn_open returns a connection owned by its loop. It ends exactly once,
 * through ops->on_close (an error, a timeout, the peer closing, or bench_conn_close); the
 * memory is freed after the current event has been handled, so a callback may close its
 * own connection and keep using the pointer until it returns (never after on_close).
 */
#ifndef CERTGATE_CLI_BENCH_CLIENT_H
#define CERTGATE_CLI_BENCH_CLIENT_H

#include "cli/bench.h"
#include "core/buf.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct bench_loop;
struct bench_conn;

/* How a connection ended. */
enum bench_end {
    BENCH_END_CLOSED = 0, /* bench_conn_close: the mode ended it */
    BENCH_END_TCP,        /* TCP connect failed (refused, reset, no address) */
    BENCH_END_TLS,        /* the TLS handshake failed (alert, verification, reset) */
    BENCH_END_TIMEOUT,    /* the connection's deadline passed */
    BENCH_END_EOF,        /* the peer closed (close_notify or EOF) after the handshake */
    BENCH_END_IO,         /* a read or write error after the handshake */
    BENCH_END_PROTOCOL,   /* the mode found the peer's bytes invalid (bench_conn_fail) */
    BENCH_END_COUNT
};

/* bench_end_name: "closed", "tcp", "tls", "timeout", "eof", "io", "protocol". */
const char *bench_end_name(enum bench_end e);

struct bench_conn_ops {
    /* The TLS handshake completed; c->resumed says how. Required. */
    void (*on_open)(struct bench_conn *c);
    /* New plaintext bytes were appended to c->rx: consume what is complete. Required. */
    void (*on_input)(struct bench_conn *c);
    /* c->tx fell to at most c->tx_low bytes after a write (optional: refill it). */
    void (*on_drain)(struct bench_conn *c);
    /* The connection ended (exactly once). Required. */
    void (*on_close)(struct bench_conn *c, enum bench_end why);
};

struct bench_conn {
    struct bench_loop *loop;
    const struct bench_conn_ops *ops;
    void *user;               /* the mode's */
    struct bench_device *dev; /* borrowed */
    uint64_t t_open_ns;       /* when bench_conn_open was called */
    uint64_t t_tls_ns;        /* when the handshake completed (0 before) */
    uint64_t deadline_ns;     /* 0: none; past it the connection ends with TIMEOUT */
    bool resumed;             /* the handshake resumed a session */
    size_t tx_low;            /* on_drain threshold (default 0) */
    int phase;                /* free for the mode (0 at open) */
    uint64_t u64;             /* free for the mode */
    uint32_t flags;           /* free for the mode */
    struct buf rx;            /* plaintext received, not yet consumed */
    struct buf tx;            /* plaintext to send */
    /* private to bench_client.c */
    int fd;
    SSL *ssl;
    int state;
    uint32_t events;
    bool ended;
    bool want_write_for_read;
    struct bench_conn *prev, *next;
};

/* Counters kept by each loop (read by the main thread after the loop stopped). */
struct bench_loop_stats {
    uint64_t opened;
    uint64_t handshakes; /* completed TLS handshakes */
    uint64_t resumed;    /* of which resumed */
    uint64_t ended[BENCH_END_COUNT];
    char first_error[200]; /* the first TCP/TLS/IO error, for the report */
};

struct bench_loop {
    struct bench_client *cl;
    int index; /* 0 .. threads-1 */
    int epfd;
    pthread_t thread;
    bool started;
    atomic_int stop;
    /* The mode's periodic callback, every tick_ns (default 1 ms), on the loop thread. */
    void (*tick)(struct bench_loop *l, uint64_t now_ns);
    void *arg; /* the mode's per-loop state */
    uint64_t tick_ns;
    struct bench_conn *conns; /* every open connection */
    size_t nconns;
    struct bench_conn *dead; /* ended, freed after the current event */
    uint32_t src_next;
    struct bench_loop_stats st;
};

struct bench_client_config {
    const struct bench_opts *opts;
    struct bench_devices *devices; /* borrowed; its chain is sent after each certificate */
    int port;                      /* which port of opts->host */
    bool resume;                   /* keep each device's session and offer it */
    const char *alpn;              /* NULL: none */
    const uint8_t *bye;            /* sent on every open connection by bench_client_stop */
    size_t bye_len;                /* (e.g. an MQTT DISCONNECT); then close_notify */
};

struct bench_client {
    struct bench_client_config cfg;
    SSL_CTX *ctx;
    struct sockaddr_storage dst;
    socklen_t dstlen;
    int family;
    int nloops;
    struct bench_loop *loops;
};

/* bench_client_new: the shared TLS context and the loops (not started). 0, or -1 with a
 * message on stderr. Main thread. */
int bench_client_new(const struct bench_client_config *cfg, struct bench_client **out);

/* bench_client_start: start every loop thread; each calls tick (with its own arg from
 * loop_args[i], may be NULL) every tick_ns. 0 or -1. Main thread. */
int bench_client_start(struct bench_client *cl, void (*tick)(struct bench_loop *, uint64_t),
                       void **loop_args, uint64_t tick_ns);

/* bench_client_stop: ask every loop to stop, join them, then end every connection still
 * open: cfg.bye and a close_notify are written when the socket takes them at once, then
 * on_close(BENCH_END_CLOSED) runs on this thread (the loops have stopped). Main thread. */
void bench_client_stop(struct bench_client *cl);

/* bench_client_drain: wait (polling every 20 ms) until no connection of any loop is open,
 * until monotonic time `until_ns` (capped at `hard_end_ns`), or an interrupt. Main thread,
 * before bench_client_stop. */
void bench_client_drain(struct bench_client *cl, uint64_t until_ns, uint64_t hard_end_ns);

/* bench_client_free: free the loops and the context (after bench_client_stop). NULL is a
 * no-op. */
void bench_client_free(struct bench_client *cl);

/* bench_client_stats: the sum of every loop's counters (after stop). */
void bench_client_stats(const struct bench_client *cl, struct bench_loop_stats *out);

/* bench_client_stats_json: the counters as JSON (new reference). */
json_t *bench_client_stats_json(const struct bench_loop_stats *st);

/* bench_conn_open: start a connection of `dev` (marked in_use until the connection ends)
 * on loop l with ops and user. On the loop's thread. Returns the connection, or NULL when
 * even the socket could not be made (counted as a TCP failure; on_close is not called). */
struct bench_conn *bench_conn_open(struct bench_loop *l, struct bench_device *dev,
                                   const struct bench_conn_ops *ops, void *user,
                                   uint64_t deadline_ns);

/* bench_conn_flush: send what c->tx holds (as much as the socket takes; the rest when it
 * becomes writable). Call after appending to c->tx. Loop thread. */
void bench_conn_flush(struct bench_conn *c);

/* bench_conn_close: end c (on_close(BENCH_END_CLOSED) runs now); pending c->tx bytes are
 * written first when the socket takes them at once. Loop thread; no-op when ended. */
void bench_conn_close(struct bench_conn *c);

/* bench_conn_fail: end c with BENCH_END_PROTOCOL (the mode found the peer's bytes
 * invalid). */
void bench_conn_fail(struct bench_conn *c);

/* bench_conn_shutdown: send a TLS close_notify (nothing else may be sent afterwards); the
 * connection then normally ends with BENCH_END_EOF when the server closes too. */
void bench_conn_shutdown(struct bench_conn *c);

/* bench_conn_idle: release the connection's buffers while it has nothing pending (held
 * connections). */
void bench_conn_idle(struct bench_conn *c);

/* ---- MQTT over a bench connection (mqtt/codec.h) --------------------------------- */

struct mqtt_packet;

/* bench_mqtt_send_connect: append a CONNECT (MQTT 3.1.1, ClientId = the device's name,
 * no user name) to c->tx and flush. 0 or a negative code. */
int bench_mqtt_send_connect(struct bench_conn *c, uint16_t keep_alive, bool clean_session);

/* bench_mqtt_next: the first complete packet in c->rx, decoded into *pkt (pointing into
 * c->rx) with its size in *len: 1; 0 when more bytes are needed; a negative code (see
 * mqtt/error.h) when the server's bytes are invalid. After handling it the caller
 * consumes *len bytes (buf_consume(&c->rx, len)) before calling again. */
int bench_mqtt_next(struct bench_conn *c, struct mqtt_packet *pkt, size_t *len);

#endif
