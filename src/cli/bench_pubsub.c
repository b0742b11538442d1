/* certgate bench pubsub: P publishers and S subscribers (each a device with its own
 * mutual-TLS connection), QoS 0 or 1, fan-in or fan-out topics, at a rate or full speed.
 * Every payload carries (publisher, sequence number, send time), so the subscribers count
 * deliveries, duplicates and losses per publisher and measure latency; for QoS 1 a message
 * counts as lost when its publisher got the PUBACK but a subscriber never received it. */
#include "cli/bench.h"
#include "cli/bench_client.h"

#include "core/timeutil.h"
#include "mqtt/codec.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Sent to every connection still open when the run ends. */
static const uint8_t mqtt_disconnect[2] = {0xe0, 0x00};

enum {
    OPT_PUBLISHERS = 1,
    OPT_SUBSCRIBERS,
    OPT_QOS,
    OPT_PAYLOAD,
    OPT_RATE,
    OPT_TOPIC_MODE,
    OPT_TOPIC_PREFIX,
    OPT_INFLIGHT,
    OPT_DRAIN,
    OPT_KEEPALIVE,
};

#define PAYLOAD_MAGIC 0x31424743u /* "CGB1" */
#define PAYLOAD_HEADER 24         /* magic, publisher, sequence, send time */
#define FILL_HIGH (64u * 1024)    /* QoS 0 full speed: bytes kept queued per publisher */

struct pubsub_params {
    int publishers;
    int subscribers;
    int qos;
    int payload;
    double rate; /* per publisher; 0: full speed */
    bool fan_out;
    const char *prefix;
    int inflight;
    double drain;
    int keepalive;
};

enum { PH_SUBS = 0, PH_PUBS, PH_PUBLISH, PH_DRAIN };

struct pubsub_shared {
    const struct bench_opts *o;
    const struct pubsub_params *p;
    struct bench_devices *devs;
    atomic_int phase;
    atomic_int subs_ready;
    atomic_int pubs_ready;
    atomic_int setup_failed;
    uint64_t t_pub0; /* publishing starts (set before PH_PUBLISH) */
    uint64_t t_win0, t_win1;
};

/* A growable bit set of sequence numbers (1, 2, ...). */
struct seqset {
    uint64_t *w;
    size_t nwords;
};

/* seqset_add: set bit seq; returns 1 if newly set, 0 if it was set, -1 out of memory. */
static int seqset_add(struct seqset *s, uint64_t seq)
{
    size_t word = (size_t)(seq / 64);
    if (word >= s->nwords) {
        size_t n = s->nwords ? s->nwords : 1024;
        while (n <= word) {
            n *= 2;
        }
        uint64_t *nw = realloc(s->w, n * sizeof(*nw));
        if (nw == NULL) {
            return -1;
        }
        memset(nw + s->nwords, 0, (n - s->nwords) * sizeof(*nw));
        s->w = nw;
        s->nwords = n;
    }
    uint64_t bit = 1ull << (seq % 64);
    if (s->w[word] & bit) {
        return 0;
    }
    s->w[word] |= bit;
    return 1;
}

static uint64_t seqset_count(const struct seqset *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nwords; i++) {
        n += (uint64_t)__builtin_popcountll(s->w[i]);
    }
    return n;
}

/* Bits of a that are not in b. */
static uint64_t seqset_missing(const struct seqset *a, const struct seqset *b)
{
    uint64_t n = 0;
    for (size_t i = 0; i < a->nwords; i++) {
        uint64_t bw = i < b->nwords ? b->w[i] : 0;
        n += (uint64_t)__builtin_popcountll(a->w[i] & ~bw);
    }
    return n;
}

struct pub {
    int index;
    struct bench_device *dev;
    struct bench_conn *c;
    char topic[160];
    uint8_t *payload; /* --payload bytes, zero after the header */
    bool ready;
    uint64_t seq; /* last sequence number sent */
    uint64_t sent_win;
    uint16_t next_pid;
    int inflight;
    uint64_t *pid_seq;   /* QoS 1: sequence number per packet id (0: free) */
    struct seqset acked; /* QoS 1 */
    uint64_t acked_total;
};

struct sub {
    int index;
    struct bench_device *dev;
    struct bench_conn *c;
    bool ready;
    struct seqset *got; /* per publisher */
    uint64_t delivered_total;
    uint64_t duplicates;
    uint64_t bad; /* payloads that are not ours */
};

