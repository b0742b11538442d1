/* Sessions: clean and persistent, offline queueing with its cap and counters, redelivery of
 * unacknowledged messages with DUP on reconnect, session takeover (across workers), and
 * wills (abnormal close, DISCONNECT, takeover). */
#include "broker_test.h"

static struct bt_env env;

#define MAX_QUEUED 20

static int setup(void **state)
{
    struct bt_opts o = {.workers = 2, .cfg_set = true};
    broker_config_defaults(&o.cfg);
    o.cfg.max_queued = MAX_QUEUED;
    o.cfg.max_inflight = 8;
    bt_start(&env, &o);
    bt_tenant(&env, "t1");
    bt_user(&env, "t1", "app", "app-pass-1");
    bt_user(&env, "t1", "other", "other-pass");
    return 0;
}

static int teardown(void **state)
{
    bt_stop(&env);
    return 0;
}

static int conn_p(struct mc *m, const char *id, bool persistent, bool *present)
{
    struct mc_conn_opts o = {
        .client_id = id, .user = "t1/app", .pass = "app-pass-1", .persistent = persistent};
    return mc_connect_opts(m, env.port, NULL, &o, present);
}

static void test_persistent_session(void **state)
{
    struct mc sub, pub;
    bool present = true;
    assert_int_equal(conn_p(&sub, "p-sub", true, &present), 0);
    assert_false(present);
    assert_int_equal(mc_subscribe(&sub, "p/#", 2), 2);
    mc_disconnect(&sub);
    assert_true(BT_WAIT_EQ(&env, sessions_offline, 1, 2000));

    struct broker_stats before = bt_stats(&env);
    assert_int_equal(conn_p(&pub, "p-pub", false, NULL), 0);
    /* Offline: QoS 0 is dropped (counted), QoS 1 and 2 queued. */
    assert_int_equal(mc_publish(&pub, "p/a", "q0", 0, false), 0);
    assert_int_equal(mc_publish(&pub, "p/a", "q1", 1, false), 0);
    assert_int_equal(mc_publish(&pub, "p/a", "q2", 2, false), 0);
    assert_true(BT_WAIT_EQ(&env, qos0_dropped, before.qos0_dropped + 1, 2000));

    /* Reconnect: session present, subscriptions kept, queued messages in order. */
    assert_int_equal(conn_p(&sub, "p-sub", true, &present), 0);
    assert_true(present);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "q1");
    assert_int_equal(p.qos, 1);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "q2");
    assert_int_equal(p.qos, 2);
    assert_true(mc_nothing(&sub, 200));
    assert_int_equal(mc_publish(&pub, "p/b", "live", 1, false), 0);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "live");
    mc_disconnect(&sub);

    /* CleanSession 1 discards it: no session present, no subscription. */
    assert_int_equal(conn_p(&sub, "p-sub", false, &present), 0);
    assert_false(present);
    assert_int_equal(mc_publish(&pub, "p/c", "gone", 1, false), 0);
    assert_true(mc_nothing(&sub, 300));
    mc_disconnect(&sub);
    assert_int_equal(conn_p(&sub, "p-sub", true, &present), 0);
    assert_false(present);
    mc_disconnect(&sub);
    /* Leave nothing offline for the next tests. */
    assert_int_equal(conn_p(&sub, "p-sub", false, &present), 0);
    mc_disconnect(&sub);
    mc_disconnect(&pub);
    assert_true(BT_WAIT_EQ(&env, sessions_offline, 0, 2000));
}

