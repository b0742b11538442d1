/* The server: workers and their loops, listeners and admission control, cross-thread
 * messages, periodic timers, graceful stop, statistics.
 */
#define LOG_MODULE "net"

#include "net/internal.h"

#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <event2/thread.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRATCH_LEN (64 * 1024)
#define ACCEPT_ERROR_BACKOFF_MS 100
#define MAX_WORKERS 1024
#define MAX_DISPATCH_CALLBACKS 512

static _Thread_local struct net_worker *tl_worker;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void net_init(void)
{
    init_rc = evthread_use_pthreads() == 0 ? 0 : -ENOMEM;
    if (conn_ssl_index() < 0) {
        init_rc = CG_ECRYPTO;
    }
}

/* ---------------------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------------------- */

void net_config_defaults(struct net_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->workers = n > 0 ? (unsigned)(n > 64 ? 64 : n) : 1;
    cfg->pool_threads = 4;
    cfg->pool_queue_max = 1024;
    cfg->drain_ms = 2000;
}

void net_listen_config_defaults(struct net_listen_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->address = "*";
    cfg->backlog = 4096;
    cfg->max_input = 1024 * 1024;
    cfg->out_highwater = 256 * 1024;
    cfg->out_lowwater = 64 * 1024;
    cfg->out_max = 4 * 1024 * 1024;
    cfg->handshake_timeout_ms = 10000;
    cfg->linger_ms = 2000;
    cfg->accepts_per_event = 64;
    cfg->admission.per_addr_table_size = 4096;
    cfg->admission.max_handshakes = 128;
}

/* ---------------------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------------------- */

static void run_msgs(struct net_worker *w, struct net_msg *m)
{
    while (m != NULL) {
        struct net_msg *next = m->next;
        atomic_fetch_sub_explicit(&w->post_depth, 1, memory_order_relaxed);
        m->fn(m->arg);
        ctr_add(&w->st.posts_run, 1);
        free(m);
        m = next;
    }
}

static void post_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_worker *w = arg;
    pthread_mutex_lock(&w->post_lock);
    struct net_msg *m = w->post_head;
    w->post_head = w->post_tail = NULL;
    w->post_scheduled = false;
    pthread_mutex_unlock(&w->post_lock);
    run_msgs(w, m);
}

