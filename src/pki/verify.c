/* The chain validator. See verify.h and docs/design/pki.md. */
#include "pki/verify.h"

#include "core/err.h"
#include "core/timeutil.h"
#include "pki/cert.h"
#include "pki/icache.h"
#include "pki/revocation.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

/* What the verify callback collected: the best-ranked refusal OpenSSL reported. */
struct collect {
    bool any;
    int64_t at_ms;
    struct pki_verdict best;
};

static enum pki_reason map_error(int err)
{
    switch (err) {
    case X509_V_ERR_OUT_OF_MEM:
    case X509_V_ERR_UNSPECIFIED:
    case X509_V_ERR_STORE_LOOKUP:
        return PKI_R_INTERNAL;
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    case X509_V_ERR_INVALID_EXTENSION:
    case X509_V_ERR_INVALID_POLICY_EXTENSION:
    case X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH:
    case X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY:
    case X509_V_ERR_INVALID_NON_CA:
        return PKI_R_MALFORMED;
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return PKI_R_CHAIN_TOO_LONG;
    case X509_V_ERR_CERT_REVOKED:
        return PKI_R_REVOKED;
    case X509_V_ERR_CA_KEY_TOO_SMALL:
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_EC_KEY_EXPLICIT_PARAMS:
        return PKI_R_WEAK_KEY;
    case X509_V_ERR_CA_MD_TOO_WEAK:
        return PKI_R_WEAK_SIGNATURE;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
        return PKI_R_BAD_SIGNATURE;
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
        return PKI_R_SIGNER_NOT_CA;
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
        return PKI_R_PATHLEN_EXCEEDED;
    case X509_V_ERR_INVALID_PURPOSE:
        return PKI_R_PURPOSE;
    case X509_V_ERR_PERMITTED_VIOLATION:
    case X509_V_ERR_EXCLUDED_VIOLATION:
    case X509_V_ERR_SUBTREE_MINMAX:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
    case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
    case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
        return PKI_R_NAME_CONSTRAINTS;
    case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
        return PKI_R_CRITICAL_EXTENSION;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return PKI_R_NOT_YET_VALID;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return PKI_R_EXPIRED;
    default:
        /* No path to an anchor (unable to get issuer, self-signed, untrusted, rejected)
         * and anything we do not know: not trusted. */
        return PKI_R_UNTRUSTED;
    }
}

static void describe_error(struct pki_verdict *v, enum pki_reason r, int err, X509 *cert, int depth,
                           int64_t at_ms)
{
    char issuer[128] = "";
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        /* pki_check_validity words it with the date; fall back if it disagrees. */
        if (cert != NULL && pki_check_validity(cert, depth, at_ms, v) < 0 && v->reason == r) {
            return;
        }
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
        char *name = NULL;
        if (cert != NULL &&
            pki_name_format(X509_get_issuer_name(cert), PKI_DN_SPACED, &name) == 0) {
            snprintf(issuer, sizeof(issuer), "%s", name);
        }
        free(name);
        pki_verdict_cert(v, r, cert, depth,
                         "is not issued by a trusted certificate (its issuer %s is neither "
                         "uploaded nor in the chain)",
                         issuer[0] ? issuer : "(unreadable)");
        return;
    }
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        pki_verdict_cert(v, r, cert, depth, "is self-signed and not a trusted certificate");
        return;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
        pki_verdict_cert(v, r, cert, depth,
                         "has a signature that does not verify with its issuer's key");
        return;
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        pki_verdict_set(v, r, -1, "the chain is longer than the maximum allowed");
        return;
    default:
        break;
    }
    pki_verdict_cert(v, r, cert, depth, "failed verification: %s",
                     X509_verify_cert_error_string(err));
}

static int verify_cb(int ok, X509_STORE_CTX *ctx)
{
    if (ok) {
        return 1;
    }
    struct collect *c = X509_STORE_CTX_get_app_data(ctx);
    if (c == NULL) {
        return 0;
    }
    int err = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
    enum pki_reason r = map_error(err);
    if (!c->any || r < c->best.reason || (r == c->best.reason && depth < c->best.depth)) {
        describe_error(&c->best, r, err, cert, depth, c->at_ms);
        c->best.reason = r; /* describe_error may have chosen a sibling wording */
    }
    c->any = true;
    /* Keep going so that every problem is seen and the best-ranked one reported; stop only
     * when OpenSSL itself is in trouble. The verdict refuses whenever anything was seen. */
    return r == PKI_R_INTERNAL ? 0 : 1;
}

