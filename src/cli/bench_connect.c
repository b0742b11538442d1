/* certgate bench connect: repeated mutual-TLS connects, each a full (or resumed) handshake,
 * CONNECT / CONNACK and DISCONNECT, closed-loop (--concurrency in flight) or at an offered
 * rate (--rate, for the admission-control test). */
#include "cli/bench.h"
#include "cli/bench_client.h"

#include "core/timeutil.h"
#include "mqtt/codec.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_CONCURRENCY = 1, OPT_RATE, OPT_RESUME, OPT_ONCE, OPT_HANDSHAKE_ONLY, OPT_KEEPALIVE };

struct connect_params {
    int concurrency; /* in flight (closed loop), or the cap on in flight with --rate */
    double rate;     /* offered connects per second; 0: closed loop */
    bool resume;
    bool once;
    bool handshake_only;
    int keepalive;
};

/* Shared by the loops; written by the main thread before the loops start, except phase. */
struct connect_shared {
    const struct bench_opts *o;
    const struct connect_params *p;
    struct bench_devices *devs;
    uint64_t t_start, t_win0, t_win1;
    atomic_int draining; /* no new connections */
};

/* Per loop (its thread only while running). */
struct connect_loop {
    struct connect_shared *sh;
    size_t cursor;    /* next device index (this loop owns index % nloops == loop index) */
    size_t inflight;  /* connections open (any state) */
    double rate;      /* this loop's share of --rate */
    uint64_t offered; /* rate mode: attempts due so far */
    bool exhausted;   /* --once: every device of this loop was used */
    /* counted in the window */
    uint64_t attempts;
    uint64_t skipped;  /* rate mode: due but not started (in-flight cap or no device) */
    uint64_t connects; /* CONNACK 0 (or handshakes with --handshake-only) */
    uint64_t connack[6];
    uint64_t connack_other;
    uint64_t failures[BENCH_END_COUNT];
    uint64_t handshakes;
    uint64_t resumed;
    struct bench_hist lat;     /* connect() to CONNACK */
    struct bench_hist lat_tls; /* connect() to handshake done */
    /* whole run */
    uint64_t close_timeouts; /* the server did not close within 2 s after DISCONNECT */
};

enum { CS_CONNECTING = 0, CS_CLOSING = 1 };

static bool in_window(const struct connect_shared *sh, uint64_t t)
{
    return t >= sh->t_win0 && t < sh->t_win1;
}

static void connect_fill(struct bench_loop *l);

static void on_open(struct bench_conn *c)
{
    struct connect_loop *cl = c->loop->arg;
    const struct connect_shared *sh = cl->sh;
    uint64_t now = c->t_tls_ns;
    if (in_window(sh, now)) {
        cl->handshakes++;
        cl->resumed += c->resumed;
        bench_hist_add(&cl->lat_tls, (now - c->t_open_ns) / 1000);
    }
    if (sh->p->handshake_only) {
        if (in_window(sh, now)) {
            cl->connects++;
            bench_hist_add(&cl->lat, (now - c->t_open_ns) / 1000);
        }
        c->phase = CS_CLOSING;
        c->deadline_ns = now + 2000000000ull;
        bench_conn_shutdown(c);
        return;
    }
    if (bench_mqtt_send_connect(c, (uint16_t)sh->p->keepalive, true) < 0) {
        bench_conn_fail(c);
    }
}

static void on_input(struct bench_conn *c)
{
    struct connect_loop *cl = c->loop->arg;
    const struct connect_shared *sh = cl->sh;
    struct mqtt_packet pkt;
    size_t len = 0;
    int rc;
    while ((rc = bench_mqtt_next(c, &pkt, &len)) > 0) {
        if (c->phase != CS_CONNECTING || pkt.type != MQTT_CONNACK) {
            buf_consume(&c->rx, len);
            if (c->phase == CS_CLOSING) {
                continue; /* anything after CONNACK is ignored */
            }
            bench_conn_fail(c);
            return;
        }
        uint64_t now = time_mono_ns();
        uint8_t code = pkt.connack.return_code;
        buf_consume(&c->rx, len);
        if (in_window(sh, now)) {
            if (code < 6) {
                cl->connack[code]++;
            } else {
                cl->connack_other++;
            }
            if (code == 0) {
                cl->connects++;
                bench_hist_add(&cl->lat, (now - c->t_open_ns) / 1000);
            }
        }
        /* DISCONNECT, then wait for the server to close (it does on DISCONNECT): the
         * server's teardown happens inside the measurement, and the TIME_WAIT state stays
         * on the server's side of the connection. */
        c->phase = CS_CLOSING;
        c->deadline_ns = now + 2000000000ull;
        if (mqtt_bare_encode(&c->tx, MQTT_DISCONNECT) < 0) {
            bench_conn_fail(c);
            return;
        }
        bench_conn_flush(c);
        if (c->ended) {
            return;
        }
    }
    if (rc < 0) {
        bench_conn_fail(c);
    }
}

