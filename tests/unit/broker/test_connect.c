/* CONNECT rules and every CONNACK code over plain TCP with user names and passwords
 * (certificates: test_tls.c): protocol levels, ClientId rules, credentials, the pool being
 * full, wills outside the ACL, a second CONNECT, malformed packets, the maximum packet
 * size, keep-alive, and the refusal counters. */
#include "broker_test.h"

#include <pthread.h>

static struct bt_env env;
static struct bt_pki pki;
static struct bt_device dev_a, dev_b;

/* The token hook blocks until released: it fills the (one-thread, one-slot) pool. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cond = PTHREAD_COND_INITIALIZER;
static bool hook_open;
static int hook_calls;

static int blocking_token(void *arg, const struct reg_identity *id, char **token)
{
    pthread_mutex_lock(&hook_lock);
    hook_calls++;
    pthread_cond_broadcast(&hook_cond);
    while (!hook_open) {
        pthread_cond_wait(&hook_cond, &hook_lock);
    }
    pthread_mutex_unlock(&hook_lock);
    *token = strdup("token");
    return 0;
}

static int setup(void **state)
{
    struct bt_opts o = {
        .workers = 2, .pool_threads = 1, .pool_queue_max = 1, .cfg_set = true, .tls = true};
    broker_config_defaults(&o.cfg);
    o.cfg.max_packet = 4096;
    o.cfg.max_client_id = 32;
    o.hooks.issue_token = blocking_token;
    bt_start(&env, &o);
    bt_tenant(&env, "t1");
    bt_tenant(&env, "t2");
    bt_user(&env, "t1", "alice", "alice-pass");
    bt_user(&env, "t1", "bob", "bob-pass-1");
    bt_user(&env, "t2", "bob", "bob-pass-2");
    bt_basic_device(&env, "t1", "dev1", "dev1-pass");
    bt_basic_device(&env, "t1", "dev2", "dev2-pass");
    /* Certificate devices (tokens are for them): their requests fill the pool. */
    bt_pki_make(&pki, "conn");
    bt_ca(&env, "t1", pki.root, true, NULL);
    bt_device_make(&dev_a, &pki, "cert-a", NULL);
    bt_device_make(&dev_b, &pki, "cert-b", NULL);
    return 0;
}

static int teardown(void **state)
{
    pthread_mutex_lock(&hook_lock);
    hook_open = true;
    pthread_cond_broadcast(&hook_cond);
    pthread_mutex_unlock(&hook_lock);
    bt_stop(&env);
    bt_device_free(&dev_a);
    bt_device_free(&dev_b);
    bt_pki_free(&pki);
    return 0;
}

static void test_first_packet_must_be_connect(void **state)
{
    struct mc m;
    assert_int_equal(mc_open(&m, env.port, NULL), 0);
    const uint8_t ping[] = {0xc0, 0x00};
    assert_int_equal(mc_send_raw(&m, ping, sizeof(ping)), 0);
    assert_true(mc_closed(&m, 2000));
    mc_close(&m);
}

static void test_protocol_levels(void **state)
{
    struct broker_stats before = bt_stats(&env);
    struct mc m;
    /* "MQTT" level 5 (an MQTT 5 client): CONNACK 1. */
    const uint8_t v5[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 1, 'a'};
    assert_int_equal(mc_open(&m, env.port, NULL), 0);
    assert_int_equal(mc_send_raw(&m, v5, sizeof(v5)), 0);
    struct mc_pkt p;
    assert_int_equal(mc_expect(&m, MQTT_CONNACK, &p), 0);
    assert_int_equal(p.code, MQTT_CONNACK_BAD_PROTOCOL);
    assert_true(mc_closed(&m, 2000));
    mc_close(&m);
    /* An unknown protocol name: closed without CONNACK. */
    const uint8_t bad[] = {0x10, 13, 0, 4, 'M', 'Q', 'X', 'X', 4, 0x02, 0, 60, 0, 1, 'a'};
    assert_int_equal(mc_open(&m, env.port, NULL), 0);
    assert_int_equal(mc_send_raw(&m, bad, sizeof(bad)), 0);
    assert_int_equal(mc_read(&m, &p), -2);
    mc_close(&m);
    /* MQTT 3.1 ("MQIsdp", level 3) is accepted. */
    struct mc_conn_opts o = {
        .client_id = "v31", .user = "t1/alice", .pass = "alice-pass", .level = 3};
    assert_int_equal(mc_connect_opts(&m, env.port, NULL, &o, NULL), 0);
    assert_int_equal(mc_publish(&m, "x/y", "hello", 1, false), 0);
    mc_disconnect(&m);
    struct broker_stats after = bt_stats(&env);
    assert_int_equal(
        after.refused[BROKER_REFUSED_PROTOCOL] - before.refused[BROKER_REFUSED_PROTOCOL], 1);
    assert_true(after.refused_last_minute[BROKER_REFUSED_PROTOCOL] >= 1);
}

