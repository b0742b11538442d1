/* Identity: the trust snapshot and the decision chain -> tenant -> policy. */
#define LOG_MODULE "registry"
#include "registry/registry_int.h"

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/cert.h"
#include "pki/revocation.h"
#include "pki/trust.h"
#include "pki/verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct snap_build {
    struct registry *r;
    struct pki_trust_builder *b;
    struct anchor_owner *owners;
    int n;
    int cap;
    int rc;
};

static int add_anchor(const void *key, size_t klen, void *value, void *arg)
{
    struct snap_build *sb = arg;
    struct anchor_mem *a = value;
    if (!a->enabled || a->cert == NULL) {
        return 0;
    }
    struct tenant_mem *t = reg_tenant_mem(sb->r, a->tenant);
    if (t == NULL || t->suspended) {
        return 0;
    }
    if (sb->n == sb->cap) {
        return -EOVERFLOW; /* sized beforehand; cannot happen */
    }
    struct anchor_owner *o = &sb->owners[sb->n];
    str_lcpy(o->tenant, a->tenant, sizeof(o->tenant));
    str_lcpy(o->fingerprint, a->fingerprint, sizeof(o->fingerprint));
    o->auto_registration = a->auto_registration;
    o->pop_valid = a->pop_valid;
    int rc = pki_trust_builder_add(sb->b, a->cert, o);
    if (rc < 0) {
        return rc;
    }
    sb->n++;
    return 0;
}

static void snapshot_free(struct trust_snapshot *s)
{
    pki_trust_unref(s->trust);
    free(s->owners);
    free(s);
}

void reg_snapshot_put(struct trust_snapshot *s)
{
    if (s != NULL && atomic_fetch_sub(&s->refs, 1) == 1) {
        snapshot_free(s);
    }
}

struct trust_snapshot *reg_snapshot_get(struct registry *r)
{
    pthread_mutex_lock(&r->snap_lock);
    struct trust_snapshot *s = r->snap;
    if (s != NULL) {
        atomic_fetch_add(&s->refs, 1);
    }
    pthread_mutex_unlock(&r->snap_lock);
    return s;
}

void reg_snapshot_rebuild(struct registry *r)
{
    struct trust_snapshot *s = calloc(1, sizeof(*s));
    struct snap_build sb = {.r = r};
    if (s == NULL) {
        goto fail;
    }
    atomic_init(&s->refs, 1);
    sb.cap = (int)hmap_count(r->anchors);
    sb.owners = calloc(sb.cap > 0 ? (size_t)sb.cap : 1, sizeof(*sb.owners));
    sb.b = pki_trust_builder_new();
    if (sb.owners == NULL || sb.b == NULL) {
        goto fail;
    }
    if (hmap_iter(r->anchors, add_anchor, &sb) < 0) {
        goto fail;
    }
    int rc = pki_trust_builder_finish(sb.b, &s->trust); /* frees the builder in every case */
    sb.b = NULL;
    if (rc < 0) {
        goto fail;
    }
    s->owners = sb.owners;
    s->nowners = sb.n;
    pthread_mutex_lock(&r->snap_lock);
    struct trust_snapshot *old = r->snap;
    r->snap = s;
    pthread_mutex_unlock(&r->snap_lock);
    reg_snapshot_put(old);
    return;
fail:
    /* Keep the previous snapshot: connections keep being judged by the last good one; the
     * changes that needed a rebuild did not take effect, which the log says loudly. */
    log_error("could not rebuild the trust snapshot (out of memory); the previous one stays");
    pki_trust_builder_free(sb.b);
    free(sb.owners);
    free(s);
}

static void refuse(struct reg_identity *out, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct reg_identity *out, const char *reason, const char *fmt, ...)
{
    out->accepted = false;
    str_lcpy(out->reason, reason, sizeof(out->reason));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
}

/* Pick the tenant among the holders of the reached anchor: the only holder; else the only
 * one with completed proof of possession. NULL when ambiguous. */