static void on_close(struct bench_conn *c, enum bench_end why)
{
    struct connect_loop *cl = c->loop->arg;
    const struct connect_shared *sh = cl->sh;
    cl->inflight--;
    if (c->phase == CS_CLOSING) {
        if (why == BENCH_END_TIMEOUT) {
            cl->close_timeouts++;
        }
    } else if (in_window(sh, time_mono_ns())) {
        /* Ended before CONNACK: a failure. BENCH_END_CLOSED only when the run stopped. */
        cl->failures[why]++;
    }
    /* Closed loop: replace a completed connect at once; a failed one on the next tick
     * (1 ms), so that a refusing server does not turn the generator into a busy loop. */
    if (sh->p->rate <= 0 && c->phase == CS_CLOSING) {
        connect_fill(c->loop);
    }
}

static const struct bench_conn_ops connect_ops = {
    .on_open = on_open,
    .on_input = on_input,
    .on_close = on_close,
};

/* The next device this loop may use, or NULL. */
static struct bench_device *next_device(struct bench_loop *l)
{
    struct connect_loop *cl = l->arg;
    struct bench_devices *d = cl->sh->devs;
    size_t n = d->n;
    size_t step = (size_t)l->cl->nloops;
    size_t owned = n / step + (n % step > (size_t)l->index ? 1 : 0);
    for (size_t tries = 0; tries < owned; tries++) {
        size_t idx = (size_t)l->index + cl->cursor * step;
        cl->cursor = (cl->cursor + 1) % owned;
        struct bench_device *dev = &d->dev[idx];
        if (dev->in_use || (cl->sh->p->once && dev->used)) {
            continue;
        }
        return dev;
    }
    if (cl->sh->p->once) {
        bool any = false;
        for (size_t k = 0; k < owned && !any; k++) {
            any = !d->dev[(size_t)l->index + k * step].used;
        }
        cl->exhausted = !any;
    }
    return NULL;
}

static bool start_one(struct bench_loop *l, uint64_t now)
{
    struct connect_loop *cl = l->arg;
    struct bench_device *dev = next_device(l);
    if (dev == NULL) {
        return false;
    }
    uint64_t deadline = now + (uint64_t)cl->sh->o->timeout_ms * 1000000ull;
    struct bench_conn *c = bench_conn_open(l, dev, &connect_ops, cl, deadline);
    if (in_window(cl->sh, now)) {
        cl->attempts++;
        if (c == NULL) {
            cl->failures[BENCH_END_TCP]++;
        }
    }
    if (c != NULL) {
        cl->inflight++;
    }
    return true;
}

/* Closed loop: keep the loop's share of --concurrency in flight. */
static void connect_fill(struct bench_loop *l)
{
    struct connect_loop *cl = l->arg;
    const struct connect_shared *sh = cl->sh;
    if (atomic_load_explicit(&((struct connect_shared *)sh)->draining, memory_order_relaxed)) {
        return;
    }
    size_t share = (size_t)sh->p->concurrency / (size_t)l->cl->nloops +
                   ((size_t)sh->p->concurrency % (size_t)l->cl->nloops > (size_t)l->index);
    uint64_t now = time_mono_ns();
    while (cl->inflight < share) {
        if (!start_one(l, now)) {
            break;
        }
    }
}