int net_worker_post(struct net_worker *w, void (*fn)(void *arg), void *arg)
{
    struct net_msg *m = malloc(sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    m->next = NULL;
    m->fn = fn;
    m->arg = arg;
    pthread_mutex_lock(&w->post_lock);
    if (w->post_closed) {
        pthread_mutex_unlock(&w->post_lock);
        free(m);
        return -ESHUTDOWN;
    }
    if (w->post_tail != NULL) {
        w->post_tail->next = m;
    } else {
        w->post_head = m;
    }
    w->post_tail = m;
    atomic_fetch_add_explicit(&w->post_depth, 1, memory_order_relaxed);
    bool activate = !w->post_scheduled;
    w->post_scheduled = true;
    /* Activate under the lock: the loop cannot end between the post_closed check and the
     * activation without running this message (it drains after taking the lock). */
    if (activate) {
        event_active(&w->post_ev, 0, 0);
    }
    pthread_mutex_unlock(&w->post_lock);
    return 0;
}

int net_server_broadcast(struct net_server *srv, void (*fn)(void *arg), void *const *args)
{
    for (unsigned i = 0; i < srv->nworkers; i++) {
        int rc = net_worker_post(&srv->workers[i], fn, args != NULL ? args[i] : NULL);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Workers
 * ------------------------------------------------------------------------------------- */

unsigned net_server_workers(const struct net_server *srv)
{
    return srv->nworkers;
}

struct net_worker *net_server_worker(struct net_server *srv, unsigned i)
{
    return i < srv->nworkers ? &srv->workers[i] : NULL;
}

unsigned net_worker_index(const struct net_worker *w)
{
    return w->index;
}

struct net_server *net_worker_server(const struct net_worker *w)
{
    return w->srv;
}

struct net_worker *net_current_worker(void)
{
    return tl_worker;
}

int net_worker_foreach_conn(struct net_worker *w, int (*fn)(struct net_conn *c, void *arg),
                            void *arg)
{
    struct net_conn *c = w->conns;
    while (c != NULL) {
        /* fn cannot unlink anything: closes are deferred to the loop. */
        struct net_conn *next = c->next;
        if (c->state == CONN_OPEN && !c->close_requested) {
            int rc = fn(c, arg);
            if (rc != 0) {
                return rc;
            }
        }
        c = next;
    }
    return 0;
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_timer *t = arg;
    t->fn(t->arg);
}

int net_worker_add_timer(struct net_worker *w, unsigned interval_ms, void (*fn)(void *arg),
                         void *arg)
{
    if (interval_ms == 0 || fn == NULL) {
        return -EINVAL;
    }
    struct net_timer *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    t->w = w;
    t->fn = fn;
    t->arg = arg;
    t->interval.tv_sec = interval_ms / 1000;
    t->interval.tv_usec = (interval_ms % 1000) * 1000;
    event_assign(&t->ev, w->base, -1, EV_PERSIST, timer_cb, t);
    pthread_mutex_lock(&w->post_lock);
    t->next = w->timers;
    w->timers = t;
    /* event_add is thread-safe on a base with locking (evthread_use_pthreads). */
    event_add(&t->ev, &t->interval);
    pthread_mutex_unlock(&w->post_lock);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Listening sockets and admission
 * ------------------------------------------------------------------------------------- */

static void wl_set_watch(struct net_wlistener *wl)
{
    bool want = wl->paused == 0 && wl->fd >= 0;
    if (want && !wl->ev_added) {
        event_add(&wl->ev, NULL);
        wl->ev_added = true;
    } else if (!want && wl->ev_added) {
        event_del(&wl->ev);
        wl->ev_added = false;
    }
}

static void wl_pause(struct net_wlistener *wl, unsigned bit)
{
    if (!(wl->paused & bit) && (bit & (WL_PAUSE_HANDSHAKES | WL_PAUSE_RATE))) {
        ctr_add(&wl->w->st.accept_pauses, 1);
    }
    wl->paused |= bit;
    wl_set_watch(wl);
}

static void wl_resume(struct net_wlistener *wl, unsigned bits)
{
    wl->paused &= ~bits;
    wl_set_watch(wl);
}

static void wl_arm_resume(struct net_wlistener *wl, int64_t ms)
{
    if (ms < 1) {
        ms = 1;
    }
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(&wl->resume_ev, &tv);
    wl->resume_armed = true;
}

static void wl_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_wlistener *wl = arg;
    wl->resume_armed = false;
    wl_resume(wl, WL_PAUSE_RATE | WL_PAUSE_ERROR);
}

void worker_handshake_done(struct net_wlistener *wl)
{
    if ((wl->paused & WL_PAUSE_HANDSHAKES) &&
        wl->handshakes < wl->l->cfg.admission.max_handshakes) {
        wl_resume(wl, WL_PAUSE_HANDSHAKES);
    }
}

static bool accept_error_is_transient(int e)
{
    /* Errors of one pending connection (accept(2) passes network errors through): skip it
     * and go on with the next. */
    switch (e) {
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

/* Whether the peer of a just-accepted socket already shut its side (FIN or RST while the
 * connection waited in the backlog). A TLS or MQTT client never half-closes before the
 * handshake, so this only catches clients that gave up. */
static bool peer_gave_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
    struct net_wlistener *wl = arg;
    struct net_worker *w = wl->w;
    const struct net_listen_config *cfg = &wl->l->cfg;
    unsigned max_hs = wl->l->tls ? cfg->admission.max_handshakes : 0;
    int64_t now = time_mono_ms();

    for (unsigned i = 0; i < cfg->accepts_per_event && wl->paused == 0; i++) {
        if (max_hs != 0 && wl->handshakes >= max_hs) {
            /* Leave connections in the kernel backlog until a handshake finishes. */
            wl_pause(wl, WL_PAUSE_HANDSHAKES);
            break;
        }
        if (!ratelimit_peek(&wl->rate, now)) {
            double missing = 1.0 - wl->rate.tokens;
            wl_pause(wl, WL_PAUSE_RATE);
            wl_arm_resume(wl, (int64_t)(missing * 1000.0 / wl->rate.rate) + 1);
            break;
        }
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        int fd = accept4(wl->fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || accept_error_is_transient(e)) {
                continue;
            }
            if (e == EAGAIN || e == EWOULDBLOCK) {
                break;
            }
            ctr_add(&w->st.accept_errors, 1);
            if (ratelimit_take(&w->accept_log_rl, now)) {
                log_warn("accept on port %u failed: %s; pausing the listener for %d ms",
                         (unsigned)atomic_load(&wl->l->port), strerror(e), ACCEPT_ERROR_BACKOFF_MS);
            }
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM, ...: the pending connection stays in the
             * backlog and the socket stays readable; stop watching it for a moment rather
             * than spin. */
            wl_pause(wl, WL_PAUSE_ERROR);
            wl_arm_resume(wl, ACCEPT_ERROR_BACKOFF_MS);
            break;
        }
        if (wl->addrs != NULL && !net_addrlimit_take(wl->addrs, (struct sockaddr *)&ss, now)) {
            ctr_add(&w->st.refused_by_address, 1);
            /* Reset rather than FIN: no TIME_WAIT left on our side for a refusal. */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fd);
            continue;
        }
        if (peer_gave_up(fd)) {
            /* A client that timed out while its connection waited in the backlog: no TLS
             * work for it, and its token stays for a live one. */
            ctr_add(&w->st.abandoned, 1);
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fd);
            continue;
        }
        ratelimit_take(&wl->rate, now);
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        conn_accepted(wl, fd, &ss, sslen);
    }
}

/* The listen backlog: the configured one, capped at max_queue_s seconds of the connect
 * rate when there is one (see net_admission_config). */
static int effective_backlog(const struct net_listen_config *cfg)
{
    double rate = cfg->admission.connect_rate;
    if (rate <= 0) {
        return cfg->backlog;
    }
    double secs = cfg->admission.max_queue_s > 0 ? cfg->admission.max_queue_s : 2.0;
    double cap = rate * secs;
    if (cap < 64) {
        cap = 64;
    }
    return cap < cfg->backlog ? (int)cap : cfg->backlog;
}

/* parse_address: "*", "::", or an IPv4/IPv6 literal (IPv6 optionally in brackets). */
static int parse_address(const char *addr, uint16_t port, struct sockaddr_storage *ss,
                         socklen_t *len, bool *dual)
{
    memset(ss, 0, sizeof(*ss));
    *dual = false;
    if (addr == NULL || addr[0] == 0 || strcmp(addr, "*") == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    char host[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(addr);
    if (n >= sizeof(host)) {
        return -EINVAL;
    }
    if (addr[0] == '[' && n > 2 && addr[n - 1] == ']') {
        memcpy(host, addr + 1, n - 2);
        host[n - 2] = 0;
    } else {
        memcpy(host, addr, n + 1);
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        *dual = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
        return 0;
    }
    return -EINVAL;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
    if (ss->ss_family == AF_INET) {
        ((struct sockaddr_in *)ss)->sin_port = htons(port);
    } else {
        ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    }
}

static int open_listen_socket(const struct sockaddr_storage *ss, socklen_t len, bool dual,
                              int backlog, int *out)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1, rc;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        goto fail;
    }
    if (ss->ss_family == AF_INET6) {
        int v6only = dual ? 0 : 1;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) {
            goto fail;
        }
    }
    if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, backlog) < 0) {
        goto fail;
    }
    *out = fd;
    return 0;
