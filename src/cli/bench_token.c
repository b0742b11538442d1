/* certgate bench token: device access tokens per second. Each request is
 * POST /devicecontrol/deviceAccessToken over HTTPS with the device's client certificate
 * (the device authenticates with the TLS handshake; the answer is {"accessToken": ...}).
 * Keep-alive off (the default): one request per connection, i.e. one full mutual-TLS
 * handshake per token, as a device that wakes up, fetches a token and leaves. Keep-alive
 * on (--requests-per-connection N): N sequential requests per connection. */
#include "cli/bench.h"
#include "cli/bench_client.h"

#include "core/timeutil.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { OPT_CONCURRENCY = 1, OPT_RATE, OPT_ONCE, OPT_PER_CONN, OPT_PATH };

struct token_params {
    int concurrency;
    double rate;
    bool once;
    int per_conn; /* requests per connection; 1: keep-alive off */
    const char *path;
};

struct token_shared {
    const struct bench_opts *o;
    const struct token_params *p;
    struct bench_devices *devs;
    char request[512]; /* the last request of a connection (Connection: close) */
    size_t request_len;
    char request_ka[512]; /* the others (Connection: keep-alive) */
    size_t request_ka_len;
    uint64_t t_start, t_win0, t_win1;
    atomic_int draining;
};

struct token_loop {
    struct token_shared *sh;
    size_t cursor;
    size_t inflight;
    double rate;
    uint64_t offered;
    bool exhausted;
    /* in the window */
    uint64_t attempts;
    uint64_t skipped;
    uint64_t tokens;    /* 200 with an accessToken */
    uint64_t status[6]; /* by class: 1xx..5xx, [0] unparsable */
    uint64_t status_401, status_422;
    uint64_t failures[BENCH_END_COUNT]; /* connections that ended before their answers */
    uint64_t handshakes;
    struct bench_hist lat;     /* per token: from connect() (first request) or the request */
    struct bench_hist lat_tls; /* connect() to handshake done */
    uint64_t close_timeouts;
};

/* c->phase: requests answered on this connection; c->flags: 1 once the last answer came
 * (waiting for the server to close); c->u64: when the current request was sent. */

static bool in_window(const struct token_shared *sh, uint64_t t)
{
    return t >= sh->t_win0 && t < sh->t_win1;
}

static void token_fill(struct bench_loop *l);

static void send_request(struct bench_conn *c)
{
    struct token_loop *tl = c->loop->arg;
    const struct token_shared *sh = tl->sh;
    bool last = c->phase + 1 >= sh->p->per_conn;
    int rc = last ? buf_append(&c->tx, sh->request, sh->request_len)
                  : buf_append(&c->tx, sh->request_ka, sh->request_ka_len);
    if (rc < 0) {
        bench_conn_fail(c);
        return;
    }
    c->u64 = time_mono_ns();
    bench_conn_flush(c);
}

static void on_open(struct bench_conn *c)
{
    struct token_loop *tl = c->loop->arg;
    if (in_window(tl->sh, c->t_tls_ns)) {
        tl->handshakes++;
        bench_hist_add(&tl->lat_tls, (c->t_tls_ns - c->t_open_ns) / 1000);
    }
    send_request(c);
}

/* The length of a complete response at the front of data (headers and Content-Length
 * body), 0 when more is needed, -1 when it cannot be parsed. *status gets the code. */
static long response_len(const char *data, size_t len, int *status, size_t *body_off)
{
    const char *end = memmem(data, len, "\r\n\r\n", 4);
    if (end == NULL) {
        return len > 65536 ? -1 : 0;
    }
    size_t head = (size_t)(end - data) + 4;
    if (len < 12 || memcmp(data, "HTTP/1.", 7) != 0) {
        return -1;
    }
    *status = atoi(data + 9);
    long clen = -1;
    const char *p = data;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        if (eol == NULL) {
            break;
        }
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
            clen = atol(p + 15);
        }
        p = eol + 2;
    }
    if (clen < 0 || clen > (1 << 20)) {
        return -1; /* certgate always sends Content-Length */
    }
    *body_off = head;
    return head + (size_t)clen <= len ? (long)(head + (size_t)clen) : 0;
}