static void connect_tick(struct bench_loop *l, uint64_t now)
{
    struct connect_loop *cl = l->arg;
    struct connect_shared *sh = cl->sh;
    if (atomic_load_explicit(&sh->draining, memory_order_relaxed)) {
        return;
    }
    if (sh->p->rate <= 0) {
        connect_fill(l);
        return;
    }
    /* Open loop: every attempt due by now is started, whatever the server does. */
    uint64_t due = (uint64_t)(cl->rate * (double)(now - sh->t_start) / 1e9);
    size_t cap = (size_t)sh->p->concurrency / (size_t)l->cl->nloops + 1;
    while (cl->offered < due) {
        cl->offered++;
        if (cl->inflight >= cap || !start_one(l, now)) {
            if (in_window(sh, now)) {
                cl->skipped++;
            }
        }
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: certgate bench connect --cafile FILE --devices DIR [options]\n"
            "\n"
            "Repeated mutual-TLS MQTT connects: TCP connect, TLS handshake with a device\n"
            "certificate, CONNECT (ClientId = device name, clean session), CONNACK,\n"
            "DISCONNECT, then the server closes. Each device has at most one connection at a\n"
            "time. Counts CONNACKs received in the measurement window; latency is from\n"
            "connect() to CONNACK.\n"
            "\n"
            "connect options:\n"
            "  --concurrency N     connections in flight (closed loop; default 64). With --rate:\n"
            "                      the most in flight (default 10000)\n"
            "  --rate R            offer R connects per second whatever the server does (open\n"
            "                      loop; for admission control), instead of the closed loop\n"
            "  --resume            resume each device's previous TLS session (TLS 1.3 ticket or\n"
            "                      1.2 session); the report says how many handshakes resumed.\n"
            "                      A device's first connect is a full handshake: use about 2 x\n"
            "                      --concurrency devices (--device-limit) and a warm-up\n"
            "  --once              use each device once (first-time connects, e.g. measuring\n"
            "                      auto-registration); the run ends when all were used\n"
            "  --handshake-only    no MQTT: TLS handshake, close_notify, close (for a port\n"
            "                      without MQTT, or to isolate the TLS cost)\n"
            "  --keepalive S       the CONNECT's keep-alive in seconds (60)\n"
            "\n"
            "%s"
            "\n"
            "Defaults: --seconds 10 --warmup 1. Example:\n"
            "  certgate bench connect --port 8883 --cafile server-ca.pem --devices fleet \\\n"
            "      --concurrency 64 --seconds 10 --server-pid $(pidof mosquitto)\n",
            bench_common_help);
}

/* Whether every generator thread used all its devices and has nothing in flight. */
struct connect_used {
    const struct connect_loop *loops;
    int n;
};

static bool all_used(void *ctx)
{
    const struct connect_used *u = ctx;
    for (int i = 0; i < u->n; i++) {
        if (!u->loops[i].exhausted || u->loops[i].inflight != 0) {
            return false;
        }
    }
    return true;
}

static int mode_opt(int code, const char *arg, void *ctx)
{
    struct connect_params *p = ctx;
    long v = 0;
    switch (code) {
    case OPT_CONCURRENCY:
        if (bench_parse_int("connect", "concurrency", arg, 1, 100000, &v) < 0) {
            return -1;
        }
        p->concurrency = (int)v;
        return 0;
    case OPT_RATE:
        return bench_parse_double("connect", "rate", arg, 0, 1e6, &p->rate);
    case OPT_RESUME:
        p->resume = true;
        return 0;
    case OPT_ONCE:
        p->once = true;
        return 0;
    case OPT_HANDSHAKE_ONLY:
        p->handshake_only = true;
        return 0;
    case OPT_KEEPALIVE:
        if (bench_parse_int("connect", "keepalive", arg, 0, 65535, &v) < 0) {
            return -1;
        }
        p->keepalive = (int)v;
        return 0;
    default:
        return -1;
    }
}

