/* Plain-TCP behaviour of the net module: echo across workers, limits, back-pressure,
 * closing from callbacks, timers, foreach, graceful stop. */
#include "net_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * Many clients across two workers
 * ------------------------------------------------------------------------------------- */

#define CLIENT_THREADS 8
#define CONNS_PER_THREAD 16
#define ROUNDS 20

struct client_job {
    uint16_t port;
    int failures;
};

static void *many_clients_thread(void *arg)
{
    struct client_job *job = arg;
    struct test_client cl[CONNS_PER_THREAD];
    for (int i = 0; i < CONNS_PER_THREAD; i++) {
        if (test_client_connect(&cl[i], job->port, NULL) < 0) {
            job->failures++;
            return NULL;
        }
    }
    uint8_t out[3000], back[3000];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < CONNS_PER_THREAD; i++) {
            size_t n = 1 + (size_t)((r * 131 + i * 17) % (int)sizeof(out));
            for (size_t k = 0; k < n; k++) {
                out[k] = (uint8_t)(k * 7 + r + i);
            }
            if (test_client_write(&cl[i], out, n) < 0 ||
                test_client_read_exact(&cl[i], back, n) < 0 || memcmp(out, back, n) != 0) {
                job->failures++;
            }
        }
    }
    for (int i = 0; i < CONNS_PER_THREAD; i++) {
        test_client_close(&cl[i]);
    }
    return NULL;
}

