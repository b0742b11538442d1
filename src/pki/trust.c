/* Trust stores. See trust.h. */
#include "pki/trust.h"

#include "core/err.h"
#include "core/hmap.h"
#include "pki/icache.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

struct pki_trust_builder {
    struct pki_anchor *anchors;
    size_t n;
    size_t cap;
    size_t cache_max;
};

struct pki_trust {
    atomic_int refs;
    struct pki_anchor *anchors; /* sorted by fingerprint, stable */
    size_t n;
    struct hmap *by_fp; /* fingerprint -> index of the first anchor with it (as uintptr+1) */
    X509_STORE *store;
    struct pki_icache *icache; /* NULL: no cache */
};

struct pki_trust_builder *pki_trust_builder_new(void)
{
    struct pki_trust_builder *b = calloc(1, sizeof(struct pki_trust_builder));
    if (b != NULL) {
        b->cache_max = PKI_TRUST_CACHE_DEFAULT;
    }
    return b;
}

void pki_trust_builder_set_cache(struct pki_trust_builder *b, size_t max_entries)
{
    b->cache_max = max_entries;
}

void pki_trust_builder_free(struct pki_trust_builder *b)
{
    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        X509_free(b->anchors[i].cert);
    }
    free(b->anchors);
    free(b);
}