int bench_connect_main(int argc, char **argv)
{
    static const struct option opts[] = {
        BENCH_COMMON_OPTIONS,
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"rate", required_argument, NULL, OPT_RATE},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"once", no_argument, NULL, OPT_ONCE},
        {"handshake-only", no_argument, NULL, OPT_HANDSHAKE_ONLY},
        {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
        {NULL, 0, NULL, 0},
    };
    struct bench_opts o;
    struct connect_params p = {.concurrency = 0, .keepalive = 60};
    bench_opts_defaults(&o, "connect");
    int prc = bench_opts_parse(&o, argc, argv, opts, mode_opt, &p, usage, true);
    if (prc != 0) {
        return prc == 1 ? 0 : 2;
    }
    if (p.once && !o.warmup_set) {
        o.warmup = 0; /* every device counts once: none is spent warming up */
    }
    if (p.concurrency == 0) {
        p.concurrency = p.rate > 0 ? 10000 : 64;
    }
    if (o.max_seconds <= 0) {
        o.max_seconds = o.warmup + o.seconds + o.timeout_ms / 1000.0 + 10;
    }

    struct bench_devices devs = {0};
    struct bench_client *client = NULL;
    struct connect_loop *loops = NULL;
    void **args = NULL;
    struct connect_shared sh = {.o = &o, .p = &p, .devs = &devs};
    int status = 1;
    bench_signals_install();
    if (bench_devices_load(&o, 0, &devs) < 0) {
        goto out;
    }
    if (!p.once && (size_t)p.concurrency > devs.n && p.rate <= 0) {
        fprintf(stderr,
                "certgate bench connect: --concurrency %d needs as many devices, --devices has "
                "%zu\n",
                p.concurrency, devs.n);
        goto out;
    }
    if (bench_raise_nofile(&o, (long)(p.concurrency < (int)devs.n ? p.concurrency : (int)devs.n) +
                                   64) < 0) {
        goto out;
    }
    struct bench_client_config cc = {
        .opts = &o, .devices = &devs, .port = o.port, .resume = p.resume};
    if (bench_client_new(&cc, &client) < 0) {
        goto out;
    }
    loops = calloc((size_t)o.threads, sizeof(*loops));
    args = calloc((size_t)o.threads, sizeof(*args));
    if (loops == NULL || args == NULL) {
        fprintf(stderr, "certgate bench connect: out of memory\n");
        goto out;
    }
    for (int i = 0; i < o.threads; i++) {
        loops[i].sh = &sh;
        loops[i].rate = p.rate / o.threads;
        args[i] = &loops[i];
    }
    if (!o.json) {
        printf("bench connect: %s%s%s:%d, %s handshakes%s, %s, %zu devices, %d threads, %.1f s "
               "(+%.1f s warm-up)\n",
               o.label ? o.label : "", o.label ? " at " : "", o.host, o.port,
               p.resume ? "resumed" : "full", p.handshake_only ? " only (no MQTT)" : "",
               p.rate > 0 ? "open loop" : "closed loop", devs.n, o.threads, o.seconds, o.warmup);
        if (p.rate > 0) {
            printf("  offered rate   %.0f connects/s (at most %d in flight)\n", p.rate,
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
    if (bench_client_start(client, connect_tick, args, 1000000ull) < 0) {
        goto out;
    }
    struct bench_sample s0, s1;
    uint64_t t_end = 0;
    struct connect_used used = {loops, o.threads};
    /* --once: the window ends early when every device was used. */
    bool interrupted = !bench_measure(sh.t_win0, &sh.t_win1, o.server_pid, p.once ? all_used : NULL,
                                      &used, &s0, &s1, &t_end);
    atomic_store(&sh.draining, 1);
    /* Let the connections in flight finish (they no longer count), within the hard cap. */
    bench_client_drain(client, t_end + (uint64_t)o.timeout_ms * 1000000ull + 2000000000ull,
                       hard_end);
    bench_client_stop(client);

    struct connect_loop sum = {0};
    for (int i = 0; i < o.threads; i++) {
        struct connect_loop *x = &loops[i];
        sum.attempts += x->attempts;
        sum.skipped += x->skipped;
        sum.connects += x->connects;
        sum.connack_other += x->connack_other;
        sum.handshakes += x->handshakes;
        sum.resumed += x->resumed;
        sum.close_timeouts += x->close_timeouts;
        for (int k = 0; k < 6; k++) {
            sum.connack[k] += x->connack[k];
        }
        for (int k = 0; k < BENCH_END_COUNT; k++) {
            sum.failures[k] += x->failures[k];
        }
        bench_hist_merge(&sum.lat, &x->lat);
        bench_hist_merge(&sum.lat_tls, &x->lat_tls);
    }
    uint64_t failures = 0;
    for (int k = 0; k < BENCH_END_COUNT; k++) {
        failures += sum.failures[k];
    }
    failures += sum.connack_other;
    for (int k = 1; k < 6; k++) {
        failures += sum.connack[k];
    }
    struct bench_window w;
    bench_window_make(&w, &s0, &s1);
    struct bench_loop_stats cst;
    bench_client_stats(client, &cst);
    double per_s = w.elapsed_s > 0 ? (double)sum.connects / w.elapsed_s : 0;

    if (o.json) {
        json_t *codes = json_object();
        for (int k = 0; k < 6; k++) {
            if (sum.connack[k] > 0) {
                char key[4];
                snprintf(key, sizeof(key), "%d", k);
                json_object_set_new(codes, key, json_integer((json_int_t)sum.connack[k]));
            }
        }
        if (sum.connack_other > 0) {
            json_object_set_new(codes, "other", json_integer((json_int_t)sum.connack_other));
        }
        json_t *fail = json_object();
        for (int k = 0; k < BENCH_END_COUNT; k++) {
            if (k != BENCH_END_CLOSED) {
                json_object_set_new(fail, bench_end_name((enum bench_end)k),
                                    json_integer((json_int_t)sum.failures[k]));
            }
        }
        json_t *res = json_pack(
            "{s:I,s:f,s:I,s:I,s:f,s:I,s:I,s:f,s:o,s:o,s:I,s:o,s:o,s:I}", "connects",
            (json_int_t)sum.connects, "connects_per_s", per_s, "attempts", (json_int_t)sum.attempts,
            "skipped", (json_int_t)sum.skipped, "offered_per_s",
            w.elapsed_s > 0 ? (double)(sum.attempts + sum.skipped) / w.elapsed_s : 0.0,
            "handshakes", (json_int_t)sum.handshakes, "resumed", (json_int_t)sum.resumed,
            "resumed_fraction", sum.handshakes ? (double)sum.resumed / (double)sum.handshakes : 0.0,
            "connack", codes, "failures", fail, "failures_total", (json_int_t)failures, "latency",
            bench_hist_json(&sum.lat), "latency_tls", bench_hist_json(&sum.lat_tls),
            "close_timeouts", (json_int_t)sum.close_timeouts);
        json_t *params = json_pack("{s:i,s:f,s:b,s:b,s:b,s:i,s:i,s:I}", "concurrency",
                                   p.concurrency, "rate", p.rate, "resume", p.resume, "once",
                                   p.once, "handshake_only", p.handshake_only, "keepalive",
                                   p.keepalive, "port", o.port, "devices_used", (json_int_t)devs.n);
        bench_json_print(json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:b}", "mode", "connect", "options",
                                   bench_opts_json(&o), "params", params, "result", res, "window",
                                   bench_window_json(&w, sum.connects), "client",
                                   bench_client_stats_json(&cst), "interrupted",
                                   interrupted || bench_interrupted));
    } else {
        char lat[160], lat2[160];
        bench_hist_text(&sum.lat, lat, sizeof(lat));
        bench_hist_text(&sum.lat_tls, lat2, sizeof(lat2));
        printf("  connects       %llu in %.2f s = %.1f connects/s%s\n",
               (unsigned long long)sum.connects, w.elapsed_s, per_s,
               p.handshake_only ? " (handshakes)" : " (CONNACK 0)");
        if (p.rate > 0) {
            printf("  offered        %llu started + %llu not started (in-flight cap or no free "
                   "device) = %.1f/s\n",
                   (unsigned long long)sum.attempts, (unsigned long long)sum.skipped,
                   w.elapsed_s > 0 ? (double)(sum.attempts + sum.skipped) / w.elapsed_s : 0);
        }
        printf("  handshakes     %llu, %llu resumed (%.0f %%)\n",
               (unsigned long long)sum.handshakes, (unsigned long long)sum.resumed,
               sum.handshakes ? 100.0 * (double)sum.resumed / (double)sum.handshakes : 0);
        if (!p.handshake_only) {
            printf("  CONNACK codes ");
            for (int k = 0; k < 6; k++) {
                if (sum.connack[k] > 0 || k == 0) {
                    printf(" %d: %llu", k, (unsigned long long)sum.connack[k]);
                }
            }
            printf("\n");
        }
        printf("  failures       %llu:", (unsigned long long)failures);
        for (int k = 1; k < BENCH_END_COUNT; k++) {
            printf(" %s %llu", bench_end_name((enum bench_end)k),
                   (unsigned long long)sum.failures[k]);
        }
        printf("\n");
        if (cst.first_error[0] != 0) {
            printf("  first error    %s\n", cst.first_error);
        }
        printf("  latency        %s (connect() to %s)\n", lat,
               p.handshake_only ? "handshake done" : "CONNACK");
        printf("  TLS latency    %s (connect() to handshake done)\n", lat2);
        bench_window_print(&w, sum.connects, "connect");
        if (interrupted || bench_interrupted) {
            printf("  (interrupted)\n");
        }
    }
    status = sum.connects > 0 ? 0 : 1;
    if (status != 0) {
        fprintf(stderr, "certgate bench connect: no connect succeeded%s%s\n",
                cst.first_error[0] ? ": " : "", cst.first_error);
    }
out:
    bench_client_free(client);
    free(loops);
    free(args);
    bench_devices_free(&devs);
    return status;
}
