/* certgate bench hold: N authenticated, idle MQTT connections with keep-alive, opened at a
 * bounded rate and held; the server's memory per connection from its RSS. */
#include "cli/bench.h"
#include "cli/bench_client.h"

#include "core/timeutil.h"
#include "mqtt/codec.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Sent to every connection still open when the run ends. */
static const uint8_t mqtt_disconnect[2] = {0xe0, 0x00};

enum { OPT_CONNECTIONS = 1, OPT_RAMP_RATE, OPT_CONCURRENCY, OPT_KEEPALIVE, OPT_SETTLE };

struct hold_params {
    int connections;
    double ramp_rate;
    int concurrency; /* handshakes in flight during the ramp */
    int keepalive;
    double settle;
};

struct hold_shared {
    const struct bench_opts *o;
    const struct hold_params *p;
    struct bench_devices *devs;
    uint64_t t_start;
    atomic_llong established; /* CONNACK 0 received, connection still open */
    atomic_llong finished;    /* connections whose ramp outcome is known */
    atomic_int stop_ramp;
};

struct hold_loop {
    struct hold_shared *sh;
    size_t next_dev; /* index among this loop's devices */
    size_t share;    /* connections this loop opens */
    size_t opened;
    size_t pending; /* opened, CONNACK not yet received */
    double rate;
    uint64_t next_ping_scan;
    /* results */
    uint64_t connack[6];
    uint64_t failures[BENCH_END_COUNT];
    uint64_t dropped; /* established, then closed by the server or an error */
    uint64_t pings;
    uint64_t pongs;
    uint64_t ping_missed; /* a PINGREQ still unanswered when the next was due */
    struct bench_hist lat;
};

enum { HS_CONNECTING = 0, HS_HELD = 1 };

/* Per connection: c->phase; c->u64 the time of the next PINGREQ (0: none); c->flags 1
 * while a PINGREQ is unanswered. */

static void on_open(struct bench_conn *c)
{
    struct hold_loop *hl = c->loop->arg;
    if (bench_mqtt_send_connect(c, (uint16_t)hl->sh->p->keepalive, true) < 0) {
        bench_conn_fail(c);
    }
}

static void on_input(struct bench_conn *c)
{
    struct hold_loop *hl = c->loop->arg;
    struct mqtt_packet pkt;
    size_t len = 0;
    int rc;
    while ((rc = bench_mqtt_next(c, &pkt, &len)) > 0) {
        buf_consume(&c->rx, len);
        if (c->phase == HS_CONNECTING && pkt.type == MQTT_CONNACK) {
            uint8_t code = pkt.connack.return_code;
            hl->connack[code < 6 ? code : 5]++;
            hl->pending--;
            atomic_fetch_add(&hl->sh->finished, 1);
            if (code != 0) {
                bench_conn_close(c);
                return;
            }
            uint64_t now = time_mono_ns();
            bench_hist_add(&hl->lat, (now - c->t_open_ns) / 1000);
            atomic_fetch_add(&hl->sh->established, 1);
            c->phase = HS_HELD;
            c->deadline_ns = 0;
            /* Spread the first pings over the second half of the keep-alive period. */
            uint64_t ka = (uint64_t)hl->sh->p->keepalive * 1000000000ull;
            uint64_t spread = (uint64_t)((c->dev - hl->sh->devs->dev) * 7919 % 1000);
            c->u64 = ka > 0 ? now + ka / 2 + spread * (ka / 2000) : 0;
        } else if (c->phase == HS_HELD && pkt.type == MQTT_PINGRESP) {
            hl->pongs++;
            c->flags = 0;
        } else if (c->phase == HS_HELD && pkt.type == MQTT_PUBLISH) {
            continue; /* nothing is subscribed; ignore */
        } else {
            bench_conn_fail(c);
            return;
        }
    }
    if (rc < 0) {
        bench_conn_fail(c);
        return;
    }
    bench_conn_idle(c);
}

