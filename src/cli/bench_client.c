/* certgate bench: event loops and mutual-TLS client connections (see bench_client.h). */
#include "cli/bench_client.h"

#include "core/timeutil.h"
#include "mqtt/codec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

/* Connection states. */
enum {
    ST_TCP = 1, /* non-blocking connect in progress */
    ST_TLS,     /* handshake in progress */
    ST_OPEN,    /* application data */
};

/* Largest plaintext input kept for one connection: a broker may send packets up to its
 * own limit; 4 MiB covers every payload the modes use with room for a backlog. */
#define RX_MAX (4u << 20)
#define TX_MAX (8u << 20)
/* Bytes handed to one SSL_write: four full records. */
#define WRITE_CHUNK (4 * 16384)

static int conn_ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_index_init(void)
{
    conn_ex_index = SSL_get_ex_new_index(0, "bench_conn", NULL, NULL, NULL);
}

const char *bench_end_name(enum bench_end e)
{
    static const char *names[BENCH_END_COUNT] = {"closed", "tcp", "tls",     "timeout",
                                                 "eof",    "io",  "protocol"};
    return (unsigned)e < BENCH_END_COUNT ? names[e] : "?";
}

/* A new session ticket (TLS 1.3) or session (TLS 1.2) for the connection's device: keep
 * the latest one. Runs on the connection's loop thread, which owns the device. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct bench_conn *c = SSL_get_ex_data(ssl, conn_ex_index);
    if (c == NULL || c->dev == NULL) {
        return 0;
    }
    SSL_SESSION_free(c->dev->session);
    c->dev->session = sess;
    return 1; /* we took the reference */
}

/* Server certificate verification, remembered per thread: the generator talks to one
 * server, so once its chain was verified completely, a handshake presenting the same
 * certificate (compared by DER) is accepted without verifying the chain again. This keeps
 * the generator's CPU per full handshake down (OpenSSL 3.0's chain verification costs
 * ~0.1 ms); the server's side of the handshake is unchanged. */
static _Thread_local unsigned char *verified_der;
static _Thread_local int verified_len;

static int verify_server(X509_STORE_CTX *xs, void *arg)
{
    (void)arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    unsigned char *der = NULL;
    int len = leaf != NULL ? i2d_X509(leaf, &der) : -1;
    if (len > 0 && verified_der != NULL && len == verified_len &&
        memcmp(der, verified_der, (size_t)len) == 0 &&
        X509_cmp_current_time(X509_get0_notAfter(leaf)) > 0) {
        OPENSSL_free(der);
        return 1;
    }
    int ok = X509_verify_cert(xs);
    if (ok == 1 && len > 0) {
        OPENSSL_free(verified_der);
        verified_der = der;
        verified_len = len;
        der = NULL;
    }
    OPENSSL_free(der);
    return ok;
}

static void note_error(struct bench_loop *l, const char *what, const char *detail)
{
    if (l->st.first_error[0] == 0) {
        snprintf(l->st.first_error, sizeof(l->st.first_error), "%s: %s", what, detail);
    }
}

static void note_ssl_error(struct bench_loop *l, const char *what, int err)
{
    unsigned long e = ERR_peek_error();
    char text[160];
    if (e != 0) {
        ERR_error_string_n(e, text, sizeof(text));
    } else if (err == SSL_ERROR_SYSCALL) {
        snprintf(text, sizeof(text), "%s", errno ? strerror(errno) : "unexpected EOF");
    } else {
        snprintf(text, sizeof(text), "SSL error %d", err);
    }
    note_error(l, what, text);
    ERR_clear_error();
}