static void many_clients_two_workers(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &echo_proto;
    uint16_t port;
    struct net_server *srv = start_server(2, &lc, &port);

    pthread_t th[CLIENT_THREADS];
    struct client_job jobs[CLIENT_THREADS];
    for (int i = 0; i < CLIENT_THREADS; i++) {
        jobs[i] = (struct client_job){.port = port};
        assert_int_equal(pthread_create(&th[i], NULL, many_clients_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < CLIENT_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    const int total = CLIENT_THREADS * CONNS_PER_THREAD;
    assert_true(WAIT_INT(&echo_ctr.closes, total, 5000));
    assert_int_equal(atomic_load(&echo_ctr.opens), total);
    assert_int_equal(atomic_load(&echo_ctr.reasons[NET_REASON_PEER_CLOSED]), total);
    assert_true(WAIT_STAT(srv, conns_open, 0, 5000));

    struct net_stats s0, s1, all;
    net_worker_stats(net_server_worker(srv, 0), &s0);
    net_worker_stats(net_server_worker(srv, 1), &s1);
    net_server_stats(srv, &all);
    /* SO_REUSEPORT spreads 128 connections: both workers must have some. */
    assert_true(s0.accepted > 0);
    assert_true(s1.accepted > 0);
    assert_int_equal(s0.accepted + s1.accepted, total);
    assert_int_equal(all.bytes_in, all.bytes_out);
    assert_true(all.bytes_in > 0);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Peer address, ids
 * ------------------------------------------------------------------------------------- */

static char seen_peer[NET_ADDR_STRLEN];
static uint64_t seen_ids[4];
static atomic_int seen_n;

static int addr_on_open(struct net_conn *c)
{
    int i = atomic_fetch_add(&seen_n, 1);
    if (i < 4) {
        seen_ids[i] = net_conn_id(c);
    }
    snprintf(seen_peer, sizeof(seen_peer), "%s", net_conn_peer_addr(c)->text);
    char line[80];
    int n = snprintf(line, sizeof(line), "%s\n", net_conn_peer_addr(c)->text);
    return net_conn_write(c, line, (size_t)n);
}

static const struct net_proto addr_proto = {
    .name = "addr", .on_open = addr_on_open, .on_data = echo_on_data};

static void peer_address_and_ids(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &addr_proto;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);
    atomic_store(&seen_n, 0);
    for (int i = 0; i < 3; i++) {
        struct test_client cl;
        assert_int_equal(test_client_connect(&cl, port, NULL), 0);
        struct sockaddr_in me;
        socklen_t len = sizeof(me);
        getsockname(cl.fd, (struct sockaddr *)&me, &len);
        char expect[64], got[64] = {0};
        snprintf(expect, sizeof(expect), "127.0.0.1:%u\n", ntohs(me.sin_port));
        assert_int_equal(test_client_read_exact(&cl, got, strlen(expect)), 0);
        assert_string_equal(got, expect);
        test_client_close(&cl);
    }
    net_server_stop(srv);
    assert_int_equal(atomic_load(&seen_n), 3);
    assert_true(seen_ids[0] != 0);
    assert_true(seen_ids[0] != seen_ids[1] && seen_ids[1] != seen_ids[2] &&
                seen_ids[0] != seen_ids[2]);
    net_server_free(srv);
}

static void ipv6_listener(void **state)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0) {
        skip();
    }
    close(probe);
    struct net_config cfg;
    net_config_defaults(&cfg);
    cfg.workers = 2;
    struct net_server *srv = NULL;
    assert_int_equal(net_server_new(&cfg, &srv), 0);
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &addr_proto;
    lc.address = "[::1]";
    int idx = net_server_listen(srv, &lc);
    if (idx == -EADDRNOTAVAIL || idx == -EAFNOSUPPORT) {
        net_server_free(srv);
        skip();
    }
    assert_int_equal(idx, 0);
    uint16_t port = net_server_port(srv, 0);
    assert_int_equal(net_server_start(srv), 0);

    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    sin6.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
    struct test_client cl = {.fd = fd};
    test_client_set_timeout(&cl, 5000);
    char got[64] = {0};
    assert_true(test_client_read(&cl, got, sizeof(got) - 1) > 0);
    assert_true(strncmp(got, "[::1]:", 6) == 0);
    test_client_close(&cl);

    /* A bad address is refused. */
    lc.address = "not-an-address";
    net_server_free(srv);
    assert_int_equal(net_server_new(&cfg, &srv), 0);
    assert_int_equal(net_server_listen(srv, &lc), -EINVAL);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Input cap
 * ------------------------------------------------------------------------------------- */

static int hold_on_data(struct net_conn *c)
{
    return 0; /* never consumes: waits for a "message" that never completes */
}

static const struct net_proto hold_proto = {
    .name = "hold", .on_open = echo_on_open, .on_data = hold_on_data, .on_close = echo_on_close};

static void input_cap_closes_connection(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &hold_proto;
    lc.max_input = 1024;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);

    struct test_client cl;
    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    uint8_t small[1000] = {0};
    assert_int_equal(test_client_write(&cl, small, sizeof(small)), 0);
    test_sleep_ms(100);
    assert_int_equal(stats_of(srv).closed_input_limit, 0); /* under the cap: still open */
    uint8_t more[4096] = {0};
    test_client_write(&cl, more, sizeof(more)); /* may fail once the server reset */
    assert_true(test_client_wait_closed(&cl, 3000));
    test_client_close(&cl);
    assert_true(WAIT_INT(&echo_ctr.closes, 1, 3000));
    assert_int_equal(atomic_load(&echo_ctr.reasons[NET_REASON_INPUT_LIMIT]), 1);
    assert_int_equal(stats_of(srv).closed_input_limit, 1);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Output hard cap
 * ------------------------------------------------------------------------------------- */

#define FLOOD_CHUNK 4096
#define FLOOD_MAX (64 * 1024)

static struct {
    size_t accepted;
    size_t pending_at_refusal;
    int refusal_rc;
} flood;

static int flood_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    buf_consume(in, in->len);
    uint8_t chunk[FLOOD_CHUNK];
    for (int i = 0; i < 1000; i++) {
        for (size_t k = 0; k < sizeof(chunk); k++) {
            chunk[k] = (uint8_t)((flood.accepted + k) % 251);
        }
        int rc = net_conn_write(c, chunk, sizeof(chunk));
        if (rc < 0) {
            flood.refusal_rc = rc;
            flood.pending_at_refusal = net_conn_output_pending(c);
            break;
        }
        flood.accepted += sizeof(chunk);
    }
    return 0;
}

static const struct net_proto flood_proto = {.name = "flood", .on_data = flood_on_data};

static void output_hard_cap(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &flood_proto;
    lc.out_max = FLOOD_MAX;
    lc.out_highwater = FLOOD_MAX / 2;
    lc.out_lowwater = FLOOD_MAX / 8;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);
    memset(&flood, 0, sizeof(flood));

    struct test_client cl;
    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    assert_int_equal(test_client_write(&cl, "go", 2), 0);
    /* The writes of one callback are flushed after it returns, so the cap is hit at
     * exactly out_max. */
    uint8_t *got = malloc(FLOOD_MAX);
    assert_int_equal(test_client_read_exact(&cl, got, FLOOD_MAX), 0);
    test_client_close(&cl);
    net_server_stop(srv); /* joins the worker: its writes to `flood` are visible */
    assert_int_equal(flood.refusal_rc, CG_ELIMIT);
    assert_int_equal(flood.accepted, FLOOD_MAX);
    assert_int_equal(flood.pending_at_refusal, FLOOD_MAX);
    for (size_t k = 0; k < FLOOD_MAX; k++) {
        if (got[k] != (uint8_t)(k % 251)) {
            fail_msg("byte %zu differs", k);
        }
    }
    free(got);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Back-pressure: on_drain
 * ------------------------------------------------------------------------------------- */

#define PRODUCE_TOTAL (16u * 1024 * 1024)
#define PRODUCE_CHUNK (16 * 1024)

static struct {
    size_t produced;
    size_t max_pending;
    int drains;
    int stops;
    int write_errors;
} prod;

static void produce(struct net_conn *c)
{
    uint8_t chunk[PRODUCE_CHUNK];
    while (prod.produced < PRODUCE_TOTAL) {
        if (net_conn_over_highwater(c)) {
            prod.stops++;
            return; /* resumed from on_drain */
        }
        for (size_t k = 0; k < sizeof(chunk); k++) {
            chunk[k] = (uint8_t)((prod.produced + k) % 253);
        }
        if (net_conn_write(c, chunk, sizeof(chunk)) < 0) {
            prod.write_errors++;
            return;
        }
        prod.produced += sizeof(chunk);
        if (net_conn_output_pending(c) > prod.max_pending) {
            prod.max_pending = net_conn_output_pending(c);
        }
    }
}

static int producer_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    buf_consume(in, in->len);
    produce(c);
    return 0;
}

