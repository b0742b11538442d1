/* Connections: the state machine accept -> handshake -> open -> closing -> closed, TLS
 * I/O on non-blocking sockets, deferred work (close, flush, read resume) and the public
 * net_conn_* functions. Everything here runs on the owning worker's thread, except
 * net_conn_ref/unref/is_closed and the immutable getters.
 */
#define LOG_MODULE "net"

#include "net/internal.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Plaintext bytes read from one connection per event before yielding to the others. */
#define READ_BUDGET (256 * 1024)

static atomic_uint_fast64_t next_conn_id = 1;
static int ssl_ex_index = -1;
static pthread_once_t ssl_ex_once = PTHREAD_ONCE_INIT;

static void ssl_ex_init(void)
{
    ssl_ex_index = SSL_get_ex_new_index(0, "certgate net_conn", NULL, NULL, NULL);
}

int conn_ssl_index(void)
{
    pthread_once(&ssl_ex_once, ssl_ex_init);
    return ssl_ex_index;
}

const char *net_close_reason_str(int reason)
{
    switch (reason) {
    case NET_REASON_LOCAL:
        return "closed locally";
    case NET_REASON_PROTOCOL:
        return "protocol error";
    case NET_REASON_PEER_CLOSED:
        return "peer closed";
    case NET_REASON_IO_ERROR:
        return "I/O error";
    case NET_REASON_TLS_ERROR:
        return "TLS error";
    case NET_REASON_INPUT_LIMIT:
        return "input limit exceeded";
    case NET_REASON_NOMEM:
        return "out of memory";
    case NET_REASON_SHUTDOWN:
        return "server shutdown";
    default:
        return "unknown";
    }
}

static const struct net_proto *proto_of(const struct net_conn *c)
{
    return c->wl->l->cfg.proto;
}

static const struct net_listen_config *cfg_of(const struct net_conn *c)
{
    return &c->wl->l->cfg;
}

/* ---------------------------------------------------------------------------------------
 * Event interest, deferred work
 * ------------------------------------------------------------------------------------- */

static void set_event(struct event *ev, bool want, unsigned bitval, unsigned *flags)
{
    bool added = (*flags & bitval) != 0;
    if (want && !added) {
        event_add(ev, NULL);
        *flags |= bitval;
    } else if (!want && added) {
        event_del(ev);
        *flags &= ~bitval;
    }
}

enum { IO_READ = 1, IO_WRITE = 2 };

/* conn_update_io: watch the socket for what the current state needs. */
static void conn_update_io(struct net_conn *c)
{
    bool r = false, wr = false;
    switch (c->state) {
    case CONN_HANDSHAKE:
    case CONN_CLOSING:
        r = (c->want & EV_READ) != 0;
        wr = (c->want & EV_WRITE) != 0;
        break;
    case CONN_OPEN:
        r = !c->paused || c->write_wants_read;
        /* A read that waits for writability only matters while reading: paused, it would
         * wake us for nothing, again and again. */
        wr = (c->read_wants_write && !c->paused) ||
             (c->out.len > 0 && c->write_blocked && !c->write_wants_read);
        break;
    default:
        break;
    }
    unsigned flags = (unsigned)c->io_mask;
    set_event(&c->rev, r, IO_READ, &flags);
    set_event(&c->wev, wr, IO_WRITE, &flags);
    c->io_mask = (short)flags;
}

/* conn_todo: run deferred work for c from the worker loop, after the current callback. The
 * list holds a reference so that c outlives its entry. */
static void conn_todo(struct net_conn *c, unsigned bits)
{
    struct net_worker *w = c->w;
    c->todo |= bits;
    if (c->in_todo) {
        return;
    }
    c->in_todo = 1;
    net_conn_ref(c);
    c->todo_next = NULL;
    if (w->todo_tail != NULL) {
        w->todo_tail->todo_next = c;
    } else {
        w->todo_head = c;
    }
    w->todo_tail = c;
    if (!w->todo_scheduled) {
        w->todo_scheduled = true;
        event_active(&w->todo_ev, 0, 0);
    }
}

