/* Fuzz target: topic names, topic filters, the subscription tree and the retained store.
 *
 * The input is split at '\n': the first field is a topic, the others (up to 24) filters.
 * Each is validated; the valid filters go into a subscription tree (subscriber and QoS
 * derived from the position) and the result of matching the topic is compared with a
 * brute-force evaluation of mqtt_topic_match over every filter, per subscriber and with
 * the maximum QoS; the same after removing some filters. The topic and every filter that
 * is also a valid topic name go into a retained store, and each filter's lookup is
 * compared with mqtt_topic_match over the stored topics.
 */
#include "mqtt/error.h"
#include "mqtt/retain.h"
#include "mqtt/topic.h"
#include "mqtt/tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAXF 25
#define NSUBS 5

static int subscribers[NSUBS];

struct field {
    const char *s;
    size_t len;
    int topic_rc;
    int filter_rc;
    int sub; /* index into subscribers */
    uint8_t qos;
    bool in_tree;
};

struct seen {
    int calls[NSUBS];
    int qos[NSUBS];
};

static int record(void *subscriber, uint8_t qos, void *arg)
{
    struct seen *s = arg;
    int i = (int)((int *)subscriber - subscribers);
    CHECK(i >= 0 && i < NSUBS);
    s->calls[i]++;
    s->qos[i] = qos;
    return 0;
}

static void check_tree(struct mqtt_tree *t, const struct field *topic, const struct field *f,
                       size_t nf)
{
    int want[NSUBS];
    int nwant = 0;
    for (int i = 0; i < NSUBS; i++) {
        want[i] = -1;
    }
    for (size_t i = 0; i < nf; i++) {
        if (f[i].in_tree && mqtt_topic_match(f[i].s, f[i].len, topic->s, topic->len)) {
            if (want[f[i].sub] < 0) {
                nwant++;
            }
            if (f[i].qos > want[f[i].sub]) {
                want[f[i].sub] = f[i].qos;
            }
        }
    }
    struct seen s;
    memset(&s, 0, sizeof(s));
    int rc = mqtt_tree_match(t, topic->s, topic->len, record, &s);
    CHECK(rc == nwant);
    for (int i = 0; i < NSUBS; i++) {
        CHECK(s.calls[i] == (want[i] >= 0 ? 1 : 0));
        CHECK(want[i] < 0 || s.qos[i] == want[i]);
    }
}

static int count_cb(const struct mqtt_retained *m, void *arg)
{
    CHECK(m->payload.len > 0);
    (*(int *)arg)++;
    return 0;
}

