/* The cache of verified intermediate paths. See icache.h. */
#include "pki/icache.h"

#include "core/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#define SHARDS 8

struct entry {
    unsigned char key[PKI_ICACHE_KEY_LEN];
    STACK_OF(X509) * path; /* c1 .. anchor, one reference each */
    const struct pki_anchor *anchor;
    size_t n_anchors;
    uint64_t used; /* stamp of the last get or put: the smallest is evicted */
};

struct shard {
    pthread_mutex_t lock;
    struct entry *e; /* cap entries, n used */
    size_t n;
};

/* One verified signature: the certificate with digest `subject` is signed by the key of the
 * certificate with digest `issuer`. A direct-mapped slot: a newer pair overwrites an older
 * one that maps to the same slot (that is a miss later, never a wrong answer). */
struct sig_slot {
    unsigned char subject[PKI_ICACHE_KEY_LEN];
    unsigned char issuer[PKI_ICACHE_KEY_LEN];
};

struct pki_icache {
    EVP_MD *sha256; /* fetched once: no provider lookup per key */
    size_t per_shard;
    struct shard shard[SHARDS];
    struct sig_slot *sig; /* sig_n slots, a power of two; all zero: empty */
    size_t sig_n;
    pthread_mutex_t sig_lock[SHARDS]; /* slot i is behind sig_lock[i % SHARDS] */
    atomic_uint_fast64_t clock;
    atomic_uint_fast64_t hits, misses, inserts, evictions, sig_hits;
};

struct pki_icache *pki_icache_new(size_t max_entries)
{
    if (max_entries == 0) {
        return NULL;
    }
    struct pki_icache *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->per_shard = (max_entries + SHARDS - 1) / SHARDS;
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->sig_n = PKI_ICACHE_SIGS_PER_PATH * c->per_shard * SHARDS;
    while ((c->sig_n & (c->sig_n - 1)) != 0) {
        c->sig_n &= c->sig_n - 1; /* down to a power of two */
    }
    int inited = 0;
    int sig_locks = 0;
    c->sig = calloc(c->sig_n, sizeof(*c->sig)); /* large: pages are touched as slots fill */
    if (c->sha256 == NULL || c->sig == NULL) {
        goto fail;
    }
    for (; sig_locks < SHARDS; sig_locks++) {
        if (pthread_mutex_init(&c->sig_lock[sig_locks], NULL) != 0) {
            goto fail;
        }
    }
    for (; inited < SHARDS; inited++) {
        struct shard *s = &c->shard[inited];
        s->e = calloc(c->per_shard, sizeof(*s->e));
        if (s->e == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
            free(s->e);
            goto fail;
        }
    }
    return c;
fail:
    for (int i = 0; i < inited; i++) {
        pthread_mutex_destroy(&c->shard[i].lock);
        free(c->shard[i].e);
    }
    for (int i = 0; i < sig_locks; i++) {
        pthread_mutex_destroy(&c->sig_lock[i]);
    }
    free(c->sig);
    EVP_MD_free(c->sha256);
    free(c);
    ERR_clear_error();
    return NULL;
}

void pki_icache_free(struct pki_icache *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shard[i];
        for (size_t j = 0; j < s->n; j++) {
            sk_X509_pop_free(s->e[j].path, X509_free);
        }
        free(s->e);
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&c->sig_lock[i]);
    }
    free(c->sig);
    EVP_MD_free(c->sha256);
    free(c);
}

int pki_icache_key(struct pki_icache *c, X509 *cert, unsigned char key[PKI_ICACHE_KEY_LEN])
{
    unsigned int n = 0;
    if (X509_digest(cert, c->sha256, key, &n) != 1 || n != PKI_ICACHE_KEY_LEN) {
        ERR_clear_error();
        return CG_ECRYPTO;
    }
    return 0;
}

static struct shard *shard_of(struct pki_icache *c, const unsigned char *key)
{
    return &c->shard[key[0] % SHARDS]; /* the key is a digest: any byte spreads evenly */
}

static struct entry *find(struct shard *s, const unsigned char *key)
{
    for (size_t i = 0; i < s->n; i++) {
        if (memcmp(s->e[i].key, key, PKI_ICACHE_KEY_LEN) == 0) {
            return &s->e[i];
        }
    }
    return NULL;
}

/* A new stack of the same certificates, each with one more reference; NULL (nothing held)
 * when memory runs out. */
static STACK_OF(X509) * stack_with_refs(STACK_OF(X509) * sk)
{
    STACK_OF(X509) *copy = sk_X509_dup(sk);
    int i = 0;
    for (; copy != NULL && i < sk_X509_num(copy); i++) {
        if (!X509_up_ref(sk_X509_value(copy, i))) {
            break;
        }
    }
    if (copy == NULL || i < sk_X509_num(copy)) {
        while (i-- > 0) {
            X509_free(sk_X509_value(copy, i));
        }
        sk_X509_free(copy);
        ERR_clear_error();
        return NULL;
    }
    return copy;
}

