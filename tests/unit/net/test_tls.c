/* TLS connections: handshake, client certificates and identity, large transfers, timeouts,
 * garbage, hot reload, back-pressure with TLS-buffered plaintext, close_notify. */
#include "net_test.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct test_cert server_a, server_b, device_ca, device_1;
static SSL_CTX *sctx_a, *sctx_b, *cctx, *cctx_anon;

/* ---------------------------------------------------------------------------------------
 * Identity from the verify callback
 * ------------------------------------------------------------------------------------- */

struct ident {
    bool ok;
    char cn[64];
};

static atomic_int ident_frees;
static atomic_int verify_without_conn;

static void ident_free(void *p)
{
    atomic_fetch_add(&ident_frees, 1);
    free(p);
}

/* What the server's TLS glue will do: record the verdict on the connection, never fail the
 * handshake. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct net_conn *c = net_conn_from_ssl(ssl);
    if (c == NULL) {
        atomic_fetch_add(&verify_without_conn, 1);
        return 0;
    }
    struct ident *id = net_conn_identity(c);
    if (id == NULL) {
        id = calloc(1, sizeof(*id));
        if (id == NULL) {
            return 0;
        }
        id->ok = true;
        net_conn_set_identity(c, id, ident_free);
    }
    id->ok = id->ok && ok;
    if (X509_STORE_CTX_get_error_depth(store) == 0) {
        test_cert_cn(X509_STORE_CTX_get_current_cert(store), id->cn, sizeof(id->cn));
    }
    return 1;
}

static int id_on_open(struct net_conn *c)
{
    echo_on_open(c);
    CB_CHECK(net_conn_ssl(c) != NULL);
    CB_CHECK(net_conn_from_ssl(net_conn_ssl(c)) == c);
    struct ident *id = net_conn_identity(c);
    char line[128];
    int n = id != NULL ? snprintf(line, sizeof(line), "id:%s:%d\n", id->cn, id->ok)
                       : snprintf(line, sizeof(line), "id:none\n");
    return net_conn_write(c, line, (size_t)n);
}

static int id_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    if (in->len == 3 && memcmp(buf_data(in), "bye", 3) == 0) {
        buf_consume(in, 3);
        net_conn_write(c, "ciao", 4);
        net_conn_close(c, NET_CLOSE_FLUSH);
        return 0;
    }
    return echo_on_data(c);
}

static const struct net_proto id_proto = {
    .name = "id-echo", .on_open = id_on_open, .on_data = id_on_data, .on_close = echo_on_close};

static struct net_server *start_tls(unsigned workers, SSL_CTX *ctx, uint16_t *port,
                                    void (*tweak)(struct net_listen_config *))
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &id_proto;
    lc.ssl_ctx = ctx;
    if (tweak != NULL) {
        tweak(&lc);
    }
    return start_server(workers, &lc, port);
}

static void read_line(struct test_client *cl, char *out, size_t n)
{
    size_t i = 0;
    while (i + 1 < n) {
        assert_int_equal(test_client_read_exact(cl, out + i, 1), 0);
        if (out[i++] == '\n') {
            break;
        }
    }
    out[i] = 0;
}

static void identity_and_echo(void **state)
{
    uint16_t port;
    struct net_server *srv = start_tls(2, sctx_a, &port, NULL);
    atomic_store(&ident_frees, 0);
    atomic_store(&verify_without_conn, 0);

    struct test_client cl;
    char line[128];
    assert_int_equal(test_client_connect(&cl, port, cctx), 0);
    read_line(&cl, line, sizeof(line));
    assert_string_equal(line, "id:device-1:1\n");
    assert_int_equal(test_client_write(&cl, "hello", 5), 0);
    assert_int_equal(test_client_read_exact(&cl, line, 5), 0);
    assert_memory_equal(line, "hello", 5);
    test_client_close(&cl);

    /* No client certificate: no identity. */
    assert_int_equal(test_client_connect(&cl, port, cctx_anon), 0);
    read_line(&cl, line, sizeof(line));
    assert_string_equal(line, "id:none\n");
    test_client_close(&cl);

    /* A self-signed device the server does not trust: the verdict says so, the
     * handshake still completes. */
    struct test_cert rogue;
    assert_int_equal(test_cert_make("rogue", NULL, false, &rogue), 0);
    SSL_CTX *rctx = test_tls_client_ctx(&server_a, &rogue);
    assert_int_equal(test_client_connect(&cl, port, rctx), 0);
    read_line(&cl, line, sizeof(line));
    assert_string_equal(line, "id:rogue:0\n");
    test_client_close(&cl);
    SSL_CTX_free(rctx);
    test_cert_cleanup(&rogue);

    assert_true(WAIT_INT(&echo_ctr.closes, 3, 3000));
    assert_true(WAIT_INT(&ident_frees, 2, 3000)); /* freed with the connections */
    assert_int_equal(atomic_load(&verify_without_conn), 0);
    struct net_stats s = stats_of(srv);
    assert_int_equal(s.handshakes_ok, 3);
    assert_int_equal(s.handshakes_failed, 0);
    net_server_free(srv);
}

