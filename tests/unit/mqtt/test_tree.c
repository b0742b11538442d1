#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mqtt/error.h"
#include "mqtt/topic.h"
#include "mqtt/tree.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSUB 64

/* Subscribers are elements of this array; a match records what it was told per index. */
static int subs[NSUB];

struct seen {
    int calls[NSUB];
    int qos[NSUB];
    int total;
};

static int record(void *subscriber, uint8_t qos, void *arg)
{
    struct seen *s = arg;
    int i = (int)((int *)subscriber - subs);
    assert_true(i >= 0 && i < NSUB);
    s->calls[i]++;
    s->qos[i] = qos;
    s->total++;
    return 0;
}

static int match(struct mqtt_tree *t, const char *topic, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    int rc = mqtt_tree_match(t, topic, strlen(topic), record, s);
    assert_true(rc >= 0);
    assert_int_equal(rc, s->total);
    for (int i = 0; i < NSUB; i++) {
        assert_true(s->calls[i] <= 1); /* once per subscriber */
    }
    return rc;
}

static int ins(struct mqtt_tree *t, const char *filter, int sub, uint8_t qos)
{
    return mqtt_tree_insert(t, filter, strlen(filter), &subs[sub], qos);
}

static int rm(struct mqtt_tree *t, const char *filter, int sub)
{
    return mqtt_tree_remove(t, filter, strlen(filter), &subs[sub]);
}

static void overlapping_once_at_max_qos(void **state)
{
    struct mqtt_tree *t = mqtt_tree_new();
    struct seen s;
    assert_non_null(t);
    /* [MQTT-3.3.5-1]: one delivery at the highest QoS of the matching subscriptions. */
    assert_int_equal(ins(t, "a/#", 0, 1), 0);
    assert_int_equal(ins(t, "a/b", 0, 2), 0);
    assert_int_equal(ins(t, "+/b", 0, 0), 0);
    assert_int_equal(ins(t, "+/b", 1, 0), 0);
    assert_int_equal(ins(t, "#", 2, 1), 0);
    assert_int_equal(match(t, "a/b", &s), 3);
    assert_int_equal(s.calls[0], 1);
    assert_int_equal(s.qos[0], 2);
    assert_int_equal(s.qos[1], 0);
    assert_int_equal(s.qos[2], 1);
    /* The order of insertion does not matter. */
    assert_int_equal(ins(t, "+/+", 3, 2), 0);
    assert_int_equal(ins(t, "a/+", 3, 0), 0);
    assert_int_equal(ins(t, "a/b", 3, 1), 0);
    assert_int_equal(match(t, "a/b", &s), 4);
    assert_int_equal(s.qos[3], 2);
    /* Other topics see only their filters. */
    assert_int_equal(match(t, "a/c", &s), 3);
    assert_int_equal(s.qos[0], 1); /* a/# */
    assert_int_equal(s.qos[3], 2); /* +/+ */
    assert_int_equal(s.calls[1], 0);
    assert_int_equal(match(t, "a", &s), 2); /* a/# includes a; and # */
    assert_int_equal(s.calls[0], 1);
    assert_int_equal(s.calls[2], 1);
    mqtt_tree_free(t);
}