static void on_input(struct bench_conn *c)
{
    struct token_loop *tl = c->loop->arg;
    const struct token_shared *sh = tl->sh;
    for (;;) {
        if (c->flags == 1) {
            buf_consume(&c->rx, c->rx.len); /* after the last answer: ignore */
            return;
        }
        int status = 0;
        size_t body = 0;
        long n = response_len((const char *)buf_data(&c->rx), c->rx.len, &status, &body);
        if (n == 0) {
            return;
        }
        uint64_t now = time_mono_ns();
        if (n < 0) {
            if (in_window(sh, now)) {
                tl->status[0]++;
            }
            bench_conn_fail(c);
            return;
        }
        bool ok = status == 200 &&
                  memmem(buf_data(&c->rx) + body, (size_t)n - body, "\"accessToken\"", 13) != NULL;
        if (in_window(sh, now)) {
            tl->status[status >= 100 && status < 600 ? status / 100 : 0]++;
            tl->status_401 += status == 401;
            tl->status_422 += status == 422;
            if (ok) {
                tl->tokens++;
                /* Keep-alive off: the token's time includes the handshake. */
                uint64_t from = c->phase == 0 ? c->t_open_ns : c->u64;
                bench_hist_add(&tl->lat, (now - from) / 1000);
            }
        }
        buf_consume(&c->rx, (size_t)n);
        c->phase++;
        if (c->phase >= sh->p->per_conn || !ok) {
            /* Connection: close was sent with the last request: wait for the server to
             * close (TIME_WAIT stays on its side); give up after 2 s. */
            c->flags = 1;
            c->deadline_ns = now + 2000000000ull;
            if (!ok) {
                bench_conn_close(c);
            }
            return;
        }
        send_request(c);
        if (c->ended) {
            return;
        }
    }
}

static void on_close(struct bench_conn *c, enum bench_end why)
{
    struct token_loop *tl = c->loop->arg;
    const struct token_shared *sh = tl->sh;
    tl->inflight--;
    if (c->flags == 1) {
        if (why == BENCH_END_TIMEOUT) {
            tl->close_timeouts++;
        }
    } else if (in_window(sh, time_mono_ns())) {
        tl->failures[why]++;
    }
    if (sh->p->rate <= 0 && c->flags == 1) {
        token_fill(c->loop);
    }
}

static const struct bench_conn_ops token_ops = {
    .on_open = on_open,
    .on_input = on_input,
    .on_close = on_close,
};

static struct bench_device *next_device(struct bench_loop *l)
{
    struct token_loop *tl = l->arg;
    struct bench_devices *d = tl->sh->devs;
    size_t step = (size_t)l->cl->nloops;
    size_t owned = d->n / step + (d->n % step > (size_t)l->index ? 1 : 0);
    for (size_t tries = 0; tries < owned; tries++) {
        size_t idx = (size_t)l->index + tl->cursor * step;
        tl->cursor = (tl->cursor + 1) % owned;
        struct bench_device *dev = &d->dev[idx];
        if (!dev->in_use && !(tl->sh->p->once && dev->used)) {
            return dev;
        }
    }
    if (tl->sh->p->once) {
        bool any = false;
        for (size_t k = 0; k < owned && !any; k++) {
            any = !d->dev[(size_t)l->index + k * step].used;
        }
        tl->exhausted = !any;
    }
    return NULL;
}

static bool start_one(struct bench_loop *l, uint64_t now)
{
    struct token_loop *tl = l->arg;
    struct bench_device *dev = next_device(l);
    if (dev == NULL) {
        return false;
    }
    struct bench_conn *c =
        bench_conn_open(l, dev, &token_ops, tl, now + (uint64_t)tl->sh->o->timeout_ms * 1000000ull);
    if (in_window(tl->sh, now)) {
        tl->attempts++;
        if (c == NULL) {
            tl->failures[BENCH_END_TCP]++;
        }
    }
    if (c != NULL) {
        tl->inflight++;
    }
    return true;
}

static void token_fill(struct bench_loop *l)
{
    struct token_loop *tl = l->arg;
    const struct token_shared *sh = tl->sh;
    if (atomic_load_explicit(&((struct token_shared *)sh)->draining, memory_order_relaxed)) {
        return;
    }
    size_t n = (size_t)l->cl->nloops;
    size_t share =
        (size_t)sh->p->concurrency / n + ((size_t)sh->p->concurrency % n > (size_t)l->index);
    uint64_t now = time_mono_ns();
    while (tl->inflight < share && start_one(l, now)) {
    }
}

