/* The blocking pool: threads, done on the right worker, bounded queue, stop, and
 * connection references held across threads. */
#include "net_test.h"

#include <pthread.h>
#include <stdlib.h>

static struct net_server *new_started(unsigned workers, unsigned pool_threads, unsigned queue_max)
{
    struct net_config cfg;
    struct net_server *srv = NULL;
    net_config_defaults(&cfg);
    cfg.workers = workers;
    cfg.pool_threads = pool_threads;
    cfg.pool_queue_max = queue_max;
    assert_int_equal(net_server_new(&cfg, &srv), 0);
    assert_int_equal(net_server_start(srv), 0);
    return srv;
}

struct job {
    struct net_worker *expect;
    pthread_t work_thread;
    bool work_on_worker;
};

static atomic_int works, dones, done_errors;

static void job_work(void *arg)
{
    struct job *j = arg;
    j->work_thread = pthread_self();
    j->work_on_worker = net_current_worker() != NULL;
    atomic_fetch_add(&works, 1);
}

static void job_done(void *arg)
{
    struct job *j = arg;
    bool ok;
    if (j->expect != NULL) {
        ok = net_current_worker() == j->expect;
    } else {
        ok = net_current_worker() == NULL && pthread_equal(pthread_self(), j->work_thread);
    }
    if (!ok || j->work_on_worker) {
        atomic_fetch_add(&done_errors, 1);
    }
    atomic_fetch_add(&dones, 1);
}

static void done_runs_on_the_right_thread(void **state)
{
    struct net_server *srv = new_started(2, 4, 1024);
    enum { N = 300 };
    struct job *jobs = calloc(N, sizeof(*jobs));
    atomic_store(&works, 0);
    atomic_store(&dones, 0);
    atomic_store(&done_errors, 0);
    for (int i = 0; i < N; i++) {
        jobs[i].expect = i % 3 == 0 ? NULL : net_server_worker(srv, (unsigned)(i % 3 - 1));
        assert_int_equal(net_pool_submit(srv, job_work, job_done, jobs[i].expect, &jobs[i]), 0);
    }
    assert_true(WAIT_INT(&dones, N, 10000));
    assert_int_equal(atomic_load(&works), N);
    assert_int_equal(atomic_load(&done_errors), 0);
    struct net_stats s = stats_of(srv);
    assert_int_equal(s.pool_done, N);
    assert_int_equal(s.pool_queue, 0);
    assert_int_equal(net_pool_submit(srv, NULL, NULL, NULL, NULL), -EINVAL);
    net_server_free(srv);
    free(jobs);
}

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void blocking_work(void *arg)
{
    pthread_mutex_lock(&gate_lock);
    while (!gate_open) {
        pthread_cond_wait(&gate_cond, &gate_lock);
    }
    pthread_mutex_unlock(&gate_lock);
    atomic_fetch_add(&works, 1);
}

static void count_done(void *arg)
{
    atomic_fetch_add(&dones, 1);
}

static void queue_full_is_refused(void **state)
{
    struct net_server *srv = new_started(1, 1, 3);
    struct net_worker *w = net_server_worker(srv, 0);
    atomic_store(&works, 0);
    atomic_store(&dones, 0);
    gate_open = false;
    assert_int_equal(net_pool_submit(srv, blocking_work, count_done, w, NULL), 0);
    assert_true(WAIT_STAT(srv, pool_running, 1, 3000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(net_pool_submit(srv, blocking_work, count_done, w, NULL), 0);
    }
    assert_int_equal(net_pool_submit(srv, blocking_work, count_done, w, NULL), CG_ELIMIT);
    struct net_stats s = stats_of(srv);
    assert_int_equal(s.pool_queue, 3);
    assert_int_equal(s.pool_rejected, 1);
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    assert_true(WAIT_INT(&dones, 4, 5000));
    assert_int_equal(atomic_load(&works), 4);
    /* Room again. */
    assert_int_equal(net_pool_submit(srv, blocking_work, count_done, w, NULL), 0);
    assert_true(WAIT_INT(&dones, 5, 5000));
    net_server_free(srv);
}

static void slow_work(void *arg)
{
    test_sleep_ms(20);
    atomic_fetch_add(&works, 1);
}

static void done_on_worker(void *arg)
{
    if (net_current_worker() == arg) {
        atomic_fetch_add(&dones, 1);
    }
}

static void stop_drains_the_queue(void **state)
{
    struct net_server *srv = new_started(1, 1, 100);
    struct net_worker *w = net_server_worker(srv, 0);
    atomic_store(&works, 0);
    atomic_store(&dones, 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(net_pool_submit(srv, slow_work, done_on_worker, w, w), 0);
    }
    net_server_stop(srv);
    assert_int_equal(atomic_load(&works), 10);
    assert_int_equal(atomic_load(&dones), 10); /* on the worker, before its loop ended */
    assert_int_equal(net_pool_submit(srv, slow_work, NULL, NULL, NULL), -ESHUTDOWN);
    net_server_free(srv);
}

/* A job holding a connection reference across threads. */
static atomic_int saw_closed, replied, conn_frees;

static void conn_free_counter(void *p)
{
    atomic_fetch_add(&conn_frees, 1);
}

static void async_work(void *arg)
{
    test_sleep_ms(150); /* "a database call" */
}

static void async_done(void *arg)
{
    struct net_conn *c = arg;
    if (net_conn_is_closed(c)) {
        atomic_fetch_add(&saw_closed, 1);
    } else if (net_conn_write(c, "done", 4) == 0) {
        atomic_fetch_add(&replied, 1);
    }
    net_conn_unref(c);
}

static int async_on_open(struct net_conn *c)
{
    net_conn_set_identity(c, (void *)1, conn_free_counter);
    return 0;
}

static int async_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    buf_consume(in, in->len);
    struct net_server *srv = net_worker_server(net_conn_worker(c));
    net_conn_ref(c);
    int rc = net_pool_submit(srv, async_work, async_done, net_conn_worker(c), c);
    if (rc < 0) {
        net_conn_unref(c);
        return net_conn_write(c, "busy", 4);
    }
    return 0;
}

static const struct net_proto async_proto = {
    .name = "async", .on_open = async_on_open, .on_data = async_on_data};

static void connection_reference_across_pool(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &async_proto;
    uint16_t port;
    struct net_server *srv = start_server(2, &lc, &port);
    atomic_store(&saw_closed, 0);
    atomic_store(&replied, 0);
    atomic_store(&conn_frees, 0);

    struct test_client a, b;
    assert_int_equal(test_client_connect(&a, port, NULL), 0);
    assert_int_equal(test_client_connect(&b, port, NULL), 0);
    assert_int_equal(test_client_write(&a, "job", 3), 0);
    assert_int_equal(test_client_write(&b, "job", 3), 0);
    assert_true(WAIT_STAT(srv, bytes_in, 6, 3000));
    test_client_close(&b); /* gone before its job finishes */
    char got[4];
    assert_int_equal(test_client_read_exact(&a, got, 4), 0);
    assert_memory_equal(got, "done", 4);
    assert_true(WAIT_INT(&saw_closed, 1, 3000));
    assert_int_equal(atomic_load(&replied), 1);
    /* b's memory was kept by the job's reference and freed at its unref. */
    assert_true(WAIT_INT(&conn_frees, 1, 3000));
    test_client_close(&a);
    assert_true(WAIT_INT(&conn_frees, 2, 3000));
    net_server_free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        NET_TEST(done_runs_on_the_right_thread),
        NET_TEST(queue_full_is_refused),
        NET_TEST(stop_drains_the_queue),
        NET_TEST(connection_reference_across_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
