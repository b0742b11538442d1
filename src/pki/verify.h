/* The chain validator: does a device's certificate chain reach one of a trust store's
 * anchors, and does it satisfy every policy rule?
 *
 * OpenSSL's X509_verify_cert builds the path (X509_V_FLAG_PARTIAL_CHAIN, so any anchor,
 * root or intermediate, ends the chain: the trusted certificate closest to the leaf is the
 * anchor reached) and checks signatures, validity, basicConstraints and pathlen; the
 * checks of policy.h then run on the chain it built. Every problem found by either is
 * mapped to a reason, and the reason ranked first in the documented order (the order of
 * enum pki_reason) is reported. See docs/design/pki.md.
 *
 * The cache of verified intermediates: a trust store remembers the paths above the leaf
 * (intermediate .. anchor) of chains it accepted, keyed by the SHA-256 of the intermediate's
 * DER. A later chain presenting the same intermediate is accepted with one signature check
 * (the leaf's) when every condition under which OpenSSL would build and accept the same path
 * holds; any doubt, and any refusal, falls back to the full verification, so verdicts are
 * those of the full verification (docs/design/pki.md, "The cache of verified
 * intermediates"). The cache dies with the store: a new snapshot starts empty.
 *
 * Threads: pki_chain_verify may be called from any number of threads at once with the
 * same trust store and revocation set (immutable; the store's cache is internally locked);
 * each call uses its own X509_STORE_CTX. The result belongs to the caller.
 */
#ifndef CERTGATE_PKI_VERIFY_H
#define CERTGATE_PKI_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "pki/policy.h"
#include "pki/trust.h"

struct pki_revocation;

/* Parameters; a zeroed struct selects every default. */
struct pki_verify_params {
    int64_t at_ms;                        /* verification time (ms since epoch); 0: now */
    unsigned max_chain;                   /* 0: PKI_DEFAULT_MAX_CHAIN; at most 32 */
    enum pki_purpose purpose;             /* default PKI_PURPOSE_CLIENT */
    const struct pki_revocation *revoked; /* optional, sealed */
    bool no_cache; /* neither use nor fill the store's cache of verified intermediates */
};

/* The outcome. Accepted: verdict.reason == PKI_R_OK, chain and anchor set. Refused:
 * verdict says why; chain holds whatever path OpenSSL built (possibly NULL). */
struct pki_verify_result {
    struct pki_verdict verdict;
    STACK_OF(X509) * chain;          /* leaf first, anchor last; owned (up-ref'd certs) */
    const struct pki_anchor *anchor; /* first anchor with the reached certificate; borrowed
                                        from the trust store */
    size_t n_anchors;                /* anchors sharing that certificate (consecutive) */
    bool cached; /* accepted through the cache of verified intermediates (only the leaf's
                    signature was checked; every other rule ran as usual) */
};

/* pki_chain_verify: validate `leaf` with the optional `untrusted` certificates it came with
 * (intermediates, possibly the anchor too; order does not matter; may be NULL) against
 * `trust`. Nothing passed in is modified or kept. *res is always initialised; release it
 * with pki_verify_result_cleanup. Returns 0 only when the chain is accepted; CG_EDENIED
 * otherwise (every failure, allocation included, refuses with a reason in res->verdict).
 * Any thread. */
int pki_chain_verify(struct pki_trust *trust, X509 *leaf, STACK_OF(X509) * untrusted,
                     const struct pki_verify_params *params, struct pki_verify_result *res);

/* pki_chain_verify_bundle: the same for a parsed bundle whose first certificate is the
 * leaf and the rest are untrusted (pki_bundle_parse's output). An empty stack refuses as
 * PKI_R_MALFORMED. */
int pki_chain_verify_bundle(struct pki_trust *trust, STACK_OF(X509) * bundle,
                            const struct pki_verify_params *params, struct pki_verify_result *res);

/* pki_verify_result_cleanup: free the chain and reset *res. NULL is a no-op. */
void pki_verify_result_cleanup(struct pki_verify_result *res);

/* pki_chain_check_revoked: apply a revocation set to an already-verified chain (the
 * server finds the tenant from the anchor first, then applies that tenant's set). 0 or
 * CG_EDENIED with *v. Any thread. */
int pki_chain_check_revoked(const struct pki_verify_result *res, const struct pki_revocation *set,
                            struct pki_verdict *v);

/* pki_chain_check_length: apply a maximum chain length (certificates, leaf to anchor
 * inclusive; 0: default) to an already-verified chain. 0 or CG_EDENIED with *v. */
int pki_chain_check_length(const struct pki_verify_result *res, unsigned max,
                           struct pki_verdict *v);

#endif