static void replace_and_remove(void **state)
{
    struct mqtt_tree *t = mqtt_tree_new();
    struct mqtt_tree_stats st;
    struct seen s;
    assert_non_null(t);
    assert_int_equal(ins(t, "a/b", 0, 2), 0);
    assert_int_equal(ins(t, "a/b", 0, 0), 1); /* replaced [MQTT-3.8.4-3] */
    mqtt_tree_stats(t, &st);
    assert_int_equal(st.subscriptions, 1);
    assert_int_equal(st.subscribers, 1);
    assert_int_equal(st.nodes, 3);
    assert_int_equal(match(t, "a/b", &s), 1);
    assert_int_equal(s.qos[0], 0);
    assert_int_equal(mqtt_tree_subscriber_count(t, &subs[0]), 1);

    /* Three subscribers on one node: removing one moves another's slot. */
    assert_int_equal(ins(t, "a/b", 1, 1), 0);
    assert_int_equal(ins(t, "a/b", 2, 2), 0);
    assert_int_equal(rm(t, "a/b", 0), 0);
    assert_int_equal(rm(t, "a/b", 0), -ENOENT);
    assert_int_equal(match(t, "a/b", &s), 2);
    assert_int_equal(s.qos[1], 1);
    assert_int_equal(s.qos[2], 2);
    assert_int_equal(ins(t, "a/b", 2, 0), 1); /* found after the move */
    assert_int_equal(rm(t, "a/b", 2), 0);
    assert_int_equal(match(t, "a/b", &s), 1);
    assert_int_equal(s.calls[1], 1);

    /* Unknown subscriber, unknown filter, invalid filter. */
    assert_int_equal(rm(t, "a/b", 9), -ENOENT);
    assert_int_equal(rm(t, "a/c", 1), -ENOENT);
    assert_int_equal(rm(t, "a/b/c", 1), -ENOENT);
    assert_int_equal(rm(t, "a", 1), -ENOENT); /* a node exists, but no subscription there */
    assert_int_equal(rm(t, "a/+", 1), -ENOENT);
    assert_int_equal(rm(t, "a/#/b", 1), MQTT_EFILTER);
    /* Removing is exact: "a/+" does not remove "a/b". */
    assert_int_equal(match(t, "a/b", &s), 1);

    assert_int_equal(rm(t, "a/b", 1), 0);
    mqtt_tree_stats(t, &st);
    assert_int_equal(st.subscriptions, 0);
    assert_int_equal(st.subscribers, 0);
    assert_int_equal(st.nodes, 1); /* emptied nodes are freed */
    assert_int_equal(match(t, "a/b", &s), 0);
    mqtt_tree_free(t);
}

static void remove_all(void **state)
{
    struct mqtt_tree *t = mqtt_tree_new();
    struct mqtt_tree_stats st;
    struct seen s;
    assert_non_null(t);
    assert_int_equal(ins(t, "a/#", 0, 1), 0);
    assert_int_equal(ins(t, "a/b", 0, 2), 0);
    assert_int_equal(ins(t, "+/b", 0, 0), 0);
    assert_int_equal(ins(t, "x/y/z", 0, 0), 0);
    assert_int_equal(ins(t, "a/b", 1, 1), 0);
    assert_int_equal(ins(t, "+/b", 1, 1), 0);
    assert_int_equal(mqtt_tree_subscriber_count(t, &subs[0]), 4);
    assert_int_equal(mqtt_tree_remove_all(t, &subs[0]), 4);
    assert_int_equal(mqtt_tree_remove_all(t, &subs[0]), 0);
    assert_int_equal(mqtt_tree_subscriber_count(t, &subs[0]), 0);
    assert_int_equal(match(t, "a/b", &s), 1);
    assert_int_equal(s.calls[1], 1);
    assert_int_equal(match(t, "x/y/z", &s), 0);
    mqtt_tree_stats(t, &st);
    assert_int_equal(st.subscriptions, 2);
    assert_int_equal(st.subscribers, 1);
    assert_int_equal(st.nodes, 5); /* root, a, a/b, +, +/b: a/#'s and x/y/z's are gone */
    assert_int_equal(mqtt_tree_remove_all(t, &subs[1]), 2);
    mqtt_tree_stats(t, &st);
    assert_int_equal(st.nodes, 1);
    /* A subscriber can come back after being dropped. */
    assert_int_equal(ins(t, "a/b", 0, 1), 0);
    assert_int_equal(match(t, "a/b", &s), 1);
    mqtt_tree_free(t);
}

static void dollar_topics(void **state)
{
    struct mqtt_tree *t = mqtt_tree_new();
    struct seen s;
    assert_non_null(t);
    assert_int_equal(ins(t, "#", 0, 0), 0);
    assert_int_equal(ins(t, "+/monitor/Clients", 1, 0), 0);
    assert_int_equal(ins(t, "$SYS/#", 2, 0), 0);
    assert_int_equal(ins(t, "$SYS/monitor/+", 3, 0), 0);
    assert_int_equal(ins(t, "+/#", 4, 0), 0);
    assert_int_equal(match(t, "$SYS/monitor/Clients", &s), 2);
    assert_int_equal(s.calls[2], 1);
    assert_int_equal(s.calls[3], 1);
    assert_int_equal(match(t, "$SYS", &s), 1); /* "$SYS/#" includes "$SYS" */
    assert_int_equal(s.calls[2], 1);
    assert_int_equal(match(t, "sys/monitor/Clients", &s), 3);
    assert_int_equal(s.calls[0] + s.calls[1] + s.calls[4], 3);
    assert_int_equal(match(t, "a/$SYS", &s), 2); /* only the first level is special */
    mqtt_tree_free(t);
}