/* The client's last handshake flight and its first record arrive in one segment: the server
 * reads both at once, so the record waits inside OpenSSL when the handshake completes. */
static int send_mem_bio(int fd, BIO *mem)
{
    char *p;
    long n = BIO_get_mem_data(mem, &p);
    struct test_client raw = {.fd = fd};
    int rc = n > 0 ? test_client_write(&raw, p, (size_t)n) : 0;
    (void)BIO_reset(mem);
    return rc;
}

static void data_with_client_finished(void **state)
{
    uint16_t port;
    struct net_server *srv = start_tls(1, sctx_a, &port, NULL);
    struct test_client cl;
    assert_int_equal(test_client_connect_tcp(&cl, port), 0);
    SSL *ssl = SSL_new(cctx);
    BIO *out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, BIO_new_socket(cl.fd, BIO_NOCLOSE), out);
    int r, flags = fcntl(cl.fd, F_GETFL);
    fcntl(cl.fd, F_SETFL, flags | O_NONBLOCK);
    while ((r = SSL_connect(ssl)) != 1) {
        assert_int_equal(SSL_get_error(ssl, r), SSL_ERROR_WANT_READ);
        assert_int_equal(send_mem_bio(cl.fd, out), 0);
        struct pollfd pfd = {.fd = cl.fd, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 3000), 1);
    }
    fcntl(cl.fd, F_SETFL, flags);
    assert_int_equal(SSL_write(ssl, "early", 5), 5);
    assert_int_equal(send_mem_bio(cl.fd, out), 0); /* Finished + "early" in one write */
    cl.ssl = ssl;
    test_client_set_timeout(&cl, 3000);
    char line[128];
    read_line(&cl, line, sizeof(line));
    assert_string_equal(line, "id:device-1:1\n");
    assert_int_equal(test_client_read_exact(&cl, line, 5), 0);
    assert_memory_equal(line, "early", 5);
    test_client_close(&cl);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * 1 MB through TLS
 * ------------------------------------------------------------------------------------- */

#define BIG (1024 * 1024)