static const struct anchor_owner *pick_owner(const struct pki_anchor *anchors, size_t n,
                                             const char *tenant_hint, int *candidates)
{
    const struct anchor_owner *only = NULL, *pop = NULL;
    int count = 0, pops = 0;
    for (size_t i = 0; i < n; i++) {
        const struct anchor_owner *o = anchors[i].owner;
        if (tenant_hint != NULL && strcmp(o->tenant, tenant_hint) != 0) {
            continue;
        }
        count++;
        only = o;
        if (o->pop_valid) {
            pops++;
            pop = o;
        }
    }
    *candidates = count;
    if (count == 1) {
        return only;
    }
    if (pops == 1) {
        return pop;
    }
    return NULL;
}

int registry_identify(struct registry *r, X509 *leaf, STACK_OF(X509) * untrusted, int64_t now_ms,
                      const char *tenant_hint, struct reg_identity *out)
{
    memset(out, 0, sizeof(*out));
    refuse(out, "internal", "internal error");
    struct trust_snapshot *snap = reg_snapshot_get(r);
    struct pki_verify_result res;
    memset(&res, 0, sizeof(res));
    int ret = CG_EDENIED;
    if (snap == NULL || leaf == NULL) {
        refuse(out, leaf ? "internal" : "malformed", leaf ? "no trust snapshot" : "no certificate");
        goto out;
    }
    char *cn = NULL;
    if (pki_cert_subject_cn(leaf, &cn) == 0) {
        str_lcpy(out->device_id, cn, sizeof(out->device_id));
        if (strlen(cn) >= sizeof(out->device_id)) {
            free(cn);
            refuse(out, "malformed", "the certificate's common name is too long for a device id");
            goto out;
        }
        free(cn);
    }
    pki_cert_fingerprint(leaf, out->leaf_fp);
    struct pki_verify_params params = {.at_ms = now_ms,
                                       .max_chain = (unsigned)r->cfg.max_chain_len,
                                       .purpose = PKI_PURPOSE_CLIENT};
    if (pki_chain_verify(snap->trust, leaf, untrusted, &params, &res) != 0) {
        refuse(out, pki_reason_code(res.verdict.reason), "%s", res.verdict.message);
        goto out;
    }
    int candidates = 0;
    const struct anchor_owner *owner =
        pick_owner(res.anchor, res.n_anchors, tenant_hint, &candidates);
    if (owner == NULL) {
        if (candidates == 0) {
            refuse(out, "untrusted", "the chain does not reach a trusted certificate of tenant %s",
                   tenant_hint ? tenant_hint : "?");
        } else {
            refuse(out, "ambiguous-anchor",
                   "trusted certificate %s is held by %d tenants and not exactly one of them "
                   "completed proof of possession",
                   res.anchor->fingerprint, candidates);
        }
        goto out;
    }
    str_lcpy(out->tenant, owner->tenant, sizeof(out->tenant));
    str_lcpy(out->anchor_fp, owner->fingerprint, sizeof(out->anchor_fp));
    out->auto_registration = owner->auto_registration;
    int nchain = sk_X509_num(res.chain);
    out->not_after_ms = INT64_MAX;
    for (int i = 0; i < nchain; i++) {
        int64_t na = 0;
        if (pki_asn1_time_ms(X509_get0_notAfter(sk_X509_value(res.chain, i)), &na) == 0 &&
            na < out->not_after_ms) {
            out->not_after_ms = na;
        }
    }
    for (int i = 0; i < nchain && out->nserials < 10; i++) {
        char *hex = NULL;
        if (pki_serial_format(X509_get0_serialNumber(sk_X509_value(res.chain, i)), NULL, &hex) ==
            0) {
            str_lcpy(out->serials[out->nserials++], hex, REG_SERIAL_MAX);
            free(hex);
        }
    }
    char why[REG_WHY_MAX];
    if (out->device_id[0] == 0) {
        refuse(out, "malformed", "the device certificate has no usable common name (CN)");
        goto out;
    }
    if (reg_validate_name("the certificate's CN (the device id)", out->device_id, why) < 0) {
        refuse(out, "malformed", "%s", why);
        goto out;
    }
    /* The tenant's own rules: chain length and revocation. */
    pthread_rwlock_rdlock(&r->lock);
    struct tenant_mem *t = reg_tenant_mem(r, out->tenant);
    bool suspended = t == NULL || t->suspended;
    int max_len = t ? t->settings.max_chain_len : r->cfg.max_chain_len;
    bool crl = t ? t->settings.crl_offline : true;
    int revoked_at = -1;
    if (t != NULL && crl) {
        for (int i = 0; i < out->nserials; i++) {
            if (hmap_get_str(t->revoked, out->serials[i]) != NULL) {
                revoked_at = i;
                break;
            }
        }
    }
    pthread_rwlock_unlock(&r->lock);
    if (suspended) {
        refuse(out, "tenant-suspended", "tenant %s is suspended", out->tenant);
        goto out;
    }
    if (nchain > max_len) {
        refuse(out, "chain-too-long", "the chain has %d certificates; tenant %s allows at most %d",
               nchain, out->tenant, max_len);
        goto out;
    }
    if (revoked_at >= 0) {
        char desc[200];
        pki_cert_describe(sk_X509_value(res.chain, revoked_at), revoked_at, desc, sizeof(desc));
        refuse(out, "revoked", "%s has serial %s, revoked by tenant %s", desc,
               out->serials[revoked_at], out->tenant);
        goto out;
    }
    out->accepted = true;
    str_lcpy(out->reason, "ok", sizeof(out->reason));
    snprintf(out->message, sizeof(out->message), "accepted: device %.200s of tenant %s",
             out->device_id, out->tenant);
    ret = 0;
out:
    pki_verify_result_cleanup(&res);
    reg_snapshot_put(snap);
    return ret;
}

