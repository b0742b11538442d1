#include "auth/credcache.h"

#include "auth/password.h"
#include "core/err.h"
#include "core/hmap.h"
#include "core/str.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAC_LEN 32
#define KEY_LEN 32

/* Entries sit on a list in order of expiry (head expires first): the TTL is the same for
 * all, so appending on put keeps the order, and eviction takes the head. */
struct cc_entry {
    struct cc_entry *prev, *next;
    int64_t expires_ms;
    uint8_t mac[MAC_LEN];
    size_t tenant_len; /* key is tenant '\0' user */
    size_t klen;
    char key[];
};

struct credcache {
    pthread_mutex_t lock;
    size_t max_entries;
    int64_t ttl_ms;
    EVP_MAC *hmac; /* fetched once; immutable and shareable */
    uint8_t key[KEY_LEN];
    struct hmap *map; /* "tenant\0user" -> struct cc_entry */
    struct cc_entry *head, *tail;
};

struct credcache *credcache_new(size_t max_entries, int64_t ttl_ms)
{
    if (max_entries == 0 || ttl_ms <= 0) {
        return NULL;
    }
    struct credcache *cc = calloc(1, sizeof(*cc));
    if (cc == NULL) {
        return NULL;
    }
    cc->max_entries = max_entries;
    cc->ttl_ms = ttl_ms;
    cc->map = hmap_new();
    cc->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (cc->map == NULL || cc->hmac == NULL || random_bytes(cc->key, sizeof(cc->key)) != 0 ||
        pthread_mutex_init(&cc->lock, NULL) != 0) {
        ERR_clear_error();
        hmap_free(cc->map);
        EVP_MAC_free(cc->hmac);
        secure_zero(cc->key, sizeof(cc->key));
        free(cc);
        return NULL;
    }
    return cc;
}

static void free_list(struct credcache *cc)
{
    struct cc_entry *e = cc->head;
    while (e != NULL) {
        struct cc_entry *next = e->next;
        secure_zero(e->mac, sizeof(e->mac));
        free(e);
        e = next;
    }
    cc->head = cc->tail = NULL;
}

void credcache_free(struct credcache *cc)
{
    if (cc == NULL) {
        return;
    }
    free_list(cc);
    hmap_free(cc->map);
    EVP_MAC_free(cc->hmac);
    secure_zero(cc->key, sizeof(cc->key));
    pthread_mutex_destroy(&cc->lock);
    free(cc);
}

static void entry_remove(struct credcache *cc, struct cc_entry *e)
{
    hmap_del(cc->map, e->key, e->klen);
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        cc->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        cc->tail = e->prev;
    }
    secure_zero(e->mac, sizeof(e->mac));
    free(e);
}

static int put_field(EVP_MAC_CTX *ctx, const void *data, size_t n)
{
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    return EVP_MAC_update(ctx, len, sizeof(len)) == 1 && EVP_MAC_update(ctx, data, n) == 1;
}

/* HMAC-SHA256(key, len||tenant || len||user || len||pw): length prefixes keep the fields
 * from sliding into each other. */
