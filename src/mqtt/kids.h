/* Internal to the mqtt module: the children of a trie node, keyed by topic level.
 *
 * Most nodes of a topic trie have a handful of children, a few (the level under which
 * every device has its own subtree) have thousands. Up to MQTT_KIDS_SMALL children live
 * in a small array searched linearly (no hash, no per-node hash map: a core hmap costs a
 * getrandom(2) call and 16 buckets at creation); beyond that the node switches to a
 * core/hmap.h map, which is keyed so that peers cannot choose colliding levels.
 *
 * Keys are borrowed from the children (each child node stores its own level text), so a
 * child must be deleted from its parent's map before it is freed. Not thread-safe.
 */
#ifndef CERTGATE_MQTT_KIDS_H
#define CERTGATE_MQTT_KIDS_H

#include <stddef.h>
#include <stdint.h>

#define MQTT_KIDS_SMALL 8

struct hmap;

struct mqtt_kid {
    const char *key; /* borrowed from the child */
    size_t len;
    void *child;
};

struct mqtt_kids {
    struct mqtt_kid *small; /* used while map is NULL */
    uint32_t n;             /* number of children, in either form */
    uint32_t cap;
    struct hmap *map; /* NULL until more than MQTT_KIDS_SMALL children */
};

/* mqtt_kids_init: no children; allocates nothing. */
void mqtt_kids_init(struct mqtt_kids *k);

/* mqtt_kids_cleanup: free the container (not the children). */
void mqtt_kids_cleanup(struct mqtt_kids *k);

/* mqtt_kids_get: the child under key[len], or NULL. */
void *mqtt_kids_get(const struct mqtt_kids *k, const char *key, size_t len);

/* mqtt_kids_put: add a child under a key not yet present; key[len] must stay valid while
 * the child is in the container. 0 or -ENOMEM (unchanged). */
int mqtt_kids_put(struct mqtt_kids *k, const char *key, size_t len, void *child);

/* mqtt_kids_del: remove the child under key[len] if present. */
void mqtt_kids_del(struct mqtt_kids *k, const char *key, size_t len);

/* mqtt_kids_each: call fn for every child until it returns non-zero (that value is
 * returned); fn must not change the container. */
int mqtt_kids_each(const struct mqtt_kids *k, int (*fn)(void *child, void *arg), void *arg);

#endif
