/* Admission control: per-address refusal, the handshake cap and the global connect rate
 * (connections queue in the backlog rather than fail), EMFILE back-off. */
#include "net_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Connect from a given loopback source address, send one byte, expect the echo. true when
 * the echo came back. */
static bool echo_once_from(uint16_t port, const char *src)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &me.sin_addr);
    if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
        close(fd);
        return false;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct test_client cl = {.fd = fd};
    bool ok = false;
    char c;
    test_client_set_timeout(&cl, 3000);
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0 &&
        test_client_write(&cl, "x", 1) == 0 && test_client_read(&cl, &c, 1) == 1) {
        ok = c == 'x';
    }
    test_client_close(&cl);
    return ok;
}

static void per_address_refusal(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &echo_proto;
    lc.admission.per_addr_rate = 0.01; /* no refill during the test */
    lc.admission.per_addr_burst = 3;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        ok += echo_once_from(port, "127.0.0.1");
    }
    assert_int_equal(ok, 3);
    /* Another source address has its own budget. */
    assert_true(echo_once_from(port, "127.0.0.2"));
    struct net_stats s = stats_of(srv);
    assert_int_equal(s.accepted, 4);
    assert_int_equal(s.refused_by_address, 5);
    assert_int_equal(atomic_load(&echo_ctr.opens), 4); /* refused ones never reach on_open */
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Handshake cap
 * ------------------------------------------------------------------------------------- */

static struct test_cert server_cert;
static atomic_int hs_peak;

/* Runs on the worker at the start of each server handshake: how many are in progress? */
static void info_cb(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_HANDSHAKE_START)) {
        return;
    }
    struct net_conn *c = net_conn_from_ssl(ssl);
    if (c == NULL) {
        return;
    }
    struct net_stats s;
    net_worker_stats(net_conn_worker(c), &s);
    int now = (int)s.handshakes_in_progress, peak = atomic_load(&hs_peak);
    while (now > peak && !atomic_compare_exchange_weak(&hs_peak, &peak, now)) {
    }
}

#define STORM 20

struct storm {
    uint16_t port;
    SSL_CTX *ctx;
    pthread_barrier_t *go;
    bool ok;
};

static void *storm_client(void *arg)
{
    struct storm *st = arg;
    struct test_client cl;
    char c;
    pthread_barrier_wait(st->go);
    if (test_client_connect(&cl, st->port, st->ctx) == 0) {
        st->ok = test_client_write(&cl, "x", 1) == 0 && test_client_read(&cl, &c, 1) == 1;
        test_client_close(&cl);
    }
    return NULL;
}

static int run_storm(uint16_t port, SSL_CTX *ctx)
{
    pthread_t th[STORM];
    struct storm st[STORM];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, STORM);
    for (int i = 0; i < STORM; i++) {
        st[i] = (struct storm){.port = port, .ctx = ctx, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, storm_client, &st[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < STORM; i++) {
        pthread_join(th[i], NULL);
        ok += st[i].ok;
    }
    pthread_barrier_destroy(&go);
    return ok;
}

static void handshake_cap_queues_connections(void **state)
{
    SSL_CTX *sctx = test_tls_server_ctx(&server_cert, NULL, NULL);
    SSL_CTX_set_info_callback(sctx, info_cb);
    SSL_CTX *cctx = test_tls_client_ctx(&server_cert, NULL);
    int peaks[2];
    for (int capped = 1; capped >= 0; capped--) {
        struct net_listen_config lc;
        net_listen_config_defaults(&lc);
        lc.proto = &echo_proto;
        lc.ssl_ctx = sctx;
        lc.admission.max_handshakes = capped ? 1 : 0;
        uint16_t port;
        atomic_store(&hs_peak, 0);
        struct net_server *srv = start_server(1, &lc, &port);
        assert_int_equal(run_storm(port, cctx), STORM); /* every client got through */
        struct net_stats s = stats_of(srv);
        assert_int_equal(s.handshakes_ok, STORM);
        assert_int_equal(s.handshakes_failed, 0);
        peaks[capped] = atomic_load(&hs_peak);
        if (capped) {
            assert_int_equal(peaks[1], 1);
            assert_true(s.accept_pauses >= 1);
        }
        net_server_free(srv);
    }
    print_message("handshakes in progress at most: %d with a cap of 1, %d without\n", peaks[1],
                  peaks[0]);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

/* ---------------------------------------------------------------------------------------
 * Global connect rate
 * ------------------------------------------------------------------------------------- */

static void global_rate_queues_connections(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &echo_proto;
    lc.admission.connect_rate = 20;
    lc.admission.connect_burst = 1;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);
    int64_t t0 = test_now_ms();
    assert_int_equal(run_storm(port, NULL), STORM);
    int64_t took = test_now_ms() - t0;
    /* 19 connections after the first one at 20/s: about 950 ms, spent in the backlog. */
    assert_true(took >= 800);
    struct net_stats s = stats_of(srv);
    assert_int_equal(s.accepted, STORM);
    assert_int_equal(s.refused_by_address, 0);
    assert_true(s.accept_pauses >= 1);
    print_message("%d connections at 20/s took %lld ms\n", STORM, (long long)took);
    net_server_free(srv);
}

/* A client that gives up while its connection waits in the backlog costs no TLS work: it
 * is dropped at accept and counted as abandoned. */
static void abandoned_connections_are_dropped(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &echo_proto;
    lc.admission.connect_rate = 2;
    lc.admission.connect_burst = 1;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);
    struct test_client first, gone, waiting;
    assert_int_equal(test_client_connect_tcp(&first, port), 0); /* takes the only token */
    assert_int_equal(test_client_connect_tcp(&gone, port), 0);  /* waits in the backlog... */
    test_client_close(&gone);                                   /* ...and gives up */
    assert_int_equal(test_client_connect_tcp(&waiting, port), 0);
    test_client_set_timeout(&waiting, 5000);
    char c;
    assert_int_equal(test_client_write(&waiting, "y", 1), 0);
    assert_int_equal(test_client_read(&waiting, &c, 1), 1); /* served after the abandoned one */
    struct net_stats st = stats_of(srv);
    assert_int_equal(st.abandoned, 1);
    assert_int_equal(st.accepted, 2);
    test_client_close(&first);
    test_client_close(&waiting);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * EMFILE
 * ------------------------------------------------------------------------------------- */

/* free_fds_below: descriptors a new open could get below `limit`. */
static int free_fds_below(int limit)
{
    bool used[4096] = {false};
    DIR *d = opendir("/proc/self/fd");
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dfd && fd < 4096) {
            used[fd] = true;
        }
    }
    closedir(d);
    int n = 0;
    for (int i = 0; i < limit && i < 4096; i++) {
        n += !used[i];
    }
    return n;
}