static void on_close(struct bench_conn *c, enum bench_end why)
{
    struct hold_loop *hl = c->loop->arg;
    if (c->phase == HS_CONNECTING) {
        hl->pending--;
        hl->failures[why]++;
        atomic_fetch_add(&hl->sh->finished, 1);
    } else if (c->phase == HS_HELD) {
        atomic_fetch_sub(&hl->sh->established, 1);
        if (why != BENCH_END_CLOSED) {
            hl->dropped++;
        }
    }
}

static const struct bench_conn_ops hold_ops = {
    .on_open = on_open,
    .on_input = on_input,
    .on_close = on_close,
};

static void hold_tick(struct bench_loop *l, uint64_t now)
{
    struct hold_loop *hl = l->arg;
    struct hold_shared *sh = hl->sh;
    size_t nloops = (size_t)l->cl->nloops;
    /* Ramp: open this loop's share at its rate, with a cap on handshakes in flight. Once
     * it is over, tick every 50 ms: an idle generator should cost nothing measurable. */
    if (atomic_load_explicit(&sh->stop_ramp, memory_order_relaxed)) {
        l->tick_ns = 50000000ull;
    } else {
        uint64_t due = (uint64_t)(hl->rate * (double)(now - sh->t_start) / 1e9) + 1;
        size_t cap = (size_t)sh->p->concurrency / nloops + 1;
        while (hl->opened < hl->share && hl->opened < due && hl->pending < cap) {
            size_t idx = (size_t)l->index + hl->next_dev * nloops;
            hl->next_dev++;
            hl->opened++;
            struct bench_conn *c = bench_conn_open(l, &sh->devs->dev[idx], &hold_ops, hl,
                                                   now + (uint64_t)sh->o->timeout_ms * 1000000ull);
            if (c == NULL) {
                hl->failures[BENCH_END_TCP]++;
                atomic_fetch_add(&sh->finished, 1);
            } else {
                hl->pending++;
            }
        }
    }
    /* Keep-alive: a PINGREQ per connection every keep-alive period (scanned every 100 ms). */
    if (now < hl->next_ping_scan || sh->p->keepalive == 0) {
        return;
    }
    hl->next_ping_scan = now + 100000000ull;
    uint64_t ka = (uint64_t)sh->p->keepalive * 1000000000ull;
    struct bench_conn *next = NULL;
    for (struct bench_conn *c = l->conns; c != NULL; c = next) {
        next = c->next; /* a failed write ends c (and only c: on_close opens nothing) */
        if (c->phase != HS_HELD || c->u64 == 0 || now < c->u64 || c->ended) {
            continue;
        }
        if (c->flags != 0) {
            hl->ping_missed++;
        }
        c->u64 = now + ka;
        c->flags = 1;
        if (mqtt_bare_encode(&c->tx, MQTT_PINGREQ) > 0) {
            hl->pings++;
            bench_conn_flush(c);
        }
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: certgate bench hold --cafile FILE --devices DIR --connections N [options]\n"
            "\n"
            "Opens N mutual-TLS MQTT connections (one device each, clean session, keep-alive),\n"
            "at most --ramp-rate per second and --concurrency handshakes at a time, then holds\n"
            "them idle for --seconds, sending PINGREQ every keep-alive period. With\n"
            "--server-pid, reports the server's memory per connection: (VmRSS at the end of\n"
            "the hold - VmRSS before the first connection) / connections held, and its CPU\n"
            "while holding. Start the server fresh before a run: memory a process has once\n"
            "used is not always returned to the system.\n"
            "\n"
            "hold options:\n"
            "  --connections N     connections to open and hold (1000); needs N devices and N\n"
            "                      open files in this process (the limit is raised to the\n"
            "                      hard limit; above it, run several processes with\n"
            "                      --device-offset)\n"
            "  --ramp-rate R       new connections per second while opening (1000)\n"
            "  --concurrency N     handshakes in flight while opening (100)\n"
            "  --keepalive S       keep-alive in seconds, a PINGREQ each period (60)\n"
            "  --settle S          seconds between the end of the ramp and the hold (2)\n"
            "\n"
            "%s"
            "\n"
            "Defaults: --seconds 10 (the hold). Example:\n"
            "  certgate bench hold --port 8883 --cafile server-ca.pem --devices fleet \\\n"
            "      --connections 19000 --ramp-rate 1000 --seconds 30 --server-pid PID\n",
            bench_common_help);
}