static void check_levels(const char *s, size_t len)
{
    struct mqtt_level_iter it;
    struct mqtt_str l;
    size_t n = 0, total = 0, slashes = 0;
    for (size_t i = 0; i < len; i++) {
        slashes += s[i] == '/';
    }
    mqtt_level_iter_init(&it, s, len);
    while (mqtt_level_iter_next(&it, &l)) {
        CHECK(l.ptr == s + total || (len == 0 && l.len == 0));
        CHECK(l.len == 0 || memchr(l.ptr, '/', l.len) == NULL);
        total += l.len + 1;
        n++;
    }
    CHECK(n == slashes + 1);
    CHECK(total == len + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct field f[MAXF];
    size_t nf = 0, start = 0;
    const char *s = (const char *)data;
    for (size_t i = 0; i <= size && nf < MAXF; i++) {
        if (i == size || s[i] == '\n') {
            f[nf].s = s + start;
            f[nf].len = i - start;
            nf++;
            start = i + 1;
        }
    }
    if (nf == 0) {
        return 0;
    }
    for (size_t i = 0; i < nf; i++) {
        f[i].topic_rc = mqtt_topic_name_check(f[i].s, f[i].len);
        f[i].filter_rc = mqtt_topic_filter_check(f[i].s, f[i].len);
        CHECK(f[i].topic_rc == 0 || f[i].topic_rc == MQTT_ETOPIC || f[i].topic_rc == MQTT_EUTF8);
        CHECK(f[i].filter_rc == 0 || f[i].filter_rc == MQTT_EFILTER ||
              f[i].filter_rc == MQTT_EUTF8);
        /* A topic name is a filter without wildcards, matching exactly itself. */
        if (f[i].topic_rc == 0) {
            CHECK(f[i].filter_rc == 0);
            CHECK(mqtt_topic_match(f[i].s, f[i].len, f[i].s, f[i].len));
        }
        f[i].sub = (int)(i % NSUBS);
        f[i].qos = (uint8_t)((i + f[i].len) % 3);
        f[i].in_tree = false;
        check_levels(f[i].s, f[i].len);
        /* Any bytes: matching stays within them (ASan checks), whatever it answers. */
        (void)mqtt_topic_match(f[i].s, f[i].len, f[0].s, f[0].len);
    }
    struct field *topic = &f[0];

    struct mqtt_tree *t = mqtt_tree_new();
    struct mqtt_retain *r = mqtt_retain_new(64, SIZE_MAX);
    if (t == NULL || r == NULL) {
        mqtt_tree_free(t);
        mqtt_retain_free(r);
        return 0;
    }
    for (size_t i = 1; i < nf; i++) {
        int rc = mqtt_tree_insert(t, f[i].s, f[i].len, &subscribers[f[i].sub], f[i].qos);
        if (f[i].filter_rc != 0) {
            CHECK(rc == f[i].filter_rc);
            continue;
        }
        CHECK(rc == 0 || rc == 1);
        /* A repeated (filter, subscriber) replaces the earlier subscription. */
        for (size_t j = 1; j < i; j++) {
            if (f[j].in_tree && f[j].sub == f[i].sub && f[j].len == f[i].len &&
                memcmp(f[j].s, f[i].s, f[i].len) == 0) {
                CHECK(rc == 1);
                f[j].in_tree = false;
            }
        }
        f[i].in_tree = true;
    }
    if (topic->topic_rc == 0) {
        check_tree(t, topic, f, nf);
        /* Unsubscribe every other filter, then check again. */
        for (size_t i = 1; i < nf; i += 2) {
            if (f[i].in_tree) {
                CHECK(mqtt_tree_remove(t, f[i].s, f[i].len, &subscribers[f[i].sub]) == 0);
                f[i].in_tree = false;
            }
        }
        check_tree(t, topic, f, nf);
    }
    for (int i = 0; i < NSUBS; i++) {
        mqtt_tree_remove_all(t, &subscribers[i]);
    }
    struct mqtt_tree_stats st;
    mqtt_tree_stats(t, &st);
    CHECK(st.nodes == 1 && st.subscriptions == 0 && st.subscribers == 0);
    mqtt_tree_free(t);

    /* Retained store: every valid topic name among the fields is stored. */
    for (size_t i = 0; i < nf; i++) {
        int rc = mqtt_retain_set(r, f[i].s, f[i].len, "p", 1, f[i].qos);
        CHECK(rc == f[i].topic_rc);
    }
    for (size_t i = 0; i < nf; i++) {
        if (f[i].filter_rc != 0) {
            int n = 0;
            CHECK(mqtt_retain_match(r, f[i].s, f[i].len, count_cb, &n) == f[i].filter_rc);
            continue;
        }
        int want = 0;
        for (size_t j = 0; j < nf; j++) {
            bool dup = false;
            for (size_t k = 0; k < j; k++) {
                dup |= f[k].len == f[j].len && memcmp(f[k].s, f[j].s, f[j].len) == 0;
            }
            if (!dup && f[j].topic_rc == 0 &&
                mqtt_topic_match(f[i].s, f[i].len, f[j].s, f[j].len)) {
                want++;
            }
        }
        int n = 0;
        CHECK(mqtt_retain_match(r, f[i].s, f[i].len, count_cb, &n) == want);
        CHECK(n == want);
    }
    /* Deleting every stored topic empties the store. */
    for (size_t i = 0; i < nf; i++) {
        if (f[i].topic_rc == 0) {
            CHECK(mqtt_retain_set(r, f[i].s, f[i].len, "", 0, 0) == 0);
        }
    }
    CHECK(mqtt_retain_count(r) == 0 && mqtt_retain_bytes(r) == 0);
    mqtt_retain_free(r);
    return 0;
}