static void producer_on_drain(struct net_conn *c)
{
    prod.drains++;
    CB_CHECK(!net_conn_over_highwater(c));
    produce(c);
}

static const struct net_proto producer_proto = {
    .name = "producer", .on_data = producer_on_data, .on_drain = producer_on_drain};

static void backpressure_on_drain(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &producer_proto;
    lc.out_highwater = 64 * 1024;
    lc.out_lowwater = 16 * 1024;
    lc.out_max = 256 * 1024;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);
    memset(&prod, 0, sizeof(prod));

    struct test_client cl;
    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    assert_int_equal(test_client_write(&cl, "go", 2), 0);
    test_sleep_ms(200); /* a slow reader: let the server hit the high-water mark */
    uint8_t *buf = malloc(64 * 1024);
    size_t got = 0;
    while (got < PRODUCE_TOTAL) {
        ssize_t n = test_client_read(&cl, buf, 64 * 1024);
        assert_true(n > 0);
        for (ssize_t k = 0; k < n; k++) {
            if (buf[k] != (uint8_t)((got + (size_t)k) % 253)) {
                fail_msg("byte %zu differs", got + (size_t)k);
            }
        }
        got += (size_t)n;
    }
    free(buf);
    assert_int_equal(got, PRODUCE_TOTAL);
    net_server_stop(srv); /* joins the worker: its writes to `prod` are visible */
    assert_int_equal(prod.write_errors, 0);
    assert_true(prod.stops >= 1);
    assert_true(prod.drains >= 1);
    /* Never above high-water + one chunk: the producer respected back-pressure. */
    assert_true(prod.max_pending <= 64 * 1024 + PRODUCE_CHUNK);
    test_client_close(&cl);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Closing from inside callbacks
 * ------------------------------------------------------------------------------------- */

static atomic_int after_close_write_rc;

