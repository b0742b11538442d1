/* Internal to src/pki: the cache of verified intermediate paths of a trust store.
 *
 * An entry remembers that a certificate path P = c1 .. ck (c1 an intermediate a device
 * presented, ck the trust anchor that path building reached from it) passed a complete
 * verification against the trust store that owns the cache: signatures, CA flags, pathlen,
 * extensions and our policy checks. It is keyed by the SHA-256 of c1's DER. verify.c decides
 * what may be cached and when an entry may be used (docs/design/pki.md, "The cache of
 * verified intermediates"); this file only stores entries.
 *
 * The cache belongs to one trust store and dies with it: a new trust snapshot starts with an
 * empty cache, which is the whole invalidation rule. Bounded (evicts the least recently used
 * entry of a shard when full). Thread-safe: 8 shards, each behind its own mutex; a lookup
 * hands out its own references, so an entry may be evicted while a caller uses what it got.
 *
 * Beside the paths, the cache remembers verified signatures: pairs (digest of a certificate,
 * digest of the certificate whose key verified its signature). A signature check depends on
 * nothing but those two encodings, so a device that connects again skips its leaf's
 * signature check. Direct-mapped, PKI_ICACHE_SIGS_PER_PATH slots per path entry (rounded
 * down to a power of two; 65,536 by default, 4 MiB of address space touched as it fills).
 */
#ifndef CERTGATE_PKI_ICACHE_H
#define CERTGATE_PKI_ICACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "pki/trust.h"

#define PKI_ICACHE_KEY_LEN 32 /* SHA-256 */
#define PKI_ICACHE_SIGS_PER_PATH 64

struct pki_icache;

/* pki_icache_new: an empty cache of at most max_entries entries (rounded up to a multiple
 * of the shard count); NULL on -ENOMEM. max_entries 0 is not allowed (no cache: NULL). */
struct pki_icache *pki_icache_new(size_t max_entries);

/* pki_icache_free: drop every entry and the cache. NULL is a no-op. The caller guarantees no
 * other thread uses it any more (the trust store's last reference is gone). */
void pki_icache_free(struct pki_icache *c);

/* pki_icache_key: the key of a certificate (SHA-256 of its DER) into key. 0 or CG_ECRYPTO
 * (an encoding or digest failure: do not use the cache). Any thread. */
int pki_icache_key(struct pki_icache *c, X509 *cert, unsigned char key[PKI_ICACHE_KEY_LEN]);

/* pki_icache_get: the path stored under key. On a hit returns 1 and *path receives a new
 * stack holding a reference to each certificate (c1 first, the anchor last; the caller frees
 * it with sk_X509_pop_free(..., X509_free)), *anchor / *n_anchors the anchors with ck's
 * fingerprint (borrowed from the trust store). 0 on a miss, -ENOMEM (treat as a miss). Any
 * thread. */
int pki_icache_get(struct pki_icache *c, const unsigned char key[PKI_ICACHE_KEY_LEN],
                   STACK_OF(X509) * *path, const struct pki_anchor **anchor, size_t *n_anchors);

/* pki_icache_put: remember `path` (c1 .. anchor; each certificate is up-referenced, the
 * caller keeps its stack) under key. An existing entry with the same key is kept as is.
 * 0, or -ENOMEM (nothing stored). Any thread. */
int pki_icache_put(struct pki_icache *c, const unsigned char key[PKI_ICACHE_KEY_LEN],
                   STACK_OF(X509) * path, const struct pki_anchor *anchor, size_t n_anchors);

/* pki_icache_sig_known: whether pki_icache_sig_remember recorded that the certificate with
 * digest `subject` carries a signature verified with the key of the certificate with digest
 * `issuer` (and no other pair has taken its slot since). Any thread. */
bool pki_icache_sig_known(struct pki_icache *c, const unsigned char subject[PKI_ICACHE_KEY_LEN],
                          const unsigned char issuer[PKI_ICACHE_KEY_LEN]);

/* pki_icache_sig_remember: record that the signature of the certificate with digest `subject`
 * verified with the key of the certificate with digest `issuer`. Call only after a successful
 * X509_verify (or a full verification that checked it). Any thread. */
void pki_icache_sig_remember(struct pki_icache *c, const unsigned char subject[PKI_ICACHE_KEY_LEN],
                             const unsigned char issuer[PKI_ICACHE_KEY_LEN]);

/* Counters since creation (relaxed atomics: approximate while threads run). */
struct pki_icache_stats {
    uint64_t hits;           /* pki_icache_get found the key */
    uint64_t misses;         /* it did not */
    uint64_t inserts;        /* entries stored */
    uint64_t evictions;      /* entries dropped to make room */
    uint64_t signature_hits; /* pki_icache_sig_known answered yes */
    size_t entries;          /* entries now */
    size_t capacity;
};

void pki_icache_get_stats(struct pki_icache *c, struct pki_icache_stats *out);

/* pki_trust_icache: the cache of a trust store (trust.c), NULL when it has none. Borrowed:
 * valid while the caller holds a reference to the store. */
struct pki_icache *pki_trust_icache(const struct pki_trust *t);

#endif