int bench_client_new(const struct bench_client_config *cfg, struct bench_client **out)
{
    const struct bench_opts *o = cfg->opts;
    struct bench_client *cl = calloc(1, sizeof(*cl));
    int rc = -1;
    if (cl == NULL) {
        fprintf(stderr, "certgate bench %s: out of memory\n", o->mode);
        return -1;
    }
    pthread_once(&ex_once, ex_index_init);
    cl->cfg = *cfg;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&cl->dst;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&cl->dst;
    if (inet_pton(AF_INET, o->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
        cl->dstlen = sizeof(*a4);
        cl->family = AF_INET;
    } else if (inet_pton(AF_INET6, o->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        cl->dstlen = sizeof(*a6);
        cl->family = AF_INET6;
    } else {
        fprintf(stderr, "certgate bench %s: --host '%s' is not an IP address\n", o->mode, o->host);
        goto out;
    }

    cl->ctx = SSL_CTX_new(TLS_client_method());
    if (cl->ctx == NULL) {
        goto ssl_fail;
    }
    SSL_CTX_set_min_proto_version(cl->ctx, o->tls_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(cl->ctx, o->tls_version == 12 ? TLS1_2_VERSION : 0);
    SSL_CTX_set_mode(cl->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_NO_AUTO_CHAIN);
    if (!o->insecure) {
        if (SSL_CTX_load_verify_locations(cl->ctx, o->cafile, NULL) != 1) {
            fprintf(stderr, "certgate bench %s: cannot load --cafile %s\n", o->mode, o->cafile);
            goto ssl_fail_quiet;
        }
        SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_cert_verify_callback(cl->ctx, verify_server, NULL);
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(cl->ctx);
        if (X509_VERIFY_PARAM_set1_ip_asc(param, o->host) != 1) {
            goto ssl_fail;
        }
    } else {
        SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_NONE, NULL);
    }
    /* The devices' chain: the same intermediates for every device, sent after its own
     * certificate (the context's extra chain, used when a certificate has no chain). */
    if (cfg->devices != NULL && cfg->devices->chain != NULL) {
        for (int i = 0; i < sk_X509_num(cfg->devices->chain); i++) {
            X509 *x = sk_X509_value(cfg->devices->chain, i);
            if (!X509_up_ref(x)) {
                goto ssl_fail;
            }
            if (SSL_CTX_add_extra_chain_cert(cl->ctx, x) != 1) {
                X509_free(x);
                goto ssl_fail;
            }
        }
    }
    if (cfg->resume) {
        SSL_CTX_set_session_cache_mode(cl->ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(cl->ctx, on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(cl->ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(cl->ctx, SSL_OP_NO_TICKET);
    }
    if (cfg->alpn != NULL) {
        unsigned char proto[64];
        size_t n = strlen(cfg->alpn);
        if (n == 0 || n >= sizeof(proto)) {
            goto ssl_fail;
        }
        proto[0] = (unsigned char)n;
        memcpy(proto + 1, cfg->alpn, n);
        if (SSL_CTX_set_alpn_protos(cl->ctx, proto, (unsigned)n + 1) != 0) {
            goto ssl_fail;
        }
    }

    cl->nloops = o->threads;
    cl->loops = calloc((size_t)cl->nloops, sizeof(*cl->loops));
    if (cl->loops == NULL) {
        goto ssl_fail;
    }
    for (int i = 0; i < cl->nloops; i++) {
        struct bench_loop *l = &cl->loops[i];
        l->cl = cl;
        l->index = i;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) {
            fprintf(stderr, "certgate bench %s: epoll_create1: %s\n", o->mode, strerror(errno));
            goto out;
        }
    }
    *out = cl;
    cl = NULL;
    rc = 0;
    goto out;
ssl_fail:
    fprintf(stderr, "certgate bench %s: cannot set up the TLS client context\n", o->mode);
ssl_fail_quiet:
    ERR_print_errors_fp(stderr);
out:
    bench_client_free(cl);
    return rc;
}

void bench_client_free(struct bench_client *cl)
{
    if (cl == NULL) {
        return;
    }
    for (int i = 0; cl->loops != NULL && i < cl->nloops; i++) {
        if (cl->loops[i].epfd > 0) {
            close(cl->loops[i].epfd);
        }
    }
    free(cl->loops);
    SSL_CTX_free(cl->ctx);
    free(cl);
}

/* ---- connections ------------------------------------------------------------------ */

static void set_events(struct bench_conn *c, uint32_t ev)
{
    if (c->events == ev || c->fd < 0) {
        return;
    }
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0) {
        c->events = ev;
    }
}

static void conn_end(struct bench_conn *c, enum bench_end why)
{
    if (c->ended) {
        return;
    }
    struct bench_loop *l = c->loop;
    c->ended = true;
    l->st.ended[why]++;
    if (c->ssl != NULL && c->state == ST_OPEN &&
        (why == BENCH_END_CLOSED || why == BENCH_END_EOF)) {
        /* A connection that ends without close_notify makes OpenSSL mark its session as
         * not resumable when it is freed; ours ended on purpose (or the server closed it
         * after DISCONNECT), so the device's session stays usable. */
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    if (c->fd >= 0) {
        close(c->fd); /* also removes it from the epoll set */
        c->fd = -1;
    }
    if (c->dev != NULL) {
        c->dev->in_use = false;
    }
    /* Unlink from the open list, onto the dead list. */
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        l->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    l->nconns--;
    c->prev = NULL;
    c->next = l->dead;
    l->dead = c;
    c->ops->on_close(c, why);
}

static void conn_free(struct bench_conn *c)
{
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
    }
    buf_cleanup(&c->rx);
    buf_cleanup(&c->tx);
    free(c);
}

static void free_dead(struct bench_loop *l)
{
    while (l->dead != NULL) {
        struct bench_conn *c = l->dead;
        l->dead = c->next;
        conn_free(c);
    }
}

struct bench_conn *bench_conn_open(struct bench_loop *l, struct bench_device *dev,
                                   const struct bench_conn_ops *ops, void *user,
                                   uint64_t deadline_ns)
{
    struct bench_client *cl = l->cl;
    struct bench_conn *c = calloc(1, sizeof(*c));
    int fd = -1;
    if (c == NULL) {
        goto fail;
    }
    fd = socket(cl->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        note_error(l, "socket", strerror(errno));
        goto fail;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int sources = cl->cfg.opts->sources;
    if (cl->family == AF_INET && sources > 0) {
        /* 127.0.0.2 .. 127.0.0.(1+sources), the port chosen at connect time per 4-tuple. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        uint32_t k =
            (l->src_next++ * (uint32_t)cl->nloops + (uint32_t)l->index) % (uint32_t)sources;
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002u + k);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            note_error(l, "bind", strerror(errno));
            goto fail;
        }
    }
    c->ssl = SSL_new(cl->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1 ||
        SSL_set_ex_data(c->ssl, conn_ex_index, c) != 1) {
        note_ssl_error(l, "SSL_new", SSL_ERROR_SSL);
        goto fail;
    }
    if (dev != NULL) {
        if (SSL_use_certificate(c->ssl, dev->cert) != 1 ||
            SSL_use_PrivateKey(c->ssl, dev->key) != 1) {
            note_ssl_error(l, "device key", SSL_ERROR_SSL);
            goto fail;
        }
        if (cl->cfg.resume && dev->session != NULL) {
            SSL_set_session(c->ssl, dev->session);
        }
    }
    c->loop = l;
    c->ops = ops;
    c->user = user;
    c->dev = dev;
    c->fd = fd;
    c->state = ST_TCP;
    c->deadline_ns = deadline_ns;
    c->t_open_ns = time_mono_ns();
    buf_init(&c->rx, RX_MAX);
    buf_init(&c->tx, TX_MAX);
    if (connect(fd, (struct sockaddr *)&cl->dst, cl->dstlen) < 0 && errno != EINPROGRESS) {
        note_error(l, "connect", strerror(errno));
        goto fail;
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
        note_error(l, "epoll_ctl", strerror(errno));
        goto fail;
    }
    c->events = EPOLLOUT;
    if (dev != NULL) {
        dev->in_use = true;
        dev->used = true;
    }
    c->next = l->conns;
    if (l->conns != NULL) {
        l->conns->prev = c;
    }
    l->conns = c;
    l->nconns++;
    l->st.opened++;
    return c;
fail:
    l->st.ended[BENCH_END_TCP]++;
    if (c != NULL) {
        if (c->ssl != NULL) {
            SSL_free(c->ssl); /* does not close fd */
        }
        buf_cleanup(&c->rx);
        buf_cleanup(&c->tx);
        free(c);
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

static void update_events(struct bench_conn *c)
{
    uint32_t ev = EPOLLIN;
    if (c->tx.len > 0 || c->want_write_for_read) {
        ev |= EPOLLOUT;
    }
    set_events(c, ev);
}

void bench_conn_flush(struct bench_conn *c)
{
    if (c->ended || c->state != ST_OPEN) {
        return;
    }
    bool wrote = false;
    while (c->tx.len > 0) {
        size_t n = c->tx.len < WRITE_CHUNK ? c->tx.len : WRITE_CHUNK;
        ERR_clear_error();
        int r = SSL_write(c->ssl, buf_data(&c->tx), (int)n);
        if (r > 0) {
            buf_consume(&c->tx, (size_t)r);
            wrote = true;
            continue;
        }
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
            break;
        }
        note_ssl_error(c->loop, "write", err);
        conn_end(c, BENCH_END_IO);
        return;
    }
    update_events(c);
    if (wrote && c->tx.len <= c->tx_low && c->ops->on_drain != NULL) {
        c->ops->on_drain(c);
    }
}

void bench_conn_close(struct bench_conn *c)
{
    if (c->ended) {
        return;
    }
    if (c->state == ST_OPEN && c->tx.len > 0) {
        size_t n = c->tx.len < WRITE_CHUNK ? c->tx.len : WRITE_CHUNK;
        ERR_clear_error();
        (void)SSL_write(c->ssl, buf_data(&c->tx), (int)n);
        ERR_clear_error();
    }
    conn_end(c, BENCH_END_CLOSED);
}

void bench_conn_fail(struct bench_conn *c)
{
    conn_end(c, BENCH_END_PROTOCOL);
}

void bench_conn_shutdown(struct bench_conn *c)
{
    if (c->ended || c->state != ST_OPEN) {
        return;
    }
    ERR_clear_error();
    (void)SSL_shutdown(c->ssl); /* 0: sent, waiting for the peer's; the loop reads the EOF */
    ERR_clear_error();
    update_events(c);
}

void bench_conn_idle(struct bench_conn *c)
{
    if (c->rx.len == 0) {
        buf_shrink(&c->rx);
    }
    if (c->tx.len == 0) {
        buf_shrink(&c->tx);
    }
}

static void do_read(struct bench_conn *c)
{
    c->want_write_for_read = false;
    for (;;) {
        size_t room = 0;
        if (buf_reserve(&c->rx, 16384) < 0) {
            note_error(c->loop, "read", "input buffer full (the mode did not consume it)");
            conn_end(c, BENCH_END_PROTOCOL);
            return;
        }
        uint8_t *tail = buf_tail(&c->rx, &room);
        ERR_clear_error();
        int r = SSL_read(c->ssl, tail, room > 65536 ? 65536 : (int)room);
        if (r > 0) {
            buf_commit(&c->rx, (size_t)r);
            c->ops->on_input(c);
            if (c->ended) {
                return;
            }
            continue;
        }
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_WANT_READ) {
            break;
        }
        if (err == SSL_ERROR_WANT_WRITE) {
            c->want_write_for_read = true;
            break;
        }
        if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
            ERR_clear_error();
            conn_end(c, BENCH_END_EOF);
            return;
        }
        if (err == SSL_ERROR_SSL &&
            ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            conn_end(c, BENCH_END_EOF);
            return;
        }
        note_ssl_error(c->loop, "read", err);
        conn_end(c, BENCH_END_IO);
        return;
    }
    if (c->tx.len > 0) {
        bench_conn_flush(c);
    } else {
        update_events(c);
    }
}

static void do_handshake(struct bench_conn *c)
{
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        c->state = ST_OPEN;
        c->t_tls_ns = time_mono_ns();
        c->resumed = SSL_session_reused(c->ssl) == 1;
        c->loop->st.handshakes++;
        if (c->resumed) {
            c->loop->st.resumed++;
        }
        set_events(c, EPOLLIN);
        c->ops->on_open(c);
        if (!c->ended) {
            bench_conn_flush(c);
            /* Records may already be buffered inside OpenSSL (tickets, a CONNACK). */
            if (!c->ended && SSL_has_pending(c->ssl)) {
                do_read(c);
            }
        }
        return;
    }
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ) {
        set_events(c, EPOLLIN);
    } else if (err == SSL_ERROR_WANT_WRITE) {
        set_events(c, EPOLLOUT);
    } else {
        note_ssl_error(c->loop, "TLS handshake", err);
        conn_end(c, BENCH_END_TLS);
    }
}