static int closer_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    char cmd = in->len > 0 ? (char)buf_data(in)[0] : 0;
    buf_consume(in, in->len);
    switch (cmd) {
    case 'N': /* close now, then keep using c inside this callback */
        net_conn_close(c, NET_CLOSE_NOW);
        net_conn_close(c, NET_CLOSE_FLUSH); /* later calls are harmless */
        atomic_store(&after_close_write_rc, net_conn_write(c, "x", 1));
        net_conn_set_data(c, (void *)1);
        CB_CHECK(net_conn_is_closed(c));
        CB_CHECK(net_conn_get_data(c) == (void *)1);
        net_conn_set_timer(c, 10);
        net_conn_pause_reading(c, true);
        return 0;
    case 'F': /* reply, then close after flushing */
        net_conn_write(c, "bye\n", 4);
        net_conn_close(c, NET_CLOSE_FLUSH);
        atomic_store(&after_close_write_rc, net_conn_write(c, "x", 1));
        return 0;
    case 'X': /* protocol error */
        net_conn_write(c, "err\n", 4);
        return -1;
    default:
        return net_conn_write(c, &cmd, 1);
    }
}

static void closer_on_close(struct net_conn *c, int reason)
{
    echo_on_close(c, reason);
    /* Closing again from on_close is a no-op. */
    net_conn_close(c, NET_CLOSE_NOW);
    CB_CHECK(net_conn_write(c, "x", 1) == -EPIPE);
}

static const struct net_proto closer_proto = {.name = "closer",
                                              .on_open = echo_on_open,
                                              .on_data = closer_on_data,
                                              .on_close = closer_on_close};

static void close_inside_on_data(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &closer_proto;
    uint16_t port;
    struct net_server *srv = start_server(2, &lc, &port);

    struct test_client cl;
    char got[16] = {0};

    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    assert_int_equal(test_client_write(&cl, "a", 1), 0);
    assert_int_equal(test_client_read_exact(&cl, got, 1), 0);
    assert_int_equal(got[0], 'a');
    assert_int_equal(test_client_write(&cl, "N", 1), 0);
    assert_true(test_client_wait_closed(&cl, 3000));
    test_client_close(&cl);
    assert_true(WAIT_INT(&echo_ctr.closes, 1, 3000));
    assert_int_equal(atomic_load(&after_close_write_rc), -EPIPE);

    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    assert_int_equal(test_client_write(&cl, "F", 1), 0);
    assert_int_equal(test_client_read_exact(&cl, got, 4), 0);
    assert_memory_equal(got, "bye\n", 4);
    assert_int_equal(test_client_read(&cl, got, sizeof(got)), 0); /* then EOF, no "x" */
    test_client_close(&cl);
    assert_true(WAIT_INT(&echo_ctr.closes, 2, 3000));

    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    assert_int_equal(test_client_write(&cl, "X", 1), 0);
    assert_int_equal(test_client_read_exact(&cl, got, 4), 0);
    assert_memory_equal(got, "err\n", 4);
    assert_int_equal(test_client_read(&cl, got, sizeof(got)), 0);
    test_client_close(&cl);
    assert_true(WAIT_INT(&echo_ctr.closes, 3, 3000));

    assert_int_equal(atomic_load(&echo_ctr.opens), 3);
    assert_int_equal(atomic_load(&echo_ctr.reasons[NET_REASON_LOCAL]), 2);
    assert_int_equal(atomic_load(&echo_ctr.reasons[NET_REASON_PROTOCOL]), 1);
    test_sleep_ms(50);
    assert_int_equal(atomic_load(&echo_ctr.closes), 3); /* exactly once each */
    assert_true(WAIT_STAT(srv, conns_open, 0, 3000));
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Timers
 * ------------------------------------------------------------------------------------- */

static atomic_int timeouts;

static int timer_on_open(struct net_conn *c)
{
    net_conn_set_timer(c, 30);
    return 0;
}

static int timer_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    char cmd = (char)buf_data(in)[0];
    buf_consume(in, in->len);
    if (cmd == 'd') {
        net_conn_set_timer(c, 0);
        return net_conn_write(c, "D", 1);
    }
    if (cmd == 'r') {
        net_conn_set_timer(c, 30);
    }
    return 0;
}

