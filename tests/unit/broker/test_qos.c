/* QoS 0/1/2 in both directions, granted QoS, overlapping subscriptions, retained messages,
 * $-topics, unsubscribe, inbound QoS 2 de-duplication, the in-flight window. */
#include "broker_test.h"

static struct bt_env env;

static int setup(void **state)
{
    struct bt_opts o = {.workers = 2, .cfg_set = true};
    broker_config_defaults(&o.cfg);
    o.cfg.max_inflight = 4;
    bt_start(&env, &o);
    bt_tenant(&env, "t1");
    bt_user(&env, "t1", "app", "app-pass-1");
    return 0;
}

static int teardown(void **state)
{
    bt_stop(&env);
    return 0;
}

static void conn(struct mc *m, const char *id)
{
    assert_int_equal(mc_connect(m, env.port, id, "t1/app", "app-pass-1", false), 0);
}

static void test_qos_levels(void **state)
{
    struct mc pub, sub;
    conn(&sub, "q-sub");
    conn(&pub, "q-pub");
    assert_int_equal(mc_subscribe(&sub, "q/0", 0), 0);
    assert_int_equal(mc_subscribe(&sub, "q/1", 1), 1);
    assert_int_equal(mc_subscribe(&sub, "q/2", 2), 2);
    struct mc_pkt p;
    for (uint8_t pq = 0; pq <= 2; pq++) {
        for (uint8_t sq = 0; sq <= 2; sq++) {
            char topic[16], payload[32];
            snprintf(topic, sizeof(topic), "q/%u", sq);
            snprintf(payload, sizeof(payload), "p%u s%u", pq, sq);
            assert_int_equal(mc_publish(&pub, topic, payload, pq, false), 0);
            assert_int_equal(mc_recv(&sub, &p), 0);
            assert_string_equal(p.topic, topic);
            assert_string_equal(p.payload, payload);
            /* Delivered at min(publish QoS, granted QoS). */
            assert_int_equal(p.qos, pq < sq ? pq : sq);
            assert_false(p.retain);
            assert_false(p.dup);
        }
    }
    mc_disconnect(&pub);
    mc_disconnect(&sub);
}

static void test_overlapping_once_at_max(void **state)
{
    struct mc pub, sub;
    conn(&sub, "o-sub");
    conn(&pub, "o-pub");
    assert_int_equal(mc_subscribe(&sub, "o/+/c", 0), 0);
    assert_int_equal(mc_subscribe(&sub, "o/#", 2), 2);
    assert_int_equal(mc_subscribe(&sub, "o/b/c", 1), 1);
    assert_int_equal(mc_publish(&pub, "o/b/c", "once", 2, false), 0);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "once");
    assert_int_equal(p.qos, 2); /* the highest granted [MQTT-3.3.5-1] */
    assert_true(mc_nothing(&sub, 300));
    /* Re-subscribing replaces the QoS of the same filter. */
    assert_int_equal(mc_subscribe(&sub, "o/#", 0), 0);
    assert_int_equal(mc_publish(&pub, "o/b/c", "again", 2, false), 0);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_int_equal(p.qos, 1);
    assert_true(mc_nothing(&sub, 200));
    /* Unsubscribe: only o/+/c (QoS 0) remains. */
    assert_int_equal(mc_unsubscribe(&sub, "o/#"), 0);
    assert_int_equal(mc_unsubscribe(&sub, "o/b/c"), 0);
    assert_int_equal(mc_publish(&pub, "o/b/c", "zero", 1, false), 0);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_int_equal(p.qos, 0);
    assert_int_equal(mc_unsubscribe(&sub, "o/+/c"), 0);
    assert_int_equal(mc_publish(&pub, "o/b/c", "none", 1, false), 0);
    assert_true(mc_nothing(&sub, 300));
    mc_disconnect(&pub);
    mc_disconnect(&sub);
}

static void test_dollar_topics(void **state)
{
    struct mc pub, sub;
    conn(&sub, "d-sub");
    conn(&pub, "d-pub");
    assert_int_equal(mc_subscribe(&sub, "#", 1), 1);
    assert_int_equal(mc_subscribe(&sub, "+/x", 1), 1);
    assert_int_equal(mc_subscribe(&sub, "$SYS/#", 1), 1);
    uint64_t denied = bt_stats(&env).publishes_denied;
    /* Clients may not publish to $ topics: acknowledged, dropped, counted. */
    assert_int_equal(mc_publish(&pub, "$SYS/x", "no", 1, false), 0);
    assert_int_equal(mc_publish(&pub, "$x", "no", 2, false), 0);
    assert_true(mc_nothing(&sub, 300));
    assert_int_equal(bt_stats(&env).publishes_denied, denied + 2);
    /* '$' beyond the first level is an ordinary character. */
    assert_int_equal(mc_publish(&pub, "a/$x", "yes", 1, false), 0);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.topic, "a/$x");
    assert_true(mc_nothing(&sub, 200));
    mc_disconnect(&pub);
    mc_disconnect(&sub);
}