static void invalid_arguments(void **state)
{
    struct mqtt_tree *t = mqtt_tree_new();
    struct mqtt_tree_stats st;
    assert_non_null(t);
    assert_int_equal(ins(t, "a/#/b", 0, 0), MQTT_EFILTER);
    assert_int_equal(ins(t, "a+", 0, 0), MQTT_EFILTER);
    assert_int_equal(mqtt_tree_insert(t, "", 0, &subs[0], 0), MQTT_EFILTER);
    assert_int_equal(mqtt_tree_insert(t, "a\0", 2, &subs[0], 0), MQTT_EUTF8);
    assert_int_equal(ins(t, "a", 0, 3), -EINVAL);
    assert_int_equal(mqtt_tree_insert(t, "a", 1, NULL, 0), -EINVAL);
    mqtt_tree_stats(t, &st);
    assert_int_equal(st.nodes, 1);
    assert_int_equal(st.subscribers, 0);
    mqtt_tree_free(t);
    mqtt_tree_free(NULL);
}

static int stop_at_first(void *subscriber, uint8_t qos, void *arg)
{
    (*(int *)arg)++;
    return -42;
}

static void callback_stops(void **state)
{
    struct mqtt_tree *t = mqtt_tree_new();
    assert_non_null(t);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ins(t, "a", i, 0), 0);
    }
    int calls = 0;
    assert_int_equal(mqtt_tree_match(t, "a", 1, stop_at_first, &calls), -42);
    assert_int_equal(calls, 1);
    mqtt_tree_free(t);
}

/* A small deterministic generator (xorshift) for the differential test. */
static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return rnd_state;
}

static void random_levels(char *out, size_t cap, bool filter)
{
    static const char *const lv[] = {"a", "b", "$c", "", "dd"};
    size_t n = 1 + rnd() % 4, len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *l = lv[rnd() % 5];
        if (filter && rnd() % 4 == 0) {
            l = "+";
        }
        if (filter && i == n - 1 && rnd() % 4 == 0) {
            l = "#";
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "/" : "", l);
    }
}

/* The tree must agree with mqtt_topic_match over every filter, including the QoS rule. */
static void differential_against_match(void **state)
{
    struct mqtt_tree *t = mqtt_tree_new();
    assert_non_null(t);
    static char filters[400][64];
    static int fsub[400], fqos[400];
    size_t nf = 0;
    for (int round = 0; round < 6; round++) {
        /* Add filters, and remove some, then check many topics. */
        for (int k = 0; k < 60 && nf < 400; k++) {
            random_levels(filters[nf], sizeof(filters[nf]), true);
            if (mqtt_topic_filter_check(filters[nf], strlen(filters[nf])) != 0) {
                continue;
            }
            fsub[nf] = (int)(rnd() % NSUB);
            fqos[nf] = (int)(rnd() % 3);
            int rc = ins(t, filters[nf], fsub[nf], (uint8_t)fqos[nf]);
            assert_true(rc == 0 || rc == 1);
            /* A replaced subscription: drop the older record of it. */
            for (size_t j = 0; j < nf; j++) {
                if (fsub[j] == fsub[nf] && strcmp(filters[j], filters[nf]) == 0) {
                    fsub[j] = -1;
                }
            }
            nf++;
        }
        for (int k = 0; k < 10; k++) {
            size_t j = rnd() % nf;
            if (fsub[j] >= 0) {
                assert_int_equal(rm(t, filters[j], fsub[j]), 0);
                fsub[j] = -1;
            }
        }
        for (int k = 0; k < 300; k++) {
            char topic[64];
            random_levels(topic, sizeof(topic), false);
            int want_qos[NSUB];
            int want = 0;
            for (int i = 0; i < NSUB; i++) {
                want_qos[i] = -1;
            }
            for (size_t j = 0; j < nf; j++) {
                if (fsub[j] >= 0 &&
                    mqtt_topic_match(filters[j], strlen(filters[j]), topic, strlen(topic))) {
                    if (want_qos[fsub[j]] < 0) {
                        want++;
                    }
                    if (fqos[j] > want_qos[fsub[j]]) {
                        want_qos[fsub[j]] = fqos[j];
                    }
                }
            }
            struct seen s;
            int got = match(t, topic, &s);
            if (got != want) {
                fail_msg("topic \"%s\": %d subscribers, want %d", topic, got, want);
            }
            for (int i = 0; i < NSUB; i++) {
                assert_int_equal(s.calls[i], want_qos[i] >= 0);
                if (want_qos[i] >= 0) {
                    assert_int_equal(s.qos[i], want_qos[i]);
                }
            }
        }
    }
    for (int i = 0; i < NSUB; i++) {
        mqtt_tree_remove_all(t, &subs[i]);
    }
    struct mqtt_tree_stats st;
    mqtt_tree_stats(t, &st);
    assert_int_equal(st.nodes, 1);
    assert_int_equal(st.subscriptions, 0);
    mqtt_tree_free(t);
}