static void timer_on_timeout(struct net_conn *c)
{
    int n = atomic_fetch_add(&timeouts, 1) + 1;
    net_conn_write(c, "t", 1);
    if (n < 3) {
        net_conn_set_timer(c, 30); /* re-arm */
    }
}

static const struct net_proto timer_proto = {.name = "timer",
                                             .on_open = timer_on_open,
                                             .on_data = timer_on_data,
                                             .on_timeout = timer_on_timeout};

static atomic_int worker_ticks;
static atomic_int worker_tick_wrong_thread;
static struct net_worker *tick_worker;

static void worker_tick(void *arg)
{
    if (net_current_worker() != tick_worker || arg != (void *)tick_worker) {
        atomic_fetch_add(&worker_tick_wrong_thread, 1);
    }
    atomic_fetch_add(&worker_ticks, 1);
}

static void connection_and_worker_timers(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &timer_proto;
    struct net_config cfg;
    net_config_defaults(&cfg);
    cfg.workers = 2;
    struct net_server *srv = NULL;
    assert_int_equal(net_server_new(&cfg, &srv), 0);
    lc.address = "127.0.0.1";
    assert_int_equal(net_server_listen(srv, &lc), 0);
    uint16_t port = net_server_port(srv, 0);
    tick_worker = net_server_worker(srv, 1);
    atomic_store(&worker_ticks, 0);
    atomic_store(&worker_tick_wrong_thread, 0);
    assert_int_equal(net_worker_add_timer(tick_worker, 20, worker_tick, tick_worker), 0);
    assert_int_equal(net_worker_add_timer(tick_worker, 0, worker_tick, NULL), -EINVAL);
    assert_int_equal(net_server_start(srv), 0);

    /* Three timeouts (armed in on_open, re-armed twice), then silence. */
    atomic_store(&timeouts, 0);
    struct test_client cl;
    char got[8] = {0};
    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    assert_int_equal(test_client_read_exact(&cl, got, 3), 0);
    assert_memory_equal(got, "ttt", 3);
    test_client_set_timeout(&cl, 200);
    assert_true(test_client_read(&cl, got, 1) < 0); /* nothing more */
    /* Re-arm from on_data. */
    assert_int_equal(test_client_write(&cl, "r", 1), 0);
    test_client_set_timeout(&cl, 5000);
    assert_int_equal(test_client_read_exact(&cl, got, 1), 0);
    assert_int_equal(got[0], 't');
    test_client_close(&cl);

    /* Disarm before it fires. */
    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    assert_int_equal(test_client_write(&cl, "d", 1), 0);
    assert_int_equal(test_client_read_exact(&cl, got, 1), 0);
    assert_int_equal(got[0], 'D');
    test_client_set_timeout(&cl, 200);
    assert_true(test_client_read(&cl, got, 1) < 0);
    test_client_close(&cl);

    assert_true(WAIT_INT_GE(&worker_ticks, 5, 3000));
    assert_int_equal(atomic_load(&worker_tick_wrong_thread), 0);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * foreach_conn from a posted message
 * ------------------------------------------------------------------------------------- */

static int victim_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    if (in->len > 0 && buf_data(in)[0] == 'v') {
        net_conn_set_data(c, (void *)1);
    }
    return echo_on_data(c);
}

static const struct net_proto victim_proto = {.name = "victim",
                                              .on_open = echo_on_open,
                                              .on_data = victim_on_data,
                                              .on_close = echo_on_close};

static atomic_int foreach_visited;

static int close_victim(struct net_conn *c, void *arg)
{
    atomic_fetch_add(&foreach_visited, 1);
    if (net_conn_get_data(c) == (void *)1) {
        net_conn_close(c, NET_CLOSE_FLUSH);
    }
    return 0;
}

static void close_victims(void *arg)
{
    struct net_worker *w = net_current_worker();
    CB_CHECK(w != NULL);
    CB_CHECK(net_worker_foreach_conn(w, close_victim, NULL) == 0);
}

