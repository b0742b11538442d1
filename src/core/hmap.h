/* A hash map from byte-string keys to pointers.
 *
 * Keys are copied into the map; values are borrowed (the map never frees them).
 * Separate chaining, power-of-two bucket count, grows at load factor 1. Lookups are
 * O(1) on average; the hash is SipHash-like keyed at creation so that peers cannot
 * choose colliding keys. Not thread-safe: one owner at a time, or the caller locks.
 */
#ifndef CERTGATE_CORE_HMAP_H
#define CERTGATE_CORE_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap;

/* hmap_new: an empty map, NULL on allocation failure. */
struct hmap *hmap_new(void);

/* hmap_free: free the map and its key copies (not the values). NULL is a no-op. */
void hmap_free(struct hmap *m);

/* hmap_get: the value stored under key, or NULL. */
void *hmap_get(const struct hmap *m, const void *key, size_t klen);
void *hmap_get_str(const struct hmap *m, const char *key);

/* hmap_put: store value under key, replacing any previous value. If `old` is not NULL it
 * receives the replaced value (or NULL). 0 or -ENOMEM (map unchanged). */
int hmap_put(struct hmap *m, const void *key, size_t klen, void *value, void **old);
int hmap_put_str(struct hmap *m, const char *key, void *value, void **old);

/* hmap_del: remove key; returns the value that was stored, or NULL. */
void *hmap_del(struct hmap *m, const void *key, size_t klen);
void *hmap_del_str(struct hmap *m, const char *key);

/* hmap_count: number of entries. */
size_t hmap_count(const struct hmap *m);

/* hmap_iter: visit every entry; stop early when fn returns non-zero (that value is
 * returned). fn must not modify the map. */
int hmap_iter(const struct hmap *m, int (*fn)(const void *key, size_t klen, void *value, void *arg),
              void *arg);

#endif
