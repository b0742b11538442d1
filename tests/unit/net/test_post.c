/* Cross-thread messages: FIFO per sender, the right thread, broadcast, after stop. */
#include "net_test.h"

#include <pthread.h>
#include <stdlib.h>

#define SENDERS 4
#define PER_SENDER 20000

struct post_arg {
    int sender;
    int seq;
};

static struct post_arg post_args[SENDERS][PER_SENDER];
static int last_seq[SENDERS]; /* touched only on the target worker's thread */
static atomic_int posts_run, order_errors, wrong_thread;
static struct net_worker *target;

static void on_msg(void *arg)
{
    struct post_arg *a = arg;
    if (net_current_worker() != target) {
        atomic_fetch_add(&wrong_thread, 1);
    }
    if (a->seq != last_seq[a->sender] + 1) {
        atomic_fetch_add(&order_errors, 1);
    }
    last_seq[a->sender] = a->seq;
    atomic_fetch_add(&posts_run, 1);
}

static void *sender_thread(void *arg)
{
    int s = (int)(intptr_t)arg;
    for (int i = 0; i < PER_SENDER; i++) {
        post_args[s][i] = (struct post_arg){.sender = s, .seq = i};
        if (net_worker_post(target, on_msg, &post_args[s][i]) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

static struct net_server *new_started(unsigned workers)
{
    struct net_config cfg;
    struct net_server *srv = NULL;
    net_config_defaults(&cfg);
    cfg.workers = workers;
    cfg.pool_threads = 1;
    assert_int_equal(net_server_new(&cfg, &srv), 0);
    assert_int_equal(net_server_start(srv), 0);
    return srv;
}

static void fifo_per_sender(void **state)
{
    struct net_server *srv = new_started(2);
    target = net_server_worker(srv, 1);
    for (int s = 0; s < SENDERS; s++) {
        last_seq[s] = -1;
    }
    atomic_store(&posts_run, 0);
    atomic_store(&order_errors, 0);
    atomic_store(&wrong_thread, 0);
    pthread_t th[SENDERS];
    for (int s = 0; s < SENDERS; s++) {
        assert_int_equal(pthread_create(&th[s], NULL, sender_thread, (void *)(intptr_t)s), 0);
    }
    for (int s = 0; s < SENDERS; s++) {
        void *rc;
        pthread_join(th[s], &rc);
        assert_null(rc);
    }
    assert_true(WAIT_INT(&posts_run, SENDERS * PER_SENDER, 10000));
    assert_int_equal(atomic_load(&order_errors), 0);
    assert_int_equal(atomic_load(&wrong_thread), 0);
    struct net_stats s;
    net_worker_stats(target, &s);
    assert_int_equal(s.posts_run, SENDERS * PER_SENDER);
    assert_int_equal(s.post_queue, 0);
    net_worker_stats(net_server_worker(srv, 0), &s);
    assert_int_equal(s.posts_run, 0);
    net_server_free(srv);
}

static atomic_int bcast_ok, bcast_bad;

static void on_bcast(void *arg)
{
    if (net_current_worker() == arg) {
        atomic_fetch_add(&bcast_ok, 1);
    } else {
        atomic_fetch_add(&bcast_bad, 1);
    }
}

static void broadcast_and_accessors(void **state)
{
    struct net_server *srv = new_started(3);
    assert_int_equal(net_server_workers(srv), 3);
    void *args[3];
    for (unsigned i = 0; i < 3; i++) {
        struct net_worker *w = net_server_worker(srv, i);
        assert_non_null(w);
        assert_int_equal(net_worker_index(w), i);
        assert_ptr_equal(net_worker_server(w), srv);
        args[i] = w;
    }
    assert_null(net_server_worker(srv, 3));
    assert_null(net_current_worker()); /* not a worker thread */
    atomic_store(&bcast_ok, 0);
    atomic_store(&bcast_bad, 0);
    assert_int_equal(net_server_broadcast(srv, on_bcast, args), 0);
    assert_true(WAIT_INT(&bcast_ok, 3, 3000));
    assert_int_equal(atomic_load(&bcast_bad), 0);
    net_server_free(srv);
}

static atomic_int late_runs;

static void slow_msg(void *arg)
{
    test_sleep_ms(100);
    atomic_fetch_add(&late_runs, 1);
}

static void count_msg(void *arg)
{
    if (net_current_worker() == arg) {
        atomic_fetch_add(&late_runs, 1);
    }
}

static void posts_around_stop(void **state)
{
    struct net_server *srv = new_started(1);
    struct net_worker *w = net_server_worker(srv, 0);
    atomic_store(&late_runs, 0);
    /* Messages posted before stop all run, on the worker. */
    assert_int_equal(net_worker_post(w, slow_msg, NULL), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(net_worker_post(w, count_msg, w), 0);
    }
    net_server_stop(srv);
    assert_int_equal(atomic_load(&late_runs), 101);
    /* After stop they are refused and do not run. */
    assert_int_equal(net_worker_post(w, count_msg, w), -ESHUTDOWN);
    assert_int_equal(net_server_broadcast(srv, count_msg, NULL), -ESHUTDOWN);
    assert_int_equal(atomic_load(&late_runs), 101);
    net_server_free(srv);
}

static void server_without_start(void **state)
{
    struct net_config cfg;
    struct net_server *srv = NULL;
    net_config_defaults(&cfg);
    assert_true(cfg.workers >= 1);
    cfg.workers = 0;
    assert_int_equal(net_server_new(&cfg, &srv), -EINVAL);
    cfg.workers = 2;
    cfg.pool_threads = 0;
    assert_int_equal(net_server_new(&cfg, &srv), -EINVAL);
    cfg.pool_threads = 1;
    assert_int_equal(net_server_new(&cfg, &srv), 0);
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.address = "127.0.0.1";
    assert_int_equal(net_server_listen(srv, &lc), -EINVAL); /* no protocol */
    lc.proto = &echo_proto;
    lc.out_lowwater = lc.out_highwater + 1;
    assert_int_equal(net_server_listen(srv, &lc), -EINVAL);
    net_listen_config_defaults(&lc);
    lc.address = "127.0.0.1";
    lc.proto = &echo_proto;
    assert_int_equal(net_server_listen(srv, &lc), 0);
    assert_int_equal(net_server_listen(srv, &lc), 1);
    assert_true(net_server_port(srv, 0) != 0);
    assert_true(net_server_port(srv, 1) != net_server_port(srv, 0));
    assert_int_equal(net_server_port(srv, 2), 0);
    /* A message posted to a server that never runs is dropped at free. */
    assert_int_equal(net_worker_post(net_server_worker(srv, 0), count_msg, NULL), 0);
    net_server_stop(srv); /* not started: no-op */
    net_server_free(srv);
    net_server_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        NET_TEST(fifo_per_sender),
        NET_TEST(broadcast_and_accessors),
        NET_TEST(posts_around_stop),
        NET_TEST(server_without_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
