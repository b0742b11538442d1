#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mqtt/error.h"
#include "mqtt/retain.h"
#include "mqtt/topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set(struct mqtt_retain *r, const char *topic, const char *payload, uint8_t qos)
{
    return mqtt_retain_set(r, topic, strlen(topic), payload, strlen(payload), qos);
}

/* Matches are collected as a sorted, '|'-joined list of topics for easy comparison. */
struct found {
    char topics[64][80];
    size_t n;
};

static int collect(const struct mqtt_retained *m, void *arg)
{
    struct found *f = arg;
    assert_true(f->n < 64);
    assert_true(m->topic.len < 80);
    assert_true(m->payload.len > 0);
    memcpy(f->topics[f->n], m->topic.ptr, m->topic.len);
    f->topics[f->n][m->topic.len] = 0;
    f->n++;
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static const char *match_list(struct mqtt_retain *r, const char *filter)
{
    static char out[2048];
    struct found f;
    f.n = 0;
    int rc = mqtt_retain_match(r, filter, strlen(filter), collect, &f);
    assert_int_equal(rc, (int)f.n);
    qsort(f.topics, f.n, sizeof(f.topics[0]), cmp);
    out[0] = 0;
    for (size_t i = 0; i < f.n; i++) {
        strcat(out, i ? "|" : "");
        strcat(out, f.topics[i]);
    }
    return out;
}

static void set_get_replace_delete(void **state)
{
    struct mqtt_retain *r = mqtt_retain_new(SIZE_MAX, SIZE_MAX);
    struct mqtt_retained m;
    assert_non_null(r);
    assert_int_equal(set(r, "a/b", "one", 1), 0);
    assert_int_equal(mqtt_retain_count(r), 1);
    assert_int_equal(mqtt_retain_bytes(r), 6);
    assert_int_equal(mqtt_retain_get(r, "a/b", 3, &m), 0);
    assert_int_equal(m.qos, 1);
    assert_int_equal(m.payload.len, 3);
    assert_memory_equal(m.payload.ptr, "one", 3);
    assert_int_equal(m.topic.len, 3);
    assert_memory_equal(m.topic.ptr, "a/b", 3);
    assert_int_equal(mqtt_retain_get(r, "a", 1, &m), -ENOENT);
    assert_int_equal(mqtt_retain_get(r, "a/b/c", 5, &m), -ENOENT);

    /* Replace: one message per topic. */
    assert_int_equal(set(r, "a/b", "second", 0), 0);
    assert_int_equal(mqtt_retain_count(r), 1);
    assert_int_equal(mqtt_retain_bytes(r), 9);
    assert_int_equal(mqtt_retain_get(r, "a/b", 3, &m), 0);
    assert_int_equal(m.qos, 0);
    assert_memory_equal(m.payload.ptr, "second", 6);

    /* Binary payloads are kept as is. */
    assert_int_equal(mqtt_retain_set(r, "bin", 3, "\0\xff\0", 3, 2), 0);
    assert_int_equal(mqtt_retain_get(r, "bin", 3, &m), 0);
    assert_memory_equal(m.payload.ptr, "\0\xff\0", 3);

    /* An empty payload deletes [MQTT-3.3.1-10]; deleting nothing is fine. */
    assert_int_equal(set(r, "a/b", "", 0), 0);
    assert_int_equal(mqtt_retain_get(r, "a/b", 3, &m), -ENOENT);
    assert_int_equal(set(r, "a/b", "", 0), 0);
    assert_int_equal(set(r, "never/set", "", 0), 0);
    assert_int_equal(mqtt_retain_count(r), 1);
    assert_int_equal(mqtt_retain_bytes(r), 6);
    /* A parent and a child topic are independent messages. */
    assert_int_equal(set(r, "a", "p", 0), 0);
    assert_int_equal(set(r, "a/b/c", "c", 0), 0);
    assert_int_equal(set(r, "a", "", 0), 0);
    assert_int_equal(mqtt_retain_get(r, "a/b/c", 5, &m), 0);
    assert_string_equal(match_list(r, "#"), "a/b/c|bin");

    /* Invalid input. */
    assert_int_equal(set(r, "a/+", "x", 0), MQTT_ETOPIC);
    assert_int_equal(set(r, "", "x", 0), MQTT_ETOPIC);
    assert_int_equal(mqtt_retain_set(r, "a\0", 2, "x", 1, 0), MQTT_EUTF8);
    assert_int_equal(set(r, "a", "x", 3), -EINVAL);
    struct found f = {.n = 0};
    assert_int_equal(mqtt_retain_match(r, "a/#/b", 5, collect, &f), MQTT_EFILTER);
    assert_int_equal(mqtt_retain_match(r, "", 0, collect, &f), MQTT_EFILTER);
    mqtt_retain_free(r);
    mqtt_retain_free(NULL);
}

static void filter_matching(void **state)
{
    struct mqtt_retain *r = mqtt_retain_new(1000, 1 << 20);
    assert_non_null(r);
    static const char *const topics[] = {
        "sport/tennis/player1",
        "sport/tennis/player1/ranking",
        "sport/tennis/player1/score/wimbledon",
        "sport/tennis/player2",
        "sport",
        "sport/",
        "/finance",
        "$SYS/monitor/Clients",
        "$SYS",
        "a/$b",
        "/",
    };
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        assert_int_equal(set(r, topics[i], "x", 0), 0);
    }
    assert_string_equal(match_list(r, "sport/tennis/player1/#"),
                        "sport/tennis/player1|sport/tennis/player1/ranking|"
                        "sport/tennis/player1/score/wimbledon");
    assert_string_equal(match_list(r, "sport/#"),
                        "sport|sport/|sport/tennis/player1|sport/tennis/player1/ranking|"
                        "sport/tennis/player1/score/wimbledon|sport/tennis/player2");
    assert_string_equal(match_list(r, "sport/tennis/+"),
                        "sport/tennis/player1|sport/tennis/player2");
    assert_string_equal(match_list(r, "sport/+"), "sport/");
    assert_string_equal(match_list(r, "+/+"), "/|/finance|a/$b|sport/");
    assert_string_equal(match_list(r, "/+"), "/|/finance");
    assert_string_equal(match_list(r, "+"), "sport");
    assert_string_equal(match_list(r, "#"),
                        "/|/finance|a/$b|sport|sport/|sport/tennis/player1|"
                        "sport/tennis/player1/ranking|sport/tennis/player1/score/wimbledon|"
                        "sport/tennis/player2");
    /* [MQTT-4.7.2-1] */
    assert_string_equal(match_list(r, "+/monitor/Clients"), "");
    assert_string_equal(match_list(r, "$SYS/#"), "$SYS|$SYS/monitor/Clients");
    assert_string_equal(match_list(r, "$SYS/monitor/+"), "$SYS/monitor/Clients");
    assert_string_equal(match_list(r, "$SYS"), "$SYS");
    assert_string_equal(match_list(r, "a/+"), "a/$b");
    assert_string_equal(match_list(r, "+/#"),
                        "/|/finance|a/$b|sport|sport/|sport/tennis/player1|"
                        "sport/tennis/player1/ranking|sport/tennis/player1/score/wimbledon|"
                        "sport/tennis/player2");
    /* Literal filters are exact lookups. */
    assert_string_equal(match_list(r, "sport/tennis"), "");
    assert_string_equal(match_list(r, "sport/tennis/player2"), "sport/tennis/player2");
    assert_string_equal(match_list(r, "Sport"), "");
    /* The store agrees with mqtt_topic_match for each of these filters. */
    static const char *const filters[] = {"#",         "+",         "+/+",    "+/#",
                                          "sport/+/+", "sport/+/#", "/#",     "+/tennis/#",
                                          "$SYS/+",    "a/#",       "+/+/+/+"};
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        size_t want = 0;
        for (size_t j = 0; j < sizeof(topics) / sizeof(topics[0]); j++) {
            want += mqtt_topic_match(filters[i], strlen(filters[i]), topics[j], strlen(topics[j]));
        }
        struct found f = {.n = 0};
        assert_int_equal(mqtt_retain_match(r, filters[i], strlen(filters[i]), collect, &f),
                         (int)want);
    }
    mqtt_retain_free(r);
}