static void result_init(struct pki_verify_result *res)
{
    memset(res, 0, sizeof(*res));
    pki_verdict_set(&res->verdict, PKI_R_INTERNAL, -1, "verification did not complete");
}

void pki_verify_result_cleanup(struct pki_verify_result *res)
{
    if (res == NULL) {
        return;
    }
    sk_X509_pop_free(res->chain, X509_free);
    memset(res, 0, sizeof(*res));
}

/* Whether verdict a ranks before verdict b (a must be a refusal). */
static bool ranks_before(const struct pki_verdict *a, const struct pki_verdict *b)
{
    if (b->reason == PKI_R_OK) {
        return true;
    }
    if (a->reason != b->reason) {
        return a->reason < b->reason;
    }
    return a->depth < b->depth;
}

/* ---- the cache of verified intermediates (docs/design/pki.md) ------------------------
 *
 * A hit must accept exactly when the full verification would accept, with the same chain
 * and anchor. The full verification (X509_verify_cert with PARTIAL_CHAIN and our store's
 * issuer lookup, then pki_check_policy) builds the path by looking, for each certificate,
 * first in the trust store and then among the presented certificates. A path is cached only
 * when those lookups cannot come out differently for another leaf of the same intermediate
 * or at another time, and a hit is taken only when the presented certificates are exactly
 * that path; what is left to check per chain is what depends on the leaf (issued-by, its
 * signature, its extensions) or on the time (every validity period), plus our whole policy
 * on the assembled chain. Anything unusual declines the cache and runs the full
 * verification, which also words every refusal. */

/* Extensions whose checks depend on the rest of the chain (the leaf's names, policies, IP
 * and AS resources): a path with one is never cached; a leaf with RFC 3779 resources never
 * takes a cached path. */
static bool chain_dependent_ext(X509 *x)
{
    static const int nids[] = {NID_name_constraints, NID_policy_constraints,
                               NID_policy_mappings,  NID_inhibit_any_policy,
                               NID_sbgp_ipAddrBlock, NID_sbgp_autonomousSysNum,
                               NID_proxyCertInfo};
    for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
        if (X509_get_ext_by_NID(x, nids[i], -1) >= 0) {
            return true;
        }
    }
    return false;
}

/* Distinct anchor certificates whose subject is `name` (anchors sharing a certificate are
 * consecutive: the store holds that certificate once). */
static int anchors_with_subject(const struct pki_trust *t, const X509_NAME *name)
{
    int n = 0;
    for (size_t i = 0; i < pki_trust_count(t); i++) {
        const struct pki_anchor *a = pki_trust_anchor(t, i);
        if (i > 0 && strcmp(pki_trust_anchor(t, i - 1)->fingerprint, a->fingerprint) == 0) {
            continue;
        }
        if (X509_NAME_cmp(X509_get_subject_name(a->cert), name) == 0) {
            n++;
        }
    }
    return n;
}

/* Whether x (by content) is one of sk[from .. to-1]. */
static bool cert_among(X509 *x, STACK_OF(X509) * sk, int from, int to)
{
    for (int i = from; i < to; i++) {
        if (X509_cmp(x, sk_X509_value(sk, i)) == 0) {
            return true;
        }
    }
    return false;
}

/* Valid at *t exactly as OpenSSL's verification compares (X509_cmp_time: notBefore <= t <
 * notAfter, whole seconds; an unreadable time is not valid). */
static bool valid_at(X509 *x, time_t *t)
{
    return X509_cmp_time(X509_get0_notBefore(x), t) == -1 &&
           X509_cmp_time(X509_get0_notAfter(x), t) == 1;
}

/* Remember the path above the leaf of an accepted chain (leaf, c1 .. ck; every certificate
 * but the last untrusted), if it qualifies. Failures only mean nothing is remembered. */