static void test_retained(void **state)
{
    struct mc pub, sub;
    conn(&pub, "r-pub");
    assert_int_equal(mc_publish(&pub, "r/a", "ra", 1, true), 0);
    assert_int_equal(mc_publish(&pub, "r/b", "rb", 0, true), 0);
    assert_int_equal(mc_publish(&pub, "r/c", "rc", 2, true), 0);
    assert_int_equal(mc_publish(&pub, "r/c", "rc2", 2, true), 0); /* replaces */
    assert_int_equal(mc_publish(&pub, "other", "x", 1, true), 0);
    conn(&sub, "r-sub");
    assert_int_equal(mc_subscribe(&sub, "r/+", 2), 2);
    char seen[3][8] = {"", "", ""};
    for (int i = 0; i < 3; i++) {
        struct mc_pkt p;
        assert_int_equal(mc_recv(&sub, &p), 0);
        assert_true(p.retain); /* sent because of the new subscription [MQTT-3.3.1-8] */
        int k = p.topic[2] - 'a';
        assert_true(k >= 0 && k < 3);
        snprintf(seen[k], sizeof(seen[k]), "%s:%u", p.payload, p.qos);
    }
    assert_string_equal(seen[0], "ra:1");
    assert_string_equal(seen[1], "rb:0");
    assert_string_equal(seen[2], "rc2:2");
    assert_true(mc_nothing(&sub, 200));
    /* A live message on a retained topic has RETAIN 0 [MQTT-3.3.1-9]. */
    assert_int_equal(mc_publish(&pub, "r/a", "live", 1, true), 0);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_false(p.retain);
    assert_string_equal(p.payload, "live");
    /* An empty retained payload deletes (and is delivered as an ordinary message). */
    assert_int_equal(mc_publish(&pub, "r/a", "", 1, true), 0);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_int_equal(p.plen, 0);
    assert_true(bt_stats(&env).retained >= 3);
    mc_disconnect(&sub);
    conn(&sub, "r-sub2");
    assert_int_equal(mc_subscribe(&sub, "r/a", 1), 1);
    assert_true(mc_nothing(&sub, 300));
    /* Re-subscribing sends the retained messages again. */
    assert_int_equal(mc_subscribe(&sub, "r/b", 1), 1);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "rb");
    assert_int_equal(mc_subscribe(&sub, "r/b", 1), 1);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "rb");
    mc_disconnect(&sub);
    mc_disconnect(&pub);
}

static void test_inbound_qos2_dedup(void **state)
{
    struct mc pub, sub;
    conn(&sub, "x-sub");
    conn(&pub, "x-pub");
    assert_int_equal(mc_subscribe(&sub, "x", 1), 1);
    /* PUBLISH QoS 2, then the same packet again with DUP before PUBREL: routed once. */
    struct mqtt_publish p2 = {
        .qos = 2, .packet_id = 77, .topic = MQTT_STR("x"), .payload = {(const uint8_t *)"dup", 3}};
    struct buf b;
    buf_init(&b, 1024);
    assert_true(mqtt_publish_encode(&b, &p2) > 0);
    assert_int_equal(mc_send_buf(&pub, &b), 0);
    struct mc_pkt p;
    assert_int_equal(mc_expect(&pub, MQTT_PUBREC, &p), 0);
    assert_int_equal(p.pid, 77);
    p2.dup = true;
    buf_init(&b, 1024);
    assert_true(mqtt_publish_encode(&b, &p2) > 0);
    assert_int_equal(mc_send_buf(&pub, &b), 0);
    assert_int_equal(mc_expect(&pub, MQTT_PUBREC, &p), 0);
    assert_int_equal(mc_send_ack(&pub, MQTT_PUBREL, 77), 0);
    assert_int_equal(mc_expect(&pub, MQTT_PUBCOMP, &p), 0);
    assert_int_equal(mc_recv(&sub, &p), 0);
    assert_string_equal(p.payload, "dup");
    assert_true(mc_nothing(&sub, 300));
    /* After PUBCOMP the id is free: a new message with it is routed. */
    p2.dup = false;
    buf_init(&b, 1024);
    assert_true(mqtt_publish_encode(&b, &p2) > 0);
    assert_int_equal(mc_send_buf(&pub, &b), 0);
    assert_int_equal(mc_expect(&pub, MQTT_PUBREC, &p), 0);
    assert_int_equal(mc_send_ack(&pub, MQTT_PUBREL, 77), 0);
    assert_int_equal(mc_expect(&pub, MQTT_PUBCOMP, &p), 0);
    assert_int_equal(mc_recv(&sub, &p), 0);
    mc_disconnect(&pub);
    mc_disconnect(&sub);
}