static void caps(void **state)
{
    struct mqtt_retained m;
    /* At most three messages. */
    struct mqtt_retain *r = mqtt_retain_new(3, SIZE_MAX);
    assert_non_null(r);
    assert_int_equal(set(r, "a", "1", 0), 0);
    assert_int_equal(set(r, "b", "1", 0), 0);
    assert_int_equal(set(r, "c", "1", 0), 0);
    assert_int_equal(set(r, "d", "1", 0), MQTT_ERETAINFULL);
    assert_int_equal(mqtt_retain_get(r, "d", 1, &m), -ENOENT);
    assert_int_equal(set(r, "c", "replaced", 0), 0); /* replacing needs no new slot */
    assert_int_equal(set(r, "a", "", 0), 0);
    assert_int_equal(set(r, "d", "1", 0), 0);
    assert_int_equal(mqtt_retain_count(r), 3);
    mqtt_retain_free(r);

    /* At most 20 bytes of topics and payloads. */
    r = mqtt_retain_new(SIZE_MAX, 20);
    assert_non_null(r);
    assert_int_equal(set(r, "a", "0123456789012345678", 0), 0); /* 1 + 19 */
    assert_int_equal(mqtt_retain_bytes(r), 20);
    assert_int_equal(set(r, "b", "x", 0), MQTT_ERETAINFULL);
    /* A larger replacement does not fit; the old message stays. */
    assert_int_equal(set(r, "a", "01234567890123456789", 0), MQTT_ERETAINFULL);
    assert_int_equal(mqtt_retain_get(r, "a", 1, &m), 0);
    assert_int_equal(m.payload.len, 19);
    /* A smaller one does, and frees room. */
    assert_int_equal(set(r, "a", "0123456789", 0), 0);
    assert_int_equal(mqtt_retain_bytes(r), 11);
    assert_int_equal(set(r, "b", "01234567", 0), 0);
    assert_int_equal(mqtt_retain_bytes(r), 20);
    assert_int_equal(set(r, "c", "x", 0), MQTT_ERETAINFULL);
    /* A payload larger than the cap, or one whose size would overflow, is refused before
     * anything is read from it. */
    assert_int_equal(mqtt_retain_set(r, "z", 1, "x", 21, 0), MQTT_ERETAINFULL);
    mqtt_retain_free(r);
    r = mqtt_retain_new(SIZE_MAX, SIZE_MAX);
    assert_non_null(r);
    assert_int_equal(mqtt_retain_set(r, "z", 1, "x", SIZE_MAX, 0), MQTT_ERETAINFULL);
    assert_int_equal(mqtt_retain_set(r, "z", 1, "x", SIZE_MAX - 1, 0), -ENOMEM);
    assert_int_equal(mqtt_retain_count(r), 0);
    mqtt_retain_free(r);

    /* A zero cap holds nothing. */
    r = mqtt_retain_new(0, SIZE_MAX);
    assert_non_null(r);
    assert_int_equal(set(r, "a", "1", 0), MQTT_ERETAINFULL);
    mqtt_retain_free(r);
}