/* conn_todo_later: like conn_todo, but for the next loop iteration. */
static void conn_todo_later(struct net_conn *c, unsigned bits)
{
    struct net_worker *w = c->w;
    c->todo_later |= bits;
    if (c->in_later) {
        return;
    }
    c->in_later = 1;
    net_conn_ref(c);
    c->later_next = NULL;
    if (w->later_tail != NULL) {
        w->later_tail->later_next = c;
    } else {
        w->later_head = c;
    }
    w->later_tail = c;
    if (!w->later_scheduled) {
        static const struct timeval zero = {0, 0};
        w->later_scheduled = true;
        event_add(&w->later_ev, &zero);
    }
}

void conn_close_internal(struct net_conn *c, int reason, bool now)
{
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (c->close_requested) {
        if (now && !c->close_now) {
            c->close_now = 1;
            conn_todo(c, TODO_CLOSE);
        }
        return;
    }
    c->close_requested = 1;
    c->close_now = now;
    c->close_reason = reason;
    atomic_store_explicit(&c->closed, true, memory_order_release);
    conn_todo(c, TODO_CLOSE);
}

/* ---------------------------------------------------------------------------------------
 * Teardown
 * ------------------------------------------------------------------------------------- */

static void conn_handshake_finished(struct net_conn *c)
{
    if (!c->hs_counted) {
        return;
    }
    c->hs_counted = 0;
    c->wl->handshakes--;
    ctr_sub(&c->w->st.handshakes_in_progress, 1);
    worker_handshake_done(c->wl);
}

/* conn_teardown: release the socket, the SSL and the buffers, unlink, drop the live
 * reference. Never called while one of c's callbacks is on the stack. c may be freed on
 * return. */
static void conn_teardown(struct net_conn *c)
{
    struct net_worker *w = c->w;
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (c->in_callback) {
        log_error("BUG: teardown of connection %llu inside its own callback",
                  (unsigned long long)c->id);
        abort();
    }
    conn_handshake_finished(c);
    if (c->io_mask & IO_READ) {
        event_del(&c->rev);
    }
    if (c->io_mask & IO_WRITE) {
        event_del(&c->wev);
    }
    c->io_mask = 0;
    event_del(&c->timer);
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    buf_cleanup(&c->in);
    buf_cleanup(&c->out);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
    w->nconns--;
    ctr_sub(&w->st.conns_open, 1);
    c->state = CONN_CLOSED;
    atomic_store_explicit(&c->closed, true, memory_order_release);
    net_conn_unref(c);
    worker_conn_gone(w);
}

static void call_on_close(struct net_conn *c)
{
    if (!c->opened || c->on_close_called) {
        return;
    }
    c->on_close_called = 1;
    const struct net_proto *p = proto_of(c);
    if (p->on_close != NULL) {
        c->in_callback = 1;
        p->on_close(c, c->close_reason);
        c->in_callback = 0;
    }
}

void conn_force_teardown(struct net_conn *c)
{
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (!c->close_requested) {
        c->close_requested = 1;
        c->close_reason = NET_REASON_SHUTDOWN;
        atomic_store_explicit(&c->closed, true, memory_order_release);
    }
    c->close_now = 1;
    call_on_close(c);
    conn_teardown(c);
}

/* ---------------------------------------------------------------------------------------
 * Raw I/O
 * ------------------------------------------------------------------------------------- */

enum { IO_AGAIN = 0, IO_EOF = -1, IO_FATAL = -2 };

/* tls_fail_reason: text for the last TLS failure, and drain the error queue. */
static void tls_fail_reason(int err, int saved_errno, char *out, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    if (e != 0) {
        ERR_error_string_n(e, out, n);
    } else if (err == SSL_ERROR_SYSCALL) {
        snprintf(out, n, "%s", saved_errno != 0 ? strerror(saved_errno) : "unexpected EOF");
    } else {
        snprintf(out, n, "SSL error %d", err);
    }
    ERR_clear_error();
}