static void cache_remember(struct pki_trust *trust, struct pki_icache *ic, STACK_OF(X509) * chain,
                           const struct pki_anchor *anchor, size_t n_anchors)
{
    int n = sk_X509_num(chain);
    if (n < 3) {
        return; /* the leaf's issuer is the anchor: nothing to save */
    }
    for (int i = 1; i < n; i++) {
        X509 *x = sk_X509_value(chain, i);
        if ((X509_get_extension_flags(x) & EXFLAG_PROXY) != 0 || chain_dependent_ext(x)) {
            return;
        }
        for (int j = 1; j < i; j++) {
            if (X509_NAME_cmp(X509_get_subject_name(x),
                              X509_get_subject_name(sk_X509_value(chain, j))) == 0) {
                return; /* two candidates for one issuer name: order would matter */
            }
        }
    }
    /* Trusted-first lookups: none may find an anchor for the leaf (whatever its key
     * identifiers), and the one for each intermediate must not depend on the time (our
     * issuer lookup ranks several same-name anchors by validity). */
    if (anchors_with_subject(trust, X509_get_subject_name(sk_X509_value(chain, 1))) != 0) {
        return;
    }
    for (int i = 1; i < n - 1; i++) {
        if (anchors_with_subject(trust, X509_get_issuer_name(sk_X509_value(chain, i))) > 1) {
            return;
        }
    }
    unsigned char key[PKI_ICACHE_KEY_LEN];
    STACK_OF(X509) *path = sk_X509_new_reserve(NULL, n - 1);
    if (path != NULL && pki_icache_key(ic, sk_X509_value(chain, 1), key) == 0) {
        for (int i = 1; i < n; i++) {
            sk_X509_push(path, sk_X509_value(chain, i)); /* reserved: cannot fail */
        }
        (void)pki_icache_put(ic, key, path, anchor, n_anchors); /* takes its own references */
        /* The full verification checked the leaf's signature with c1's key. */
        unsigned char leaf_key[PKI_ICACHE_KEY_LEN];
        if (pki_icache_key(ic, sk_X509_value(chain, 0), leaf_key) == 0) {
            pki_icache_sig_remember(ic, leaf_key, key);
        }
    }
    sk_X509_free(path);
    ERR_clear_error();
}

/* The leaf's issuer among the presented certificates: the one certificate (by content)
 * named as the leaf's issuer. NULL when none, or several different ones. */
static X509 *presented_issuer(X509 *leaf, STACK_OF(X509) * untrusted)
{
    X509 *found = NULL;
    for (int i = 0; i < sk_X509_num(untrusted); i++) {
        X509 *x = sk_X509_value(untrusted, i);
        if (x == leaf || X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(leaf)) != 0) {
            continue;
        }
        if (found != NULL && X509_cmp(found, x) != 0) {
            return NULL;
        }
        found = x;
    }
    return found;
}

/* The cached path: 1 and *res accepted (res->cached) when it applies and every check
 * passes; 0 (res untouched) whenever the full verification must decide. */