struct pubsub_loop {
    struct pubsub_shared *sh;
    struct sub **subs; /* this loop's subscribers */
    int nsubs;
    struct pub **pubs; /* this loop's publishers */
    int npubs;
    bool opened_subs, opened_pubs;
    uint64_t next_ping_scan;
    /* counted in the window */
    uint64_t delivered_win;
    uint64_t published_win;
    struct bench_hist lat;
    atomic_ullong delivered_total; /* read by the main thread while draining */
    uint64_t failures[BENCH_END_COUNT];
    uint64_t conn_lost; /* connections that ended after they were ready */
    uint64_t setup_refused;
};

static void conn_sent(struct bench_conn *c)
{
    c->u64 = time_mono_ns(); /* last time we sent something: for keep-alive */
    bench_conn_flush(c);
}

/* ---- publishers ------------------------------------------------------------------- */

static int publish_one(struct pubsub_loop *pl, struct pub *pb, uint64_t now)
{
    const struct pubsub_params *p = pl->sh->p;
    uint32_t magic = PAYLOAD_MAGIC;
    uint32_t idx = (uint32_t)pb->index;
    uint64_t seq = pb->seq + 1;
    /* The payload buffer is zeroed once; only its header changes. */
    memcpy(pb->payload, &magic, 4);
    memcpy(pb->payload + 4, &idx, 4);
    memcpy(pb->payload + 8, &seq, 8);
    memcpy(pb->payload + 16, &now, 8);
    uint16_t pid = 0;
    if (p->qos > 0) {
        do {
            pb->next_pid = (uint16_t)(pb->next_pid + 1);
        } while (pb->next_pid == 0 || pb->pid_seq[pb->next_pid] != 0);
        pid = pb->next_pid;
    }
    struct mqtt_publish m = {
        .qos = (uint8_t)p->qos,
        .topic = mqtt_str_c(pb->topic),
        .packet_id = pid,
        .payload = {pb->payload, (size_t)p->payload},
    };
    int rc = mqtt_publish_encode(&pb->c->tx, &m);
    if (rc < 0) {
        return rc;
    }
    pb->seq = seq;
    if (p->qos > 0) {
        pb->pid_seq[pid] = seq;
        pb->inflight++;
    }
    if (now >= pl->sh->t_win0 && now < pl->sh->t_win1) {
        pb->sent_win++;
        pl->published_win++;
    }
    return 0;
}

/* Queue as many messages as this publisher may send now, then flush. */
static void publisher_pump(struct pubsub_loop *pl, struct pub *pb, uint64_t now)
{
    struct pubsub_shared *sh = pl->sh;
    const struct pubsub_params *p = sh->p;
    if (!pb->ready || pb->c == NULL ||
        atomic_load_explicit(&sh->phase, memory_order_relaxed) != PH_PUBLISH || now >= sh->t_win1) {
        return;
    }
    uint64_t due = UINT64_MAX;
    if (p->rate > 0) {
        due = (uint64_t)(p->rate * (double)(now - sh->t_pub0) / 1e9) + 1;
    }
    bool queued = false;
    while (pb->seq < due) {
        if (p->qos > 0 && pb->inflight >= p->inflight) {
            break;
        }
        if (p->qos == 0 && p->rate <= 0 && pb->c->tx.len >= FILL_HIGH) {
            break;
        }
        if (publish_one(pl, pb, now) < 0) {
            break; /* the send buffer is full: wait for it to drain */
        }
        queued = true;
    }
    if (queued) {
        conn_sent(pb->c);
    }
}

/* ---- connections ------------------------------------------------------------------- */

static void on_open(struct bench_conn *c)
{
    struct pubsub_loop *pl = c->loop->arg;
    if (bench_mqtt_send_connect(c, (uint16_t)pl->sh->p->keepalive, true) < 0) {
        bench_conn_fail(c);
        return;
    }
    c->u64 = time_mono_ns();
}

static void sub_deliver(struct pubsub_loop *pl, struct sub *sb, const struct mqtt_publish *m,
                        uint64_t now)
{
    const struct pubsub_params *p = pl->sh->p;
    uint32_t magic, idx;
    uint64_t seq, t;
    if (m->payload.len < PAYLOAD_HEADER) {
        sb->bad++;
        return;
    }
    memcpy(&magic, m->payload.ptr, 4);
    memcpy(&idx, m->payload.ptr + 4, 4);
    memcpy(&seq, m->payload.ptr + 8, 8);
    memcpy(&t, m->payload.ptr + 16, 8);
    if (magic != PAYLOAD_MAGIC || idx >= (uint32_t)p->publishers || seq == 0) {
        sb->bad++;
        return;
    }
    int fresh = seqset_add(&sb->got[idx], seq);
    if (fresh == 0) {
        sb->duplicates++;
        return;
    }
    sb->delivered_total++;
    atomic_fetch_add_explicit(&pl->delivered_total, 1, memory_order_relaxed);
    if (now >= pl->sh->t_win0 && now < pl->sh->t_win1) {
        pl->delivered_win++;
    }
    if (now >= t) {
        bench_hist_add(&pl->lat, (now - t) / 1000);
    }
}