static void test_offline_queue_cap(void **state)
{
    struct mc sub, pub;
    assert_int_equal(conn_p(&sub, "cap-sub", true, NULL), 0);
    assert_int_equal(mc_subscribe(&sub, "cap", 1), 1);
    mc_disconnect(&sub);
    struct broker_stats before = bt_stats(&env);
    assert_int_equal(conn_p(&pub, "cap-pub", false, NULL), 0);
    for (int i = 0; i < MAX_QUEUED + 5; i++) {
        char pl[8];
        snprintf(pl, sizeof(pl), "%d", i);
        assert_int_equal(mc_publish(&pub, "cap", pl, 1, false), 0);
    }
    assert_true(BT_WAIT_EQ(&env, queue_dropped, before.queue_dropped + 5, 2000));
    bool present = false;
    assert_int_equal(conn_p(&sub, "cap-sub", true, &present), 0);
    assert_true(present);
    for (int i = 0; i < MAX_QUEUED; i++) {
        struct mc_pkt p;
        char want[8];
        snprintf(want, sizeof(want), "%d", i);
        assert_int_equal(mc_recv(&sub, &p), 0);
        assert_string_equal(p.payload, want);
    }
    assert_true(mc_nothing(&sub, 300));
    mc_disconnect(&sub);
    assert_int_equal(conn_p(&sub, "cap-sub", false, NULL), 0);
    mc_disconnect(&sub);
    mc_disconnect(&pub);
}

static void test_redelivery_with_dup(void **state)
{
    struct mc sub, pub;
    assert_int_equal(conn_p(&sub, "dup-sub", true, NULL), 0);
    assert_int_equal(mc_subscribe(&sub, "dup/#", 2), 2);
    assert_int_equal(conn_p(&pub, "dup-pub", false, NULL), 0);
    assert_int_equal(mc_publish(&pub, "dup/1", "one", 1, false), 0);
    assert_int_equal(mc_publish(&pub, "dup/2", "two", 2, false), 0);
    assert_int_equal(mc_publish(&pub, "dup/3", "three", 2, false), 0);
    struct mc_pkt a, b, c, rel;
    assert_int_equal(mc_expect(&sub, MQTT_PUBLISH, &a), 0);
    assert_int_equal(mc_expect(&sub, MQTT_PUBLISH, &b), 0);
    assert_int_equal(mc_expect(&sub, MQTT_PUBLISH, &c), 0);
    assert_false(a.dup || b.dup || c.dup);
    /* "three" gets as far as PUBREL; the others are not acknowledged. */
    mc_send_ack(&sub, MQTT_PUBREC, c.pid);
    assert_int_equal(mc_expect(&sub, MQTT_PUBREL, &rel), 0);
    /* The connection drops (no DISCONNECT). */
    mc_close(&sub);
    assert_true(BT_WAIT_EQ(&env, sessions_offline, 1, 2000));
    assert_int_equal(mc_publish(&pub, "dup/4", "four", 1, false), 0);
    bool present = false;
    assert_int_equal(conn_p(&sub, "dup-sub", true, &present), 0);
    assert_true(present);
    /* In the original order: PUBLISH one (DUP), PUBLISH two (DUP), PUBREL three, then the
     * message queued while offline. */
    struct mc_pkt p;
    assert_int_equal(mc_read(&sub, &p), 0);
    assert_int_equal(p.type, MQTT_PUBLISH);
    assert_true(p.dup);
    assert_string_equal(p.payload, "one");
    assert_int_equal(p.pid, a.pid);
    mc_send_ack(&sub, MQTT_PUBACK, p.pid);
    assert_int_equal(mc_read(&sub, &p), 0);
    assert_int_equal(p.type, MQTT_PUBLISH);
    assert_true(p.dup);
    assert_string_equal(p.payload, "two");
    assert_int_equal(p.pid, b.pid);
    assert_int_equal(mc_read(&sub, &p), 0);
    assert_int_equal(p.type, MQTT_PUBREL);
    assert_int_equal(p.pid, c.pid);
    mc_send_ack(&sub, MQTT_PUBCOMP, c.pid);
    /* Finish "two". */
    mc_send_ack(&sub, MQTT_PUBREC, b.pid);
    assert_int_equal(mc_expect(&sub, MQTT_PUBREL, &rel), 0);
    mc_send_ack(&sub, MQTT_PUBCOMP, b.pid);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "four");
    assert_false(p.dup);
    assert_true(mc_nothing(&sub, 300));
    mc_disconnect(&sub);
    assert_int_equal(conn_p(&sub, "dup-sub", false, NULL), 0);
    mc_disconnect(&sub);
    mc_disconnect(&pub);
}