static int cached_verify(struct pki_trust *trust, struct pki_icache *ic, X509 *leaf,
                         STACK_OF(X509) * untrusted, const struct pki_verify_params *params,
                         unsigned max, int64_t at_ms, struct pki_verify_result *res)
{
    STACK_OF(X509) *path = NULL;
    STACK_OF(X509) *chain = NULL;
    const struct pki_anchor *anchor = NULL;
    size_t n_anchors = 0;
    unsigned char key[PKI_ICACHE_KEY_LEN];
    char fp[PKI_FINGERPRINT_LEN + 1];
    struct pki_verdict v;
    int ok = 0;

    uint32_t lf = X509_get_extension_flags(leaf);
    if ((lf & (EXFLAG_SI | EXFLAG_PROXY | EXFLAG_CRITICAL | EXFLAG_INVALID)) != 0 ||
        chain_dependent_ext(leaf)) {
        goto out;
    }
    X509 *c1 = presented_issuer(leaf, untrusted);
    if (c1 == NULL || pki_icache_key(ic, c1, key) < 0 ||
        pki_icache_get(ic, key, &path, &anchor, &n_anchors) != 1) {
        goto out;
    }
    int k = sk_X509_num(path);
    if (k < 2 || (unsigned)k + 1 > max || X509_cmp(c1, sk_X509_value(path, 0)) != 0) {
        goto out;
    }
    /* Exactly the cached path was presented (the anchor may be, or not). */
    for (int i = 0; i < sk_X509_num(untrusted); i++) {
        X509 *x = sk_X509_value(untrusted, i);
        if (x != leaf && !cert_among(x, path, 0, k)) {
            goto out;
        }
    }
    for (int j = 0; j < k - 1; j++) {
        if (!cert_among(sk_X509_value(path, j), untrusted, 0, sk_X509_num(untrusted))) {
            goto out;
        }
    }
    /* A leaf that is itself an anchor ends the path there (direct trust). */
    size_t nf = 0;
    if (pki_cert_fingerprint(leaf, fp) < 0 || pki_trust_find(trust, fp, &nf) != NULL) {
        goto out;
    }
    if (X509_check_issued(sk_X509_value(path, 0), leaf) != X509_V_OK) {
        goto out;
    }
    int64_t at_s = at_ms >= 0 ? at_ms / 1000 : (at_ms - 999) / 1000;
    time_t t = (time_t)at_s;
    if (!valid_at(leaf, &t)) {
        goto out;
    }
    for (int j = 0; j < k; j++) {
        if (!valid_at(sk_X509_value(path, j), &t)) {
            goto out;
        }
    }
    chain = sk_X509_new_reserve(NULL, k + 1);
    if (chain == NULL || !X509_up_ref(leaf)) {
        goto out;
    }
    sk_X509_push(chain, leaf);
    for (int j = 0; j < k; j++) {
        X509 *x = sk_X509_value(path, j);
        if (!X509_up_ref(x)) {
            goto out;
        }
        sk_X509_push(chain, x); /* reserved: cannot fail */
    }
    if (pki_check_policy(chain, max, params->purpose, at_ms, params->revoked, &v) != 0) {
        goto out;
    }
    /* The one signature this chain adds: the leaf's, by the cached intermediate's key
     * (skipped when this very leaf was verified with this very intermediate before). */
    unsigned char leaf_key[PKI_ICACHE_KEY_LEN];
    bool have_leaf_key = pki_icache_key(ic, leaf, leaf_key) == 0;
    if (!have_leaf_key || !pki_icache_sig_known(ic, leaf_key, key)) {
        EVP_PKEY *ik = X509_get0_pubkey(sk_X509_value(path, 0));
        if (ik == NULL || X509_verify(leaf, ik) != 1) {
            goto out;
        }
        if (have_leaf_key) {
            pki_icache_sig_remember(ic, leaf_key, key);
        }
    }
    res->chain = chain;
    chain = NULL;
    res->anchor = anchor;
    res->n_anchors = n_anchors;
    res->cached = true;
    res->verdict.reason = PKI_R_OK;
    res->verdict.depth = -1;
    res->verdict.message[0] = '\0';
    ok = 1;
out:
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(path, X509_free);
    ERR_clear_error();
    return ok;
}

