/* Back-pressure instead of loss: 10 publishers (QoS 1, 20 messages in flight each) into one
 * slow subscriber with a small queue and output buffer. Every acknowledged message must be
 * delivered, in order per publisher; publishers get paused; nothing is dropped. Also: a
 * client that subscribes to what it publishes does not wait for itself, and QoS 0 to an
 * online subscriber is not dropped either. */
#include "broker_test.h"

#include <pthread.h>

#define PUBLISHERS 10
#define PER_PUBLISHER 400
#define WINDOW 20

static struct bt_env env;

static int setup(void **state)
{
    struct bt_opts o = {.workers = 2, .cfg_set = true, .out_highwater = 8 * 1024};
    broker_config_defaults(&o.cfg);
    o.cfg.max_queued = 50;
    o.cfg.max_inflight = 10;
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

struct pub_arg {
    int index;
    int acked;
    int qos;
    const char *topic;
    bool ok;
    char why[128];
};

static void *publisher(void *arg)
{
    struct pub_arg *pa = arg;
    struct mc m;
    char id[32];
    snprintf(id, sizeof(id), "pub-%d-%d", pa->qos, pa->index);
    struct mc_conn_opts o = {.client_id = id, .user = "t1/app", .pass = "app-pass-1"};
    if (mc_connect_opts(&m, env.port, NULL, &o, NULL) != 0) {
        snprintf(pa->why, sizeof(pa->why), "connect failed");
        return NULL;
    }
    mc_set_timeout(&m, 20000);
    int sent = 0, outstanding = 0;
    char payload[128];
    memset(payload, 0, sizeof(payload));
    while (pa->acked < PER_PUBLISHER) {
        while (sent < PER_PUBLISHER && (pa->qos == 0 || outstanding < WINDOW)) {
            int n = snprintf(payload, sizeof(payload), "%d:%d:%s", pa->index, sent,
                             "................................................................");
            mc_publish_nowait(&m, pa->topic, payload, (size_t)n, (uint8_t)pa->qos, false);
            sent++;
            outstanding++;
            if (pa->qos == 0) {
                pa->acked++;
            }
        }
        if (pa->qos == 0) {
            break;
        }
        struct mc_pkt p;
        if (mc_expect(&m, MQTT_PUBACK, &p) < 0) {
            snprintf(pa->why, sizeof(pa->why), "no PUBACK after %d acknowledged", pa->acked);
            mc_close(&m);
            return NULL;
        }
        pa->acked++;
        outstanding--;
    }
    mc_disconnect(&m);
    pa->ok = true;
    return NULL;
}

static void run_fan_in(int qos, const char *topic)
{
    struct mc sub;
    char id[32];
    snprintf(id, sizeof(id), "slow-%d", qos);
    assert_int_equal(mc_connect(&sub, env.port, id, "t1/app", "app-pass-1", false), 0);
    assert_int_equal(mc_subscribe(&sub, topic, 1), 1);
    struct broker_stats before = bt_stats(&env);

    pthread_t th[PUBLISHERS];
    struct pub_arg pa[PUBLISHERS];
    for (int i = 0; i < PUBLISHERS; i++) {
        memset(&pa[i], 0, sizeof(pa[i]));
        pa[i].index = i;
        pa[i].qos = qos;
        pa[i].topic = topic;
        assert_int_equal(pthread_create(&th[i], NULL, publisher, &pa[i]), 0);
    }
    /* Do not read for a while: the subscriber's queue and output fill up. */
    test_sleep_ms(1000);
    int next[PUBLISHERS] = {0};
    int total = 0;
    mc_set_timeout(&sub, 10000);
    while (total < PUBLISHERS * PER_PUBLISHER) {
        struct mc_pkt p;
        int rc = mc_recv(&sub, &p);
        if (rc < 0) {
            fprintf(stderr, "subscriber stopped after %d messages\n", total);
            break;
        }
        int who = -1, seq = -1;
        assert_int_equal(sscanf(p.payload, "%d:%d:", &who, &seq), 2);
        assert_true(who >= 0 && who < PUBLISHERS);
        /* Per-publisher order is kept. */
        assert_int_equal(seq, next[who]);
        next[who]++;
        total++;
        if (total % 500 == 0) {
            test_sleep_ms(50); /* stay slow */
        }
    }
    for (int i = 0; i < PUBLISHERS; i++) {
        pthread_join(th[i], NULL);
        if (!pa[i].ok) {
            fprintf(stderr, "publisher %d: %s\n", i, pa[i].why);
        }
        assert_true(pa[i].ok);
        assert_int_equal(pa[i].acked, PER_PUBLISHER);
    }
    assert_int_equal(total, PUBLISHERS * PER_PUBLISHER);
    assert_true(mc_nothing(&sub, 200));
    struct broker_stats after = bt_stats(&env);
    assert_true(after.publisher_pauses > before.publisher_pauses);
    assert_int_equal(after.queue_dropped, before.queue_dropped);
    assert_int_equal(after.qos0_dropped, before.qos0_dropped);
    mc_disconnect(&sub);
}

static void test_fan_in_qos1_nothing_lost(void **state)
{
    run_fan_in(1, "fan/in");
}

static void test_fan_in_qos0_online_not_dropped(void **state)
{
    run_fan_in(0, "fan/zero");
}

static void test_loopback_no_self_deadlock(void **state)
{
    struct mc m;
    assert_int_equal(mc_connect(&m, env.port, "loop", "t1/app", "app-pass-1", false), 0);
    assert_int_equal(mc_subscribe(&m, "loop", 1), 1);
    /* Publish far more than max_queued without reading deliveries, 20 in flight. */
    int sent = 0, acked = 0, received = 0;
    const int n = 1000;
    mc_set_timeout(&m, 10000);
    while (acked < n || received < n) {
        while (sent < n && sent - acked < WINDOW) {
            char pl[16];
            int len = snprintf(pl, sizeof(pl), "%d", sent);
            mc_publish_nowait(&m, "loop", pl, (size_t)len, 1, false);
            sent++;
        }
        struct mc_pkt p;
        int rc = mc_read(&m, &p);
        if (rc < 0) {
            fail_msg("stalled: sent %d acked %d received %d", sent, acked, received);
        }
        if (p.type == MQTT_PUBACK) {
            acked++;
        } else if (p.type == MQTT_PUBLISH) {
            char want[16];
            snprintf(want, sizeof(want), "%d", received);
            assert_string_equal(p.payload, want);
            mc_send_ack(&m, MQTT_PUBACK, p.pid);
            received++;
        }
    }
    mc_disconnect(&m);
}

/* A publisher held back (its input is no longer read) must not be closed for keep-alive:
 * its PINGREQs are waiting in the unread input. */
static void test_keepalive_while_held_back(void **state)
{
    struct mc sub, pub;
    assert_int_equal(mc_connect(&sub, env.port, "ka-slow", "t1/app", "app-pass-1", false), 0);
    assert_int_equal(mc_subscribe(&sub, "ka/bp", 1), 1);
    struct mc_conn_opts o = {
        .client_id = "ka-pub", .user = "t1/app", .pass = "app-pass-1", .keepalive = 1};
    assert_int_equal(mc_connect_opts(&pub, env.port, NULL, &o, NULL), 0);
    uint64_t pauses = bt_stats(&env).publisher_pauses;
    /* 200 KB of QoS 1 publishes while the subscriber reads nothing. */
    char payload[1000];
    memset(payload, 'k', sizeof(payload));
    const int n = 200;
    for (int i = 0; i < n; i++) {
        mc_publish_nowait(&pub, "ka/bp", payload, sizeof(payload), 1, false);
    }
    assert_true(BT_WAIT_GE(&env, publisher_pauses, pauses + 1, 3000));
    /* Three keep-alive periods, with PINGREQs the broker cannot read yet. */
    for (int i = 0; i < 6; i++) {
        test_sleep_ms(500);
        const uint8_t ping[] = {0xc0, 0x00};
        assert_int_equal(mc_send_raw(&pub, ping, sizeof(ping)), 0);
    }
    /* The subscriber catches up: every message arrives, every PUBACK too. */
    for (int i = 0; i < n; i++) {
        struct mc_pkt p;
        assert_int_equal(mc_recv(&sub, &p), 0);
    }
    int acks = 0, pongs = 0;
    while (acks < n || pongs < 6) {
        struct mc_pkt p;
        assert_int_equal(mc_read(&pub, &p), 0);
        acks += p.type == MQTT_PUBACK;
        pongs += p.type == MQTT_PINGRESP;
    }
    mc_disconnect(&pub);
    mc_disconnect(&sub);
}

struct done_ctx {
    atomic_int calls;
    atomic_int rc;
};

static void publish_done(void *arg, int rc)
{
    struct done_ctx *d = arg;
    atomic_store(&d->rc, rc);
    atomic_fetch_add(&d->calls, 1);
}

static bool int_equals(void *arg);

/* broker_publish (HTTPS publishing) into a subscriber that does not read: once its queue is
 * full (max_queued 50 beyond the 10 in flight), done() waits until it drained. */
static void test_broker_publish_waits_for_drain(void **state)
{
    struct mc sub;
    assert_int_equal(mc_connect(&sub, env.port, "bp-sub", "t1/app", "app-pass-1", false), 0);
    assert_int_equal(mc_subscribe(&sub, "bp/x", 1), 1);
    struct principal who;
    memset(&who, 0, sizeof(who));
    who.via = PRINCIPAL_BASIC;
    str_lcpy(who.tenant, "t1", sizeof(who.tenant));
    str_lcpy(who.user, "app", sizeof(who.user));
    enum { K = 80 };
    struct done_ctx dc = {0};
    for (int i = 0; i < K; i++) {
        char pl[16];
        int n = snprintf(pl, sizeof(pl), "%d", i);
        assert_int_equal(
            broker_publish(env.broker, &who, "bp/x", pl, (size_t)n, 1, false, publish_done, &dc),
            0);
    }
    test_sleep_ms(300);
    /* Those that found room completed at once (at least the 49 before the queue reached its
     * cap, more if the owner pumped 10 into the window meanwhile); the later ones wait. */
    int early = atomic_load(&dc.calls);
    assert_true(early >= 49 && early < K);
    for (int i = 0; i < K; i++) {
        struct mc_pkt p;
        char want[16];
        snprintf(want, sizeof(want), "%d", i);
        assert_int_equal(mc_recv(&sub, &p), 0);
        assert_string_equal(p.payload, want); /* one caller's messages keep their order */
    }
    int all = K;
    void *pair[2] = {&dc.calls, &all};
    assert_true(test_wait_until(int_equals, pair, 3000));
    assert_int_equal(atomic_load(&dc.rc), 0);
    mc_disconnect(&sub);
}

static bool int_equals(void *arg)
{
    void **pair = arg;
    return atomic_load((atomic_int *)pair[0]) == *(int *)pair[1];
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fan_in_qos1_nothing_lost),
        cmocka_unit_test(test_fan_in_qos0_online_not_dropped),
        cmocka_unit_test(test_loopback_no_self_deadlock),
        cmocka_unit_test(test_keepalive_while_held_back),
        cmocka_unit_test(test_broker_publish_waits_for_drain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
