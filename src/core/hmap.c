#include "core/hmap.h"

#include "core/err.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

struct hmap_entry {
    struct hmap_entry *next;
    uint64_t hash;
    void *value;
    size_t klen;
    unsigned char key[];
};

struct hmap {
    struct hmap_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    uint64_t k0, k1;
};

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

/* SipHash-1-3: keyed, so hash flooding by peers does not work. */
static uint64_t siphash13(const unsigned char *in, size_t len, uint64_t k0, uint64_t k1)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m;
        memcpy(&m, in + i, 8);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; i + k < len; k++) {
        b |= (uint64_t)in[i + k] << (8 * k);
    }
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

struct hmap *hmap_new(void)
{
    struct hmap *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->nbuckets = 16;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    uint64_t keys[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    (void)random_bytes(keys, sizeof(keys));
    m->k0 = keys[0];
    m->k1 = keys[1];
    return m;
}

void hmap_free(struct hmap *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct hmap_entry *e = m->buckets[i];
        while (e != NULL) {
            struct hmap_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static struct hmap_entry **find(const struct hmap *m, const void *key, size_t klen, uint64_t h)
{
    struct hmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
    while (*pp != NULL) {
        struct hmap_entry *e = *pp;
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            return pp;
        }
        pp = &e->next;
    }
    return pp;
}

void *hmap_get(const struct hmap *m, const void *key, size_t klen)
{
    uint64_t h = siphash13(key, klen, m->k0, m->k1);
    struct hmap_entry **pp = find(m, key, klen, h);
    return *pp ? (*pp)->value : NULL;
}

void *hmap_get_str(const struct hmap *m, const char *key)
{
    return hmap_get(m, key, strlen(key));
}

static void grow(struct hmap *m)
{
    size_t n = m->nbuckets * 2;
    struct hmap_entry **b = calloc(n, sizeof(*b));
    if (b == NULL) {
        return; /* keep working with longer chains */
    }
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct hmap_entry *e = m->buckets[i];
        while (e != NULL) {
            struct hmap_entry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int hmap_put(struct hmap *m, const void *key, size_t klen, void *value, void **old)
{
    uint64_t h = siphash13(key, klen, m->k0, m->k1);
    struct hmap_entry **pp = find(m, key, klen, h);
    if (*pp != NULL) {
        if (old != NULL) {
            *old = (*pp)->value;
        }
        (*pp)->value = value;
        return 0;
    }
    struct hmap_entry *e = malloc(sizeof(*e) + klen);
    if (e == NULL) {
        return -ENOMEM;
    }
    e->next = NULL;
    e->hash = h;
    e->value = value;
    e->klen = klen;
    memcpy(e->key, key, klen);
    *pp = e;
    m->count++;
    if (old != NULL) {
        *old = NULL;
    }
    if (m->count > m->nbuckets) {
        grow(m);
    }
    return 0;
}

int hmap_put_str(struct hmap *m, const char *key, void *value, void **old)
{
    return hmap_put(m, key, strlen(key), value, old);
}

void *hmap_del(struct hmap *m, const void *key, size_t klen)
{
    uint64_t h = siphash13(key, klen, m->k0, m->k1);
    struct hmap_entry **pp = find(m, key, klen, h);
    struct hmap_entry *e = *pp;
    if (e == NULL) {
        return NULL;
    }
    void *value = e->value;
    *pp = e->next;
    free(e);
    m->count--;
    return value;
}

void *hmap_del_str(struct hmap *m, const char *key)
{
    return hmap_del(m, key, strlen(key));
}

size_t hmap_count(const struct hmap *m)
{
    return m->count;
}

int hmap_iter(const struct hmap *m, int (*fn)(const void *key, size_t klen, void *value, void *arg),
              void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct hmap_entry *e = m->buckets[i]; e != NULL; e = e->next) {
            int rc = fn(e->key, e->klen, e->value, arg);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}