static void on_input_sub(struct bench_conn *c, struct sub *sb)
{
    struct pubsub_loop *pl = c->loop->arg;
    struct mqtt_packet pkt;
    size_t len = 0;
    int rc;
    bool reply = false;
    uint64_t now = time_mono_ns();
    while ((rc = bench_mqtt_next(c, &pkt, &len)) > 0) {
        switch (pkt.type) {
        case MQTT_CONNACK: {
            if (c->phase != 0 || pkt.connack.return_code != 0) {
                pl->setup_refused += pkt.connack.return_code != 0;
                goto fail;
            }
            c->phase = 1;
            char filter[200];
            snprintf(filter, sizeof(filter), "%s/%s", pl->sh->p->prefix,
                     pl->sh->p->fan_out ? "fanout" : "fanin/+");
            struct mqtt_subscription s = {.filter = mqtt_str_c(filter),
                                          .qos = (uint8_t)pl->sh->p->qos};
            if (mqtt_subscribe_encode(&c->tx, 1, &s, 1) < 0) {
                goto fail;
            }
            reply = true;
            break;
        }
        case MQTT_SUBACK:
            if (c->phase != 1 || pkt.suback.count != 1 ||
                pkt.suback.codes[0] == MQTT_SUBACK_FAILURE) {
                pl->setup_refused++;
                goto fail;
            }
            c->phase = 2;
            sb->ready = true;
            atomic_fetch_add(&pl->sh->subs_ready, 1);
            break;
        case MQTT_PUBLISH:
            sub_deliver(pl, sb, &pkt.publish, now);
            if (pkt.publish.qos == 1) {
                if (mqtt_ack_encode(&c->tx, MQTT_PUBACK, pkt.publish.packet_id) < 0) {
                    goto fail;
                }
                reply = true;
            } else if (pkt.publish.qos == 2) {
                goto fail; /* never subscribed with QoS 2 */
            }
            break;
        case MQTT_PINGRESP:
            break;
        default:
            goto fail;
        }
        buf_consume(&c->rx, len);
    }
    if (rc < 0) {
        bench_conn_fail(c);
        return;
    }
    if (reply) {
        conn_sent(c);
    }
    return;
fail:
    bench_conn_fail(c);
}

static void on_input_pub(struct bench_conn *c, struct pub *pb)
{
    struct pubsub_loop *pl = c->loop->arg;
    struct mqtt_packet pkt;
    size_t len = 0;
    int rc;
    while ((rc = bench_mqtt_next(c, &pkt, &len)) > 0) {
        switch (pkt.type) {
        case MQTT_CONNACK:
            if (c->phase != 0 || pkt.connack.return_code != 0) {
                pl->setup_refused += pkt.connack.return_code != 0;
                goto fail;
            }
            c->phase = 2;
            pb->ready = true;
            atomic_fetch_add(&pl->sh->pubs_ready, 1);
            break;
        case MQTT_PUBACK: {
            uint16_t pid = pkt.ack.packet_id;
            uint64_t seq = pb->pid_seq != NULL ? pb->pid_seq[pid] : 0;
            if (seq == 0) {
                goto fail; /* a PUBACK for nothing we sent */
            }
            pb->pid_seq[pid] = 0;
            pb->inflight--;
            if (seqset_add(&pb->acked, seq) > 0) {
                pb->acked_total++;
            }
            break;
        }
        case MQTT_PINGRESP:
            break;
        default:
            goto fail;
        }
        buf_consume(&c->rx, len);
    }
    if (rc < 0) {
        bench_conn_fail(c);
        return;
    }
    publisher_pump(pl, pb, time_mono_ns());
    return;
fail:
    bench_conn_fail(c);
}

/* c->flags: 1 publisher, 2 subscriber; c->user the pub or sub. */
static void on_input(struct bench_conn *c)
{
    if (c->flags == 1) {
        on_input_pub(c, c->user);
    } else {
        on_input_sub(c, c->user);
    }
}

static void on_drain(struct bench_conn *c)
{
    if (c->flags == 1) {
        publisher_pump(c->loop->arg, c->user, time_mono_ns());
    }
}