static int compute_mac(const struct credcache *cc, const char *tenant, size_t tlen,
                       const char *user, size_t ulen, const char *pw, size_t pwlen,
                       uint8_t out[MAC_LEN])
{
    int rc = CG_ECRYPTO;
    size_t outl = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(cc->hmac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (ctx == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (EVP_MAC_init(ctx, cc->key, sizeof(cc->key), params) != 1 || !put_field(ctx, tenant, tlen) ||
        !put_field(ctx, user, ulen) || !put_field(ctx, pw, pwlen) ||
        EVP_MAC_final(ctx, out, &outl, MAC_LEN) != 1 || outl != MAC_LEN) {
        goto out;
    }
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx); /* clears its copy of the key */
    if (rc != 0) {
        ERR_clear_error();
    }
    return rc;
}

/* "tenant\0user" into key[]; the lengths were checked by the caller. */
static size_t make_key(char *key, const char *tenant, size_t tlen, const char *user, size_t ulen)
{
    memcpy(key, tenant, tlen);
    key[tlen] = 0;
    memcpy(key + tlen + 1, user, ulen);
    return tlen + 1 + ulen;
}

static bool names_ok(const char *tenant, const char *user, size_t *tlen, size_t *ulen)
{
    if (tenant == NULL || user == NULL) {
        return false;
    }
    *tlen = strnlen(tenant, CREDCACHE_NAME_MAX + 1);
    *ulen = strnlen(user, CREDCACHE_NAME_MAX + 1);
    return *tlen > 0 && *ulen > 0 && *tlen <= CREDCACHE_NAME_MAX && *ulen <= CREDCACHE_NAME_MAX;
}

bool credcache_check(struct credcache *cc, const char *tenant, const char *user, const char *pw,
                     size_t len, int64_t now_ms)
{
    size_t tlen, ulen;
    uint8_t mac[MAC_LEN];
    char key[2 * CREDCACHE_NAME_MAX + 1];
    bool hit = false;

    if (!names_ok(tenant, user, &tlen, &ulen) || pw == NULL || len == 0 || len > PASSWORD_MAX_LEN) {
        return false;
    }
    if (compute_mac(cc, tenant, tlen, user, ulen, pw, len, mac) != 0) {
        return false;
    }
    size_t klen = make_key(key, tenant, tlen, user, ulen);
    pthread_mutex_lock(&cc->lock);
    struct cc_entry *e = hmap_get(cc->map, key, klen);
    if (e != NULL) {
        if (now_ms >= e->expires_ms) {
            entry_remove(cc, e);
        } else {
            hit = ct_equal(e->mac, mac, MAC_LEN);
        }
    }
    pthread_mutex_unlock(&cc->lock);
    secure_zero(mac, sizeof(mac));
    return hit;
}

int credcache_put(struct credcache *cc, const char *tenant, const char *user, const char *pw,
                  size_t len, int64_t now_ms)
{
    size_t tlen, ulen;
    int rc;

    if (!names_ok(tenant, user, &tlen, &ulen) || pw == NULL || len == 0 || len > PASSWORD_MAX_LEN) {
        return -EINVAL;
    }
    struct cc_entry *fresh = calloc(1, sizeof(*fresh) + tlen + 1 + ulen + 1);
    if (fresh == NULL) {
        return -ENOMEM;
    }
    rc = compute_mac(cc, tenant, tlen, user, ulen, pw, len, fresh->mac);
    if (rc != 0) {
        free(fresh);
        return rc;
    }
    fresh->klen = make_key(fresh->key, tenant, tlen, user, ulen);
    fresh->tenant_len = tlen;
    fresh->expires_ms = now_ms + cc->ttl_ms;

    pthread_mutex_lock(&cc->lock);
    struct cc_entry *old = hmap_get(cc->map, fresh->key, fresh->klen);
    if (old != NULL) {
        entry_remove(cc, old);
    }
    /* Expired entries first, then the soonest to expire, until there is room. */
    while (cc->head != NULL &&
           (now_ms >= cc->head->expires_ms || hmap_count(cc->map) >= cc->max_entries)) {
        entry_remove(cc, cc->head);
    }
    if (hmap_put(cc->map, fresh->key, fresh->klen, fresh, NULL) != 0) {
        pthread_mutex_unlock(&cc->lock);
        secure_zero(fresh->mac, sizeof(fresh->mac));
        free(fresh);
        return -ENOMEM;
    }
    fresh->prev = cc->tail;
    if (cc->tail != NULL) {
        cc->tail->next = fresh;
    } else {
        cc->head = fresh;
    }
    cc->tail = fresh;
    pthread_mutex_unlock(&cc->lock);
    return 0;
}

void credcache_invalidate_user(struct credcache *cc, const char *tenant, const char *user)
{
    size_t tlen, ulen;
    char key[2 * CREDCACHE_NAME_MAX + 1];
    if (!names_ok(tenant, user, &tlen, &ulen)) {
        return;
    }
    size_t klen = make_key(key, tenant, tlen, user, ulen);
    pthread_mutex_lock(&cc->lock);
    struct cc_entry *e = hmap_get(cc->map, key, klen);
    if (e != NULL) {
        entry_remove(cc, e);
    }
    pthread_mutex_unlock(&cc->lock);
}

void credcache_invalidate_tenant(struct credcache *cc, const char *tenant)
{
    if (tenant == NULL) {
        return;
    }
    size_t tlen = strlen(tenant);
    pthread_mutex_lock(&cc->lock);
    struct cc_entry *e = cc->head;
    while (e != NULL) {
        struct cc_entry *next = e->next;
        if (e->tenant_len == tlen && memcmp(e->key, tenant, tlen) == 0) {
            entry_remove(cc, e);
        }
        e = next;
    }
    pthread_mutex_unlock(&cc->lock);
}

void credcache_flush(struct credcache *cc)
{
    pthread_mutex_lock(&cc->lock);
    while (cc->head != NULL) {
        entry_remove(cc, cc->head);
    }
    pthread_mutex_unlock(&cc->lock);
}

size_t credcache_count(struct credcache *cc)
{
    pthread_mutex_lock(&cc->lock);
    size_t n = hmap_count(cc->map);
    pthread_mutex_unlock(&cc->lock);
    return n;
}