static void on_event(struct bench_conn *c, uint32_t ev)
{
    if (c->ended) {
        return;
    }
    if (c->state == ST_TCP) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
            soerr = errno;
        }
        if (soerr != 0) {
            note_error(c->loop, "connect", strerror(soerr));
            conn_end(c, BENCH_END_TCP);
            return;
        }
        if (!(ev & (EPOLLOUT | EPOLLIN))) {
            note_error(c->loop, "connect", "connection reset");
            conn_end(c, BENCH_END_TCP);
            return;
        }
        c->state = ST_TLS;
        do_handshake(c);
        return;
    }
    if (c->state == ST_TLS) {
        do_handshake(c);
        return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        do_read(c);
        if (c->ended) {
            return;
        }
    }
    if (ev & EPOLLOUT) {
        if (c->want_write_for_read) {
            do_read(c);
        } else {
            bench_conn_flush(c);
        }
    }
}

static void scan_deadlines(struct bench_loop *l, uint64_t now)
{
    struct bench_conn *c = l->conns;
    while (c != NULL) {
        struct bench_conn *next = c->next;
        if (c->deadline_ns != 0 && now >= c->deadline_ns) {
            conn_end(c, BENCH_END_TIMEOUT);
            /* on_close may have opened connections (at the head) or ended others: start
             * over when the saved successor is gone; expired ones are found again. */
            if (next != NULL && next->ended) {
                next = l->conns;
            }
        }
        c = next;
    }
}