/* Which worker took the connection opened since the counts were taken (-1: unclear). */
static int worker_of_new_conn(int before0, int before1)
{
    int a = bt_worker_conns(&env, 0) - before0, b = bt_worker_conns(&env, 1) - before1;
    return a > 0 && b <= 0 ? 0 : b > 0 && a <= 0 ? 1 : -1;
}

static void test_takeover_across_workers(void **state)
{
    struct mc old, neu, sub, pub;
    assert_int_equal(conn_p(&sub, "to-watch", false, NULL), 0);
    assert_int_equal(mc_subscribe(&sub, "will/#", 1), 1);
    assert_int_equal(conn_p(&pub, "to-pub", false, NULL), 0);
    struct mc_conn_opts o = {.client_id = "to",
                             .user = "t1/app",
                             .pass = "app-pass-1",
                             .persistent = true,
                             .will_topic = "will/to",
                             .will_payload = "taken over",
                             .will_qos = 1};
    bool present = true;
    int b0 = bt_worker_conns(&env, 0), b1 = bt_worker_conns(&env, 1);
    assert_int_equal(mc_connect_opts(&old, env.port, NULL, &o, &present), 0);
    int w_old = worker_of_new_conn(b0, b1);
    assert_true(w_old >= 0);
    assert_int_equal(mc_subscribe(&old, "to/#", 1), 1);
    /* An unacknowledged message in flight on the old connection. */
    assert_int_equal(mc_publish(&pub, "to/x", "inflight", 1, false), 0);
    struct mc_pkt p;
    assert_int_equal(mc_expect(&old, MQTT_PUBLISH, &p), 0);
    uint16_t inflight_pid = p.pid;

    /* The same ClientId from a connection on the other worker. */
    uint64_t takeovers = bt_stats(&env).takeovers;
    int w_new = -1;
    for (int attempt = 0; attempt < 64 && w_new != 1 - w_old; attempt++) {
        b0 = bt_worker_conns(&env, 0);
        b1 = bt_worker_conns(&env, 1);
        assert_int_equal(mc_open(&neu, env.port, NULL), 0);
        test_sleep_ms(10);
        w_new = worker_of_new_conn(b0, b1);
        if (w_new != 1 - w_old) {
            mc_close(&neu);
            test_sleep_ms(10);
        }
    }
    assert_int_equal(w_new, 1 - w_old);
    struct mqtt_connect c = {.level = 4,
                             .clean_session = false,
                             .client_id = MQTT_STR("to"),
                             .has_username = true,
                             .username = MQTT_STR("t1/app"),
                             .has_password = true,
                             .password = {(const uint8_t *)"app-pass-1", 10}};
    struct buf b;
    buf_init(&b, 1024);
    assert_true(mqtt_connect_encode(&b, &c) > 0);
    assert_int_equal(mc_send_buf(&neu, &b), 0);
    assert_int_equal(mc_expect(&neu, MQTT_CONNACK, &p), 0);
    assert_int_equal(p.code, 0);
    assert_true(p.session_present); /* the state moved to the new connection */
    /* The old connection is closed, its will published (closed without DISCONNECT). */
    assert_true(mc_closed(&old, 2000));
    mc_close(&old);
    assert_int_equal(bt_stats(&env).takeovers, takeovers + 1);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.topic, "will/to");
    assert_string_equal(p.payload, "taken over");
    /* The unacknowledged message is resent to the new connection with DUP. */
    assert_int_equal(mc_expect(&neu, MQTT_PUBLISH, &p), 0);
    assert_true(p.dup);
    assert_int_equal(p.pid, inflight_pid);
    assert_string_equal(p.payload, "inflight");
    mc_send_ack(&neu, MQTT_PUBACK, p.pid);
    /* Subscriptions moved too. */
    assert_int_equal(mc_publish(&pub, "to/y", "after", 1, false), 0);
    assert_int_equal(mc_recv(&neu, &p), 0);
    assert_string_equal(p.payload, "after");
    assert_int_equal(bt_stats(&env).sessions_online, 3);
    mc_disconnect(&neu);
    /* DISCONNECT: no will. */
    assert_true(mc_nothing(&sub, 300));
    struct mc_conn_opts clean = o;
    clean.persistent = false;
    clean.will_topic = NULL;
    assert_int_equal(mc_connect_opts(&neu, env.port, NULL, &clean, NULL), 0);
    mc_disconnect(&neu);
    mc_disconnect(&sub);
    mc_disconnect(&pub);
}