fail:
    rc = -errno;
    close(fd);
    return rc;
}

static void listener_free(struct net_listener *l, unsigned nworkers)
{
    if (l == NULL) {
        return;
    }
    if (l->wls != NULL) {
        for (unsigned i = 0; i < nworkers; i++) {
            struct net_wlistener *wl = &l->wls[i];
            if (wl->w == NULL) {
                continue;
            }
            if (wl->ev_added) {
                event_del(&wl->ev);
            }
            if (wl->resume_armed) {
                event_del(&wl->resume_ev);
            }
            if (wl->fd >= 0) {
                close(wl->fd);
            }
            net_addrlimit_free(wl->addrs);
        }
        free(l->wls);
    }
    SSL_CTX_free(l->ctx);
    pthread_mutex_destroy(&l->ctx_lock);
    free(l->address);
    free(l);
}

static int check_listen_config(const struct net_listen_config *c)
{
    if (c->proto == NULL || c->proto->on_data == NULL || c->backlog <= 0 || c->max_input == 0 ||
        c->out_max == 0 || c->out_highwater == 0 || c->out_highwater > c->out_max ||
        c->out_lowwater > c->out_highwater || c->handshake_timeout_ms == 0 ||
        c->accepts_per_event == 0) {
        return -EINVAL;
    }
    return 0;
}