static void test_inflight_window(void **state)
{
    struct mc pub, sub;
    conn(&sub, "w-sub");
    conn(&pub, "w-pub");
    assert_int_equal(mc_subscribe(&sub, "w", 1), 1);
    for (int i = 0; i < 10; i++) {
        char pl[8];
        snprintf(pl, sizeof(pl), "%d", i);
        assert_int_equal(mc_publish(&pub, "w", pl, 1, false), 0);
    }
    /* max_inflight is 4: without acknowledgements only 4 arrive. */
    struct mc_pkt p[10];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mc_expect(&sub, MQTT_PUBLISH, &p[i]), 0);
        char want[8];
        snprintf(want, sizeof(want), "%d", i);
        assert_string_equal(p[i].payload, want);
    }
    assert_true(mc_nothing(&sub, 300));
    /* Acknowledge out of order: the window opens as slots free up, order is kept. */
    mc_send_ack(&sub, MQTT_PUBACK, p[2].pid);
    assert_int_equal(mc_expect(&sub, MQTT_PUBLISH, &p[4]), 0);
    assert_string_equal(p[4].payload, "4");
    mc_send_ack(&sub, MQTT_PUBACK, p[0].pid);
    mc_send_ack(&sub, MQTT_PUBACK, p[1].pid);
    mc_send_ack(&sub, MQTT_PUBACK, p[3].pid);
    for (int i = 5; i < 8; i++) {
        assert_int_equal(mc_expect(&sub, MQTT_PUBLISH, &p[i]), 0);
        char want[8];
        snprintf(want, sizeof(want), "%d", i);
        assert_string_equal(p[i].payload, want);
    }
    /* Packet ids in flight are distinct. */
    for (int i = 4; i < 8; i++) {
        for (int j = i + 1; j < 8; j++) {
            assert_int_not_equal(p[i].pid, p[j].pid);
        }
    }
    for (int i = 4; i < 8; i++) {
        mc_send_ack(&sub, MQTT_PUBACK, p[i].pid);
    }
    for (int i = 8; i < 10; i++) {
        assert_int_equal(mc_recv(&sub, &p[i]), 0);
    }
    assert_true(mc_nothing(&sub, 200));
    mc_disconnect(&pub);
    mc_disconnect(&sub);
}

static void test_outbound_qos2_states(void **state)
{
    struct mc pub, sub;
    conn(&sub, "s2-sub");
    conn(&pub, "s2-pub");
    assert_int_equal(mc_subscribe(&sub, "s2", 2), 2);
    assert_int_equal(mc_publish(&pub, "s2", "m", 2, false), 0);
    struct mc_pkt p, rel;
    assert_int_equal(mc_expect(&sub, MQTT_PUBLISH, &p), 0);
    assert_int_equal(p.qos, 2);
    /* A PUBREC twice gets PUBREL twice; PUBCOMP completes. */
    mc_send_ack(&sub, MQTT_PUBREC, p.pid);
    assert_int_equal(mc_expect(&sub, MQTT_PUBREL, &rel), 0);
    assert_int_equal(rel.pid, p.pid);
    mc_send_ack(&sub, MQTT_PUBREC, p.pid);
    assert_int_equal(mc_expect(&sub, MQTT_PUBREL, &rel), 0);
    mc_send_ack(&sub, MQTT_PUBCOMP, p.pid);
    assert_true(mc_nothing(&sub, 200));
    mc_disconnect(&pub);
    mc_disconnect(&sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qos_levels),           cmocka_unit_test(test_overlapping_once_at_max),
        cmocka_unit_test(test_dollar_topics),        cmocka_unit_test(test_retained),
        cmocka_unit_test(test_inbound_qos2_dedup),   cmocka_unit_test(test_inflight_window),
        cmocka_unit_test(test_outbound_qos2_states),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