static void test_takeover_by_other_principal(void **state)
{
    struct mc a, b, pub;
    assert_int_equal(conn_p(&a, "shared-id", true, NULL), 0);
    assert_int_equal(mc_subscribe(&a, "secret/#", 1), 1);
    /* Another user with the same ClientId takes the connection over, but not the state. */
    struct mc_conn_opts o = {
        .client_id = "shared-id", .user = "t1/other", .pass = "other-pass", .persistent = true};
    bool present = true;
    assert_int_equal(mc_connect_opts(&b, env.port, NULL, &o, &present), 0);
    assert_false(present);
    assert_true(mc_closed(&a, 2000));
    mc_close(&a);
    assert_int_equal(conn_p(&pub, "sec-pub", false, NULL), 0);
    assert_int_equal(mc_publish(&pub, "secret/x", "nope", 1, false), 0);
    assert_true(mc_nothing(&b, 300));
    mc_disconnect(&b);
    o.persistent = false;
    assert_int_equal(mc_connect_opts(&b, env.port, NULL, &o, NULL), 0);
    mc_disconnect(&b);
    mc_disconnect(&pub);
}

static void test_wills(void **state)
{
    struct mc sub, w;
    assert_int_equal(conn_p(&sub, "will-sub", false, NULL), 0);
    assert_int_equal(mc_subscribe(&sub, "lw/#", 2), 2);
    struct mc_conn_opts o = {.client_id = "willer",
                             .user = "t1/app",
                             .pass = "app-pass-1",
                             .will_topic = "lw/status",
                             .will_payload = "offline",
                             .will_qos = 2,
                             .will_retain = true};
    /* Abnormal close (the socket just goes away): the will is published, and retained. */
    assert_int_equal(mc_connect_opts(&w, env.port, NULL, &o, NULL), 0);
    mc_close(&w);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.topic, "lw/status");
    assert_string_equal(p.payload, "offline");
    assert_int_equal(p.qos, 2);
    assert_false(p.retain);
    struct mc late;
    assert_int_equal(conn_p(&late, "will-late", false, NULL), 0);
    assert_int_equal(mc_subscribe(&late, "lw/status", 1), 1);
    assert_int_equal(mc_recv(&late, &p), 0);
    assert_true(p.retain);
    assert_string_equal(p.payload, "offline");
    /* Clear the retained will. */
    assert_int_equal(mc_publish(&late, "lw/status", "", 1, true), 0);
    assert_int_equal(mc_recv(&late, &p), 0);
    mc_disconnect(&late);
    assert_int_equal(mc_recv(&sub, &p), 0);
    /* DISCONNECT: no will. */
    assert_int_equal(mc_connect_opts(&w, env.port, NULL, &o, NULL), 0);
    mc_disconnect(&w);
    assert_true(mc_nothing(&sub, 400));
    /* A protocol error: the will is published. */
    assert_int_equal(mc_connect_opts(&w, env.port, NULL, &o, NULL), 0);
    const uint8_t junk[] = {0xf0, 0x00};
    mc_send_raw(&w, junk, sizeof(junk));
    assert_true(mc_closed(&w, 2000));
    mc_close(&w);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "offline");
    struct mc clear;
    assert_int_equal(conn_p(&clear, "will-clear", false, NULL), 0);
    assert_int_equal(mc_publish(&clear, "lw/status", "", 1, true), 0);
    mc_disconnect(&clear);
    assert_int_equal(mc_recv(&sub, &p), 0);
    mc_disconnect(&sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persistent_session),
        cmocka_unit_test(test_offline_queue_cap),
        cmocka_unit_test(test_redelivery_with_dup),
        cmocka_unit_test(test_takeover_across_workers),
        cmocka_unit_test(test_takeover_by_other_principal),
        cmocka_unit_test(test_wills),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