static void *loop_main(void *arg)
{
    struct bench_loop *l = arg;
    struct epoll_event events[256];
    uint64_t now = time_mono_ns();
    uint64_t next_tick = now;
    uint64_t next_scan = now + 20000000ull;
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        now = time_mono_ns();
        int timeout = 0;
        if (next_tick > now) {
            timeout = (int)((next_tick - now + 999999) / 1000000);
        }
        int n = epoll_wait(l->epfd, events, 256, timeout);
        for (int i = 0; i < n; i++) {
            on_event(events[i].data.ptr, events[i].events);
        }
        free_dead(l);
        now = time_mono_ns();
        if (now >= next_tick) {
            if (l->tick != NULL) {
                l->tick(l, now);
                free_dead(l);
            }
            next_tick += l->tick_ns;
            if (next_tick <= now) {
                next_tick = now + l->tick_ns;
            }
        }
        if (now >= next_scan) {
            scan_deadlines(l, now);
            free_dead(l);
            next_scan = now + 20000000ull;
        }
    }
    OPENSSL_free(verified_der);
    verified_der = NULL;
    return NULL;
}

int bench_client_start(struct bench_client *cl, void (*tick)(struct bench_loop *, uint64_t),
                       void **loop_args, uint64_t tick_ns)
{
    for (int i = 0; i < cl->nloops; i++) {
        struct bench_loop *l = &cl->loops[i];
        l->tick = tick;
        l->arg = loop_args != NULL ? loop_args[i] : NULL;
        l->tick_ns = tick_ns > 0 ? tick_ns : 1000000ull;
        if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
            fprintf(stderr, "certgate bench %s: cannot start a loop thread\n", cl->cfg.opts->mode);
            bench_client_stop(cl);
            return -1;
        }
        l->started = true;
    }
    return 0;
}