static void test_client_id_rules(void **state)
{
    struct mc m;
    bool present = true;
    /* Empty ClientId with CleanSession 0: CONNACK 2. */
    assert_int_equal(mc_connect(&m, env.port, "", "t1/alice", "alice-pass", true), 2);
    mc_close(&m);
    /* Empty ClientId with CleanSession 1: accepted, a fresh session. */
    struct mc_conn_opts o = {.client_id = "", .user = "t1/alice", .pass = "alice-pass"};
    assert_int_equal(mc_connect_opts(&m, env.port, NULL, &o, &present), 0);
    assert_false(present);
    struct mc m2;
    assert_int_equal(mc_connect_opts(&m2, env.port, NULL, &o, &present), 0);
    /* Two empty ClientIds do not take each other over. */
    assert_true(mc_nothing(&m, 200));
    assert_int_equal(mc_publish(&m, "a", "x", 1, false), 0);
    assert_int_equal(mc_publish(&m2, "a", "x", 1, false), 0);
    mc_disconnect(&m);
    mc_disconnect(&m2);
    /* Longer than max_client_id (32): CONNACK 2. */
    assert_int_equal(mc_connect(&m, env.port, "0123456789012345678901234567890123456789",
                                "t1/alice", "alice-pass", false),
                     2);
    mc_close(&m);
    assert_true(bt_stats(&env).refused[BROKER_REFUSED_CLIENT_ID] >= 2);
}

static void test_credentials(void **state)
{
    struct mc m;
    struct broker_stats before = bt_stats(&env);
    /* No certificate, no user name: CONNACK 4. */
    assert_int_equal(mc_connect(&m, env.port, "c1", NULL, NULL, false), 4);
    assert_true(mc_closed(&m, 2000));
    mc_close(&m);
    /* User name without password. */
    assert_int_equal(mc_connect(&m, env.port, "c1", "t1/alice", NULL, false), 4);
    mc_close(&m);
    assert_int_equal(mc_connect(&m, env.port, "c1", "t1/alice", "wrong-pass", false), 4);
    mc_close(&m);
    assert_int_equal(mc_connect(&m, env.port, "c1", "t1/nobody", "alice-pass", false), 4);
    mc_close(&m);
    assert_int_equal(mc_connect(&m, env.port, "c1", "t9/alice", "alice-pass", false), 4);
    mc_close(&m);
    /* "bob" exists in two tenants: the bare name is ambiguous. */
    assert_int_equal(mc_connect(&m, env.port, "c1", "bob", "bob-pass-1", false), 4);
    mc_close(&m);
    struct broker_stats after = bt_stats(&env);
    assert_int_equal(
        after.refused[BROKER_REFUSED_CREDENTIALS] - before.refused[BROKER_REFUSED_CREDENTIALS], 6);
    /* Good ones: tenant/user, the bare name when unique, a device user. */
    assert_int_equal(mc_connect(&m, env.port, "c1", "t1/alice", "alice-pass", false), 0);
    mc_disconnect(&m);
    assert_int_equal(mc_connect(&m, env.port, "c2", "alice", "alice-pass", false), 0);
    mc_disconnect(&m);
    assert_int_equal(mc_connect(&m, env.port, "c3", "t2/bob", "bob-pass-2", false), 0);
    mc_disconnect(&m);
    assert_int_equal(mc_connect(&m, env.port, "dev1", "t1/device_dev1", "dev1-pass", false), 0);
    mc_disconnect(&m);
    assert_true(bt_stats(&env).connects_accepted >= before.connects_accepted + 4);
}