static bool tls_is_unexpected_eof(int err, int saved_errno)
{
    if (err == SSL_ERROR_SYSCALL && saved_errno == 0) {
        return true;
    }
    unsigned long e = ERR_peek_last_error();
    return err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
           ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* conn_raw_read: > 0 bytes read; IO_AGAIN (would block; c->read_wants_write tells whether
 * it waits for writability); IO_EOF (orderly close by the peer); IO_FATAL (*reason set). */
static ssize_t conn_raw_read(struct net_conn *c, uint8_t *p, size_t n, int *reason)
{
    if (n > INT_MAX) {
        n = INT_MAX;
    }
    if (c->ssl != NULL) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(c->ssl, p, (int)n);
        if (r > 0) {
            c->read_wants_write = 0;
            return r;
        }
        int saved = errno;
        int err = SSL_get_error(c->ssl, r);
        switch (err) {
        case SSL_ERROR_WANT_READ:
            c->read_wants_write = 0;
            return IO_AGAIN;
        case SSL_ERROR_WANT_WRITE:
            c->read_wants_write = 1;
            return IO_AGAIN;
        case SSL_ERROR_ZERO_RETURN:
            return IO_EOF;
        default:
            c->tls_dead = 1;
            if (tls_is_unexpected_eof(err, saved)) {
                ERR_clear_error();
                *reason = NET_REASON_PEER_CLOSED;
            } else {
                if (log_enabled(CG_LOG_DEBUG)) {
                    char why[256];
                    tls_fail_reason(err, saved, why, sizeof(why));
                    log_debug("conn %llu %s: TLS read failed: %s", (unsigned long long)c->id,
                              c->peer.text, why);
                }
                ERR_clear_error();
                *reason = (err == SSL_ERROR_SYSCALL) ? NET_REASON_IO_ERROR : NET_REASON_TLS_ERROR;
            }
            return IO_FATAL;
        }
    }
    for (;;) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r > 0) {
            return r;
        }
        if (r == 0) {
            return IO_EOF;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return IO_AGAIN;
        }
        *reason = NET_REASON_IO_ERROR;
        return IO_FATAL;
    }
}

/* conn_flush: write queued output until done or blocked. 0 (c->out.len tells whether
 * something is left) or IO_FATAL (*reason set). */
static int conn_flush(struct net_conn *c, int *reason)
{
    while (c->out.len > 0) {
        size_t n = c->out.len > INT_MAX ? INT_MAX : c->out.len;
        ssize_t r;
        if (c->ssl != NULL) {
            /* With ACCEPT_MOVING_WRITE_BUFFER a retry may pass a moved buffer, and the
             * length never shrinks between retries because the queue only grows until a
             * write succeeds: both retry rules of SSL_write hold. */
            ERR_clear_error();
            errno = 0;
            int w = SSL_write(c->ssl, buf_data(&c->out), (int)n);
            if (w <= 0) {
                int saved = errno;
                int err = SSL_get_error(c->ssl, w);
                if (err == SSL_ERROR_WANT_WRITE) {
                    c->write_blocked = 1;
                    c->write_wants_read = 0;
                    return 0;
                }
                if (err == SSL_ERROR_WANT_READ) {
                    c->write_wants_read = 1;
                    return 0;
                }
                c->tls_dead = 1;
                if (log_enabled(CG_LOG_DEBUG)) {
                    char why[256];
                    tls_fail_reason(err, saved, why, sizeof(why));
                    log_debug("conn %llu %s: TLS write failed: %s", (unsigned long long)c->id,
                              c->peer.text, why);
                }
                ERR_clear_error();
                *reason = (err == SSL_ERROR_SYSCALL) ? NET_REASON_IO_ERROR : NET_REASON_TLS_ERROR;
                return IO_FATAL;
            }
            r = w;
        } else {
            r = send(c->fd, buf_data(&c->out), n, MSG_NOSIGNAL);
            if (r < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->write_blocked = 1;
                    return 0;
                }
                *reason = NET_REASON_IO_ERROR;
                return IO_FATAL;
            }
        }
        buf_consume(&c->out, (size_t)r);
        ctr_add(&c->w->st.bytes_out, (uint64_t)r);
        c->write_blocked = 0;
        c->write_wants_read = 0;
    }
    c->write_blocked = 0;
    c->write_wants_read = 0;
    buf_shrink(&c->out);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Open state
 * ------------------------------------------------------------------------------------- */