#define EMFILE_CLIENTS 6

/* The clients live in a child process, whose descriptors are not limited. */
static void emfile_child(uint16_t port, int to_parent, int from_parent)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    struct test_client cl[EMFILE_CLIENTS];
    bool echoed[EMFILE_CLIENTS] = {false};
    for (int i = 0; i < EMFILE_CLIENTS; i++) {
        if (test_client_connect_tcp(&cl[i], port) < 0 || test_client_write(&cl[i], "x", 1) < 0) {
            _exit(2);
        }
    }
    for (int phase = 0; phase < 2; phase++) {
        int64_t deadline = test_now_ms() + (phase == 0 ? 1000 : 3000);
        int count = 0;
        while (test_now_ms() < deadline) {
            struct pollfd pfd[EMFILE_CLIENTS];
            for (int i = 0; i < EMFILE_CLIENTS; i++) {
                pfd[i] = (struct pollfd){.fd = echoed[i] ? -1 : cl[i].fd, .events = POLLIN};
            }
            int64_t left = deadline - test_now_ms();
            if (poll(pfd, EMFILE_CLIENTS, left > 0 ? (int)left : 0) <= 0) {
                continue;
            }
            for (int i = 0; i < EMFILE_CLIENTS; i++) {
                char c;
                if ((pfd[i].revents & POLLIN) && recv(cl[i].fd, &c, 1, 0) == 1) {
                    echoed[i] = true;
                }
            }
        }
        for (int i = 0; i < EMFILE_CLIENTS; i++) {
            count += echoed[i];
        }
        char b = (char)count;
        if (write(to_parent, &b, 1) != 1) {
            _exit(3);
        }
        if (phase == 0 && read(from_parent, &b, 1) != 1) {
            _exit(4);
        }
    }
    _exit(0);
}

static void emfile_pauses_accepting(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &echo_proto;
    uint16_t port;
    struct net_server *srv = start_server(1, &lc, &port);
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);

    struct rlimit saved, low;
    getrlimit(RLIMIT_NOFILE, &saved);
    int limit = 3;
    while (free_fds_below(limit) < 2) {
        limit++;
    }
    low = saved;
    low.rlim_cur = (rlim_t)limit; /* room for exactly two more descriptors */
    /* Lower the limit before the clients exist (the child raises its own again). */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    pid_t pid = fork();
    if (pid == 0) {
        emfile_child(port, up[1], down[0]);
    }
    if (pid < 0) {
        setrlimit(RLIMIT_NOFILE, &saved);
        fail_msg("fork failed");
    }
    char first = 0, second = 0;
    ssize_t r1 = read(up[0], &first, 1);
    struct net_stats s = stats_of(srv);
    setrlimit(RLIMIT_NOFILE, &saved);
    assert_int_equal(r1, 1);
    assert_int_equal(write(down[1], "g", 1), 1);
    ssize_t r2 = read(up[0], &second, 1);
    int status = 0;
    waitpid(pid, &status, 0);
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
    print_message("EMFILE: %d of %d served while limited, %llu accept errors in ~1 s\n", first,
                  EMFILE_CLIENTS, (unsigned long long)s.accept_errors);
    assert_int_equal(r2, 1);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(first, 2);               /* only as many as there were descriptors */
    assert_true(s.accept_errors >= 1);        /* it did hit EMFILE */
    assert_true(s.accept_errors <= 40);       /* ...and backed off instead of spinning */
    assert_int_equal(second, EMFILE_CLIENTS); /* and served everybody afterwards */
    net_server_free(srv);
}

static int group_setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    return test_cert_make("server", NULL, false, &server_cert);
}

static int group_teardown(void **state)
{
    test_cert_cleanup(&server_cert);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        NET_TEST(per_address_refusal),
        NET_TEST(handshake_cap_queues_connections),
        NET_TEST(global_rate_queues_connections),
        NET_TEST(abandoned_connections_are_dropped),
        NET_TEST(emfile_pauses_accepting),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