int pki_trust_builder_add(struct pki_trust_builder *b, X509 *cert, void *owner)
{
    if (cert == NULL) {
        return -EINVAL;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct pki_anchor *a = realloc(b->anchors, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        b->anchors = a;
        b->cap = cap;
    }
    struct pki_anchor *a = &b->anchors[b->n];
    int rc = pki_cert_fingerprint(cert, a->fingerprint);
    if (rc < 0) {
        return rc;
    }
    if (!X509_up_ref(cert)) {
        return CG_ECRYPTO;
    }
    a->cert = cert;
    a->owner = owner;
    b->n++;
    return 0;
}

/* An anchor tagged with its position of addition, for a stable sort. */
struct tagged {
    struct pki_anchor a;
    size_t idx;
};

static int by_fingerprint_then_order(const void *pa, const void *pb)
{
    const struct tagged *a = pa;
    const struct tagged *b = pb;
    int c = strcmp(a->a.fingerprint, b->a.fingerprint);
    if (c != 0) {
        return c;
    }
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The store's issuer lookup. OpenSSL's default takes the first certificate whose name and
 * key identifiers match (preferring one valid at the verification time); with several
 * anchors sharing a subject name and a child without an authorityKeyIdentifier, that may
 * be the wrong key and a good chain would fail as bad-signature. When more than one
 * candidate matches, this one prefers the candidate whose key verifies the child's
 * signature, then one valid at the verification time, then the first added. It costs an
 * extra signature check only when names collide. Runs on the verifying thread; reads only. */
static int get_issuer(X509 **issuer, X509_STORE_CTX *ctx, X509 *x)
{
    *issuer = NULL;
    STACK_OF(X509) *cands = X509_STORE_CTX_get1_certs(ctx, X509_get_issuer_name(x));
    if (cands == NULL) {
        ERR_clear_error();
        return 0;
    }
    X509_STORE_CTX_check_issued_fn check = X509_STORE_CTX_get_check_issued(ctx);
    X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
    time_t now = (X509_VERIFY_PARAM_get_flags(vp) & X509_V_FLAG_USE_CHECK_TIME) != 0
                     ? X509_VERIFY_PARAM_get_time(vp)
                     : time(NULL);
    int matching = 0;
    for (int i = 0; i < sk_X509_num(cands); i++) {
        if (check(ctx, x, sk_X509_value(cands, i))) {
            matching++;
        }
    }
    X509 *best = NULL;
    int best_score = -1;
    for (int i = 0; i < sk_X509_num(cands); i++) {
        X509 *c = sk_X509_value(cands, i);
        if (!check(ctx, x, c)) {
            continue;
        }
        int score = 0;
        if (X509_cmp_time(X509_get0_notBefore(c), &now) <= 0 &&
            X509_cmp_time(X509_get0_notAfter(c), &now) >= 0) {
            score += 1;
        }
        if (matching > 1) {
            EVP_PKEY *key = X509_get0_pubkey(c);
            if (key != NULL && X509_verify(x, key) == 1) {
                score += 2;
            }
        }
        if (score > best_score) {
            best = c;
            best_score = score;
        }
    }
    int rc = 0;
    if (best != NULL && X509_up_ref(best)) {
        *issuer = best;
        rc = 1;
    }
    sk_X509_pop_free(cands, X509_free);
    ERR_clear_error();
    return rc;
}

static void trust_free(struct pki_trust *t)
{
    for (size_t i = 0; i < t->n; i++) {
        X509_free(t->anchors[i].cert);
    }
    free(t->anchors);
    hmap_free(t->by_fp);
    pki_icache_free(t->icache); /* before the store: its entries may point to anchors */
    X509_STORE_free(t->store);
    free(t);
}

int pki_trust_builder_finish(struct pki_trust_builder *b, struct pki_trust **out)
{
    int rc = -ENOMEM;
    struct pki_trust *t = calloc(1, sizeof(*t));
    if (t == NULL || b == NULL) {
        goto out;
    }
    atomic_init(&t->refs, 1);
    /* Take the builder's anchors, sorted by fingerprint; among anchors with the same
     * fingerprint the order of addition is kept (qsort is not stable: sort a tagged copy). */
    t->anchors = b->anchors;
    t->n = b->n;
    b->anchors = NULL;
    b->n = 0;
    if (t->n > 1) {
        struct tagged *tmp = calloc(t->n, sizeof(*tmp));
        if (tmp == NULL) {
            goto out;
        }
        for (size_t i = 0; i < t->n; i++) {
            tmp[i].a = t->anchors[i];
            tmp[i].idx = i;
        }
        qsort(tmp, t->n, sizeof(*tmp), by_fingerprint_then_order);
        for (size_t i = 0; i < t->n; i++) {
            t->anchors[i] = tmp[i].a;
        }
        free(tmp);
    }
    t->by_fp = hmap_new();
    t->store = X509_STORE_new();
    if (t->by_fp == NULL || t->store == NULL) {
        goto out;
    }
    if (b->cache_max > 0 && (t->icache = pki_icache_new(b->cache_max)) == NULL) {
        goto out;
    }
    X509_STORE_set_get_issuer(t->store, get_issuer);
    for (size_t i = 0; i < t->n; i++) {
        if (i > 0 && strcmp(t->anchors[i - 1].fingerprint, t->anchors[i].fingerprint) == 0) {
            continue; /* same certificate, another owner: one copy in the X509_STORE */
        }
        if ((rc = hmap_put_str(t->by_fp, t->anchors[i].fingerprint, (void *)(uintptr_t)(i + 1),
                               NULL)) < 0) {
            goto out;
        }
        if (X509_STORE_add_cert(t->store, t->anchors[i].cert) != 1) {
            rc = CG_ECRYPTO;
            goto out;
        }
    }
    *out = t;
    t = NULL;
    rc = 0;
out:
    if (t != NULL) {
        trust_free(t);
    }
    pki_trust_builder_free(b);
    ERR_clear_error();
    return rc;
}

struct pki_trust *pki_trust_ref(struct pki_trust *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void pki_trust_unref(struct pki_trust *t)
{
    if (t == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1) {
        trust_free(t);
    }
}

size_t pki_trust_count(const struct pki_trust *t)
{
    return t->n;
}

const struct pki_anchor *pki_trust_anchor(const struct pki_trust *t, size_t i)
{
    return i < t->n ? &t->anchors[i] : NULL;
}

const struct pki_anchor *pki_trust_find(const struct pki_trust *t, const char *fingerprint,
                                        size_t *count)
{
    *count = 0;
    uintptr_t v = (uintptr_t)hmap_get_str(t->by_fp, fingerprint);
    if (v == 0) {
        return NULL;
    }
    size_t first = v - 1;
    size_t n = 1;
    while (first + n < t->n && strcmp(t->anchors[first + n].fingerprint, fingerprint) == 0) {
        n++;
    }
    *count = n;
    return &t->anchors[first];
}

X509_STORE *pki_trust_store(const struct pki_trust *t)
{
    return t->store;
}

struct pki_icache *pki_trust_icache(const struct pki_trust *t)
{
    return t->icache;
}

void pki_trust_cache_stats(const struct pki_trust *t, struct pki_trust_cache_stats *out)
{
    struct pki_icache_stats st;
    pki_icache_get_stats(t->icache, &st);
    out->hits = st.hits;
    out->misses = st.misses;
    out->inserts = st.inserts;
    out->evictions = st.evictions;
    out->signature_hits = st.signature_hits;
    out->entries = st.entries;
    out->capacity = st.capacity;
}