static int stop_cb(const struct mqtt_retained *m, void *arg)
{
    (*(int *)arg)++;
    return -7;
}

static void callback_stops(void **state)
{
    struct mqtt_retain *r = mqtt_retain_new(100, 10000);
    assert_non_null(r);
    assert_int_equal(set(r, "a/1", "x", 0), 0);
    assert_int_equal(set(r, "a/2", "x", 0), 0);
    int calls = 0;
    assert_int_equal(mqtt_retain_match(r, "a/+", 3, stop_cb, &calls), -7);
    assert_int_equal(calls, 1);
    mqtt_retain_free(r);
}

static int count_cb(const struct mqtt_retained *m, void *arg)
{
    (*(size_t *)arg)++;
    return 0;
}

/* A level with thousands of children (hash map), and a 32000-level topic. */
static void wide_and_deep(void **state)
{
    struct mqtt_retain *r = mqtt_retain_new(SIZE_MAX, SIZE_MAX);
    char t[64];
    assert_non_null(r);
    for (int i = 0; i < 5000; i++) {
        snprintf(t, sizeof(t), "devices/d%d/status", i);
        assert_int_equal(set(r, t, "online", 1), 0);
        snprintf(t, sizeof(t), "devices/d%d/fw", i);
        assert_int_equal(set(r, t, "1.0", 1), 0);
    }
    size_t n = 0;
    assert_int_equal(mqtt_retain_match(r, "devices/+/status", 16, count_cb, &n), 5000);
    n = 0;
    assert_int_equal(mqtt_retain_match(r, "devices/#", 9, count_cb, &n), 10000);
    n = 0;
    assert_int_equal(mqtt_retain_match(r, "devices/d4999/+", 15, count_cb, &n), 2);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(t, sizeof(t), "devices/d%d/status", i);
        assert_int_equal(set(r, t, "", 1), 0);
    }
    n = 0;
    assert_int_equal(mqtt_retain_match(r, "devices/+/status", 16, count_cb, &n), 2500);

    const size_t levels = 32000;
    char *deep = malloc(2 * levels);
    assert_non_null(deep);
    for (size_t i = 0; i < levels; i++) {
        deep[2 * i] = 'x';
        deep[2 * i + 1] = '/';
    }
    assert_int_equal(mqtt_retain_set(r, deep, 2 * levels - 1, "d", 1, 0), 0);
    n = 0;
    assert_int_equal(mqtt_retain_match(r, "x/#", 3, count_cb, &n), 1);
    n = 0;
    assert_int_equal(mqtt_retain_match(r, "#", 1, count_cb, &n), 7501);
    free(deep);
    mqtt_retain_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_get_replace_delete),
        cmocka_unit_test(filter_matching),
        cmocka_unit_test(caps),
        cmocka_unit_test(callback_stops),
        cmocka_unit_test(wide_and_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
