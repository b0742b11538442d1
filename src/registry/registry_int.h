/* Internal to src/registry: the in-memory state shared by the registry's files. */
#ifndef CERTGATE_REGISTRY_INT_H
#define CERTGATE_REGISTRY_INT_H

#include "core/hmap.h"
#include "core/ratelimit.h"
#include "registry/registry.h"

#include <pthread.h>
#include <stdatomic.h>

struct pki_trust;
struct loginlimit;
struct credcache;

/* A tenant as the hot paths see it. */
struct tenant_mem {
    char id[REG_TENANT_ID_MAX];
    bool suspended;
    struct reg_settings settings;
    struct hmap *revoked; /* normalized serial hex -> (void *)1 */
};

/* A trusted certificate as the trust snapshot needs it. */
struct anchor_mem {
    char tenant[REG_TENANT_ID_MAX];
    char fingerprint[REG_FP_MAX];
    bool enabled;
    bool auto_registration;
    bool pop_valid;
    X509 *cert;
};

/* What the snapshot records about one holder of an anchor (the pki_trust owner). */
struct anchor_owner {
    char tenant[REG_TENANT_ID_MAX];
    char fingerprint[REG_FP_MAX];
    bool auto_registration;
    bool pop_valid;
};

/* An immutable, reference-counted trust snapshot: every enabled anchor of every active
 * tenant. */
struct trust_snapshot {
    atomic_int refs;
    struct pki_trust *trust;
    struct anchor_owner *owners; /* owned array; pki_trust owner pointers point here */
    int nowners;
};

struct device_mem {
    int64_t id;
    uint8_t auth;
    uint8_t registration;
};

struct registry {
    struct registry_config cfg;
    struct store *store;

    /* Guards every map below. Readers: hot paths; writers: post-commit hooks. */
    pthread_rwlock_t lock;
    struct hmap *tenants; /* id -> struct tenant_mem */
    struct hmap *anchors; /* tenant "\x1f" fingerprint -> struct anchor_mem */
    struct hmap *devices; /* tenant "\x1f" external id -> struct device_mem */
    struct hmap *tokens;  /* jti -> (intptr_t) expiry seconds */

    pthread_mutex_t snap_lock;
    struct trust_snapshot *snap;

    void (*event_fn)(const struct reg_event *ev, void *arg);
    void *event_arg;

    struct loginlimit *user_limit; /* failed logins per tenant/user */
    struct loginlimit *addr_limit; /* failed logins per source address (more lenient:
                                      many users may share one address behind NAT) */
    struct credcache *cred_cache;

    /* Device last-seen updates waiting to be written. */
    pthread_mutex_t touch_lock;
    struct hmap *touched; /* tenant "\x1f" external id -> (intptr_t) ms/1000 */
    pthread_t flusher;
    pthread_cond_t flusher_wake;
    bool stopping;

    /* Audit flood limiting. */
    pthread_mutex_t audit_lock;
    struct hmap *audit_limits; /* tenant "\x1f" activity -> struct ratelimit */
    atomic_ulong audit_dropped;
};

/* key2: "a\x1fb" into out[cap]; returns its length. */
size_t reg_key2(char *out, size_t cap, const char *a, const char *b);

/* why: write a formatted sentence into a REG_WHY_MAX buffer (NULL-safe). */
void reg_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* reg_emit: deliver an event to the handler (writer thread). */
void reg_emit(struct registry *r, const struct reg_event *ev);

/* reg_snapshot_rebuild: build a new trust snapshot from r->anchors and r->tenants and swap
 * it in. Caller holds r->lock (read or write). */
void reg_snapshot_rebuild(struct registry *r);

/* reg_snapshot_get / put: take and release a reference to the current snapshot. */
struct trust_snapshot *reg_snapshot_get(struct registry *r);
void reg_snapshot_put(struct trust_snapshot *s);

/* reg_tenant_mem_get: the tenant's hot record or NULL. Caller holds r->lock. */
struct tenant_mem *reg_tenant_mem(struct registry *r, const char *id);

/* reg_settings_apply: apply one option to a settings struct (unknown keys ignored). */
void reg_settings_apply(struct reg_settings *s, const char *category, const char *key,
                        const char *value);
void reg_settings_defaults(const struct registry *r, struct reg_settings *s);

/* reg_validate_option: -EINVAL with why when a known option gets a bad value. */
int reg_validate_option(const char *category, const char *key, const char *value, char *why);

/* Loading at open, one per file. Called with the writer-side lock held. */
int reg_load_tenants(struct registry *r, struct store_conn *c);
int reg_load_anchors(struct registry *r, struct store_conn *c);
int reg_load_devices(struct registry *r, struct store_conn *c);
int reg_load_revocations(struct registry *r, struct store_conn *c);
int reg_load_tokens(struct registry *r, struct store_conn *c);

/* reg_bootstrap: create the management tenant and its admin on first start. */
int reg_bootstrap(struct registry *r, char *err, size_t errlen);

/* Memory helpers used by several files (caller holds the write lock). */
struct tenant_mem *reg_tenant_mem_add(struct registry *r, const char *id, bool suspended);
void reg_tenant_mem_remove(struct registry *r, const char *id);
void reg_anchor_mem_put(struct registry *r, const char *tenant, const char *fp, X509 *cert,
                        bool enabled, bool autoreg, bool pop_valid);
void reg_anchor_mem_remove(struct registry *r, const char *tenant, const char *fp);
void reg_device_mem_put(struct registry *r, const char *tenant, const char *external_id, int64_t id,
                        int auth, int registration);
void reg_device_mem_remove(struct registry *r, const char *tenant, const char *external_id);

/* reg_password_hash: encode a password hash with the configured parameters into a
 * malloc'd string (*out). */
int reg_password_hash(struct registry *r, const char *password, char **out);

/* reg_user_insert: insert a user row inside a write transaction. */
int reg_user_insert(struct store_conn *c, const struct reg_user *u, const char *hash);

/* reg_audit_tx: write an audit record inside the caller's write transaction (so the
 * record and the change it describes commit together). */
int reg_audit_tx(struct store_conn *c, const char *tenant, const char *type, const char *activity,
                 const char *severity, const char *user, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* reg_actor_name: the name an audit record gives the actor. */
const char *reg_actor_name(const struct principal *p);

/* reg_auth_init / cleanup: the login limiter and the credential cache (users.c). */
int reg_auth_init(struct registry *r);
void reg_auth_cleanup(struct registry *r);

/* reg_validate_name: user names and device ids: 1..255 bytes of UTF-8, no whitespace or
 * control characters, none of "/+$:". -EINVAL with why. */
int reg_validate_name(const char *what, const char *name, char *why);

#endif