static int mode_opt(int code, const char *arg, void *ctx)
{
    struct hold_params *p = ctx;
    long v = 0;
    switch (code) {
    case OPT_CONNECTIONS:
        if (bench_parse_int("hold", "connections", arg, 1, 1000000, &v) < 0) {
            return -1;
        }
        p->connections = (int)v;
        return 0;
    case OPT_RAMP_RATE:
        return bench_parse_double("hold", "ramp-rate", arg, 1, 1e6, &p->ramp_rate);
    case OPT_CONCURRENCY:
        if (bench_parse_int("hold", "concurrency", arg, 1, 100000, &v) < 0) {
            return -1;
        }
        p->concurrency = (int)v;
        return 0;
    case OPT_KEEPALIVE:
        if (bench_parse_int("hold", "keepalive", arg, 0, 65535, &v) < 0) {
            return -1;
        }
        p->keepalive = (int)v;
        return 0;
    case OPT_SETTLE:
        return bench_parse_double("hold", "settle", arg, 0, 3600, &p->settle);
    default:
        return -1;
    }
}

int bench_hold_main(int argc, char **argv)
{
    static const struct option opts[] = {
        BENCH_COMMON_OPTIONS,
        {"connections", required_argument, NULL, OPT_CONNECTIONS},
        {"ramp-rate", required_argument, NULL, OPT_RAMP_RATE},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
        {"settle", required_argument, NULL, OPT_SETTLE},
        {NULL, 0, NULL, 0},
    };
    struct bench_opts o;
    struct hold_params p = {
        .connections = 1000, .ramp_rate = 1000, .concurrency = 100, .keepalive = 60, .settle = 2};
    bench_opts_defaults(&o, "hold");
    int prc = bench_opts_parse(&o, argc, argv, opts, mode_opt, &p, usage, true);
    if (prc != 0) {
        return prc == 1 ? 0 : 2;
    }
    /* The ramp may take longer than connections / rate on a busy machine (a full
     * handshake costs a single-threaded server ~1.5 ms of CPU): allow 3x the planned time
     * plus 5 ms per connection before giving up on the rest. */
    double ramp_max =
        p.connections / p.ramp_rate * 3 + p.connections * 0.005 + o.timeout_ms / 1000.0 + 10;
    if (o.max_seconds <= 0) {
        o.max_seconds = ramp_max + p.settle + o.seconds + 10;
    }
    struct bench_devices devs = {0};
    struct bench_client *client = NULL;
    struct hold_loop *loops = NULL;
    void **args = NULL;
    struct hold_shared sh = {.o = &o, .p = &p, .devs = &devs};
    int status = 1;
    bench_signals_install();
    if (bench_raise_nofile(&o, (long)p.connections + 64) < 0) {
        goto out;
    }
    if (bench_devices_load(&o, (size_t)p.connections, &devs) < 0) {
        goto out;
    }
    struct bench_client_config cc = {.opts = &o,
                                     .devices = &devs,
                                     .port = o.port,
                                     .bye = mqtt_disconnect,
                                     .bye_len = sizeof(mqtt_disconnect)};
    if (bench_client_new(&cc, &client) < 0) {
        goto out;
    }
    loops = calloc((size_t)o.threads, sizeof(*loops));
    args = calloc((size_t)o.threads, sizeof(*args));
    if (loops == NULL || args == NULL) {
        fprintf(stderr, "certgate bench hold: out of memory\n");
        goto out;
    }
    for (int i = 0; i < o.threads; i++) {
        loops[i].sh = &sh;
        loops[i].share = (size_t)p.connections / (size_t)o.threads +
                         ((size_t)p.connections % (size_t)o.threads > (size_t)i);
        loops[i].rate = p.ramp_rate / o.threads;
        args[i] = &loops[i];
    }
    if (!o.json) {
        printf("bench hold: %s%s%s:%d, %d connections at <= %.0f/s, keep-alive %d s, %d "
               "threads, hold %.1f s\n",
               o.label ? o.label : "", o.label ? " at " : "", o.host, o.port, p.connections,
               p.ramp_rate, p.keepalive, o.threads, o.seconds);
        fflush(stdout);
    }
    struct bench_sample s0, s1, s2;
    bench_sample_take(&s0, o.server_pid);
    uint64_t t0 = time_mono_ns();
    uint64_t hard_end = t0 + (uint64_t)(o.max_seconds * 1e9);
    sh.t_start = t0;
    if (bench_client_start(client, hold_tick, args, 1000000ull) < 0) {
        goto out;
    }
    /* Ramp until every connection has an outcome, or its time is up. */
    uint64_t ramp_end = t0 + (uint64_t)(ramp_max * 1e9);
    bool interrupted = false;
    while (atomic_load(&sh.finished) < p.connections && time_mono_ns() < ramp_end) {
        if (!bench_sleep_until(time_mono_ns() + 20000000ull)) {
            interrupted = true;
            break;
        }
    }
    atomic_store(&sh.stop_ramp, 1);
    double ramp_s = (double)(time_mono_ns() - t0) / 1e9;
    long long after_ramp = atomic_load(&sh.established);
    if (!o.json) {
        printf("  ramp           %lld of %d established in %.2f s\n", after_ramp, p.connections,
               ramp_s);
        fflush(stdout);
    }
    if (!interrupted) {
        interrupted = !bench_sleep_until(time_mono_ns() + (uint64_t)(p.settle * 1e9));
    }
    bench_sample_take(&s1, o.server_pid);
    uint64_t hold_end = time_mono_ns() + (uint64_t)(o.seconds * 1e9);
    if (hold_end > hard_end) {
        hold_end = hard_end;
    }
    if (!interrupted) {
        interrupted = !bench_sleep_until(hold_end);
    }
    long long held = atomic_load(&sh.established);
    bench_sample_take(&s2, o.server_pid);
    bench_client_stop(client);

    struct hold_loop sum = {0};
    for (int i = 0; i < o.threads; i++) {
        struct hold_loop *x = &loops[i];
        for (int k = 0; k < 6; k++) {
            sum.connack[k] += x->connack[k];
        }
        for (int k = 0; k < BENCH_END_COUNT; k++) {
            sum.failures[k] += x->failures[k];
        }
        sum.dropped += x->dropped;
        sum.pings += x->pings;
        sum.pongs += x->pongs;
        sum.ping_missed += x->ping_missed;
        bench_hist_merge(&sum.lat, &x->lat);
    }
    uint64_t failures = 0;
    for (int k = 0; k < BENCH_END_COUNT; k++) {
        failures += sum.failures[k];
    }
    for (int k = 1; k < 6; k++) {
        failures += sum.connack[k];
    }
    struct bench_window wramp, whold;
    bench_window_make(&wramp, &s0, &s1);
    bench_window_make(&whold, &s1, &s2);
    struct bench_loop_stats cst;
    bench_client_stats(client, &cst);
    double per_conn_kb = 0;
    bool mem_ok = s0.server_ok && s2.server_ok && held > 0;
    if (mem_ok) {
        per_conn_kb = (double)(s2.server_rss_kb - s0.server_rss_kb) / (double)held;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);

    if (o.json) {
        json_t *fail = json_object();
        for (int k = 1; k < BENCH_END_COUNT; k++) {
            json_object_set_new(fail, bench_end_name((enum bench_end)k),
                                json_integer((json_int_t)sum.failures[k]));
        }
        json_t *codes = json_object();
        for (int k = 0; k < 6; k++) {
            if (sum.connack[k] > 0) {
                char key[4];
                snprintf(key, sizeof(key), "%d", k);
                json_object_set_new(codes, key, json_integer((json_int_t)sum.connack[k]));
            }
        }
        json_t *res = json_pack(
            "{s:i,s:I,s:I,s:f,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:o,s:I}", "requested", p.connections,
            "established_after_ramp", (json_int_t)after_ramp, "held", (json_int_t)held, "ramp_s",
            ramp_s, "connack", codes, "failures", fail, "failures_total", (json_int_t)failures,
            "dropped", (json_int_t)sum.dropped, "pings", (json_int_t)sum.pings, "pongs",
            (json_int_t)sum.pongs, "ping_missed", (json_int_t)sum.ping_missed, "latency",
            bench_hist_json(&sum.lat), "generator_max_rss_kb", (json_int_t)ru.ru_maxrss);
        if (mem_ok) {
            json_object_set_new(res, "server_rss_before_kb", json_integer(s0.server_rss_kb));
            json_object_set_new(res, "server_rss_held_kb", json_integer(s2.server_rss_kb));
            json_object_set_new(res, "server_kb_per_connection", json_real(per_conn_kb));
            json_object_set_new(res, "server_bytes_per_connection", json_real(per_conn_kb * 1024));
            if (whold.server_ok && whold.elapsed_s > 0) {
                json_object_set_new(
                    res, "server_cpu_us_per_connection_second",
                    json_real(whold.server_cpu_s * 1e6 / ((double)held * whold.elapsed_s)));
            }
        }
        json_t *params = json_pack("{s:i,s:f,s:i,s:i,s:f,s:i}", "connections", p.connections,
                                   "ramp_rate", p.ramp_rate, "concurrency", p.concurrency,
                                   "keepalive", p.keepalive, "settle_s", p.settle, "port", o.port);
        bench_json_print(json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:b}", "mode", "hold", "options",
                                   bench_opts_json(&o), "params", params, "result", res,
                                   "window_ramp", bench_window_json(&wramp, (uint64_t)after_ramp),
                                   "window_hold", bench_window_json(&whold, 0), "client",
                                   bench_client_stats_json(&cst), "interrupted",
                                   interrupted || bench_interrupted));
    } else {
        char lat[160];
        bench_hist_text(&sum.lat, lat, sizeof(lat));
        printf("  held           %lld connections at the end (%llu dropped while held)\n", held,
               (unsigned long long)sum.dropped);
        printf("  failures       %llu:", (unsigned long long)failures);
        for (int k = 1; k < BENCH_END_COUNT; k++) {
            printf(" %s %llu", bench_end_name((enum bench_end)k),
                   (unsigned long long)sum.failures[k]);
        }
        for (int k = 1; k < 6; k++) {
            if (sum.connack[k] > 0) {
                printf(" CONNACK-%d %llu", k, (unsigned long long)sum.connack[k]);
            }
        }
        printf("\n");
        if (cst.first_error[0] != 0) {
            printf("  first error    %s\n", cst.first_error);
        }
        printf("  connect time   %s\n", lat);
        printf("  keep-alive     %llu PINGREQ, %llu PINGRESP, %llu unanswered when the next was "
               "due\n",
               (unsigned long long)sum.pings, (unsigned long long)sum.pongs,
               (unsigned long long)sum.ping_missed);
        if (mem_ok) {
            printf("  server memory  VmRSS %ld kB before, %ld kB held: %.1f kB (%.0f bytes) per "
                   "connection\n",
                   s0.server_rss_kb, s2.server_rss_kb, per_conn_kb, per_conn_kb * 1024);
        }
        printf("  generator      max RSS %ld kB\n", ru.ru_maxrss);
        printf(" while opening:\n");
        bench_window_print(&wramp, (uint64_t)after_ramp, "connect");
        printf(" while holding:\n");
        bench_window_print(&whold, 0, "");
        if (interrupted || bench_interrupted) {
            printf("  (interrupted)\n");
        }
    }
    status = held > 0 ? 0 : 1;
    if (status != 0) {
        fprintf(stderr, "certgate bench hold: no connection was held%s%s\n",
                cst.first_error[0] ? ": " : "", cst.first_error);
    }
out:
    bench_client_free(client);
    free(loops);
    free(args);
    bench_devices_free(&devs);
    return status;
}