/* deliver: call on_data. false when c is now closing. */
static bool deliver(struct net_conn *c)
{
    c->in_callback = 1;
    int rc = proto_of(c)->on_data(c);
    c->in_callback = 0;
    if (rc < 0) {
        conn_close_internal(c, NET_REASON_PROTOCOL, false);
    }
    return !c->close_requested;
}

/* conn_read_side: read and deliver until the socket (and TLS layer) has nothing more, the
 * protocol pauses or closes, or the budget is spent (then yield to the other connections;
 * plaintext the TLS layer holds, which the socket will never signal, is picked up on the
 * next loop iteration). `redeliver`: call on_data first for buffered input (resume after a
 * pause). */
static void conn_read_side(struct net_conn *c, bool redeliver)
{
    struct net_worker *w = c->w;
    size_t budget = READ_BUDGET;
    if (redeliver && c->in.len > 0 && !c->paused) {
        if (!deliver(c)) {
            return;
        }
    }
    while (!c->paused && !c->close_requested) {
        size_t room = c->in.max - c->in.len;
        if (room == 0) {
            ctr_add(&w->st.closed_input_limit, 1);
            log_debug("conn %llu %s: input limit of %zu bytes reached", (unsigned long long)c->id,
                      c->peer.text, c->in.max);
            conn_close_internal(c, NET_REASON_INPUT_LIMIT, true);
            return;
        }
        if (room > w->scratch_len) {
            room = w->scratch_len;
        }
        int reason = 0;
        ssize_t n = conn_raw_read(c, w->scratch, room, &reason);
        if (n == IO_AGAIN) {
            break;
        }
        if (n == IO_EOF) {
            conn_close_internal(c, NET_REASON_PEER_CLOSED, false);
            return;
        }
        if (n == IO_FATAL) {
            conn_close_internal(c, reason, true);
            return;
        }
        if (buf_append(&c->in, w->scratch, (size_t)n) < 0) {
            conn_close_internal(c, NET_REASON_NOMEM, true);
            return;
        }
        ctr_add(&w->st.bytes_in, (uint64_t)n);
        if (!deliver(c)) {
            return;
        }
        if ((size_t)n >= budget) {
            /* Yield. The socket is level-triggered and will signal what it holds; what
             * OpenSSL holds must be picked up explicitly, after the next poll. */
            if (c->ssl != NULL && SSL_has_pending(c->ssl)) {
                conn_todo_later(c, TODO_READ);
            }
            break;
        }
        budget -= (size_t)n;
    }
    if (c->in.len == 0) {
        buf_shrink(&c->in);
    }
}

/* conn_write_side: flush, and call on_drain when the output fell to the low-water mark. */
static void conn_write_side(struct net_conn *c)
{
    int reason = 0;
    if (conn_flush(c, &reason) < 0) {
        conn_close_internal(c, reason, true);
        return;
    }
    if (c->above_hw && c->out.len <= cfg_of(c)->out_lowwater) {
        c->above_hw = 0;
        const struct net_proto *p = proto_of(c);
        if (p->on_drain != NULL) {
            c->in_callback = 1;
            p->on_drain(c);
            c->in_callback = 0;
        }
    }
}