static void on_close(struct bench_conn *c, enum bench_end why)
{
    struct pubsub_loop *pl = c->loop->arg;
    bool ready;
    if (c->flags == 1) {
        struct pub *pb = c->user;
        ready = pb->ready;
        pb->c = NULL;
        pb->ready = false;
    } else {
        struct sub *sb = c->user;
        ready = sb->ready;
        sb->c = NULL;
        sb->ready = false;
    }
    if (why == BENCH_END_CLOSED) {
        return; /* the run ended */
    }
    if (ready) {
        pl->conn_lost++;
    } else {
        pl->failures[why]++;
        atomic_store(&pl->sh->setup_failed, 1);
    }
}

static const struct bench_conn_ops pubsub_ops = {
    .on_open = on_open,
    .on_input = on_input,
    .on_drain = on_drain,
    .on_close = on_close,
};

static void pubsub_tick(struct bench_loop *l, uint64_t now)
{
    struct pubsub_loop *pl = l->arg;
    struct pubsub_shared *sh = pl->sh;
    int phase = atomic_load_explicit(&sh->phase, memory_order_relaxed);
    uint64_t deadline = now + (uint64_t)sh->o->timeout_ms * 1000000ull;
    if (!pl->opened_subs) {
        pl->opened_subs = true;
        for (int i = 0; i < pl->nsubs; i++) {
            struct sub *sb = pl->subs[i];
            sb->c = bench_conn_open(l, sb->dev, &pubsub_ops, sb, deadline);
            if (sb->c == NULL) {
                atomic_store(&sh->setup_failed, 1);
                continue;
            }
            sb->c->flags = 2;
        }
    }
    if (phase >= PH_PUBS && !pl->opened_pubs) {
        pl->opened_pubs = true;
        for (int i = 0; i < pl->npubs; i++) {
            struct pub *pb = pl->pubs[i];
            pb->c = bench_conn_open(l, pb->dev, &pubsub_ops, pb, deadline);
            if (pb->c == NULL) {
                atomic_store(&sh->setup_failed, 1);
                continue;
            }
            pb->c->flags = 1;
            pb->c->tx_low = FILL_HIGH / 2;
        }
    }
    /* Connections are set up: no deadline any more. */
    for (struct bench_conn *c = l->conns; c != NULL; c = c->next) {
        if (c->phase == 2) {
            c->deadline_ns = 0;
        }
    }
    if (phase == PH_PUBLISH) {
        for (int i = 0; i < pl->npubs; i++) {
            publisher_pump(pl, pl->pubs[i], now);
        }
    }
    /* Keep-alive: anything sent within half the period is enough; else a PINGREQ. */
    if (sh->p->keepalive > 0 && now >= pl->next_ping_scan) {
        pl->next_ping_scan = now + 500000000ull;
        uint64_t half = (uint64_t)sh->p->keepalive * 500000000ull;
        struct bench_conn *next = NULL;
        for (struct bench_conn *c = l->conns; c != NULL; c = next) {
            next = c->next;
            if (c->phase == 2 && now - c->u64 >= half &&
                mqtt_bare_encode(&c->tx, MQTT_PINGREQ) > 0) {
                conn_sent(c);
            }
        }
    }
}