static void foreach_closes_selected(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &victim_proto;
    uint16_t port;
    struct net_server *srv = start_server(2, &lc, &port);
    struct test_client cl[8];
    char got[4];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(test_client_connect(&cl[i], port, NULL), 0);
        const char *msg = (i % 2) ? "v" : "k";
        assert_int_equal(test_client_write(&cl[i], msg, 1), 0);
        assert_int_equal(test_client_read_exact(&cl[i], got, 1), 0);
    }
    atomic_store(&foreach_visited, 0);
    assert_int_equal(net_server_broadcast(srv, close_victims, NULL), 0);
    for (int i = 1; i < 8; i += 2) {
        assert_true(test_client_wait_closed(&cl[i], 3000));
    }
    for (int i = 0; i < 8; i += 2) {
        assert_int_equal(test_client_write(&cl[i], "k", 1), 0);
        assert_int_equal(test_client_read_exact(&cl[i], got, 1), 0);
    }
    assert_int_equal(atomic_load(&foreach_visited), 8);
    assert_true(WAIT_INT(&echo_ctr.closes, 4, 3000));
    for (int i = 0; i < 8; i++) {
        test_client_close(&cl[i]);
    }
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Graceful stop
 * ------------------------------------------------------------------------------------- */

static void graceful_stop_closes_everything(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &closer_proto;
    uint16_t port;
    struct net_server *srv = start_server(2, &lc, &port);

    struct test_client cl[10];
    char got[1];
    for (int i = 0; i < 10; i++) {
        assert_int_equal(test_client_connect(&cl[i], port, NULL), 0);
        assert_int_equal(test_client_write(&cl[i], "a", 1), 0);
        assert_int_equal(test_client_read_exact(&cl[i], got, 1), 0);
    }
    int64_t t0 = test_now_ms();
    net_server_stop(srv);
    int64_t took = test_now_ms() - t0;
    assert_int_equal(atomic_load(&echo_ctr.closes), 10);
    assert_int_equal(atomic_load(&echo_ctr.reasons[NET_REASON_SHUTDOWN]), 10);
    for (int i = 0; i < 10; i++) {
        assert_true(test_client_wait_closed(&cl[i], 1000));
        test_client_close(&cl[i]);
    }
    assert_true(took < 2000);
    /* Nobody listens any more. */
    struct test_client late;
    assert_int_equal(test_client_connect(&late, port, NULL), -1);
    net_server_stop(srv); /* idempotent */
    net_server_free(srv);
}

static void graceful_stop_is_bounded(void **state)
{
    /* The client never reads, so 4 MB of output cannot drain: stop must give up after
     * drain_ms (500 ms in start_server) and still call on_close. */
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &producer_proto;
    lc.out_highwater = 4 * 1024 * 1024;
    lc.out_lowwater = 1024;
    lc.out_max = 8 * 1024 * 1024;
    lc.linger_ms = 10000;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);
    memset(&prod, 0, sizeof(prod));
    struct test_client cl;
    assert_int_equal(test_client_connect(&cl, port, NULL), 0);
    int small = 4096;
    setsockopt(cl.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    assert_int_equal(test_client_write(&cl, "go", 2), 0);
    assert_true(WAIT_STAT(srv, bytes_in, 2, 3000));
    test_sleep_ms(100);
    int64_t t0 = test_now_ms();
    net_server_stop(srv);
    int64_t took = test_now_ms() - t0;
    assert_true(took >= 400);
    assert_true(took < 3000);
    struct net_stats s = stats_of(srv);
    assert_int_equal(s.conns_open, 0);
    test_client_close(&cl);
    net_server_free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        NET_TEST(many_clients_two_workers),
        NET_TEST(peer_address_and_ids),
        NET_TEST(ipv6_listener),
        NET_TEST(input_cap_closes_connection),
        NET_TEST(output_hard_cap),
        NET_TEST(backpressure_on_drain),
        NET_TEST(close_inside_on_data),
        NET_TEST(connection_and_worker_timers),
        NET_TEST(foreach_closes_selected),
        NET_TEST(graceful_stop_closes_everything),
        NET_TEST(graceful_stop_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