int net_server_listen(struct net_server *srv, const struct net_listen_config *cfg)
{
    struct net_listener *l = NULL;
    struct net_listener **grown = NULL;
    int rc = -EINVAL;
    struct sockaddr_storage ss;
    socklen_t sslen;
    bool dual;

    if (srv->started) {
        return -EBUSY;
    }
    if (check_listen_config(cfg) < 0 ||
        parse_address(cfg->address, cfg->port, &ss, &sslen, &dual) < 0) {
        return -EINVAL;
    }
    rc = -ENOMEM;
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        goto out;
    }
    pthread_mutex_init(&l->ctx_lock, NULL);
    l->srv = srv;
    l->index = (int)srv->nlisteners;
    l->cfg = *cfg;
    l->address = strdup(cfg->address != NULL ? cfg->address : "*");
    l->wls = calloc(srv->nworkers, sizeof(*l->wls));
    if (l->address == NULL || l->wls == NULL) {
        goto out;
    }
    l->cfg.address = l->address;
    l->cfg.ssl_ctx = NULL;
    if (cfg->ssl_ctx != NULL) {
        SSL_CTX_up_ref(cfg->ssl_ctx);
        l->ctx = cfg->ssl_ctx;
        l->tls = true;
    }
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct net_wlistener *wl = &l->wls[i];
        struct net_worker *w = &srv->workers[i];
        wl->fd = -1;
        wl->l = l;
        wl->w = w;
        double rate = cfg->admission.connect_rate / srv->nworkers;
        double burst = cfg->admission.connect_burst / srv->nworkers;
        ratelimit_init(&wl->rate, cfg->admission.connect_rate > 0 ? rate : 0, burst);
        if (cfg->admission.per_addr_rate > 0) {
            unsigned size = cfg->admission.per_addr_table_size;
            wl->addrs = net_addrlimit_new(cfg->admission.per_addr_rate,
                                          cfg->admission.per_addr_burst, size ? size : 4096);
            if (wl->addrs == NULL) {
                rc = -ENOMEM;
                goto out;
            }
        }
        rc = open_listen_socket(&ss, sslen, dual, effective_backlog(cfg), &wl->fd);
        if (rc < 0) {
            log_error("cannot listen on %s port %u: %s", l->address,
                      (unsigned)atomic_load(&l->port), cg_strerror(rc));
            goto out;
        }
        if (i == 0) {
            struct sockaddr_storage bound;
            socklen_t blen = sizeof(bound);
            if (getsockname(wl->fd, (struct sockaddr *)&bound, &blen) < 0) {
                rc = -errno;
                goto out;
            }
            uint16_t port =
                ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                 : ((struct sockaddr_in6 *)&bound)->sin6_port);
            atomic_store(&l->port, port);
            set_port(&ss, port); /* the other workers join this port */
        }
        event_assign(&wl->ev, w->base, wl->fd, EV_READ | EV_PERSIST, accept_cb, wl);
        evtimer_assign(&wl->resume_ev, w->base, wl_resume_cb, wl);
    }
    grown = realloc(srv->listeners, (srv->nlisteners + 1) * sizeof(*grown));
    if (grown == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    srv->listeners = grown;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        wl_set_watch(&l->wls[i]);
    }
    srv->listeners[srv->nlisteners++] = l;
    log_info("listening on %s port %u (%s, %s, %u workers)", l->address,
             (unsigned)atomic_load(&l->port), l->tls ? "TLS" : "plain",
             cfg->proto->name != NULL ? cfg->proto->name : "?", srv->nworkers);
    return l->index;