static void token_tick(struct bench_loop *l, uint64_t now)
{
    struct token_loop *tl = l->arg;
    struct token_shared *sh = tl->sh;
    if (atomic_load_explicit(&sh->draining, memory_order_relaxed)) {
        return;
    }
    if (sh->p->rate <= 0) {
        token_fill(l);
        return;
    }
    uint64_t due = (uint64_t)(tl->rate * (double)(now - sh->t_start) / 1e9);
    size_t cap = (size_t)sh->p->concurrency / (size_t)l->cl->nloops + 1;
    while (tl->offered < due) {
        tl->offered++;
        if (tl->inflight >= cap || !start_one(l, now)) {
            if (in_window(sh, now)) {
                tl->skipped++;
            }
        }
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: certgate bench token --cafile FILE --devices DIR [options]\n"
            "\n"
            "Device access tokens per second: POST /devicecontrol/deviceAccessToken over\n"
            "HTTPS (--https-port) with a device's client certificate; a token is a 200 answer\n"
            "with \"accessToken\". By default keep-alive is off: every token is a new\n"
            "connection with a full mutual-TLS handshake (the request says Connection:\n"
            "close; the server closes). Latency is from connect() to the answer, or, for the\n"
            "later requests of a keep-alive connection, from the request to the answer.\n"
            "\n"
            "token options:\n"
            "  --concurrency N     requests (connections) in flight, closed loop (32); with\n"
            "                      --rate the most in flight (10000)\n"
            "  --rate R            offer R connections per second (open loop; admission test)\n"
            "  --requests-per-connection N\n"
            "                      keep-alive on: N sequential requests per connection (1: off)\n"
            "  --once              each device once: first-time connects (with auto-registration\n"
            "                      on, each token registers its device: registrations per second)\n"
            "  --path PATH         request path (/devicecontrol/deviceAccessToken)\n"
            "\n"
            "%s"
            "\n"
            "Defaults: --seconds 10 --warmup 1. Example:\n"
            "  certgate bench token --https-port 8443 --cafile server-ca.pem --devices fleet \\\n"
            "      --concurrency 32 --seconds 10 --server-pid PID\n",
            bench_common_help);
}

/* Whether every generator thread used all its devices and has nothing in flight. */
struct token_used {
    const struct token_loop *loops;
    int n;
};

static bool all_used(void *ctx)
{
    const struct token_used *u = ctx;
    for (int i = 0; i < u->n; i++) {
        if (!u->loops[i].exhausted || u->loops[i].inflight != 0) {
            return false;
        }
    }
    return true;
}

static int mode_opt(int code, const char *arg, void *ctx)
{
    struct token_params *p = ctx;
    long v = 0;
    switch (code) {
    case OPT_CONCURRENCY:
        if (bench_parse_int("token", "concurrency", arg, 1, 100000, &v) < 0) {
            return -1;
        }
        p->concurrency = (int)v;
        return 0;
    case OPT_RATE:
        return bench_parse_double("token", "rate", arg, 0, 1e6, &p->rate);
    case OPT_ONCE:
        p->once = true;
        return 0;
    case OPT_PER_CONN:
        if (bench_parse_int("token", "requests-per-connection", arg, 1, 1000000, &v) < 0) {
            return -1;
        }
        p->per_conn = (int)v;
        return 0;
    case OPT_PATH:
        if (arg[0] != '/' || strlen(arg) > 200 || strpbrk(arg, " \r\n") != NULL) {
            fprintf(stderr, "certgate bench token: --path '%s': an absolute path\n", arg);
            return -1;
        }
        p->path = arg;
        return 0;
    default:
        return -1;
    }
}