static void conn_open(struct net_conn *c)
{
    const struct net_proto *p = proto_of(c);
    c->state = CONN_OPEN;
    c->want = 0;
    c->opened = 1;
    if (p->on_open != NULL) {
        c->in_callback = 1;
        int rc = p->on_open(c);
        c->in_callback = 0;
        if (rc < 0) {
            conn_close_internal(c, NET_REASON_PROTOCOL, false);
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Handshake
 * ------------------------------------------------------------------------------------- */

static void log_handshake_failure(struct net_conn *c, const char *why)
{
    struct net_worker *w = c->w;
    if (log_enabled(CG_LOG_DEBUG)) {
        log_debug("conn %llu %s: TLS handshake failed: %s", (unsigned long long)c->id, c->peer.text,
                  why);
        return;
    }
    if (ratelimit_take(&w->hs_log_rl, time_mono_ms())) {
        log_info("TLS handshake failed from %s: %s (%llu similar lines suppressed)", c->peer.text,
                 why, (unsigned long long)w->hs_log_suppressed);
        w->hs_log_suppressed = 0;
    } else {
        w->hs_log_suppressed++;
    }
}

static void conn_handshake(struct net_conn *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        conn_handshake_finished(c);
        ctr_add(&c->w->st.handshakes_ok, 1);
        event_del(&c->timer);
        conn_open(c);
        if (!c->close_requested && SSL_has_pending(c->ssl)) {
            conn_read_side(c, false);
        }
        return;
    }
    int saved = errno;
    int err = SSL_get_error(c->ssl, r);
    if (err == SSL_ERROR_WANT_READ) {
        c->want = EV_READ;
        return;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        c->want = EV_WRITE;
        return;
    }
    char why[256];
    tls_fail_reason(err, saved, why, sizeof(why));
    ctr_add(&c->w->st.handshakes_failed, 1);
    log_handshake_failure(c, why);
    c->tls_dead = 1;
    conn_close_internal(c, NET_REASON_TLS_ERROR, true);
}

/* ---------------------------------------------------------------------------------------
 * Closing: flush, close_notify / FIN, wait (bounded) for the peer's close
 * ------------------------------------------------------------------------------------- */

static void conn_closing_io(struct net_conn *c)
{
    int reason = 0;
    if (c->out.len > 0) {
        if (conn_flush(c, &reason) < 0) {
            conn_teardown(c);
            return;
        }
        if (c->out.len > 0) {
            c->want = c->write_wants_read ? EV_READ : EV_WRITE;
            conn_update_io(c);
            return;
        }
    }
    if (!c->shutdown_sent) {
        if (c->ssl != NULL) {
            ERR_clear_error();
            int r = SSL_shutdown(c->ssl);
            if (r < 0) {
                int err = SSL_get_error(c->ssl, r);
                ERR_clear_error();
                if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
                    c->want = err == SSL_ERROR_WANT_WRITE ? EV_WRITE : EV_READ;
                    conn_update_io(c);
                    return;
                }
                conn_teardown(c);
                return;
            }
            if (r == 1) { /* both close_notify exchanged */
                conn_teardown(c);
                return;
            }
        } else {
            shutdown(c->fd, SHUT_WR);
        }
        c->shutdown_sent = 1;
    }
    /* Read and discard until the peer closes, so that closing with unread input does not
     * reset the connection before the peer has read our last bytes. Bounded by linger. */
    size_t budget = READ_BUDGET;
    for (;;) {
        ssize_t n = conn_raw_read(c, c->w->scratch, c->w->scratch_len, &reason);
        if (n == IO_AGAIN) {
            c->want = c->read_wants_write ? EV_WRITE : EV_READ;
            conn_update_io(c);
            return;
        }
        if (n < 0) {
            conn_teardown(c);
            return;
        }
        if ((size_t)n >= budget) {
            c->want = EV_READ; /* level-triggered: we come back */
            conn_update_io(c);
            if (c->ssl != NULL && SSL_has_pending(c->ssl)) {
                conn_todo_later(c, TODO_READ);
            }
            return;
        }
        budget -= (size_t)n;
    }
}

/* conn_do_close: act on a close request. Not inside a callback of c. */
static void conn_do_close(struct net_conn *c)
{
    call_on_close(c);
    if (c->state == CONN_CLOSED) {
        return;
    }
    event_del(&c->timer);
    if (c->state != CONN_OPEN || c->close_now || c->tls_dead) {
        conn_teardown(c);
        return;
    }
    c->state = CONN_CLOSING;
    c->paused = 1;
    buf_cleanup(&c->in);
    unsigned linger = cfg_of(c)->linger_ms;
    struct timeval tv = {.tv_sec = linger / 1000, .tv_usec = (linger % 1000) * 1000};
    event_add(&c->timer, &tv);
    conn_closing_io(c);
}

/* ---------------------------------------------------------------------------------------
 * Event callbacks
 * ------------------------------------------------------------------------------------- */

static void conn_io(struct net_conn *c, short what)
{
    switch (c->state) {
    case CONN_HANDSHAKE:
        if (!c->close_requested) {
            conn_handshake(c);
        }
        break;
    case CONN_OPEN:
        if (c->close_requested) {
            return; /* the todo list closes it */
        }
        if ((what & EV_WRITE) || (c->write_wants_read && (what & EV_READ))) {
            conn_write_side(c);
        }
        if (!c->close_requested &&
            (((what & EV_READ) && !c->paused) || (c->read_wants_write && (what & EV_WRITE)))) {
            conn_read_side(c, false);
        }
        break;
    case CONN_CLOSING:
        conn_closing_io(c); /* may free c */
        return;
    default:
        return;
    }
    if (c->state != CONN_CLOSED && !c->close_requested) {
        conn_update_io(c);
    }
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_io(arg, EV_READ);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    conn_io(arg, EV_WRITE);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_conn *c = arg;
    switch (c->state) {
    case CONN_HANDSHAKE:
        if (!c->close_requested) {
            ctr_add(&c->w->st.handshake_timeouts, 1);
            log_debug("conn %llu %s: TLS handshake timed out", (unsigned long long)c->id,
                      c->peer.text);
            conn_close_internal(c, NET_REASON_LOCAL, true);
        }
        break;
    case CONN_OPEN: {
        const struct net_proto *p = proto_of(c);
        if (!c->close_requested && p->on_timeout != NULL) {
            c->in_callback = 1;
            p->on_timeout(c);
            c->in_callback = 0;
        }
        break;
    }
    case CONN_CLOSING:
        conn_teardown(c); /* linger expired */
        break;
    default:
        break;
    }
}

static void conn_todo_one(struct net_conn *c, unsigned bits)
{
    if (c->state == CONN_CLOSED) {
        return;
    }
    if (c->state == CONN_CLOSING) {
        if (c->close_now) {
            conn_teardown(c);
        } else if (bits & TODO_READ) {
            conn_closing_io(c); /* may tear c down; the list's reference keeps it */
        }
        return;
    }
    if (c->close_requested) {
        conn_do_close(c);
        return;
    }
    if (c->state != CONN_OPEN) {
        return;
    }
    if (bits & TODO_FLUSH) {
        conn_write_side(c);
    }
    if (!c->close_requested && (bits & TODO_READ) && !c->paused) {
        conn_read_side(c, true);
    }
    if (c->close_requested) {
        conn_do_close(c);
        return;
    }
    conn_update_io(c);
}

void conn_todo_run(evutil_socket_t fd, short what, void *arg)
{
    struct net_worker *w = arg;
    /* Take the current list: work queued while it runs (a read budget spent again, ...)
     * waits for the next round so that sockets are polled in between. */
    struct net_conn *list = w->todo_head;
    w->todo_head = w->todo_tail = NULL;
    w->todo_scheduled = false;
    while (list != NULL) {
        struct net_conn *c = list;
        list = c->todo_next;
        c->todo_next = NULL;
        c->in_todo = 0;
        unsigned bits = c->todo;
        c->todo = 0;
        conn_todo_one(c, bits);
        net_conn_unref(c); /* the list's reference */
    }
}

void conn_later_run(evutil_socket_t fd, short what, void *arg)
{
    struct net_worker *w = arg;
    struct net_conn *list = w->later_head;
    w->later_head = w->later_tail = NULL;
    w->later_scheduled = false;
    while (list != NULL) {
        struct net_conn *c = list;
        list = c->later_next;
        c->later_next = NULL;
        c->in_later = 0;
        unsigned bits = c->todo_later;
        c->todo_later = 0;
        conn_todo_one(c, bits);
        net_conn_unref(c);
    }
}

/* ---------------------------------------------------------------------------------------
 * Accept
 * ------------------------------------------------------------------------------------- */

static void addr_format(struct net_addr *a)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        port = ntohs(sin->sin_port);
        snprintf(a->text, sizeof(a->text), "%s:%u", host, port);
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
        port = ntohs(sin6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], host, sizeof(host));
            snprintf(a->text, sizeof(a->text), "%s:%u", host, port);
        } else {
            inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
            snprintf(a->text, sizeof(a->text), "[%s]:%u", host, port);
        }
    } else {
        snprintf(a->text, sizeof(a->text), "unknown");
    }
}