/* ---- main ------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: certgate bench pubsub --cafile FILE --devices DIR [options]\n"
            "\n"
            "P publishers and S subscribers, each a device with its own mutual-TLS MQTT\n"
            "connection (clean session). Subscribers connect and subscribe first, then the\n"
            "publishers connect, then every publisher publishes for --warmup + --seconds and\n"
            "the run waits up to --drain seconds for the last deliveries. Each payload starts\n"
            "with (publisher, sequence number, send time): deliveries, duplicates, losses and\n"
            "latency (send to receipt, same clock) are exact. Every subscriber receives every\n"
            "message, so deliveries = messages x S. For QoS 1, a message a publisher got a\n"
            "PUBACK for and that some subscriber never received is an acknowledged message\n"
            "lost; for QoS 0, messages not delivered are reported (QoS 0 allows loss).\n"
            "\n"
            "pubsub options:\n"
            "  --topic-mode M      fan-in: publisher i publishes to PREFIX/fanin/i, subscribers\n"
            "                      subscribe to PREFIX/fanin/+ (default: 10 -> 1);\n"
            "                      fan-out: every publisher publishes to PREFIX/fanout, every\n"
            "                      subscriber subscribes to it (default: 1 -> 10)\n"
            "  --publishers P      publishers (devices S .. S+P-1)\n"
            "  --subscribers S     subscribers (devices 0 .. S-1)\n"
            "  --qos Q             0 or 1, for PUBLISH and SUBSCRIBE (0)\n"
            "  --payload BYTES     payload size, at least %d (64)\n"
            "  --rate R            messages per second per publisher; 0: full speed (0). Full\n"
            "                      speed is %u KiB queued per QoS 0 publisher, or --inflight\n"
            "                      unacknowledged QoS 1 messages\n"
            "  --inflight N        unacknowledged QoS 1 messages per publisher (32)\n"
            "  --topic-prefix P    first topic levels (bench). On certgate, devices may publish\n"
            "                      outside devices/<id>/ only when the tenant option\n"
            "                      mqtt/acl.mode is open\n"
            "  --drain S           seconds to wait for deliveries after publishing (3)\n"
            "  --keepalive S       keep-alive in seconds (60)\n"
            "\n"
            "%s"
            "\n"
            "Defaults: --seconds 10 --warmup 1. Example:\n"
            "  certgate bench pubsub --port 8883 --cafile server-ca.pem --devices fleet \\\n"
            "      --topic-mode fan-in --publishers 10 --subscribers 1 --qos 1 --seconds 10\n",
            PAYLOAD_HEADER, FILL_HIGH / 1024, bench_common_help);
}

static int mode_opt(int code, const char *arg, void *ctx)
{
    struct pubsub_params *p = ctx;
    long v = 0;
    switch (code) {
    case OPT_PUBLISHERS:
    case OPT_SUBSCRIBERS:
        if (bench_parse_int("pubsub", code == OPT_PUBLISHERS ? "publishers" : "subscribers", arg, 1,
                            10000, &v) < 0) {
            return -1;
        }
        *(code == OPT_PUBLISHERS ? &p->publishers : &p->subscribers) = (int)v;
        return 0;
    case OPT_QOS:
        if (bench_parse_int("pubsub", "qos", arg, 0, 1, &v) < 0) {
            return -1;
        }
        p->qos = (int)v;
        return 0;
    case OPT_PAYLOAD:
        if (bench_parse_int("pubsub", "payload", arg, PAYLOAD_HEADER, 1 << 20, &v) < 0) {
            return -1;
        }
        p->payload = (int)v;
        return 0;
    case OPT_RATE:
        return bench_parse_double("pubsub", "rate", arg, 0, 1e7, &p->rate);
    case OPT_TOPIC_MODE:
        if (strcmp(arg, "fan-in") == 0) {
            p->fan_out = false;
        } else if (strcmp(arg, "fan-out") == 0) {
            p->fan_out = true;
        } else {
            fprintf(stderr, "certgate bench pubsub: --topic-mode '%s': fan-in or fan-out\n", arg);
            return -1;
        }
        return 0;
    case OPT_TOPIC_PREFIX:
        if (arg[0] == 0 || strlen(arg) > 100 || strpbrk(arg, "+#") != NULL) {
            fprintf(stderr,
                    "certgate bench pubsub: --topic-prefix '%s': 1 to 100 bytes, no "
                    "wildcards\n",
                    arg);
            return -1;
        }
        p->prefix = arg;
        return 0;
    case OPT_INFLIGHT:
        if (bench_parse_int("pubsub", "inflight", arg, 1, 65535, &v) < 0) {
            return -1;
        }
        p->inflight = (int)v;
        return 0;
    case OPT_DRAIN:
        return bench_parse_double("pubsub", "drain", arg, 0, 600, &p->drain);
    case OPT_KEEPALIVE:
        if (bench_parse_int("pubsub", "keepalive", arg, 0, 65535, &v) < 0) {
            return -1;
        }
        p->keepalive = (int)v;
        return 0;
    default:
        return -1;
    }
}

static bool wait_for(atomic_int *counter, int want, const atomic_int *failed, uint64_t until)
{
    while (atomic_load(counter) < want) {
        if (atomic_load(failed) || time_mono_ns() >= until ||
            !bench_sleep_until(time_mono_ns() + 5000000ull)) {
            return false;
        }
    }
    return true;
}

int bench_pubsub_main(int argc, char **argv)
{
    static const struct option opts[] = {
        BENCH_COMMON_OPTIONS,
        {"publishers", required_argument, NULL, OPT_PUBLISHERS},
        {"subscribers", required_argument, NULL, OPT_SUBSCRIBERS},
        {"qos", required_argument, NULL, OPT_QOS},
        {"payload", required_argument, NULL, OPT_PAYLOAD},
        {"rate", required_argument, NULL, OPT_RATE},
        {"topic-mode", required_argument, NULL, OPT_TOPIC_MODE},
        {"topic-prefix", required_argument, NULL, OPT_TOPIC_PREFIX},
        {"inflight", required_argument, NULL, OPT_INFLIGHT},
        {"drain", required_argument, NULL, OPT_DRAIN},
        {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
        {NULL, 0, NULL, 0},
    };
    struct bench_opts o;
    struct pubsub_params p = {
        .payload = 64, .prefix = "bench", .inflight = 32, .drain = 3, .keepalive = 60};
    bench_opts_defaults(&o, "pubsub");
    int prc = bench_opts_parse(&o, argc, argv, opts, mode_opt, &p, usage, true);
    if (prc != 0) {
        return prc == 1 ? 0 : 2;
    }
    if (p.publishers == 0) {
        p.publishers = p.fan_out ? 1 : 10;
    }
    if (p.subscribers == 0) {
        p.subscribers = p.fan_out ? 10 : 1;
    }
    if (o.max_seconds <= 0) {
        o.max_seconds = 2 * o.timeout_ms / 1000.0 + o.warmup + o.seconds + p.drain + 10;
    }
    int nconn = p.publishers + p.subscribers;
    struct bench_devices devs = {0};
    struct bench_client *client = NULL;
    struct pubsub_loop *loops = NULL;
    void **args = NULL;
    struct pub *pubs = NULL;
    struct sub *subs = NULL;
    struct pubsub_shared sh = {.o = &o, .p = &p, .devs = &devs};
    int status = 1;
    bench_signals_install();
    if (bench_raise_nofile(&o, nconn + 64) < 0 ||
        bench_devices_load(&o, (size_t)nconn, &devs) < 0) {
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
    pubs = calloc((size_t)p.publishers, sizeof(*pubs));
    subs = calloc((size_t)p.subscribers, sizeof(*subs));
    if (loops == NULL || args == NULL || pubs == NULL || subs == NULL) {
        goto oom;
    }
    for (int i = 0; i < o.threads; i++) {
        loops[i].sh = &sh;
        loops[i].subs = calloc((size_t)p.subscribers, sizeof(struct sub *));
        loops[i].pubs = calloc((size_t)p.publishers, sizeof(struct pub *));
        if (loops[i].subs == NULL || loops[i].pubs == NULL) {
            goto oom;
        }
        args[i] = &loops[i];
    }
    /* Connection k (subscribers first) runs on loop k % threads. */
    for (int i = 0; i < p.subscribers; i++) {
        struct sub *sb = &subs[i];
        sb->index = i;
        sb->dev = &devs.dev[i];
        sb->got = calloc((size_t)p.publishers, sizeof(*sb->got));
        if (sb->got == NULL) {
            goto oom;
        }
        struct pubsub_loop *pl = &loops[i % o.threads];
        pl->subs[pl->nsubs++] = sb;
    }
    for (int i = 0; i < p.publishers; i++) {
        struct pub *pb = &pubs[i];
        pb->index = i;
        pb->dev = &devs.dev[p.subscribers + i];
        if (p.fan_out) {
            snprintf(pb->topic, sizeof(pb->topic), "%s/fanout", p.prefix);
        } else {
            snprintf(pb->topic, sizeof(pb->topic), "%s/fanin/%d", p.prefix, i);
        }
        pb->payload = calloc(1, (size_t)p.payload);
        if (pb->payload == NULL) {
            goto oom;
        }
        if (p.qos > 0) {
            pb->pid_seq = calloc(65536, sizeof(*pb->pid_seq));
            if (pb->pid_seq == NULL) {
                goto oom;
            }
        }
        struct pubsub_loop *pl = &loops[(p.subscribers + i) % o.threads];
        pl->pubs[pl->npubs++] = pb;
    }
    if (!o.json) {
        char rate[64];
        if (p.rate > 0) {
            snprintf(rate, sizeof(rate), "%.0f msg/s per publisher", p.rate);
        } else {
            snprintf(rate, sizeof(rate), "full speed");
        }
        printf("bench pubsub: %s%s%s:%d, %s, %d publisher%s -> %d subscriber%s, QoS %d, "
               "%d-byte payload, %s, %d threads, %.1f s (+%.1f s warm-up)\n",
               o.label ? o.label : "", o.label ? " at " : "", o.host, o.port,
               p.fan_out ? "fan-out" : "fan-in", p.publishers, p.publishers == 1 ? "" : "s",
               p.subscribers, p.subscribers == 1 ? "" : "s", p.qos, p.payload, rate, o.threads,
               o.seconds, o.warmup);
        fflush(stdout);
    }
    uint64_t t0 = time_mono_ns();
    uint64_t hard_end = t0 + (uint64_t)(o.max_seconds * 1e9);
    if (bench_client_start(client, pubsub_tick, args, 1000000ull) < 0) {
        goto out;
    }
    bool interrupted = false;
    const char *setup_error = NULL;
    uint64_t setup_end = t0 + (uint64_t)o.timeout_ms * 1000000ull + 1000000000ull;
    if (!wait_for(&sh.subs_ready, p.subscribers, &sh.setup_failed, setup_end)) {
        setup_error = "the subscribers could not connect and subscribe";
    } else {
        atomic_store(&sh.phase, PH_PUBS);
        setup_end = time_mono_ns() + (uint64_t)o.timeout_ms * 1000000ull + 1000000000ull;
        if (!wait_for(&sh.pubs_ready, p.publishers, &sh.setup_failed, setup_end)) {
            setup_error = "the publishers could not connect";
        }
    }
    struct bench_sample s0 = {0}, s1 = {0};
    double drain_s = 0;
    if (setup_error == NULL) {
        uint64_t now = time_mono_ns();
        sh.t_pub0 = now;
        sh.t_win0 = now + (uint64_t)(o.warmup * 1e9);
        sh.t_win1 = sh.t_win0 + (uint64_t)(o.seconds * 1e9);
        if (sh.t_win1 > hard_end) {
            sh.t_win1 = hard_end;
        }
        atomic_store(&sh.phase, PH_PUBLISH);
        interrupted = !bench_sleep_until(sh.t_win0);
        bench_sample_take(&s0, o.server_pid);
        if (!interrupted) {
            interrupted = !bench_sleep_until(sh.t_win1);
        }
        bench_sample_take(&s1, o.server_pid);
        atomic_store(&sh.phase, PH_DRAIN);
        /* Drain: until deliveries stop for 0.5 s (or everything acknowledged arrived), at
         * most --drain seconds. */
        uint64_t drain_end = time_mono_ns() + (uint64_t)(p.drain * 1e9);
        if (drain_end > hard_end) {
            drain_end = hard_end;
        }
        uint64_t last = 0, last_change = time_mono_ns();
        while (!interrupted && time_mono_ns() < drain_end) {
            uint64_t total = 0;
            for (int i = 0; i < o.threads; i++) {
                total += atomic_load_explicit(&loops[i].delivered_total, memory_order_relaxed);
            }
            uint64_t t = time_mono_ns();
            if (total != last) {
                last = total;
                last_change = t;
            } else if (t - last_change >= 500000000ull) {
                break;
            }
            interrupted = !bench_sleep_until(t + 20000000ull);
        }
        drain_s = (double)(time_mono_ns() - sh.t_win1) / 1e9;
    }
    bench_client_stop(client);

    /* Totals. */
    struct pubsub_loop sum = {0};
    for (int i = 0; i < o.threads; i++) {
        struct pubsub_loop *x = &loops[i];
        sum.delivered_win += x->delivered_win;
        sum.published_win += x->published_win;
        sum.conn_lost += x->conn_lost;
        sum.setup_refused += x->setup_refused;
        for (int k = 0; k < BENCH_END_COUNT; k++) {
            sum.failures[k] += x->failures[k];
        }
        bench_hist_merge(&sum.lat, &x->lat);
    }
    uint64_t published = 0, acked = 0, delivered = 0, duplicates = 0, bad = 0;
    uint64_t lost_acked = 0, not_delivered = 0;
    for (int i = 0; i < p.publishers; i++) {
        published += pubs[i].seq;
        acked += pubs[i].acked_total;
    }
    for (int s = 0; s < p.subscribers; s++) {
        struct sub *sb = &subs[s];
        delivered += sb->delivered_total;
        duplicates += sb->duplicates;
        bad += sb->bad;
        for (int i = 0; i < p.publishers; i++) {
            uint64_t got = seqset_count(&sb->got[i]);
            not_delivered += pubs[i].seq > got ? pubs[i].seq - got : 0;
            if (p.qos > 0) {
                lost_acked += seqset_missing(&pubs[i].acked, &sb->got[i]);
            }
        }
    }
    struct bench_window w;
    bench_window_make(&w, &s0, &s1);
    struct bench_loop_stats cst;
    bench_client_stats(client, &cst);
    double pub_s = w.elapsed_s > 0 ? (double)sum.published_win / w.elapsed_s : 0;
    double del_s = w.elapsed_s > 0 ? (double)sum.delivered_win / w.elapsed_s : 0;

    if (o.json) {
        json_t *fail = json_object();
        for (int k = 1; k < BENCH_END_COUNT; k++) {
            json_object_set_new(fail, bench_end_name((enum bench_end)k),
                                json_integer((json_int_t)sum.failures[k]));
        }
        json_t *res = json_pack(
            "{s:b,s:I,s:f,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o,s:o,s:I}", "setup_ok",
            setup_error == NULL, "published_in_window", (json_int_t)sum.published_win,
            "published_per_s", pub_s, "delivered_in_window", (json_int_t)sum.delivered_win,
            "delivered_per_s", del_s, "published_total", (json_int_t)published,
            "acknowledged_total", (json_int_t)acked, "delivered_total", (json_int_t)delivered,
            "duplicates", (json_int_t)duplicates, "acknowledged_lost", (json_int_t)lost_acked,
            "not_delivered", (json_int_t)not_delivered, "foreign_payloads", (json_int_t)bad,
            "drain_s", drain_s, "latency", bench_hist_json(&sum.lat), "setup_failures", fail,
            "connections_lost", (json_int_t)sum.conn_lost);
        if (setup_error != NULL) {
            json_object_set_new(res, "setup_error", json_string(setup_error));
        }
        json_t *params =
            json_pack("{s:s,s:i,s:i,s:i,s:i,s:f,s:i,s:s,s:f,s:i}", "topic_mode",
                      p.fan_out ? "fan-out" : "fan-in", "publishers", p.publishers, "subscribers",
                      p.subscribers, "qos", p.qos, "payload", p.payload, "rate", p.rate, "inflight",
                      p.inflight, "topic_prefix", p.prefix, "drain_max_s", p.drain, "port", o.port);
        bench_json_print(json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:b}", "mode", "pubsub", "options",
                                   bench_opts_json(&o), "params", params, "result", res, "window",
                                   bench_window_json(&w, sum.delivered_win), "client",
                                   bench_client_stats_json(&cst), "interrupted",
                                   interrupted || bench_interrupted));
    } else if (setup_error != NULL) {
        printf("  set-up failed  %s (%d of %d subscribers, %d of %d publishers ready)\n",
               setup_error, atomic_load(&sh.subs_ready), p.subscribers, atomic_load(&sh.pubs_ready),
               p.publishers);
    } else {
        char lat[160];
        bench_hist_text(&sum.lat, lat, sizeof(lat));
        printf("  published      %llu in %.2f s = %.1f msg/s\n",
               (unsigned long long)sum.published_win, w.elapsed_s, pub_s);
        printf("  delivered      %llu in %.2f s = %.1f msg/s (each message to %d subscriber%s)\n",
               (unsigned long long)sum.delivered_win, w.elapsed_s, del_s, p.subscribers,
               p.subscribers == 1 ? "" : "s");
        printf("  whole run      %llu published, %llu delivered, %llu duplicates (after %.2f s "
               "of draining)\n",
               (unsigned long long)published, (unsigned long long)delivered,
               (unsigned long long)duplicates, drain_s);
        if (p.qos > 0) {
            printf("  QoS 1          %llu acknowledged; acknowledged messages lost: %llu\n",
                   (unsigned long long)acked, (unsigned long long)lost_acked);
        }
        printf("  not delivered  %llu (message x subscriber pairs%s)\n",
               (unsigned long long)not_delivered,
               p.qos == 0 ? "; QoS 0 allows loss" : ", unacknowledged ones included");
        if (sum.conn_lost > 0 || bad > 0) {
            printf("  problems       %llu connections lost while running, %llu foreign payloads\n",
                   (unsigned long long)sum.conn_lost, (unsigned long long)bad);
        }
        printf("  latency        %s (publish to delivery)\n", lat);
        bench_window_print(&w, sum.delivered_win, "delivered message");
        if (interrupted || bench_interrupted) {
            printf("  (interrupted)\n");
        }
    }
    if (setup_error != NULL) {
        fprintf(stderr, "certgate bench pubsub: %s%s%s\n", setup_error,
                cst.first_error[0] ? ": " : "", cst.first_error);
        if (sum.setup_refused > 0) {
            fprintf(stderr,
                    "certgate bench pubsub: the server refused %llu CONNECT or SUBSCRIBE "
                    "(on certgate, see --topic-prefix and mqtt/acl.mode)\n",
                    (unsigned long long)sum.setup_refused);
        }
        status = 1;
    } else {
        status = sum.delivered_win > 0 ? 0 : 1;
    }
    goto out;
oom:
    fprintf(stderr, "certgate bench pubsub: out of memory\n");
out:
    bench_client_free(client);
    for (int i = 0; loops != NULL && i < o.threads; i++) {
        free(loops[i].subs);
        free(loops[i].pubs);
    }
    free(loops);
    free(args);
    for (int i = 0; pubs != NULL && i < p.publishers; i++) {
        free(pubs[i].pid_seq);
        free(pubs[i].payload);
        free(pubs[i].acked.w);
    }
    free(pubs);
    for (int s = 0; subs != NULL && s < p.subscribers; s++) {
        for (int i = 0; subs[s].got != NULL && i < p.publishers; i++) {
            free(subs[s].got[i].w);
        }
        free(subs[s].got);
    }
    free(subs);
    bench_devices_free(&devs);
    return status;
}