void bench_client_drain(struct bench_client *cl, uint64_t until_ns, uint64_t hard_end_ns)
{
    if (until_ns > hard_end_ns) {
        until_ns = hard_end_ns;
    }
    while (!bench_interrupted && time_mono_ns() < until_ns) {
        size_t open = 0;
        for (int i = 0; i < cl->nloops; i++) {
            open += cl->loops[i].nconns;
        }
        if (open == 0) {
            break;
        }
        bench_sleep_until(time_mono_ns() + 20000000ull);
    }
}

void bench_client_stop(struct bench_client *cl)
{
    for (int i = 0; i < cl->nloops; i++) {
        atomic_store(&cl->loops[i].stop, 1);
    }
    for (int i = 0; i < cl->nloops; i++) {
        struct bench_loop *l = &cl->loops[i];
        if (l->started) {
            pthread_join(l->thread, NULL);
            l->started = false;
        }
        /* The loop thread is gone: this thread may end its connections, politely (the
         * server then sees a DISCONNECT and a close_notify rather than an abrupt EOF). */
        while (l->conns != NULL) {
            struct bench_conn *c = l->conns;
            if (c->state == ST_OPEN && !c->ended) {
                ERR_clear_error();
                if (cl->cfg.bye_len > 0 && c->tx.len == 0) {
                    (void)SSL_write(c->ssl, cl->cfg.bye, (int)cl->cfg.bye_len);
                }
                (void)SSL_shutdown(c->ssl);
                ERR_clear_error();
            }
            conn_end(c, BENCH_END_CLOSED);
        }
        free_dead(l);
    }
}