static void test_will_outside_acl(void **state)
{
    struct mc m;
    /* A device may not leave a will on another device's topic. */
    struct mc_conn_opts o = {.client_id = "dev1",
                             .user = "t1/device_dev1",
                             .pass = "dev1-pass",
                             .will_topic = "devices/dev2/status",
                             .will_payload = "gone"};
    assert_int_equal(mc_connect_opts(&m, env.port, NULL, &o, NULL), 5);
    mc_close(&m);
    /* Nor may anyone on a $ topic. */
    struct mc_conn_opts oa = {.client_id = "w1",
                              .user = "t1/alice",
                              .pass = "alice-pass",
                              .will_topic = "$SYS/gone",
                              .will_payload = "x"};
    assert_int_equal(mc_connect_opts(&m, env.port, NULL, &oa, NULL), 5);
    mc_close(&m);
    /* Its own topic is fine. */
    o.will_topic = "devices/dev1/status";
    assert_int_equal(mc_connect_opts(&m, env.port, NULL, &o, NULL), 0);
    mc_disconnect(&m);
    assert_true(bt_stats(&env).refused[BROKER_REFUSED_WILL] >= 2);
}

static void test_second_connect_and_malformed(void **state)
{
    struct mc m, sub;
    /* The will tells whether the close counted as abnormal. */
    assert_int_equal(mc_connect(&sub, env.port, "watcher", "t1/bob", "bob-pass-1", false), 0);
    assert_int_equal(mc_subscribe(&sub, "wills/#", 1), 1);
    struct mc_conn_opts o = {.client_id = "twice",
                             .user = "t1/alice",
                             .pass = "alice-pass",
                             .will_topic = "wills/twice",
                             .will_payload = "bye",
                             .will_qos = 1};
    assert_int_equal(mc_connect_opts(&m, env.port, NULL, &o, NULL), 0);
    struct buf b;
    buf_init(&b, 1024);
    struct mqtt_connect c = {.level = 4, .clean_session = true, .client_id = MQTT_STR("twice")};
    assert_true(mqtt_connect_encode(&b, &c) > 0);
    assert_int_equal(mc_send_buf(&m, &b), 0);
    assert_true(mc_closed(&m, 2000));
    mc_close(&m);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.topic, "wills/twice");
    assert_string_equal(p.payload, "bye");

    /* A malformed packet (PUBLISH with QoS 3) closes the connection. */
    assert_int_equal(mc_connect(&m, env.port, "malformed", "t1/alice", "alice-pass", false), 0);
    const uint8_t bad[] = {0x36, 5, 0, 1, 'a', 0, 1};
    assert_int_equal(mc_send_raw(&m, bad, sizeof(bad)), 0);
    assert_true(mc_closed(&m, 2000));
    mc_close(&m);
    mc_disconnect(&sub);
}

static void test_max_packet(void **state)
{
    struct mc m;
    assert_int_equal(mc_connect(&m, env.port, "big", "t1/alice", "alice-pass", false), 0);
    char payload[5000];
    memset(payload, 'x', sizeof(payload));
    mc_publish_nowait(&m, "big", payload, sizeof(payload), 0, false);
    struct mc_pkt p;
    assert_int_equal(mc_read(&m, &p), -2); /* closed; nothing sent back */
    mc_close(&m);
    /* Just under the limit passes. */
    assert_int_equal(mc_connect(&m, env.port, "big", "t1/alice", "alice-pass", false), 0);
    char ok[4000];
    memset(ok, 'y', sizeof(ok));
    mc_publish_nowait(&m, "big", ok, sizeof(ok), 1, false);
    assert_int_equal(mc_expect(&m, MQTT_PUBACK, &p), 0);
    mc_disconnect(&m);
}