out:
    listener_free(l, srv->nworkers);
    return rc;
}

uint16_t net_server_port(const struct net_server *srv, int index)
{
    if (index < 0 || (size_t)index >= srv->nlisteners) {
        return 0;
    }
    return atomic_load(&srv->listeners[index]->port);
}

int net_listener_set_tls(struct net_server *srv, int index, SSL_CTX *ctx)
{
    if (ctx == NULL || index < 0 || (size_t)index >= srv->nlisteners) {
        return -EINVAL;
    }
    struct net_listener *l = srv->listeners[index];
    if (!l->tls) {
        return -EINVAL;
    }
    SSL_CTX_up_ref(ctx);
    pthread_mutex_lock(&l->ctx_lock);
    SSL_CTX *old = l->ctx;
    l->ctx = ctx;
    pthread_mutex_unlock(&l->ctx_lock);
    /* Sessions created from old hold their own references. */
    SSL_CTX_free(old);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Graceful stop
 * ------------------------------------------------------------------------------------- */

static void worker_report_drained(struct net_worker *w)
{
    if (w->drained) {
        return;
    }
    w->drained = true;
    event_del(&w->drain_ev);
    pthread_mutex_lock(&w->srv->lock);
    w->srv->drained_count++;
    pthread_cond_broadcast(&w->srv->cond);
    pthread_mutex_unlock(&w->srv->lock);
}

void worker_conn_gone(struct net_worker *w)
{
    if (w->stopping && w->nconns == 0) {
        worker_report_drained(w);
    }
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct net_worker *w = arg;
    if (w->nconns > 0) {
        log_info("worker %u: %zu connections still closing after %u ms; dropping them", w->index,
                 w->nconns, w->srv->cfg.drain_ms);
    }
    while (w->conns != NULL) {
        conn_force_teardown(w->conns);
    }
    worker_report_drained(w);
}

static void worker_begin_stop(void *arg)
{
    struct net_worker *w = arg;
    struct net_server *srv = w->srv;
    w->stopping = true;
    for (size_t j = 0; j < srv->nlisteners; j++) {
        struct net_wlistener *wl = &srv->listeners[j]->wls[w->index];
        wl->paused |= WL_PAUSE_STOPPED;
        wl_set_watch(wl);
        if (wl->resume_armed) {
            event_del(&wl->resume_ev);
            wl->resume_armed = false;
        }
        if (wl->fd >= 0) {
            close(wl->fd);
            wl->fd = -1;
        }
    }
    for (struct net_conn *c = w->conns; c != NULL; c = c->next) {
        /* Handshakes are dropped, open connections flush; closing ones already do. */
        if (c->state == CONN_HANDSHAKE || c->state == CONN_OPEN) {
            conn_close_internal(c, NET_REASON_SHUTDOWN, c->state == CONN_HANDSHAKE);
        }
    }
    if (w->nconns == 0) {
        worker_report_drained(w);
        return;
    }
    unsigned ms = srv->cfg.drain_ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_add(&w->drain_ev, &tv);
}

static void worker_exit(void *arg)
{
    struct net_worker *w = arg;
    event_base_loopbreak(w->base);
}

static void *worker_main(void *arg)
{
    struct net_worker *w = arg;
    tl_worker = w;
    event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* Refuse new messages, then run those accepted before. */
    pthread_mutex_lock(&w->post_lock);
    w->post_closed = true;
    struct net_msg *m = w->post_head;
    w->post_head = w->post_tail = NULL;
    pthread_mutex_unlock(&w->post_lock);
    run_msgs(w, m);
    tl_worker = NULL;
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------------------- */

static void worker_cleanup(struct net_worker *w)
{
    if (w->base == NULL) {
        return;
    }
    struct net_timer *t = w->timers;
    while (t != NULL) {
        struct net_timer *next = t->next;
        event_del(&t->ev);
        free(t);
        t = next;
    }
    /* A server freed without running: tear down what is left (there are no connections
     * unless it ran). */
    while (w->conns != NULL) {
        conn_force_teardown(w->conns);
    }
    if (w->todo_head != NULL) {
        conn_todo_run(-1, 0, w);
    }
    if (w->later_head != NULL) {
        conn_later_run(-1, 0, w);
    }
    struct net_msg *m = w->post_head;
    while (m != NULL) {
        struct net_msg *next = m->next;
        free(m); /* never ran: the server was not started */
        m = next;
    }
    event_del(&w->post_ev);
    event_del(&w->todo_ev);
    event_del(&w->later_ev);
    event_del(&w->drain_ev);
    event_base_free(w->base);
    pthread_mutex_destroy(&w->post_lock);
    free(w->scratch);
}

int net_server_new(const struct net_config *cfg, struct net_server **out)
{
    struct net_server *srv = NULL;
    struct net_config defaults;
    int rc = -EINVAL;

    pthread_once(&init_once, net_init);
    if (init_rc < 0) {
        return init_rc;
    }
    net_config_defaults(&defaults);
    if (cfg == NULL) {
        cfg = &defaults;
    }
    if (cfg->workers == 0 || cfg->workers > MAX_WORKERS || cfg->pool_threads == 0 ||
        cfg->pool_queue_max == 0) {
        return -EINVAL;
    }
    rc = -ENOMEM;
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        goto out;
    }
    srv->cfg = *cfg;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->cond, NULL);
    srv->workers = calloc(cfg->workers, sizeof(*srv->workers));
    if (srv->workers == NULL) {
        goto out;
    }
    srv->nworkers = cfg->workers;
    for (unsigned i = 0; i < cfg->workers; i++) {
        struct net_worker *w = &srv->workers[i];
        w->srv = srv;
        w->index = i;
        struct event_config *ecfg = event_config_new();
        if (ecfg == NULL) {
            goto out;
        }
        /* Poll the sockets again after this many callbacks even if more are active, so
         * that deferred work can never starve I/O. */
        event_config_set_max_dispatch_interval(ecfg, NULL, MAX_DISPATCH_CALLBACKS, 0);
        w->base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
        if (w->base == NULL) {
            goto out;
        }
        /* From here on worker_cleanup releases what is set up. */
        pthread_mutex_init(&w->post_lock, NULL);
        event_assign(&w->post_ev, w->base, -1, 0, post_cb, w);
        event_assign(&w->todo_ev, w->base, -1, 0, conn_todo_run, w);
        evtimer_assign(&w->later_ev, w->base, conn_later_run, w);
        evtimer_assign(&w->drain_ev, w->base, drain_cb, w);
        ratelimit_init(&w->hs_log_rl, 0.2, 1);
        ratelimit_init(&w->accept_log_rl, 0.2, 1);
        w->scratch_len = SCRATCH_LEN;
        w->scratch = malloc(SCRATCH_LEN);
        if (w->scratch == NULL) {
            goto out;
        }
    }
    rc = pool_new(cfg->pool_threads, cfg->pool_queue_max, &srv->pool);
    if (rc < 0) {
        goto out;
    }
    *out = srv;
    srv = NULL;
    rc = 0;
out:
    net_server_free(srv);
    return rc;
}