static void large_echo(void **state)
{
    uint16_t port;
    struct net_server *srv = start_tls(2, sctx_a, &port, NULL);
    uint8_t *data = malloc(BIG), *back = malloc(BIG);
    for (size_t i = 0; i < BIG; i++) {
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    }
    struct test_client cl;
    char line[128];
    assert_int_equal(test_client_connect(&cl, port, cctx), 0);
    read_line(&cl, line, sizeof(line));
    /* Uneven pieces (partial records on the server), reading back as we go; one SSL must
     * not be used from two threads, so this thread alternates. */
    size_t off = 0, step = 1, got = 0;
    while (off < BIG) {
        size_t n = step < BIG - off ? step : BIG - off;
        assert_int_equal(test_client_write(&cl, data + off, n), 0);
        off += n;
        step = step * 3 + 7;
        if (step > 70000) {
            step = 13;
        }
        while (off - got > 256 * 1024) {
            ssize_t r = test_client_read(&cl, back + got, BIG - got);
            assert_true(r > 0);
            got += (size_t)r;
        }
    }
    assert_int_equal(test_client_read_exact(&cl, back + got, BIG - got), 0);
    assert_memory_equal(data, back, BIG);
    test_client_close(&cl);
    free(data);
    free(back);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Handshake timeout, garbage
 * ------------------------------------------------------------------------------------- */

static void short_handshake_timeout(struct net_listen_config *lc)
{
    lc->handshake_timeout_ms = 200;
}

static void handshake_timeout(void **state)
{
    uint16_t port;
    struct net_server *srv = start_tls(1, sctx_a, &port, short_handshake_timeout);
    struct test_client cl;
    assert_int_equal(test_client_connect_tcp(&cl, port), 0);
    assert_true(WAIT_STAT(srv, handshakes_in_progress, 1, 2000));
    int64_t t0 = test_now_ms();
    assert_true(test_client_wait_closed(&cl, 3000));
    int64_t took = test_now_ms() - t0;
    assert_true(took < 2000);
    test_client_close(&cl);
    struct net_stats s = stats_of(srv);
    assert_int_equal(s.handshake_timeouts, 1);
    assert_int_equal(s.handshakes_ok, 0);
    assert_true(WAIT_STAT(srv, handshakes_in_progress, 0, 2000));
    assert_true(WAIT_STAT(srv, conns_open, 0, 2000));
    assert_int_equal(atomic_load(&echo_ctr.opens), 0);
    assert_int_equal(atomic_load(&echo_ctr.closes), 0); /* never opened: no on_close */
    net_server_free(srv);
}

static void garbage_instead_of_client_hello(void **state)
{
    uint16_t port;
    struct net_server *srv = start_tls(1, sctx_a, &port, NULL);
    struct test_client cl;
    assert_int_equal(test_client_connect_tcp(&cl, port), 0);
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(test_client_write(&cl, req, strlen(req)), 0);
    assert_true(test_client_wait_closed(&cl, 3000));
    test_client_close(&cl);

    /* A TLS record header announcing a huge handshake message, then random bytes. */
    assert_int_equal(test_client_connect_tcp(&cl, port), 0);
    uint8_t junk[600] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0xff, 0xff, 0xff};
    for (size_t i = 9; i < sizeof(junk); i++) {
        junk[i] = (uint8_t)(i * 37);
    }
    test_client_write(&cl, junk, sizeof(junk));
    assert_true(test_client_wait_closed(&cl, 3000));
    test_client_close(&cl);

    /* Connect and hang up mid-handshake. */
    assert_int_equal(test_client_connect_tcp(&cl, port), 0);
    test_client_write(&cl, junk, 3);
    test_client_close(&cl);

    /* The last one may already be gone when the worker accepts it: then it is dropped as
     * abandoned, without TLS work. */
    for (int i = 0; i < 300 && stats_of(srv).handshakes_failed + stats_of(srv).abandoned < 3; i++) {
        usleep(10000);
    }
    assert_int_equal(stats_of(srv).handshakes_failed + stats_of(srv).abandoned, 3);
    assert_true(stats_of(srv).handshakes_failed >= 2);
    assert_true(WAIT_STAT(srv, conns_open, 0, 3000));
    assert_int_equal(stats_of(srv).handshakes_in_progress, 0);
    assert_int_equal(atomic_load(&echo_ctr.opens), 0);

    /* The worker is fine afterwards. */
    char line[64];
    assert_int_equal(test_client_connect(&cl, port, cctx), 0);
    read_line(&cl, line, sizeof(line));
    assert_string_equal(line, "id:device-1:1\n");
    test_client_close(&cl);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Hot reload
 * ------------------------------------------------------------------------------------- */

static void server_cn(struct test_client *cl, char *out, size_t n)
{
    X509 *peer = SSL_get1_peer_certificate(cl->ssl);
    test_cert_cn(peer, out, n);
    X509_free(peer);
}

struct swapper {
    struct net_server *srv;
    atomic_bool stop;
    int swaps;
};

static void *swap_thread(void *arg)
{
    struct swapper *s = arg;
    while (!atomic_load(&s->stop)) {
        if (net_listener_set_tls(s->srv, 0, (s->swaps & 1) ? sctx_a : sctx_b) != 0) {
            break;
        }
        s->swaps++;
    }
    return NULL;
}

struct reload_client {
    uint16_t port;
    int failures;
};

static void *reload_client_thread(void *arg)
{
    struct reload_client *rc = arg;
    for (int i = 0; i < 10; i++) {
        struct test_client cl;
        char cn[64], line[128];
        if (test_client_connect(&cl, rc->port, cctx) < 0) {
            rc->failures++;
            continue;
        }
        server_cn(&cl, cn, sizeof(cn));
        if (strcmp(cn, "server-a") != 0 && strcmp(cn, "server-b") != 0) {
            rc->failures++;
        }
        size_t k = 0;
        while (k + 1 < sizeof(line) && test_client_read_exact(&cl, line + k, 1) == 0 &&
               line[k] != '\n') {
            k++;
        }
        test_client_close(&cl);
    }
    return NULL;
}

static void tls_hot_reload(void **state)
{
    uint16_t port;
    struct net_server *srv = start_tls(2, sctx_a, &port, NULL);
    char cn[64], line[128];

    struct test_client old;
    assert_int_equal(test_client_connect(&old, port, cctx), 0);
    read_line(&old, line, sizeof(line));
    server_cn(&old, cn, sizeof(cn));
    assert_string_equal(cn, "server-a");

    /* The server holds its own reference: the caller may drop the new context. */
    SSL_CTX *fresh = test_tls_server_ctx(&server_b, &device_ca, verify_cb);
    assert_int_equal(net_listener_set_tls(srv, 0, fresh), 0);
    SSL_CTX_free(fresh);

    struct test_client young;
    assert_int_equal(test_client_connect(&young, port, cctx), 0);
    read_line(&young, line, sizeof(line));
    assert_string_equal(line, "id:device-1:1\n");
    server_cn(&young, cn, sizeof(cn));
    assert_string_equal(cn, "server-b");

    /* The old connection keeps its session. */
    assert_int_equal(test_client_write(&old, "still", 5), 0);
    assert_int_equal(test_client_read_exact(&old, line, 5), 0);
    assert_memory_equal(line, "still", 5);
    test_client_close(&old);
    test_client_close(&young);

    assert_int_equal(net_listener_set_tls(srv, 0, NULL), -EINVAL);
    assert_int_equal(net_listener_set_tls(srv, 7, sctx_a), -EINVAL);

    /* Swaps racing with accepts on both workers (run under TSan too). */
    struct swapper sw = {.srv = srv};
    pthread_t swp, cth[4];
    struct reload_client rcs[4];
    assert_int_equal(pthread_create(&swp, NULL, swap_thread, &sw), 0);
    for (int i = 0; i < 4; i++) {
        rcs[i] = (struct reload_client){.port = port};
        assert_int_equal(pthread_create(&cth[i], NULL, reload_client_thread, &rcs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(cth[i], NULL);
        assert_int_equal(rcs[i].failures, 0);
    }
    atomic_store(&sw.stop, true);
    pthread_join(swp, NULL);
    assert_true(sw.swaps > 0);
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Back-pressure between two connections, with plaintext left inside the TLS layer
 * ------------------------------------------------------------------------------------- */

#define RELAY_TOTAL (8u * 1024 * 1024)
#define RELAY_RECORD 4096

/* Worker-thread state (the relay server has one worker). */
static struct net_conn *relay_sub, *relay_pub;
static atomic_int relay_pauses, relay_resumes, relay_limit_hits;
static atomic_bool relay_sub_ready;

static void relay_resume_pub(void)
{
    if (relay_pub != NULL) {
        atomic_fetch_add(&relay_resumes, 1);
        net_conn_pause_reading(relay_pub, false);
    }
}

static int relay_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    if (net_conn_get_data(c) == NULL) {
        char role = (char)buf_data(in)[0];
        buf_consume(in, 1);
        net_conn_set_data(c, role == 'S' ? (void *)"sub" : (void *)"pub");
        if (role == 'S') {
            relay_sub = c;
            atomic_store(&relay_sub_ready, true);
            return net_conn_write(c, "k", 1);
        }
        relay_pub = c;
    }
    if (c == relay_sub) {
        buf_consume(in, in->len);
        return 0;
    }
    if (relay_sub == NULL || in->len == 0) {
        return 0;
    }
    int rc = net_conn_write(relay_sub, buf_data(in), in->len);
    if (rc == CG_ELIMIT) {
        atomic_fetch_add(&relay_limit_hits, 1);
        net_conn_pause_reading(c, true);
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    buf_consume(in, in->len);
    if (net_conn_over_highwater(relay_sub)) {
        atomic_fetch_add(&relay_pauses, 1);
        net_conn_pause_reading(c, true);
    }
    return 0;
}

static void relay_on_drain(struct net_conn *c)
{
    if (c == relay_sub) {
        relay_resume_pub();
    }
}

static void relay_on_close(struct net_conn *c, int reason)
{
    if (c == relay_sub) {
        relay_sub = NULL;
        relay_resume_pub();
    } else if (c == relay_pub) {
        relay_pub = NULL;
    }
}

static const struct net_proto relay_proto = {.name = "relay",
                                             .on_data = relay_on_data,
                                             .on_drain = relay_on_drain,
                                             .on_close = relay_on_close};

static void *publisher_thread(void *arg)
{
    struct test_client *cl = arg;
    uint8_t rec[RELAY_RECORD];
    for (size_t off = 0; off < RELAY_TOTAL; off += sizeof(rec)) {
        for (size_t k = 0; k < sizeof(rec); k++) {
            rec[k] = (uint8_t)((off + k) % 241);
        }
        if (test_client_write(cl, rec, sizeof(rec)) < 0) {
            return (void *)1;
        }
    }
    return NULL;
}

static void pause_reading_with_tls_buffered_data(void **state)
{
    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.proto = &relay_proto;
    lc.ssl_ctx = sctx_a;
    /* Smaller than a record: SSL_read leaves the rest of each record decrypted inside the
     * TLS layer, where the socket never signals it. */
    lc.max_input = 1000;
    lc.out_highwater = 64 * 1024;
    lc.out_lowwater = 16 * 1024;
    lc.out_max = 256 * 1024;
    uint16_t port;
    relay_sub = relay_pub = NULL;
    atomic_store(&relay_pauses, 0);
    atomic_store(&relay_resumes, 0);
    atomic_store(&relay_limit_hits, 0);
    atomic_store(&relay_sub_ready, false);
    struct net_server *srv = start_server(1, &lc, &port);

    struct test_client sub, pub;
    char k;
    assert_int_equal(test_client_connect(&sub, port, cctx), 0);
    assert_int_equal(test_client_write(&sub, "S", 1), 0);
    assert_int_equal(test_client_read_exact(&sub, &k, 1), 0);
    assert_int_equal(test_client_connect(&pub, port, cctx), 0);
    assert_int_equal(test_client_write(&pub, "P", 1), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, publisher_thread, &pub), 0);

    test_sleep_ms(300); /* slow subscriber */
    uint8_t *buf = malloc(65536);
    size_t got = 0;
    while (got < RELAY_TOTAL) {
        ssize_t n = test_client_read(&sub, buf, 65536);
        if (n <= 0) {
            fail_msg("subscriber stalled after %zu bytes", got);
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != (uint8_t)((got + (size_t)i) % 241)) {
                fail_msg("byte %zu differs", got + (size_t)i);
            }
        }
        got += (size_t)n;
    }
    free(buf);
    void *prc;
    pthread_join(th, &prc);
    assert_null(prc);
    assert_true(atomic_load(&relay_pauses) >= 1);
    assert_true(atomic_load(&relay_resumes) >= 1);
    assert_int_equal(atomic_load(&relay_limit_hits), 0);
    test_client_close(&pub);
    test_client_close(&sub);
    net_server_free(srv);
}

/* Pause on the first chunk, resume from a timer: nothing new arrives on the socket, so the
 * rest must come from the input buffer and from inside the TLS layer. */
static atomic_int pauser_total, pauser_calls_while_paused;
static bool pauser_paused_once, pauser_paused;

static int pauser_on_data(struct net_conn *c)
{
    struct buf *in = net_conn_input(c);
    if (pauser_paused) {
        atomic_fetch_add(&pauser_calls_while_paused, 1);
    }
    if (!pauser_paused_once) {
        pauser_paused_once = pauser_paused = true;
        net_conn_pause_reading(c, true);
        net_conn_set_timer(c, 100);
        return 0; /* leave the input where it is */
    }
    int total = atomic_fetch_add(&pauser_total, (int)in->len) + (int)in->len;
    buf_consume(in, in->len);
    if (total == RELAY_RECORD) {
        return net_conn_write(c, "done", 4);
    }
    return 0;
}

static void pauser_on_timeout(struct net_conn *c)
{
    pauser_paused = false;
    net_conn_pause_reading(c, false);
}

static const struct net_proto pauser_proto = {
    .name = "pauser", .on_data = pauser_on_data, .on_timeout = pauser_on_timeout};

static void resume_delivers_buffered_input(void **state)
{
    SSL_CTX *ctxs[2] = {NULL, sctx_a};
    for (int t = 0; t < 2; t++) {
        struct net_listen_config lc;
        net_listen_config_defaults(&lc);
        lc.proto = &pauser_proto;
        lc.ssl_ctx = ctxs[t];
        lc.max_input = 1000; /* TLS: a 4 KB record is read 1000 bytes at a time */
        uint16_t port;
        atomic_store(&pauser_total, 0);
        atomic_store(&pauser_calls_while_paused, 0);
        pauser_paused_once = pauser_paused = false;
        struct net_server *srv = start_server(1, &lc, &port);
        struct test_client cl;
        assert_int_equal(test_client_connect(&cl, port, t ? cctx : NULL), 0);
        uint8_t rec[RELAY_RECORD];
        memset(rec, 'r', sizeof(rec));
        /* Plain TCP: 1000 bytes, so that they fit; TLS: one record of 4 KB. */
        size_t n = t ? sizeof(rec) : 1000;
        if (!t) {
            atomic_store(&pauser_total, RELAY_RECORD - 1000);
        }
        assert_int_equal(test_client_write(&cl, rec, n), 0);
        char done[4];
        test_client_set_timeout(&cl, 3000);
        assert_int_equal(test_client_read_exact(&cl, done, 4), 0);
        assert_memory_equal(done, "done", 4);
        assert_int_equal(atomic_load(&pauser_calls_while_paused), 0);
        test_client_close(&cl);
        net_server_free(srv);
    }
}

/* ---------------------------------------------------------------------------------------
 * Close with flush: data, then close_notify
 * ------------------------------------------------------------------------------------- */

static void close_flush_sends_close_notify(void **state)
{
    uint16_t port;
    struct net_server *srv = start_tls(1, sctx_a, &port, NULL);
    struct test_client cl;
    char line[128];
    assert_int_equal(test_client_connect(&cl, port, cctx), 0);
    read_line(&cl, line, sizeof(line));
    assert_int_equal(test_client_write(&cl, "bye", 3), 0);
    assert_int_equal(test_client_read_exact(&cl, line, 4), 0);
    assert_memory_equal(line, "ciao", 4);
    /* 0 means SSL_ERROR_ZERO_RETURN: a proper close_notify, not a cut connection. */
    assert_int_equal(test_client_read(&cl, line, sizeof(line)), 0);
    test_client_close(&cl);
    assert_true(WAIT_INT(&echo_ctr.closes, 1, 3000));
    assert_int_equal(atomic_load(&echo_ctr.reasons[NET_REASON_LOCAL]), 1);
    assert_true(WAIT_STAT(srv, conns_open, 0, 3000));
    net_server_free(srv);
}

/* ---------------------------------------------------------------------------------------
 * Graceful stop with TLS connections, some mid-handshake
 * ------------------------------------------------------------------------------------- */

static void graceful_stop_tls(void **state)
{
    uint16_t port;
    struct net_server *srv = start_tls(2, sctx_a, &port, NULL);
    struct test_client cl[6], raw;
    char line[128];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(test_client_connect(&cl[i], port, cctx), 0);
        read_line(&cl[i], line, sizeof(line));
    }
    assert_int_equal(test_client_connect_tcp(&raw, port), 0); /* stuck in the handshake */
    assert_true(WAIT_STAT(srv, handshakes_in_progress, 1, 2000));
    net_server_stop(srv);
    assert_int_equal(atomic_load(&echo_ctr.closes), 6);
    assert_int_equal(atomic_load(&echo_ctr.reasons[NET_REASON_SHUTDOWN]), 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(test_client_read(&cl[i], line, sizeof(line)), 0); /* close_notify */
        test_client_close(&cl[i]);
    }
    assert_true(test_client_wait_closed(&raw, 1000));
    test_client_close(&raw);
    struct net_stats s = stats_of(srv);
    assert_int_equal(s.conns_open, 0);
    assert_int_equal(s.handshakes_in_progress, 0);
    net_server_free(srv);
}

static int group_setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    if (test_cert_make("server-a", NULL, false, &server_a) < 0 ||
        test_cert_make("server-b", NULL, false, &server_b) < 0 ||
        test_cert_make("device-ca", NULL, true, &device_ca) < 0 ||
        test_cert_make("device-1", &device_ca, false, &device_1) < 0) {
        return -1;
    }
    sctx_a = test_tls_server_ctx(&server_a, &device_ca, verify_cb);
    sctx_b = test_tls_server_ctx(&server_b, &device_ca, verify_cb);
    cctx = test_tls_client_ctx(NULL, &device_1);
    cctx_anon = test_tls_client_ctx(&server_a, NULL);
    return sctx_a && sctx_b && cctx && cctx_anon ? 0 : -1;
}

static int group_teardown(void **state)
{
    SSL_CTX_free(sctx_a);
    SSL_CTX_free(sctx_b);
    SSL_CTX_free(cctx);
    SSL_CTX_free(cctx_anon);
    test_cert_cleanup(&server_a);
    test_cert_cleanup(&server_b);
    test_cert_cleanup(&device_ca);
    test_cert_cleanup(&device_1);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        NET_TEST(identity_and_echo),
        NET_TEST(data_with_client_finished),
        NET_TEST(large_echo),
        NET_TEST(handshake_timeout),
        NET_TEST(garbage_instead_of_client_hello),
        NET_TEST(tls_hot_reload),
        NET_TEST(pause_reading_with_tls_buffered_data),
        NET_TEST(resume_delivers_buffered_input),
        NET_TEST(close_flush_sends_close_notify),
        NET_TEST(graceful_stop_tls),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