void conn_accepted(struct net_wlistener *wl, int fd, const struct sockaddr_storage *ss,
                   socklen_t sslen)
{
    struct net_worker *w = wl->w;
    struct net_listener *l = wl->l;
    struct net_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->id = atomic_fetch_add_explicit(&next_conn_id, 1, memory_order_relaxed);
    c->w = w;
    c->wl = wl;
    c->fd = fd;
    atomic_init(&c->refs, 1);
    atomic_init(&c->closed, false);
    buf_init(&c->in, l->cfg.max_input);
    buf_init(&c->out, l->cfg.out_max);
    memcpy(&c->peer.ss, ss, sslen <= sizeof(c->peer.ss) ? sslen : sizeof(c->peer.ss));
    c->peer.len = sslen;
    addr_format(&c->peer);
    event_assign(&c->rev, w->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    event_assign(&c->wev, w->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    evtimer_assign(&c->timer, w->base, conn_timer_cb, c);

    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    w->nconns++;
    ctr_add(&w->st.conns_open, 1);
    ctr_add(&w->st.accepted, 1);

    if (!l->tls) {
        conn_open(c);
        if (!c->close_requested) {
            conn_update_io(c);
        }
        return;
    }

    c->state = CONN_HANDSHAKE;
    c->hs_counted = 1;
    wl->handshakes++;
    ctr_add(&w->st.handshakes_in_progress, 1);
    pthread_mutex_lock(&l->ctx_lock);
    SSL *ssl = SSL_new(l->ctx); /* holds its own reference to the context */
    pthread_mutex_unlock(&l->ctx_lock);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_set_ex_data(ssl, conn_ssl_index(), c) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        ctr_add(&w->st.handshakes_failed, 1);
        if (ratelimit_take(&w->accept_log_rl, time_mono_ms())) {
            log_warn("cannot create a TLS session for %s", c->peer.text);
        }
        c->tls_dead = 1;
        conn_close_internal(c, NET_REASON_NOMEM, true);
        return;
    }
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_options(ssl, SSL_OP_NO_RENEGOTIATION);
    /* One read(2) for several small records instead of two per record (header, body).
     * Records read ahead sit inside OpenSSL where the socket does not signal them: see
     * SSL_has_pending after the handshake, on resume and when a read budget is spent. */
    SSL_set_read_ahead(ssl, 1);
    SSL_set_accept_state(ssl);
    c->ssl = ssl;
    unsigned ms = l->cfg.handshake_timeout_ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(&c->timer, &tv);
    /* The ClientHello usually arrived with the connection: try at once. */
    conn_handshake(c);
    if (c->state != CONN_CLOSED && !c->close_requested) {
        conn_update_io(c);
    }
}

/* ---------------------------------------------------------------------------------------
 * Public functions
 * ------------------------------------------------------------------------------------- */

void net_conn_close(struct net_conn *c, enum net_close_mode mode)
{
    if (c->on_close_called) {
        return; /* the protocol is done with it: do not cut a flush short */
    }
    conn_close_internal(c, NET_REASON_LOCAL, mode == NET_CLOSE_NOW);
}

int net_conn_write(struct net_conn *c, const void *data, size_t len)
{
    if (c->state != CONN_OPEN || c->close_requested) {
        return -EPIPE;
    }
    if (len == 0) {
        return 0;
    }
    if (len > c->out.max - c->out.len) {
        return CG_ELIMIT;
    }
    int rc = buf_append(&c->out, data, len);
    if (rc < 0) {
        return rc;
    }
    if (c->out.len >= cfg_of(c)->out_highwater) {
        c->above_hw = 1;
    }
    if (!c->write_blocked && !c->write_wants_read) {
        conn_todo(c, TODO_FLUSH);
    }
    return 0;
}

size_t net_conn_output_pending(const struct net_conn *c)
{
    return c->out.len;
}

bool net_conn_over_highwater(const struct net_conn *c)
{
    return c->above_hw;
}

void net_conn_pause_reading(struct net_conn *c, bool pause)
{
    if (c->state != CONN_OPEN || c->close_requested) {
        return;
    }
    if (pause) {
        if (!c->paused) {
            c->paused = 1;
            conn_update_io(c);
        }
    } else if (c->paused) {
        c->paused = 0;
        conn_update_io(c);
        /* Input may be buffered here or inside the TLS layer, where the socket will not
         * signal it. */
        conn_todo(c, TODO_READ);
    }
}

struct buf *net_conn_input(struct net_conn *c)
{
    return &c->in;
}

void net_conn_set_timer(struct net_conn *c, unsigned ms)
{
    if (c->state != CONN_OPEN || c->close_requested) {
        return;
    }
    if (ms == 0) {
        event_del(&c->timer);
        return;
    }
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(&c->timer, &tv);
}

void net_conn_set_data(struct net_conn *c, void *data)
{
    c->data = data;
}

void *net_conn_get_data(const struct net_conn *c)
{
    return c->data;
}

void *net_conn_proto_arg(const struct net_conn *c)
{
    return c->wl->l->cfg.proto_arg;
}

int net_conn_listener(const struct net_conn *c)
{
    return c->wl->l->index;
}

SSL *net_conn_ssl(const struct net_conn *c)
{
    return c->ssl;
}

struct net_worker *net_conn_worker(const struct net_conn *c)
{
    return c->w;
}

uint64_t net_conn_id(const struct net_conn *c)
{
    return c->id;
}

const struct net_addr *net_conn_peer_addr(const struct net_conn *c)
{
    return &c->peer;
}

struct net_conn *net_conn_from_ssl(const SSL *ssl)
{
    if (ssl == NULL) {
        return NULL;
    }
    return SSL_get_ex_data(ssl, conn_ssl_index());
}

void net_conn_set_identity(struct net_conn *c, void *ptr, void (*free_fn)(void *))
{
    if (c->identity != NULL && c->identity_free != NULL && c->identity != ptr) {
        c->identity_free(c->identity);
    }
    c->identity = ptr;
    c->identity_free = free_fn;
}

void *net_conn_identity(const struct net_conn *c)
{
    return c->identity;
}

void net_conn_ref(struct net_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void net_conn_unref(struct net_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    if (c->state != CONN_CLOSED) {
        log_error("BUG: last reference to connection %llu dropped while it is open",
                  (unsigned long long)c->id);
        abort();
    }
    if (c->identity != NULL && c->identity_free != NULL) {
        c->identity_free(c->identity);
    }
    free(c);
}

bool net_conn_is_closed(const struct net_conn *c)
{
    return atomic_load_explicit(&c->closed, memory_order_acquire);
}