static void test_keepalive(void **state)
{
    struct mc m, sub;
    assert_int_equal(mc_connect(&sub, env.port, "ka-watch", "t1/bob", "bob-pass-1", false), 0);
    assert_int_equal(mc_subscribe(&sub, "ka/#", 0), 0);
    struct mc_conn_opts o = {.client_id = "ka",
                             .user = "t1/alice",
                             .pass = "alice-pass",
                             .keepalive = 1,
                             .will_topic = "ka/will",
                             .will_payload = "timeout"};
    uint64_t before = bt_stats(&env).keepalive_timeouts;
    assert_int_equal(mc_connect_opts(&m, env.port, NULL, &o, NULL), 0);
    /* PINGREQ keeps it alive past 1.5 s. */
    int64_t t0 = test_now_ms();
    for (int i = 0; i < 3; i++) {
        test_sleep_ms(700);
        const uint8_t ping[] = {0xc0, 0x00};
        assert_int_equal(mc_send_raw(&m, ping, sizeof(ping)), 0);
        struct mc_pkt p;
        assert_int_equal(mc_expect(&m, MQTT_PINGRESP, &p), 0);
    }
    assert_true(test_now_ms() - t0 >= 2000);
    /* Silence: closed after 1.5 x keep-alive; the will goes out. */
    t0 = test_now_ms();
    assert_true(mc_closed(&m, 4000));
    int64_t took = test_now_ms() - t0;
    assert_true(took >= 1300 && took < 3500);
    mc_close(&m);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.topic, "ka/will");
    assert_int_equal(bt_stats(&env).keepalive_timeouts, before + 1);
    mc_disconnect(&sub);
}

static bool hook_calls_are(void *arg)
{
    pthread_mutex_lock(&hook_lock);
    bool ok = hook_calls >= *(int *)arg;
    pthread_mutex_unlock(&hook_lock);
    return ok;
}

static int cert_connect(struct mc *m, const struct bt_device *d, const char *id)
{
    SSL_CTX *ctx = bt_client_ctx(d);
    struct mc_conn_opts o = {.client_id = id};
    int rc = mc_connect_opts(m, env.tls_port, ctx, &o, NULL);
    SSL_CTX_free(ctx);
    return rc;
}

static void test_pool_full(void **state)
{
    struct mc d1, d2, m;
    assert_int_equal(cert_connect(&d1, &dev_a, "cert-a"), 0);
    assert_int_equal(cert_connect(&d2, &dev_b, "cert-b"), 0);
    assert_int_equal(mc_subscribe(&d1, "s/dat", 0), 0);
    /* d1's token request occupies the only pool thread, d2's the only queue slot. */
    mc_publish_nowait(&d1, "s/uat", "", 0, 0, false);
    int one = 1;
    assert_true(test_wait_until(hook_calls_are, &one, 5000));
    mc_publish_nowait(&d2, "s/uat", "", 0, 0, false);
    test_sleep_ms(100);
    uint64_t before = bt_stats(&env).refused[BROKER_REFUSED_UNAVAILABLE];
    assert_int_equal(mc_connect(&m, env.port, "late", "t1/alice", "alice-pass", false), 3);
    mc_close(&m);
    assert_int_equal(bt_stats(&env).refused[BROKER_REFUSED_UNAVAILABLE], before + 1);
    pthread_mutex_lock(&hook_lock);
    hook_open = true;
    pthread_cond_broadcast(&hook_cond);
    pthread_mutex_unlock(&hook_lock);
    /* The token reaches the device that asked for it, on s/dat. */
    struct mc_pkt p;
    assert_int_equal(mc_recv(&d1, &p), 0);
    assert_string_equal(p.topic, "s/dat");
    assert_string_equal(p.payload, "71,token");
    /* d2 did not subscribe s/dat: nothing. */
    assert_true(mc_nothing(&d2, 300));
    mc_disconnect(&d1);
    mc_disconnect(&d2);
    assert_int_equal(mc_connect(&m, env.port, "late", "t1/alice", "alice-pass", false), 0);
    mc_disconnect(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_packet_must_be_connect),
        cmocka_unit_test(test_protocol_levels),
        cmocka_unit_test(test_client_id_rules),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_will_outside_acl),
        cmocka_unit_test(test_second_connect_and_malformed),
        cmocka_unit_test(test_max_packet),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_pool_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