int pki_chain_verify(struct pki_trust *trust, X509 *leaf, STACK_OF(X509) * untrusted,
                     const struct pki_verify_params *params, struct pki_verify_result *res)
{
    static const struct pki_verify_params defaults;
    X509_STORE_CTX *ctx = NULL;
    struct collect c;
    struct pki_verdict policy;
    result_init(res);
    memset(&c, 0, sizeof(c));
    memset(&policy, 0, sizeof(policy));
    if (params == NULL) {
        params = &defaults;
    }
    if (trust == NULL || leaf == NULL) {
        pki_verdict_set(&res->verdict, leaf == NULL ? PKI_R_MALFORMED : PKI_R_INTERNAL, -1,
                        leaf == NULL ? "no certificate presented" : "no trust store");
        goto out;
    }
    unsigned max = params->max_chain == 0 ? PKI_DEFAULT_MAX_CHAIN : params->max_chain;
    if (max > PKI_MAX_CHAIN_LIMIT) {
        max = PKI_MAX_CHAIN_LIMIT;
    }
    c.at_ms = params->at_ms != 0 ? params->at_ms : time_now_ms();
    int64_t at_s = c.at_ms >= 0 ? c.at_ms / 1000 : (c.at_ms - 999) / 1000;
    struct pki_icache *ic = params->no_cache ? NULL : pki_trust_icache(trust);
    if (ic != NULL && cached_verify(trust, ic, leaf, untrusted, params, max, c.at_ms, res)) {
        return 0;
    }

    ctx = X509_STORE_CTX_new();
    if (ctx == NULL || !X509_STORE_CTX_init(ctx, pki_trust_store(trust), leaf, untrusted) ||
        !X509_STORE_CTX_set_app_data(ctx, &c)) {
        pki_verdict_set(&res->verdict, PKI_R_INTERNAL, -1, "cannot set up verification");
        goto out;
    }
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_CTX_set_time(ctx, 0, (time_t)at_s);
    /* OpenSSL's depth counts intermediates only (chain = depth + 2); allow one more than
     * our maximum so that chain-too-long is reported by our own check with the count. */
    X509_STORE_CTX_set_depth(ctx, (int)max - 1);
    X509_STORE_CTX_set_verify_cb(ctx, verify_cb);

    int vr = X509_verify_cert(ctx);
    res->chain = X509_STORE_CTX_get1_chain(ctx);
    int n = res->chain != NULL ? sk_X509_num(res->chain) : 0;
    int untrusted_n = X509_STORE_CTX_get_num_untrusted(ctx);
    bool trusted = n > 0 && untrusted_n >= 0 && untrusted_n < n;
    if (trusted) {
        /* The first trusted certificate is the anchor; OpenSSL may leave certificates above
         * it (when the leaf itself matched an anchor). They are not part of the path. */
        while (n > untrusted_n + 1) {
            X509_free(sk_X509_pop(res->chain));
            n--;
        }
    }

    if (trusted) {
        pki_check_policy(res->chain, max, params->purpose, c.at_ms, params->revoked, &policy);
    }
    if (policy.reason != PKI_R_OK && (!c.any || !ranks_before(&c.best, &policy))) {
        res->verdict = policy;
        goto out;
    }
    if (c.any) {
        res->verdict = c.best;
        goto out;
    }
    if (vr != 1 || !trusted) {
        unsigned long e = ERR_peek_error();
        pki_verdict_set(&res->verdict, vr < 0 || e != 0 ? PKI_R_INTERNAL : PKI_R_UNTRUSTED, -1,
                        "the chain could not be verified");
        goto out;
    }
    char fp[PKI_FINGERPRINT_LEN + 1];
    if (pki_cert_fingerprint(sk_X509_value(res->chain, n - 1), fp) < 0) {
        pki_verdict_set(&res->verdict, PKI_R_INTERNAL, -1, "cannot fingerprint the anchor");
        goto out;
    }
    res->anchor = pki_trust_find(trust, fp, &res->n_anchors);
    if (res->anchor == NULL) {
        pki_verdict_set(&res->verdict, PKI_R_INTERNAL, -1,
                        "the chain ends at a certificate that is not an anchor");
        goto out;
    }
    res->verdict.reason = PKI_R_OK;
    res->verdict.depth = -1;
    res->verdict.message[0] = '\0';
    if (ic != NULL) {
        cache_remember(trust, ic, res->chain, res->anchor, res->n_anchors);
    }
out:
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    if (res->verdict.reason != PKI_R_OK) {
        res->anchor = NULL;
        res->n_anchors = 0;
        return CG_EDENIED;
    }
    return 0;
}

int pki_chain_verify_bundle(struct pki_trust *trust, STACK_OF(X509) * bundle,
                            const struct pki_verify_params *params, struct pki_verify_result *res)
{
    if (bundle == NULL || sk_X509_num(bundle) < 1) {
        result_init(res);
        return pki_verdict_set(&res->verdict, PKI_R_MALFORMED, -1, "no certificate presented");
    }
    return pki_chain_verify(trust, sk_X509_value(bundle, 0), bundle, params, res);
}

int pki_chain_check_revoked(const struct pki_verify_result *res, const struct pki_revocation *set,
                            struct pki_verdict *v)
{
    if (res == NULL || res->chain == NULL || res->verdict.reason != PKI_R_OK) {
        return pki_verdict_set(v, PKI_R_INTERNAL, -1, "no verified chain");
    }
    return pki_check_revoked(res->chain, set, v);
}

int pki_chain_check_length(const struct pki_verify_result *res, unsigned max, struct pki_verdict *v)
{
    if (res == NULL || res->chain == NULL || res->verdict.reason != PKI_R_OK) {
        return pki_verdict_set(v, PKI_R_INTERNAL, -1, "no verified chain");
    }
    return pki_check_chain_length(res->chain, max, v);
}
