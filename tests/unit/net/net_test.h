/* Shared by the net unit tests (header-only; each test file is its own executable): an
 * echo protocol with counters, and server set-up helpers. */
#ifndef CERTGATE_TEST_NET_TEST_H
#define CERTGATE_TEST_NET_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "net/net.h"
#include "support/net_testutil.h"

#include <signal.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>

#define UNUSED_FN __attribute__((unused))

struct echo_counters {
    atomic_int opens;
    atomic_int closes;
    atomic_int reasons[16];
};

static struct echo_counters echo_ctr;

/* Checks made inside server callbacks (worker threads, where cmocka's assertions must not
 * run): count failures, assert the count is 0 from the test thread. */
static atomic_int cb_failures;
#define CB_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "callback check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);     \
            atomic_fetch_add(&cb_failures, 1);                                                     \
        }                                                                                          \
    } while (0)

static UNUSED_FN void echo_reset(void)
{
    memset(&echo_ctr, 0, sizeof(echo_ctr));
    atomic_store(&cb_failures, 0);
}

static UNUSED_FN int echo_on_open(struct net_conn *c)
{
    atomic_fetch_add(&echo_ctr.opens, 1);
    return 0;
}

static UNUSED_FN int echo_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    int rc = net_conn_write(c, buf_data(in), in->len);
    if (rc < 0) {
        return rc;
    }
    buf_consume(in, in->len);
    return 0;
}

static UNUSED_FN void echo_on_close(struct net_conn *c, int reason)
{
    atomic_fetch_add(&echo_ctr.closes, 1);
    if (reason > 0 && reason < 16) {
        atomic_fetch_add(&echo_ctr.reasons[reason], 1);
    }
}

static const struct net_proto echo_proto UNUSED_FN = {
    .name = "echo",
    .on_open = echo_on_open,
    .on_data = echo_on_data,
    .on_close = echo_on_close,
};

/* start_server: a started server with `workers` workers and one listener on 127.0.0.1
 * port 0 described by lc (address and port are overridden). */
static UNUSED_FN struct net_server *start_server(unsigned workers, struct net_listen_config *lc,
                                                 uint16_t *port)
{
    struct net_config cfg;
    struct net_server *srv = NULL;
    net_config_defaults(&cfg);
    cfg.workers = workers;
    cfg.pool_threads = 2;
    cfg.drain_ms = 500;
    assert_int_equal(net_server_new(&cfg, &srv), 0);
    lc->address = "127.0.0.1";
    lc->port = 0;
    int idx = net_server_listen(srv, lc);
    assert_int_equal(idx, 0);
    *port = net_server_port(srv, 0);
    assert_true(*port != 0);
    assert_int_equal(net_server_start(srv), 0);
    return srv;
}

static UNUSED_FN struct net_stats stats_of(struct net_server *srv)
{
    struct net_stats s;
    net_server_stats(srv, &s);
    return s;
}

struct wait_stat {
    struct net_server *srv;
    size_t offset; /* offsetof(struct net_stats, field) */
    uint64_t value;
};

static UNUSED_FN bool stat_equals(void *arg)
{
    struct wait_stat *ws = arg;
    struct net_stats s = stats_of(ws->srv);
    uint64_t v;
    memcpy(&v, (const char *)&s + ws->offset, sizeof(v));
    return v == ws->value;
}

/* WAIT_STAT: wait up to ms for a server stats field to equal value. */
#define WAIT_STAT(srv, field, val, ms)                                                             \
    ({                                                                                             \
        struct wait_stat ws_ = {(srv), offsetof(struct net_stats, field), (val)};                  \
        test_wait_until(stat_equals, &ws_, (ms));                                                  \
    })

static UNUSED_FN bool int_equals(void *arg)
{
    void **pair = arg;
    return atomic_load((atomic_int *)pair[0]) == *(int *)pair[1];
}

static UNUSED_FN bool int_at_least(void *arg)
{
    void **pair = arg;
    return atomic_load((atomic_int *)pair[0]) >= *(int *)pair[1];
}

/* WAIT_INT_GE: wait up to ms for an atomic_int to reach at least val. */
#define WAIT_INT_GE(ptr, val, ms)                                                                  \
    ({                                                                                             \
        int v_ = (val);                                                                            \
        void *pair_[2] = {(void *)(ptr), &v_};                                                     \
        test_wait_until(int_at_least, pair_, (ms));                                                \
    })

/* WAIT_INT: wait up to ms for an atomic_int to equal val. */
#define WAIT_INT(ptr, val, ms)                                                                     \
    ({                                                                                             \
        int v_ = (val);                                                                            \
        void *pair_[2] = {(void *)(ptr), &v_};                                                     \
        test_wait_until(int_equals, pair_, (ms));                                                  \
    })

static UNUSED_FN int net_test_setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    echo_reset();
    return 0;
}

static UNUSED_FN int net_test_teardown(void **state)
{
    assert_int_equal(atomic_load(&cb_failures), 0);
    return 0;
}

#define NET_TEST(fn) cmocka_unit_test_setup_teardown(fn, net_test_setup, net_test_teardown)

#endif