void bench_client_stats(const struct bench_client *cl, struct bench_loop_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < cl->nloops; i++) {
        const struct bench_loop_stats *s = &cl->loops[i].st;
        out->opened += s->opened;
        out->handshakes += s->handshakes;
        out->resumed += s->resumed;
        for (int k = 0; k < BENCH_END_COUNT; k++) {
            out->ended[k] += s->ended[k];
        }
        if (out->first_error[0] == 0 && s->first_error[0] != 0) {
            memcpy(out->first_error, s->first_error, sizeof(out->first_error));
        }
    }
}

json_t *bench_client_stats_json(const struct bench_loop_stats *st)
{
    json_t *ended = json_object();
    for (int k = 0; k < BENCH_END_COUNT; k++) {
        json_object_set_new(ended, bench_end_name((enum bench_end)k),
                            json_integer((json_int_t)st->ended[k]));
    }
    json_t *o =
        json_pack("{s:I,s:I,s:I,s:o}", "opened", (json_int_t)st->opened, "handshakes",
                  (json_int_t)st->handshakes, "resumed", (json_int_t)st->resumed, "ended", ended);
    if (st->first_error[0] != 0) {
        json_object_set_new(o, "first_error", json_string(st->first_error));
    }
    return o;
}

/* ---- MQTT helpers ----------------------------------------------------------------- */

int bench_mqtt_send_connect(struct bench_conn *c, uint16_t keep_alive, bool clean_session)
{
    struct mqtt_connect m = {
        .level = 4,
        .clean_session = clean_session,
        .keep_alive = keep_alive,
        .client_id = mqtt_str_c(c->dev != NULL ? c->dev->cn : "bench"),
    };
    int rc = mqtt_connect_encode(&c->tx, &m);
    if (rc < 0) {
        return rc;
    }
    bench_conn_flush(c);
    return 0;
}

int bench_mqtt_next(struct bench_conn *c, struct mqtt_packet *pkt, size_t *len)
{
    int n = mqtt_frame_split(buf_data(&c->rx), c->rx.len, 0);
    if (n <= 0) {
        return n;
    }
    int rc = mqtt_packet_decode(buf_data(&c->rx), (size_t)n, MQTT_FROM_SERVER, NULL, pkt);
    if (rc < 0) {
        return rc;
    }
    *len = (size_t)n;
    return 1;
}
