/* Trust stores: an immutable, reference-counted set of trust anchors.
 *
 * A store is made by one thread with a builder (pki_trust_builder_*) and is immutable from
 * pki_trust_builder_finish on. It may then be used by any number of threads at once
 * (pki_chain_verify, the lookups below): nothing in it changes after construction except
 * OpenSSL's internal, lock-protected caches inside the X509_STORE and certificates, which
 * OpenSSL makes safe for concurrent verification, and the store's own cache of verified
 * intermediate paths (sharded, each shard behind a mutex), which lives and dies with the
 * store: a rebuilt snapshot starts with an empty cache. A snapshot is replaced by building a new
 * one; holders keep theirs alive with pki_trust_ref / pki_trust_unref.
 *
 * Each anchor is a certificate plus an opaque `owner` pointer supplied by the caller (the
 * server hangs tenant records there) and its fingerprint. Several anchors may share a
 * subject name (different CAs with the same DN: OpenSSL's path building tries each
 * candidate issuer whose name and key identifiers match), and several may even be the same
 * certificate (same fingerprint, different owners): the X509_STORE holds each distinct
 * certificate once, and pki_trust_find returns every anchor with a fingerprint, so that
 * the caller can apply its tenant rules after verification.
 */
#ifndef CERTGATE_PKI_TRUST_H
#define CERTGATE_PKI_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "pki/cert.h"

struct pki_trust;
struct pki_trust_builder;

/* One anchor. Read-only for everyone once the store is built. */
struct pki_anchor {
    X509 *cert;  /* owned by the store */
    void *owner; /* the caller's, never dereferenced or freed by pki */
    char fingerprint[PKI_FINGERPRINT_LEN + 1];
};

/* pki_trust_builder_new: an empty builder. NULL on -ENOMEM. One thread. */
struct pki_trust_builder *pki_trust_builder_new(void);

/* pki_trust_builder_add: add an anchor. The certificate is referenced (X509_up_ref), the
 * caller keeps its own reference. No policy is applied here: check certificates with
 * pki_anchor_check before they become anchors. 0, -EINVAL (NULL cert), -ENOMEM or
 * CG_ECRYPTO (the builder stays usable). */
int pki_trust_builder_add(struct pki_trust_builder *b, X509 *cert, void *owner);

/* pki_trust_builder_finish: build the immutable store from everything added (possibly
 * nothing) and free the builder in every case. *out receives a store with one reference.
 * 0, -ENOMEM or CG_ECRYPTO. */
int pki_trust_builder_finish(struct pki_trust_builder *b, struct pki_trust **out);

/* pki_trust_builder_set_cache: how many verified intermediate paths the store will cache
 * (see pki_chain_verify); PKI_TRUST_CACHE_DEFAULT unless set; 0: no cache. */
#define PKI_TRUST_CACHE_DEFAULT 1024
void pki_trust_builder_set_cache(struct pki_trust_builder *b, size_t max_entries);

/* pki_trust_builder_free: discard a builder that will not be finished. NULL is a no-op. */
void pki_trust_builder_free(struct pki_trust_builder *b);

/* pki_trust_ref: another reference (any thread); returns t. */
struct pki_trust *pki_trust_ref(struct pki_trust *t);

/* pki_trust_unref: drop a reference; the last frees the store and its certificates (not the
 * owners). NULL is a no-op. Any thread. */
void pki_trust_unref(struct pki_trust *t);

/* pki_trust_count: number of anchors (duplicates included). */
size_t pki_trust_count(const struct pki_trust *t);

/* pki_trust_anchor: the i-th anchor (0 <= i < count), ordered by fingerprint, then by the
 * order in which they were added. Borrowed: valid while the caller holds a reference. */
const struct pki_anchor *pki_trust_anchor(const struct pki_trust *t, size_t i);

/* pki_trust_find: the anchors whose certificate has this fingerprint (lowercase hex): a
 * pointer to the first of *count consecutive anchors, or NULL with *count = 0. Borrowed.
 * Any thread. */
const struct pki_anchor *pki_trust_find(const struct pki_trust *t, const char *fingerprint,
                                        size_t *count);

/* The store's cache of verified intermediate paths (docs/design/pki.md): counters since the
 * store was built; approximate while other threads verify. All zero without a cache. */
struct pki_trust_cache_stats {
    uint64_t hits;           /* a presented intermediate was found */
    uint64_t misses;         /* it was not (the full verification ran) */
    uint64_t inserts;        /* paths remembered */
    uint64_t evictions;      /* paths forgotten to make room */
    uint64_t signature_hits; /* a leaf's signature was known verified (a device came back) */
    size_t entries;
    size_t capacity;
};

/* pki_trust_cache_stats: the counters of t's cache into *out. Any thread. */
void pki_trust_cache_stats(const struct pki_trust *t, struct pki_trust_cache_stats *out);

/* pki_trust_store: the X509_STORE of all distinct anchor certificates, for
 * pki_chain_verify. Borrowed, read-only (never add to it or change its parameters). */
X509_STORE *pki_trust_store(const struct pki_trust *t);

#endif