/* The compact form: version 1, flags (bit 0: auto-registration), notAfter (8 bytes, big
 * endian), then tenant, device id, anchor and leaf fingerprints as (1-byte length, bytes),
 * then the number of serials and each serial the same way. */
#define PACK_VERSION 1

static int pack_str(unsigned char *buf, size_t cap, size_t *off, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n >= max || n > 255) {
        return -EINVAL;
    }
    if (*off + 1 + n > cap) {
        return -ENOSPC;
    }
    buf[(*off)++] = (unsigned char)n;
    memcpy(buf + *off, s, n);
    *off += n;
    return 0;
}

static int unpack_str(const unsigned char *buf, size_t len, size_t *off, char *out, size_t max)
{
    if (*off >= len) {
        return -EINVAL;
    }
    size_t n = buf[(*off)++];
    if (n >= max || *off + n > len || memchr(buf + *off, 0, n) != NULL) {
        return -EINVAL;
    }
    memcpy(out, buf + *off, n);
    out[n] = '\0';
    *off += n;
    return 0;
}

int registry_identity_pack(const struct reg_identity *id, unsigned char *buf, size_t cap,
                           size_t *len)
{
    if (!id->accepted || id->nserials < 0 || id->nserials > 10) {
        return -EINVAL;
    }
    if (cap < 10) {
        return -ENOSPC;
    }
    size_t off = 0;
    buf[off++] = PACK_VERSION;
    buf[off++] = id->auto_registration ? 1 : 0;
    uint64_t na = (uint64_t)id->not_after_ms;
    for (int i = 7; i >= 0; i--) {
        buf[off++] = (unsigned char)(na >> (8 * i));
    }
    int rc;
    if ((rc = pack_str(buf, cap, &off, id->tenant, sizeof(id->tenant))) < 0 ||
        (rc = pack_str(buf, cap, &off, id->device_id, sizeof(id->device_id))) < 0 ||
        (rc = pack_str(buf, cap, &off, id->anchor_fp, sizeof(id->anchor_fp))) < 0 ||
        (rc = pack_str(buf, cap, &off, id->leaf_fp, sizeof(id->leaf_fp))) < 0) {
        return rc;
    }
    if (off + 1 > cap) {
        return -ENOSPC;
    }
    buf[off++] = (unsigned char)id->nserials;
    for (int i = 0; i < id->nserials; i++) {
        if ((rc = pack_str(buf, cap, &off, id->serials[i], sizeof(id->serials[i]))) < 0) {
            return rc;
        }
    }
    *len = off;
    return 0;
}

