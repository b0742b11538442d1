#include "auth/loginlimit.h"

#include "core/err.h"
#include "core/hmap.h"

#include <openssl/evp.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Entries are kept on a list in order of their last failure (head: oldest), which makes
 * both the idle sweep and eviction O(1) per entry. */
struct ll_entry {
    struct ll_entry *prev, *next;
    uint32_t failures;
    int64_t last_ms;
    int64_t blocked_until_ms;
    size_t klen;
    uint8_t key[];
};

struct loginlimit {
    pthread_mutex_t lock;
    struct loginlimit_config cfg;
    struct hmap *map; /* key -> struct ll_entry */
    struct ll_entry *head, *tail;
};

/* Keys are stored as given up to LOGINLIMIT_KEY_MAX bytes; longer ones as a NUL byte plus
 * their SHA-256 (a C string key cannot start with NUL, so the forms never collide). */
struct norm_key {
    uint8_t bytes[LOGINLIMIT_KEY_MAX];
    size_t len;
};

static int normalise(const char *key, struct norm_key *nk)
{
    size_t n = strlen(key);
    if (n <= LOGINLIMIT_KEY_MAX) {
        memcpy(nk->bytes, key, n);
        nk->len = n;
        return 0;
    }
    unsigned int dlen = 0;
    nk->bytes[0] = 0;
    if (EVP_Digest(key, n, nk->bytes + 1, &dlen, EVP_sha256(), NULL) != 1) {
        return -ENOMEM;
    }
    nk->len = 1 + dlen;
    return 0;
}

void loginlimit_config_default(struct loginlimit_config *cfg)
{
    cfg->free_failures = 5;
    cfg->base_delay_ms = 1000;
    cfg->max_delay_ms = 15 * 60 * 1000;
    cfg->forget_after_ms = 60 * 60 * 1000;
    cfg->max_entries = 100000;
}

struct loginlimit *loginlimit_new(const struct loginlimit_config *cfg)
{
    if (cfg == NULL || cfg->base_delay_ms <= 0 || cfg->max_delay_ms < cfg->base_delay_ms ||
        cfg->forget_after_ms <= 0 || cfg->max_entries == 0) {
        return NULL;
    }
    struct loginlimit *ll = calloc(1, sizeof(*ll));
    if (ll == NULL) {
        return NULL;
    }
    ll->cfg = *cfg;
    ll->map = hmap_new();
    if (ll->map == NULL || pthread_mutex_init(&ll->lock, NULL) != 0) {
        hmap_free(ll->map);
        free(ll);
        return NULL;
    }
    return ll;
}

void loginlimit_free(struct loginlimit *ll)
{
    if (ll == NULL) {
        return;
    }
    struct ll_entry *e = ll->head;
    while (e != NULL) {
        struct ll_entry *next = e->next;
        free(e);
        e = next;
    }
    hmap_free(ll->map);
    pthread_mutex_destroy(&ll->lock);
    free(ll);
}

static void list_unlink(struct loginlimit *ll, struct ll_entry *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        ll->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        ll->tail = e->prev;
    }
    e->prev = e->next = NULL;
}

static void list_append(struct loginlimit *ll, struct ll_entry *e)
{
    e->prev = ll->tail;
    e->next = NULL;
    if (ll->tail != NULL) {
        ll->tail->next = e;
    } else {
        ll->head = e;
    }
    ll->tail = e;
}

static void entry_remove(struct loginlimit *ll, struct ll_entry *e)
{
    hmap_del(ll->map, e->key, e->klen);
    list_unlink(ll, e);
    free(e);
}

static bool forgettable(const struct loginlimit *ll, const struct ll_entry *e, int64_t now)
{
    return now - e->last_ms >= ll->cfg.forget_after_ms && now >= e->blocked_until_ms;
}

/* Drop idle entries from the old end of the list, at most `budget` of them (0: no cap). */
static void sweep(struct loginlimit *ll, int64_t now, size_t budget)
{
    struct ll_entry *e = ll->head;
    size_t seen = 0;
    while (e != NULL && now - e->last_ms >= ll->cfg.forget_after_ms) {
        struct ll_entry *next = e->next;
        if (now >= e->blocked_until_ms) {
            entry_remove(ll, e);
        }
        e = next;
        if (budget != 0 && ++seen >= budget) {
            break;
        }
    }
}