static void block_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    /* OpenSSL writes to sockets with write(2): a reset peer must not kill the process. The
     * control thread, not the workers, handles the termination signals. */
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

int net_server_start(struct net_server *srv)
{
    if (srv->started) {
        return -EBUSY;
    }
    sigset_t old;
    block_signals(&old);
    int rc = 0;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct net_worker *w = &srv->workers[i];
        int e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e != 0) {
            rc = -e;
            break;
        }
        w->thread_started = true;
    }
    if (rc == 0) {
        rc = pool_start(srv->pool);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    srv->started = true;
    if (rc < 0) {
        net_server_stop(srv);
    }
    return rc;
}

void net_server_stop(struct net_server *srv)
{
    if (!srv->started || srv->stopped) {
        return;
    }
    srv->stopped = true;
    unsigned running = 0;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct net_worker *w = &srv->workers[i];
        if (w->thread_started && net_worker_post(w, worker_begin_stop, w) == 0) {
            running++;
        }
    }
    pthread_mutex_lock(&srv->lock);
    while (srv->drained_count < running) {
        pthread_cond_wait(&srv->cond, &srv->lock);
    }
    pthread_mutex_unlock(&srv->lock);
    pool_stop(srv->pool);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct net_worker *w = &srv->workers[i];
        if (w->thread_started) {
            net_worker_post(w, worker_exit, w);
        }
    }
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct net_worker *w = &srv->workers[i];
        if (w->thread_started) {
            pthread_join(w->thread, NULL);
            w->thread_started = false;
        }
    }
}

