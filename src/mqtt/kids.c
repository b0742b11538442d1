#include "mqtt/kids.h"

#include "core/hmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void mqtt_kids_init(struct mqtt_kids *k)
{
    memset(k, 0, sizeof(*k));
}

void mqtt_kids_cleanup(struct mqtt_kids *k)
{
    free(k->small);
    hmap_free(k->map);
    memset(k, 0, sizeof(*k));
}

static size_t small_find(const struct mqtt_kids *k, const char *key, size_t len)
{
    for (size_t i = 0; i < k->n; i++) {
        if (k->small[i].len == len && (len == 0 || memcmp(k->small[i].key, key, len) == 0)) {
            return i;
        }
    }
    return SIZE_MAX;
}

void *mqtt_kids_get(const struct mqtt_kids *k, const char *key, size_t len)
{
    if (k->map != NULL) {
        return hmap_get(k->map, key, len);
    }
    size_t i = small_find(k, key, len);
    return i == SIZE_MAX ? NULL : k->small[i].child;
}

/* Move every child from the small array into a new hash map. */
static int to_map(struct mqtt_kids *k)
{
    struct hmap *m = hmap_new();
    if (m == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < k->n; i++) {
        if (hmap_put(m, k->small[i].key, k->small[i].len, k->small[i].child, NULL) < 0) {
            hmap_free(m);
            return -ENOMEM;
        }
    }
    free(k->small);
    k->small = NULL;
    k->cap = 0;
    k->map = m;
    return 0;
}

int mqtt_kids_put(struct mqtt_kids *k, const char *key, size_t len, void *child)
{
    if (k->map == NULL && k->n == MQTT_KIDS_SMALL && to_map(k) < 0) {
        return -ENOMEM;
    }
    if (k->map != NULL) {
        if (hmap_put(k->map, key, len, child, NULL) < 0) {
            return -ENOMEM;
        }
        k->n++;
        return 0;
    }
    if (k->n == k->cap) {
        uint32_t cap = k->cap ? k->cap * 2 : 2;
        struct mqtt_kid *s = realloc(k->small, cap * sizeof(*s));
        if (s == NULL) {
            return -ENOMEM;
        }
        k->small = s;
        k->cap = cap;
    }
    k->small[k->n].key = key;
    k->small[k->n].len = len;
    k->small[k->n].child = child;
    k->n++;
    return 0;
}

void mqtt_kids_del(struct mqtt_kids *k, const char *key, size_t len)
{
    if (k->map != NULL) {
        if (hmap_del(k->map, key, len) != NULL) {
            k->n--;
        }
        if (k->n == 0) {
            /* An emptied hub (every device gone) releases its map. */
            hmap_free(k->map);
            k->map = NULL;
        }
        return;
    }
    size_t i = small_find(k, key, len);
    if (i == SIZE_MAX) {
        return;
    }
    k->small[i] = k->small[k->n - 1];
    k->n--;
    if (k->n == 0) {
        free(k->small);
        k->small = NULL;
        k->cap = 0;
    }
}

struct each_ctx {
    int (*fn)(void *child, void *arg);
    void *arg;
};

static int each_entry(const void *key, size_t klen, void *value, void *arg)
{
    struct each_ctx *c = arg;
    return c->fn(value, c->arg);
}

int mqtt_kids_each(const struct mqtt_kids *k, int (*fn)(void *child, void *arg), void *arg)
{
    if (k->map != NULL) {
        struct each_ctx c = {fn, arg};
        return hmap_iter(k->map, each_entry, &c);
    }
    for (size_t i = 0; i < k->n; i++) {
        int rc = fn(k->small[i].child, arg);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}