/* Many literal children under one node: the small array turns into a hash map and back. */
static void wide_node(void **state)
{
    struct mqtt_tree *t = mqtt_tree_new();
    struct seen s;
    char f[32];
    assert_non_null(t);
    for (int i = 0; i < 50; i++) {
        snprintf(f, sizeof(f), "k%d/v", i);
        assert_int_equal(ins(t, f, i % NSUB, 1), 0);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(f, sizeof(f), "k%d/v", i);
        assert_int_equal(match(t, f, &s), 1);
        assert_int_equal(s.calls[i % NSUB], 1);
    }
    assert_int_equal(match(t, "k50/v", &s), 0);
    for (int i = 0; i < 45; i++) {
        snprintf(f, sizeof(f), "k%d/v", i);
        assert_int_equal(rm(t, f, i % NSUB), 0);
    }
    for (int i = 45; i < 50; i++) {
        snprintf(f, sizeof(f), "k%d/v", i);
        assert_int_equal(match(t, f, &s), 1);
    }
    assert_int_equal(match(t, "k3/v", &s), 0);
    mqtt_tree_free(t);
}

/* Filters and topics with tens of thousands of levels: no recursion to overflow. */
static void deep_levels(void **state)
{
    const size_t levels = 32000;
    char *plus = malloc(2 * levels);
    char *topic = malloc(2 * levels);
    assert_non_null(plus);
    assert_non_null(topic);
    for (size_t i = 0; i < levels; i++) {
        plus[2 * i] = '+';
        plus[2 * i + 1] = '/';
        topic[2 * i] = 'a';
        topic[2 * i + 1] = '/';
    }
    size_t len = 2 * levels - 1;
    struct mqtt_tree *t = mqtt_tree_new();
    struct seen s;
    assert_non_null(t);
    assert_int_equal(mqtt_tree_insert(t, plus, len, &subs[0], 1), 0);
    assert_int_equal(mqtt_tree_insert(t, topic, len, &subs[1], 2), 0);
    assert_int_equal(mqtt_tree_insert(t, plus, len - 2, &subs[2], 0), 0);
    memset(&s, 0, sizeof(s));
    assert_int_equal(mqtt_tree_match(t, topic, len, record, &s), 2);
    assert_int_equal(s.calls[0] + s.calls[1], 2);
    /* Free with the whole depth in place. */
    mqtt_tree_free(t);
    free(plus);
    free(topic);
}

struct count_ctx {
    size_t calls;
    size_t qos_sum;
};