int bench_token_main(int argc, char **argv)
{
    static const struct option opts[] = {
        BENCH_COMMON_OPTIONS,
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"rate", required_argument, NULL, OPT_RATE},
        {"once", no_argument, NULL, OPT_ONCE},
        {"requests-per-connection", required_argument, NULL, OPT_PER_CONN},
        {"path", required_argument, NULL, OPT_PATH},
        {NULL, 0, NULL, 0},
    };
    struct bench_opts o;
    struct token_params p = {.per_conn = 1, .path = "/devicecontrol/deviceAccessToken"};
    bench_opts_defaults(&o, "token");
    int prc = bench_opts_parse(&o, argc, argv, opts, mode_opt, &p, usage, true);
    if (prc != 0) {
        return prc == 1 ? 0 : 2;
    }
    if (p.once && !o.warmup_set) {
        o.warmup = 0; /* every device counts once: none is spent warming up */
    }
    if (p.concurrency == 0) {
        p.concurrency = p.rate > 0 ? 10000 : 32;
    }
    if (o.max_seconds <= 0) {
        o.max_seconds = o.warmup + o.seconds + o.timeout_ms / 1000.0 + 10;
    }
    struct bench_devices devs = {0};
    struct bench_client *client = NULL;
    struct token_loop *loops = NULL;
    void **args = NULL;
    struct token_shared sh = {.o = &o, .p = &p, .devs = &devs};
    int status = 1;
    bench_signals_install();
    const char *fmt = "POST %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json\r\n"
                      "Content-Length: 0\r\nConnection: %s\r\n\r\n";
    sh.request_len = (size_t)snprintf(sh.request, sizeof(sh.request), fmt, p.path, o.host,
                                      o.https_port, "close");
    sh.request_ka_len = (size_t)snprintf(sh.request_ka, sizeof(sh.request_ka), fmt, p.path, o.host,
                                         o.https_port, "keep-alive");
    if (bench_devices_load(&o, 0, &devs) < 0) {
        goto out;
    }
    if (!p.once && p.rate <= 0 && (size_t)p.concurrency > devs.n) {
        fprintf(stderr, "certgate bench token: --concurrency %d needs as many devices (%zu)\n",
                p.concurrency, devs.n);
        goto out;
    }
    if (bench_raise_nofile(&o, (long)(p.concurrency < (int)devs.n ? p.concurrency : (int)devs.n) +
                                   64) < 0) {
        goto out;
    }
    struct bench_client_config cc = {.opts = &o, .devices = &devs, .port = o.https_port};
    if (bench_client_new(&cc, &client) < 0) {
        goto out;
    }
    loops = calloc((size_t)o.threads, sizeof(*loops));
    args = calloc((size_t)o.threads, sizeof(*args));
    if (loops == NULL || args == NULL) {
        fprintf(stderr, "certgate bench token: out of memory\n");
        goto out;
    }
    for (int i = 0; i < o.threads; i++) {
        loops[i].sh = &sh;
        loops[i].rate = p.rate / o.threads;
        args[i] = &loops[i];
    }
    if (!o.json) {
        printf("bench token: %s%shttps://%s:%d%s, keep-alive %s, %s, %zu devices, %d threads, "
               "%.1f s (+%.1f s warm-up)\n",
               o.label ? o.label : "", o.label ? " at " : "", o.host, o.https_port, p.path,
               p.per_conn > 1 ? "on" : "off", p.rate > 0 ? "open loop" : "closed loop", devs.n,
               o.threads, o.seconds, o.warmup);
        if (p.per_conn > 1) {
            printf("  requests       %d per connection\n", p.per_conn);
        }
        if (p.rate > 0) {
            printf("  offered rate   %.0f connections/s (at most %d in flight)\n", p.rate,
                   p.concurrency);
        } else {
            printf("  concurrency    %d in flight\n", p.concurrency);
        }
        fflush(stdout);
    }
    uint64_t now = time_mono_ns();
    sh.t_start = now;
    sh.t_win0 = now + (uint64_t)(o.warmup * 1e9);
    sh.t_win1 = sh.t_win0 + (uint64_t)(o.seconds * 1e9);
    uint64_t hard_end = now + (uint64_t)(o.max_seconds * 1e9);
    if (bench_client_start(client, token_tick, args, 1000000ull) < 0) {
        goto out;
    }
    struct bench_sample s0, s1;
    uint64_t t_end = 0;
    struct token_used used = {loops, o.threads};
    /* --once: the window ends early when every device was used. */
    bool interrupted = !bench_measure(sh.t_win0, &sh.t_win1, o.server_pid, p.once ? all_used : NULL,
                                      &used, &s0, &s1, &t_end);
    atomic_store(&sh.draining, 1);
    /* Let the connections in flight finish (they no longer count), within the hard cap. */
    bench_client_drain(client, t_end + (uint64_t)o.timeout_ms * 1000000ull + 2000000000ull,
                       hard_end);
    bench_client_stop(client);

    struct token_loop sum = {0};
    for (int i = 0; i < o.threads; i++) {
        struct token_loop *x = &loops[i];
        sum.attempts += x->attempts;
        sum.skipped += x->skipped;
        sum.tokens += x->tokens;
        sum.handshakes += x->handshakes;
        sum.status_401 += x->status_401;
        sum.status_422 += x->status_422;
        sum.close_timeouts += x->close_timeouts;
        for (int k = 0; k < 6; k++) {
            sum.status[k] += x->status[k];
        }
        for (int k = 0; k < BENCH_END_COUNT; k++) {
            sum.failures[k] += x->failures[k];
        }
        bench_hist_merge(&sum.lat, &x->lat);
        bench_hist_merge(&sum.lat_tls, &x->lat_tls);
    }
    uint64_t failures =
        sum.status[0] + sum.status[1] + sum.status[3] + sum.status[4] + sum.status[5];
    for (int k = 1; k < BENCH_END_COUNT; k++) {
        failures += sum.failures[k];
    }
    struct bench_window w;
    bench_window_make(&w, &s0, &s1);
    struct bench_loop_stats cst;
    bench_client_stats(client, &cst);
    double per_s = w.elapsed_s > 0 ? (double)sum.tokens / w.elapsed_s : 0;

    if (o.json) {
        json_t *st = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "unparsable",
                               (json_int_t)sum.status[0], "1xx", (json_int_t)sum.status[1], "2xx",
                               (json_int_t)sum.status[2], "3xx", (json_int_t)sum.status[3], "4xx",
                               (json_int_t)sum.status[4], "5xx", (json_int_t)sum.status[5], "401",
                               (json_int_t)sum.status_401, "422", (json_int_t)sum.status_422);
        json_t *fail = json_object();
        for (int k = 1; k < BENCH_END_COUNT; k++) {
            json_object_set_new(fail, bench_end_name((enum bench_end)k),
                                json_integer((json_int_t)sum.failures[k]));
        }
        json_t *res =
            json_pack("{s:I,s:f,s:I,s:I,s:f,s:I,s:o,s:o,s:I,s:o,s:o,s:I}", "tokens",
                      (json_int_t)sum.tokens, "tokens_per_s", per_s, "attempts",
                      (json_int_t)sum.attempts, "skipped", (json_int_t)sum.skipped, "offered_per_s",
                      w.elapsed_s > 0 ? (double)(sum.attempts + sum.skipped) / w.elapsed_s : 0.0,
                      "handshakes", (json_int_t)sum.handshakes, "status", st, "failures", fail,
                      "failures_total", (json_int_t)failures, "latency", bench_hist_json(&sum.lat),
                      "latency_tls", bench_hist_json(&sum.lat_tls), "close_timeouts",
                      (json_int_t)sum.close_timeouts);
        json_t *params = json_pack(
            "{s:i,s:f,s:b,s:i,s:b,s:s,s:i,s:I}", "concurrency", p.concurrency, "rate", p.rate,
            "once", p.once, "requests_per_connection", p.per_conn, "keepalive", p.per_conn > 1,
            "path", p.path, "https_port", o.https_port, "devices_used", (json_int_t)devs.n);
        bench_json_print(json_pack(
            "{s:s,s:o,s:o,s:o,s:o,s:o,s:b}", "mode", "token", "options", bench_opts_json(&o),
            "params", params, "result", res, "window", bench_window_json(&w, sum.tokens), "client",
            bench_client_stats_json(&cst), "interrupted", interrupted || bench_interrupted));
    } else {
        char lat[160], lat2[160];
        bench_hist_text(&sum.lat, lat, sizeof(lat));
        bench_hist_text(&sum.lat_tls, lat2, sizeof(lat2));
        printf("  tokens         %llu in %.2f s = %.1f tokens/s\n", (unsigned long long)sum.tokens,
               w.elapsed_s, per_s);
        if (p.rate > 0) {
            printf("  offered        %llu started + %llu not started = %.1f/s\n",
                   (unsigned long long)sum.attempts, (unsigned long long)sum.skipped,
                   w.elapsed_s > 0 ? (double)(sum.attempts + sum.skipped) / w.elapsed_s : 0);
        }
        printf("  answers        2xx %llu, 4xx %llu (401 %llu, 422 %llu), 5xx %llu, other %llu\n",
               (unsigned long long)sum.status[2], (unsigned long long)sum.status[4],
               (unsigned long long)sum.status_401, (unsigned long long)sum.status_422,
               (unsigned long long)sum.status[5],
               (unsigned long long)(sum.status[0] + sum.status[1] + sum.status[3]));
        printf("  failures       %llu:", (unsigned long long)failures);
        for (int k = 1; k < BENCH_END_COUNT; k++) {
            printf(" %s %llu", bench_end_name((enum bench_end)k),
                   (unsigned long long)sum.failures[k]);
        }
        printf("\n");
        if (cst.first_error[0] != 0) {
            printf("  first error    %s\n", cst.first_error);
        }
        printf("  latency        %s (per token)\n", lat);
        printf("  TLS latency    %s (connect() to handshake done; %llu handshakes)\n", lat2,
               (unsigned long long)sum.handshakes);
        bench_window_print(&w, sum.tokens, "token");
        if (interrupted || bench_interrupted) {
            printf("  (interrupted)\n");
        }
    }
    status = sum.tokens > 0 ? 0 : 1;
    if (status != 0) {
        fprintf(stderr, "certgate bench token: no token was issued%s%s\n",
                cst.first_error[0] ? ": " : "", cst.first_error);
    }
out:
    bench_client_free(client);
    free(loops);
    free(args);
    bench_devices_free(&devs);
    return status;
}