static struct ll_entry *lookup(struct loginlimit *ll, const struct norm_key *nk, int64_t now)
{
    struct ll_entry *e = hmap_get(ll->map, nk->bytes, nk->len);
    if (e != NULL && forgettable(ll, e, now)) {
        entry_remove(ll, e);
        return NULL;
    }
    return e;
}

bool loginlimit_allowed(struct loginlimit *ll, const char *key, int64_t now_ms)
{
    return loginlimit_retry_after_ms(ll, key, now_ms) == 0;
}

int64_t loginlimit_retry_after_ms(struct loginlimit *ll, const char *key, int64_t now_ms)
{
    struct norm_key nk;
    if (normalise(key, &nk) != 0) {
        return ll->cfg.base_delay_ms; /* cannot look the key up: deny for a moment */
    }
    int64_t wait = 0;
    pthread_mutex_lock(&ll->lock);
    struct ll_entry *e = lookup(ll, &nk, now_ms);
    if (e != NULL && now_ms < e->blocked_until_ms) {
        wait = e->blocked_until_ms - now_ms;
    }
    pthread_mutex_unlock(&ll->lock);
    return wait;
}

static int64_t delay_for(const struct loginlimit_config *cfg, uint32_t failures)
{
    if (failures <= cfg->free_failures) {
        return 0;
    }
    uint32_t over = failures - cfg->free_failures; /* >= 1 */
    int64_t d = cfg->base_delay_ms;
    for (uint32_t i = 1; i < over && d < cfg->max_delay_ms; i++) {
        d = d > cfg->max_delay_ms / 2 ? cfg->max_delay_ms : d * 2;
    }
    return d < cfg->max_delay_ms ? d : cfg->max_delay_ms;
}

int loginlimit_record_failure(struct loginlimit *ll, const char *key, int64_t now_ms)
{
    struct norm_key nk;
    int rc = normalise(key, &nk);
    if (rc != 0) {
        return rc;
    }
    pthread_mutex_lock(&ll->lock);
    sweep(ll, now_ms, 8); /* keep idle entries from piling up between full sweeps */
    struct ll_entry *e = lookup(ll, &nk, now_ms);
    if (e == NULL) {
        if (hmap_count(ll->map) >= ll->cfg.max_entries) {
            sweep(ll, now_ms, 0);
        }
        while (hmap_count(ll->map) >= ll->cfg.max_entries && ll->head != NULL) {
            entry_remove(ll, ll->head); /* least recently failed */
        }
        e = calloc(1, sizeof(*e) + nk.len);
        if (e == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        e->klen = nk.len;
        memcpy(e->key, nk.bytes, nk.len);
        if (hmap_put(ll->map, e->key, e->klen, e, NULL) != 0) {
            free(e);
            rc = -ENOMEM;
            goto out;
        }
    } else {
        list_unlink(ll, e);
    }
    list_append(ll, e);
    if (e->failures < UINT32_MAX) {
        e->failures++;
    }
    e->last_ms = now_ms;
    int64_t d = delay_for(&ll->cfg, e->failures);
    if (d > 0 && now_ms + d > e->blocked_until_ms) {
        e->blocked_until_ms = now_ms + d;
    }
    rc = 0;
out:
    pthread_mutex_unlock(&ll->lock);
    return rc;
}

void loginlimit_record_success(struct loginlimit *ll, const char *key)
{
    struct norm_key nk;
    if (normalise(key, &nk) != 0) {
        return;
    }
    pthread_mutex_lock(&ll->lock);
    struct ll_entry *e = hmap_get(ll->map, nk.bytes, nk.len);
    if (e != NULL) {
        entry_remove(ll, e);
    }
    pthread_mutex_unlock(&ll->lock);
}

size_t loginlimit_count(struct loginlimit *ll)
{
    pthread_mutex_lock(&ll->lock);
    size_t n = hmap_count(ll->map);
    pthread_mutex_unlock(&ll->lock);
    return n;
}