static int count_cb(void *subscriber, uint8_t qos, void *arg)
{
    struct count_ctx *c = arg;
    c->calls++;
    c->qos_sum += qos;
    return 0;
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* 10,000 subscribers, each with its own device subtree plus shared filters. */
static void ten_thousand_subscribers(void **state)
{
    enum { N = 10000 };
    static char sessions[N]; /* subscriber identities */
    char f[64];
    size_t heap0 = heap_in_use();
    struct mqtt_tree *t = mqtt_tree_new();
    assert_non_null(t);
    for (int i = 0; i < N; i++) {
        snprintf(f, sizeof(f), "tenant/t%d/devices/d%d/cmd/#", i % 10, i);
        assert_int_equal(mqtt_tree_insert(t, f, strlen(f), &sessions[i], 1), 0);
        assert_int_equal(mqtt_tree_insert(t, "broadcast/+", 11, &sessions[i], 0), 0);
        if (i % 10 == 0) {
            snprintf(f, sizeof(f), "tenant/t%d/devices/+/cmd/reboot", i % 10);
            assert_int_equal(mqtt_tree_insert(t, f, strlen(f), &sessions[i], 2), 0);
        }
    }
    size_t heap1 = heap_in_use();
    struct mqtt_tree_stats st;
    mqtt_tree_stats(t, &st);
    assert_int_equal(st.subscribers, N);
    assert_int_equal(st.subscriptions, 2 * N + N / 10);
    if (heap1 > heap0) {
        size_t per = (heap1 - heap0) / st.subscriptions;
        print_message("tree: %zu subscriptions, %zu nodes, %zu heap bytes, %zu per subscription\n",
                      st.subscriptions, st.nodes, heap1 - heap0, per);
        /* Mostly unique 6-level filters: nodes dominate. Keep well under 1 KiB. */
        assert_true(per < 1024);
    }

    struct count_ctx c = {0, 0};
    /* Device 1230 is in tenant t0: its own filter (QoS 1) plus every t0 reboot watcher
     * (i % 10 == 0, i.e. all of tenant t0's 1000, itself included, QoS 2). */
    const char *topic = "tenant/t0/devices/d1230/cmd/reboot";
    assert_int_equal(mqtt_tree_match(t, topic, strlen(topic), count_cb, &c), 1000);
    assert_int_equal(c.qos_sum, 2000); /* d1230 itself gets QoS 2, not 1 */
    c.calls = c.qos_sum = 0;
    topic = "tenant/t3/devices/d1233/cmd/reboot";
    assert_int_equal(mqtt_tree_match(t, topic, strlen(topic), count_cb, &c), 1);
    assert_int_equal(c.qos_sum, 1);
    c.calls = c.qos_sum = 0;
    assert_int_equal(mqtt_tree_match(t, "broadcast/all", 13, count_cb, &c), N);
    assert_int_equal(c.calls, N);

    /* The steady state allocates nothing per match. */
    size_t before = heap_in_use();
    for (int k = 0; k < 100; k++) {
        assert_int_equal(mqtt_tree_match(t, "broadcast/all", 13, count_cb, &c), N);
        assert_int_equal(mqtt_tree_match(t, topic, strlen(topic), count_cb, &c), 1);
    }
    assert_int_equal(heap_in_use(), before);

    /* Dropping every session empties the tree. */
    for (int i = 0; i < N; i++) {
        assert_int_equal(mqtt_tree_remove_all(t, &sessions[i]), i % 10 == 0 ? 3 : 2);
    }
    mqtt_tree_stats(t, &st);
    assert_int_equal(st.nodes, 1);
    assert_int_equal(st.subscriptions, 0);
    assert_int_equal(st.subscribers, 0);
    mqtt_tree_free(t);
}

/* The cost of one more subscriber on an existing filter: its slot, entry and record. */
static void shared_filter_memory(void **state)
{
    enum { N = 10000 };
    static char sessions[N];
    struct mqtt_tree *t = mqtt_tree_new();
    assert_non_null(t);
    assert_int_equal(mqtt_tree_insert(t, "broadcast/+", 11, &sessions[0], 0), 0);
    size_t heap0 = heap_in_use();
    for (int i = 1; i < N; i++) {
        assert_int_equal(mqtt_tree_insert(t, "broadcast/+", 11, &sessions[i], 0), 0);
    }
    size_t heap1 = heap_in_use();
    if (heap1 > heap0) {
        size_t per = (heap1 - heap0) / (N - 1);
        print_message("tree: %zu heap bytes per subscriber on a shared filter\n", per);
        assert_true(per < 256);
    }
    /* A second subscription of the same sessions costs no new record. */
    assert_int_equal(mqtt_tree_insert(t, "alerts", 6, &sessions[0], 1), 0);
    heap0 = heap_in_use();
    for (int i = 1; i < N; i++) {
        assert_int_equal(mqtt_tree_insert(t, "alerts", 6, &sessions[i], 1), 0);
    }
    heap1 = heap_in_use();
    if (heap1 > heap0) {
        size_t per = (heap1 - heap0) / (N - 1);
        print_message("tree: %zu heap bytes per extra subscription of a known subscriber\n", per);
        assert_true(per < 128);
    }
    mqtt_tree_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(overlapping_once_at_max_qos),
        cmocka_unit_test(replace_and_remove),
        cmocka_unit_test(remove_all),
        cmocka_unit_test(dollar_topics),
        cmocka_unit_test(invalid_arguments),
        cmocka_unit_test(callback_stops),
        cmocka_unit_test(differential_against_match),
        cmocka_unit_test(wide_node),
        cmocka_unit_test(deep_levels),
        cmocka_unit_test(ten_thousand_subscribers),
        cmocka_unit_test(shared_filter_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
