#include "net/addrlimit.h"

#include "core/hmap.h"
#include "core/ratelimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct addr_entry {
    struct ratelimit rl;
    struct addr_entry *prev, *next; /* LRU list, most recent first */
    uint8_t key[16];
    uint8_t klen;
};

struct net_addrlimit {
    struct hmap *map; /* key bytes -> struct addr_entry */
    struct addr_entry *head, *tail;
    size_t count, max;
    double rate, burst;
};

struct net_addrlimit *net_addrlimit_new(double rate, double burst, size_t max_entries)
{
    struct net_addrlimit *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->map = hmap_new();
    if (t->map == NULL) {
        free(t);
        return NULL;
    }
    t->max = max_entries ? max_entries : 1;
    t->rate = rate;
    t->burst = burst;
    return t;
}

void net_addrlimit_free(struct net_addrlimit *t)
{
    if (t == NULL) {
        return;
    }
    struct addr_entry *e = t->head;
    while (e != NULL) {
        struct addr_entry *next = e->next;
        free(e);
        e = next;
    }
    hmap_free(t->map);
    free(t);
}

size_t net_addrlimit_count(const struct net_addrlimit *t)
{
    return t->count;
}

/* key_of: the table key for sa; 0 when the family is not limited. */
static size_t key_of(const struct sockaddr *sa, uint8_t key[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(key, &a->s6_addr[12], 4);
            return 4;
        }
        memcpy(key, a->s6_addr, 16);
        return 16;
    }
    return 0;
}

static void lru_unlink(struct net_addrlimit *t, struct addr_entry *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        t->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        t->tail = e->prev;
    }
    e->prev = e->next = NULL;
}

static void lru_push_front(struct net_addrlimit *t, struct addr_entry *e)
{
    e->prev = NULL;
    e->next = t->head;
    if (t->head != NULL) {
        t->head->prev = e;
    }
    t->head = e;
    if (t->tail == NULL) {
        t->tail = e;
    }
}

bool net_addrlimit_take(struct net_addrlimit *t, const struct sockaddr *sa, int64_t now_ms)
{
    if (t->rate <= 0) {
        return true;
    }
    uint8_t key[16];
    size_t klen = key_of(sa, key);
    if (klen == 0) {
        return true;
    }
    struct addr_entry *e = hmap_get(t->map, key, klen);
    if (e != NULL) {
        lru_unlink(t, e);
        lru_push_front(t, e);
        return ratelimit_take(&e->rl, now_ms);
    }
    if (t->count >= t->max) {
        /* Reuse the least recently seen entry. */
        e = t->tail;
        lru_unlink(t, e);
        hmap_del(t->map, e->key, e->klen);
        t->count--;
    } else {
        e = malloc(sizeof(*e));
        if (e == NULL) {
            return false;
        }
    }
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, klen);
    e->klen = (uint8_t)klen;
    ratelimit_init(&e->rl, t->rate, t->burst);
    if (hmap_put(t->map, e->key, e->klen, e, NULL) < 0) {
        free(e);
        return false;
    }
    lru_push_front(t, e);
    t->count++;
    return ratelimit_take(&e->rl, now_ms);
}