void net_server_free(struct net_server *srv)
{
    if (srv == NULL) {
        return;
    }
    net_server_stop(srv);
    pool_free(srv->pool);
    for (size_t j = 0; j < srv->nlisteners; j++) {
        listener_free(srv->listeners[j], srv->nworkers);
    }
    free(srv->listeners);
    if (srv->workers != NULL) {
        for (unsigned i = 0; i < srv->nworkers; i++) {
            worker_cleanup(&srv->workers[i]);
        }
        free(srv->workers);
    }
    pthread_cond_destroy(&srv->cond);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------------------- */

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void net_worker_stats(const struct net_worker *w, struct net_stats *out)
{
    memset(out, 0, sizeof(*out));
    const struct net_counters *s = &w->st;
    out->accepted = LOAD(s->accepted);
    out->refused_by_address = LOAD(s->refused_by_address);
    out->abandoned = LOAD(s->abandoned);
    out->accept_errors = LOAD(s->accept_errors);
    out->accept_pauses = LOAD(s->accept_pauses);
    out->handshakes_ok = LOAD(s->handshakes_ok);
    out->handshakes_failed = LOAD(s->handshakes_failed);
    out->handshake_timeouts = LOAD(s->handshake_timeouts);
    out->handshakes_in_progress = LOAD(s->handshakes_in_progress);
    out->conns_open = LOAD(s->conns_open);
    out->closed_input_limit = LOAD(s->closed_input_limit);
    out->bytes_in = LOAD(s->bytes_in);
    out->bytes_out = LOAD(s->bytes_out);
    out->posts_run = LOAD(s->posts_run);
    out->post_queue = LOAD(w->post_depth);
}

void net_server_stats(const struct net_server *srv, struct net_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct net_stats s;
        net_worker_stats(&srv->workers[i], &s);
        out->accepted += s.accepted;
        out->refused_by_address += s.refused_by_address;
        out->abandoned += s.abandoned;
        out->accept_errors += s.accept_errors;
        out->accept_pauses += s.accept_pauses;
        out->handshakes_ok += s.handshakes_ok;
        out->handshakes_failed += s.handshakes_failed;
        out->handshake_timeouts += s.handshake_timeouts;
        out->handshakes_in_progress += s.handshakes_in_progress;
        out->conns_open += s.conns_open;
        out->closed_input_limit += s.closed_input_limit;
        out->bytes_in += s.bytes_in;
        out->bytes_out += s.bytes_out;
        out->post_queue += s.post_queue;
        out->posts_run += s.posts_run;
    }
    pool_stats(srv->pool, out);
}