int pki_icache_get(struct pki_icache *c, const unsigned char key[PKI_ICACHE_KEY_LEN],
                   STACK_OF(X509) * *path, const struct pki_anchor **anchor, size_t *n_anchors)
{
    struct shard *s = shard_of(c, key);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    struct entry *e = find(s, key);
    if (e != NULL) {
        /* The caller's own references: the entry may be evicted while it works. */
        STACK_OF(X509) *copy = stack_with_refs(e->path);
        if (copy == NULL) {
            rc = -ENOMEM;
        } else {
            e->used = atomic_fetch_add_explicit(&c->clock, 1, memory_order_relaxed);
            *path = copy;
            *anchor = e->anchor;
            *n_anchors = e->n_anchors;
            rc = 1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add_explicit(rc == 1 ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return rc;
}

int pki_icache_put(struct pki_icache *c, const unsigned char key[PKI_ICACHE_KEY_LEN],
                   STACK_OF(X509) * path, const struct pki_anchor *anchor, size_t n_anchors)
{
    /* Our references, taken before the lock. */
    STACK_OF(X509) *copy = stack_with_refs(path);
    if (copy == NULL) {
        return -ENOMEM;
    }
    struct shard *s = shard_of(c, key);
    STACK_OF(X509) *drop = copy; /* freed after the lock unless stored */
    bool evicted = false;
    pthread_mutex_lock(&s->lock);
    if (find(s, key) == NULL) {
        struct entry *e;
        if (s->n < c->per_shard) {
            e = &s->e[s->n++];
        } else {
            e = &s->e[0];
            for (size_t j = 1; j < s->n; j++) {
                if (s->e[j].used < e->used) {
                    e = &s->e[j];
                }
            }
            drop = e->path; /* the evicted entry's references */
            evicted = true;
        }
        memcpy(e->key, key, PKI_ICACHE_KEY_LEN);
        e->path = copy;
        e->anchor = anchor;
        e->n_anchors = n_anchors;
        e->used = atomic_fetch_add_explicit(&c->clock, 1, memory_order_relaxed);
        if (drop == copy) {
            drop = NULL;
        }
        atomic_fetch_add_explicit(&c->inserts, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->lock);
    if (evicted) {
        atomic_fetch_add_explicit(&c->evictions, 1, memory_order_relaxed);
    }
    sk_X509_pop_free(drop, X509_free);
    return 0;
}

/* The slot of a pair: both keys are digests, so any of their bytes spread evenly. */
static size_t sig_slot_of(const struct pki_icache *c, const unsigned char *subject,
                          const unsigned char *issuer)
{
    uint64_t a, b;
    memcpy(&a, subject, sizeof(a));
    memcpy(&b, issuer, sizeof(b));
    return (size_t)((a ^ b) & (c->sig_n - 1));
}

bool pki_icache_sig_known(struct pki_icache *c, const unsigned char subject[PKI_ICACHE_KEY_LEN],
                          const unsigned char issuer[PKI_ICACHE_KEY_LEN])
{
    size_t i = sig_slot_of(c, subject, issuer);
    pthread_mutex_lock(&c->sig_lock[i % SHARDS]);
    bool known = memcmp(c->sig[i].subject, subject, PKI_ICACHE_KEY_LEN) == 0 &&
                 memcmp(c->sig[i].issuer, issuer, PKI_ICACHE_KEY_LEN) == 0;
    pthread_mutex_unlock(&c->sig_lock[i % SHARDS]);
    if (known) {
        atomic_fetch_add_explicit(&c->sig_hits, 1, memory_order_relaxed);
    }
    return known;
}

void pki_icache_sig_remember(struct pki_icache *c, const unsigned char subject[PKI_ICACHE_KEY_LEN],
                             const unsigned char issuer[PKI_ICACHE_KEY_LEN])
{
    size_t i = sig_slot_of(c, subject, issuer);
    pthread_mutex_lock(&c->sig_lock[i % SHARDS]);
    memcpy(c->sig[i].subject, subject, PKI_ICACHE_KEY_LEN);
    memcpy(c->sig[i].issuer, issuer, PKI_ICACHE_KEY_LEN);
    pthread_mutex_unlock(&c->sig_lock[i % SHARDS]);
}

void pki_icache_get_stats(struct pki_icache *c, struct pki_icache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (c == NULL) {
        return;
    }
    out->hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
    out->misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
    out->inserts = atomic_load_explicit(&c->inserts, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&c->evictions, memory_order_relaxed);
    out->signature_hits = atomic_load_explicit(&c->sig_hits, memory_order_relaxed);
    out->capacity = c->per_shard * SHARDS;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_lock(&c->shard[i].lock);
        out->entries += c->shard[i].n;
        pthread_mutex_unlock(&c->shard[i].lock);
    }
}