int registry_identity_unpack(const unsigned char *buf, size_t len, struct reg_identity *out)
{
    memset(out, 0, sizeof(*out));
    size_t off = 10;
    int rc = -EINVAL;
    if (buf == NULL || len < off || buf[0] != PACK_VERSION || (buf[1] & ~1u) != 0) {
        goto out;
    }
    uint64_t na = 0;
    for (int i = 2; i < 10; i++) {
        na = (na << 8) | buf[i];
    }
    out->not_after_ms = (int64_t)na;
    out->auto_registration = (buf[1] & 1) != 0;
    if (unpack_str(buf, len, &off, out->tenant, sizeof(out->tenant)) < 0 ||
        unpack_str(buf, len, &off, out->device_id, sizeof(out->device_id)) < 0 ||
        unpack_str(buf, len, &off, out->anchor_fp, sizeof(out->anchor_fp)) < 0 ||
        unpack_str(buf, len, &off, out->leaf_fp, sizeof(out->leaf_fp)) < 0 || off >= len) {
        goto out;
    }
    int n = buf[off++];
    if (n > 10) {
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (unpack_str(buf, len, &off, out->serials[i], sizeof(out->serials[i])) < 0) {
            goto out;
        }
    }
    out->nserials = n;
    if (off != len || out->tenant[0] == '\0' || out->device_id[0] == '\0') {
        goto out;
    }
    out->accepted = true;
    str_lcpy(out->reason, "ok", sizeof(out->reason));
    snprintf(out->message, sizeof(out->message), "accepted: device %.200s of tenant %s",
             out->device_id, out->tenant);
    rc = 0;
out:
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
        refuse(out, "internal", "the identity remembered with the TLS session is unreadable");
    }
    return rc;
}

void registry_verify_cache_stats(struct registry *r, struct pki_trust_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct trust_snapshot *snap = reg_snapshot_get(r);
    if (snap != NULL && snap->trust != NULL) {
        pki_trust_cache_stats(snap->trust, out);
    }
    reg_snapshot_put(snap);
}

int registry_identity_check(struct registry *r, const struct reg_identity *id, char *why)
{
    if (!id->accepted) {
        reg_why(why, "%s", id->message);
        return CG_EDENIED;
    }
    if (id->not_after_ms > 0 && time_now_ms() > id->not_after_ms) {
        reg_why(why, "a certificate of the chain expired since it was verified");
        return CG_EDENIED;
    }
    char key[REG_TENANT_ID_MAX + REG_FP_MAX + 2];
    reg_key2(key, sizeof(key), id->tenant, id->anchor_fp);
    int rc = 0;
    pthread_rwlock_rdlock(&r->lock);
    struct tenant_mem *t = reg_tenant_mem(r, id->tenant);
    struct anchor_mem *a = hmap_get_str(r->anchors, key);
    if (t == NULL || t->suspended) {
        reg_why(why, "tenant %s is suspended or deleted", id->tenant);
        rc = CG_EDENIED;
    } else if (a == NULL || !a->enabled) {
        reg_why(why, "trusted certificate %s was disabled or deleted", id->anchor_fp);
        rc = CG_EDENIED;
    } else if (t->settings.crl_offline) {
        for (int i = 0; i < id->nserials; i++) {
            if (hmap_get_str(t->revoked, id->serials[i]) != NULL) {
                reg_why(why, "serial %s was revoked", id->serials[i]);
                rc = CG_EDENIED;
                break;
            }
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

int registry_device_cert_check(struct registry *r, const char *tenant, const char *device_id,
                               const char *anchor_fp, const char *leaf_serial, char *why)
{
    struct reg_identity id;
    memset(&id, 0, sizeof(id));
    id.accepted = true;
    str_lcpy(id.tenant, tenant, sizeof(id.tenant));
    str_lcpy(id.anchor_fp, anchor_fp ? anchor_fp : "", sizeof(id.anchor_fp));
    if (leaf_serial != NULL && leaf_serial[0] != 0) {
        str_lcpy(id.serials[0], leaf_serial, sizeof(id.serials[0]));
        id.nserials = 1;
    }
    int rc = registry_identity_check(r, &id, why);
    if (rc < 0) {
        return rc;
    }
    struct reg_device_brief brief;
    if (registry_device_lookup(r, tenant, device_id, &brief) < 0 ||
        brief.auth != REG_AUTH_CERTIFICATES) {
        reg_why(why, "device %s is no longer registered", device_id);
        return CG_EDENIED;
    }
    return 0;
}
