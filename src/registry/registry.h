/* The registry: tenants, users, tenant options, trusted certificates with proof of
 * possession, revocation, devices and audit records — the domain rules over the store.
 *
 * Durable state lives in the store; the registry keeps in memory only what hot paths need
 * (tenant status and settings, the trust snapshot of every enabled anchor, the device
 * index, logged-out tokens). Memory is updated on the store's writer thread right after
 * each commit, in commit order, so it never runs ahead of the database.
 *
 * Threads: functions marked "blocking" wait for the database and must run on a pool
 * thread, never on an event loop; functions marked "memory" only read in-memory indexes
 * and may run on any thread, loops included.
 *
 * Errors: 0 on success; -ENOENT (no such object), CG_ECONFLICT (already exists),
 * -EINVAL (the input breaks a rule: `why` says which, in a sentence for the API user),
 * CG_EDENIED (the actor may not do this, or a proof was wrong: `why` says which),
 * CG_EEXPIRED (a time-limited value ran out), CG_EDB / -ENOMEM (internal).
 * `why` buffers hold REG_WHY_MAX bytes and may be NULL.
 */
#ifndef CERTGATE_REGISTRY_REGISTRY_H
#define CERTGATE_REGISTRY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "pki/trust.h"
#include "store/store.h"

#define REG_WHY_MAX 320
#define REG_TENANT_ID_MAX 33 /* 2..32 characters + NUL */
#define REG_NAME_MAX 256     /* user names, device ids, certificate names */
#define REG_FP_MAX 41        /* 40 hex characters + NUL */
#define REG_SERIAL_MAX 130   /* normalized hex serial (20 bytes is 40 digits; slack) */
#define REG_MANAGEMENT_TENANT "management"

struct registry;

struct registry_config {
    struct store *store;
    const char *data_dir;
    /* The server CA: signs the tenant CRLs served by GET .../settings/crl. */
    X509 *server_ca_cert;
    EVP_PKEY *server_ca_key;
    /* Initial password of management/admin; NULL generates one and prints it once. */
    const char *admin_password;
    int max_chain_len;          /* instance-wide default, 10 */
    int pop_code_lifetime_s;    /* proof-of-possession code validity, default 86400 */
    bool fast_password_hashing; /* small argon2 parameters: tests and benchmarks only */
    int audit_rate_per_tenant;  /* audit records per second per tenant for refusals */
};

/* registry_config_defaults: the defaults above (pointers NULL). */
void registry_config_defaults(struct registry_config *cfg);

/* registry_open: load the in-memory indexes from the store and make sure the management
 * tenant and its admin user exist (printing a generated admin password once to stdout).
 * Blocking; main thread. NULL on failure with a sentence in err. */
struct registry *registry_open(const struct registry_config *cfg, char *err, size_t errlen);

/* registry_close: free everything. No other registry call may be in progress. */
void registry_close(struct registry *r);

/* ---- The actor: who is calling ------------------------------------------------------- */

enum principal_via {
    PRINCIPAL_NONE = 0,
    PRINCIPAL_BASIC,  /* user and password */
    PRINCIPAL_BEARER, /* a device access token */
    PRINCIPAL_CERT,   /* a client certificate (device) */
    PRINCIPAL_SYSTEM, /* certgate itself (bootstrap, housekeeping) */
};

struct principal {
    enum principal_via via;
    char tenant[REG_TENANT_ID_MAX];
    char user[REG_NAME_MAX];   /* "admin", "device_<id>" */
    char device[REG_NAME_MAX]; /* device id for device principals, "" otherwise */
    uint32_t roles;            /* auth/roles.h */
    char jti[64];              /* token id for PRINCIPAL_BEARER */
    int64_t token_exp_ms;
};

/* principal_has: whether the principal holds at least one of the roles in `any`. */
bool principal_has(const struct principal *p, uint32_t any);

/* principal_in_management: whether the principal belongs to the management tenant. */
bool principal_in_management(const struct principal *p);

/* principal_may_see_tenant: the principal's own tenant, or the management tenant's
 * tenant managers for any tenant. */
bool principal_may_see_tenant(const struct principal *p, const char *tenant);

/* principal_system: the principal certgate uses for its own actions. */
void principal_system(struct principal *p, const char *tenant);

/* registry_auth_basic: check a user's password (Basic auth, MQTT username/password).
 * `tenant` may be NULL or "" when the user gave none: then the user name must exist in
 * exactly one tenant. Failed attempts are rate-limited per user and per source address;
 * a recently verified password is served from a short-lived cache.
 * 0 and *out filled when granted; CG_EDENIED (bad credentials, disabled user, suspended
 * tenant: `why` says which, for the log only), -EAGAIN (too many failures: try later).
 * Blocking. */
int registry_auth_basic(struct registry *r, const char *tenant, const char *user,
                        const char *password, const char *source, struct principal *out, char *why);

/* ---- Tenants ------------------------------------------------------------------------- */

struct reg_tenant {
    char id[REG_TENANT_ID_MAX];
    char company[257];
    char domain[257];
    char admin_email[257];
    char contact_name[64];
    char contact_phone[64];
    char parent[REG_TENANT_ID_MAX];
    bool suspended;
    bool allow_create_tenants;
    int64_t created_ms;
    char *custom_properties; /* JSON object text, malloc'd ("{}" when empty) */
};

void reg_tenant_cleanup(struct reg_tenant *t);

/* Which reg_tenant fields registry_tenant_update changes. */
enum reg_tenant_field {
    REG_TENANT_COMPANY = 1 << 0,
    REG_TENANT_DOMAIN = 1 << 1,
    REG_TENANT_ADMIN_EMAIL = 1 << 2,
    REG_TENANT_CONTACT_NAME = 1 << 3,
    REG_TENANT_CONTACT_PHONE = 1 << 4,
    REG_TENANT_CUSTOM = 1 << 5,
    REG_TENANT_STATUS = 1 << 6,
};

/* registry_tenant_create: create t (t->id may be "" to generate "t" + 8 digits) with an
 * administrator `admin_name` (default "admin") whose password is `admin_pass` (required).
 * Management tenant managers only. Fills t->id, created_ms. Blocking. */
int registry_tenant_create(struct registry *r, const struct principal *actor, struct reg_tenant *t,
                           const char *admin_name, const char *admin_pass, char *why);

/* registry_tenant_get: -ENOENT when missing. Blocking. */
int registry_tenant_get(struct registry *r, const char *id, struct reg_tenant *out);

/* Which tenants registry_tenant_list returns: NULL members do not filter. */
struct reg_tenant_filter {
    const char *company; /* exact */
    const char *domain;  /* exact */
    const char *parent;  /* exact: the tenants created by this one */
};

/* registry_tenant_list: tenants matching f (NULL: all) ordered by id; *items is a malloc'd
 * array of *n entries (free with reg_tenant_list_free); *total (optional) counts all that
 * match. Blocking. */
int registry_tenant_list(struct registry *r, const struct reg_tenant_filter *f, int64_t offset,
                         int limit, struct reg_tenant **items, int *n, int64_t *total);
void reg_tenant_list_free(struct reg_tenant *items, int n);

/* registry_tenant_update: change the fields in `fields` from t (t->id selects).
 * REG_TENANT_STATUS with t->suspended suspends or activates, closing live sessions. */
int registry_tenant_update(struct registry *r, const struct principal *actor,
                           const struct reg_tenant *t, unsigned fields, char *why);

/* registry_tenant_delete: delete a tenant and everything in it (not the management
 * tenant). Blocking. */
int registry_tenant_delete(struct registry *r, const struct principal *actor, const char *id,
                           char *why);

/* registry_tenant_active: the tenant exists and is not suspended. Memory. */
bool registry_tenant_active(struct registry *r, const char *id);

/* registry_tenant_exists: Memory. */
bool registry_tenant_exists(struct registry *r, const char *id);

/* registry_tenant_of_user: the tenant a bare user name (no "tenant/" prefix) belongs to,
 * when exactly one tenant has a user of that name. -ENOENT none, CG_ECONFLICT several
 * (the name is ambiguous). Blocking. */
int registry_tenant_of_user(struct registry *r, const char *user, char out[REG_TENANT_ID_MAX]);

/* ---- Tenant options ------------------------------------------------------------------ */

struct reg_option {
    char category[128];
    char key[128];
    char value[4096];
    bool editable;
};

/* Well-known options and their defaults:
 *   oauth.internal / device-token.lifespan.seconds   3600 (>= 300)
 *   configuration  / crl.offline.check.enabled         true  (certgate: on by default)
 *   configuration  / crl.online.check.enabled          false
 *   trusted-certificates / pop.self-attested.enabled   false
 *   trusted-certificates / max.chain.length            instance default (1..10)
 *   mqtt / acl.mode                                    "default" | "open"
 */
struct reg_settings {
    int token_lifetime_s;
    bool crl_offline;
    bool crl_online;
    bool pop_self_attested;
    int max_chain_len;
    bool acl_open;
};

/* registry_settings: the tenant's effective settings (defaults for unknown tenants).
 * Memory. */
void registry_settings(struct registry *r, const char *tenant, struct reg_settings *out);

/* registry_option_validate: whether registry_option_set would accept the category, key and
 * value (names, length, the well-known keys' values), without writing. 0 or -EINVAL with
 * why. Pure. */
int registry_option_validate(const char *category, const char *key, const char *value, char *why);

/* registry_option_set: create or replace; known keys are validated (-EINVAL with why).
 * CG_EDENIED when the option was marked non-editable by the management tenant. Blocking. */
int registry_option_set(struct registry *r, const struct principal *actor, const char *tenant,
                        const char *category, const char *key, const char *value, char *why);

int registry_option_get(struct registry *r, const char *tenant, const char *category,
                        const char *key, struct reg_option *out);

/* registry_option_list: ordered by category, key; category NULL for all. Blocking. */
int registry_option_list(struct registry *r, const char *tenant, const char *category,
                         int64_t offset, int limit, struct reg_option **items, int *n,
                         int64_t *total);

int registry_option_delete(struct registry *r, const struct principal *actor, const char *tenant,
                           const char *category, const char *key, char *why);

/* ---- Users --------------------------------------------------------------------------- */

struct reg_user {
    char tenant[REG_TENANT_ID_MAX];
    char name[REG_NAME_MAX];
    char email[257];
    char first_name[128];
    char last_name[128];
    char phone[64];
    bool enabled;
    bool is_device;
    uint32_t roles;
    int64_t created_ms;
    int64_t password_changed_ms;
};

enum reg_user_field {
    REG_USER_EMAIL = 1 << 0,
    REG_USER_FIRST_NAME = 1 << 1,
    REG_USER_LAST_NAME = 1 << 2,
    REG_USER_PHONE = 1 << 3,
    REG_USER_ENABLED = 1 << 4,
    REG_USER_ROLES = 1 << 5,
    REG_USER_PASSWORD = 1 << 6,
};

/* registry_user_create: a user in u->tenant with `password` (6..1024 bytes; may be NULL
 * only for certificate device users). User names: 1..255 bytes, no whitespace, '/', '+',
 * '$', ':'. Blocking. */
int registry_user_create(struct registry *r, const struct principal *actor,
                         const struct reg_user *u, const char *password, char *why);

int registry_user_get(struct registry *r, const char *tenant, const char *name,
                      struct reg_user *out);

/* registry_user_list: ordered by name; device users only when only_devices, otherwise
 * device users are hidden (as Cumulocity does); `prefix` filters names. Blocking. */
int registry_user_list(struct registry *r, const char *tenant, bool only_devices,
                       const char *prefix, int64_t offset, int limit, struct reg_user **items,
                       int *n, int64_t *total);

/* registry_user_update: change `fields` from u (u->tenant, u->name select); a new password
 * with REG_USER_PASSWORD. Blocking. */
int registry_user_update(struct registry *r, const struct principal *actor,
                         const struct reg_user *u, unsigned fields, const char *password,
                         char *why);

/* registry_user_delete: not oneself; not the last administrator of the management tenant. */
int registry_user_delete(struct registry *r, const struct principal *actor, const char *tenant,
                         const char *name, char *why);

/* ---- Trusted certificates and proof of possession ------------------------------------ */

struct reg_cert {
    char tenant[REG_TENANT_ID_MAX];
    char fingerprint[REG_FP_MAX];
    char name[REG_NAME_MAX];
    bool enabled;
    bool auto_registration;
    uint8_t *der; /* malloc'd */
    size_t der_len;
    bool pop_valid;
    char pop_method[32]; /* "signature", "verification-certificate", "confirmed",
                            "self-attested", "" */
    char pop_code[96];   /* current unsigned verification code */
    int64_t pop_code_until_ms;
    int64_t pop_completed_ms;
    int64_t created_ms;
};

void reg_cert_cleanup(struct reg_cert *c);
void reg_cert_list_free(struct reg_cert *items, int n);

/* What to upload: the certificate text (PEM with or without armour, or DER) and its
 * settings. */
struct reg_cert_upload {
    const void *data;
    size_t len;
    const char *name; /* NULL or "": the subject's CN */
    bool enabled;
    bool auto_registration;
    bool pop_verified; /* self-attested: honoured only when the tenant option allows */
};

/* registry_cert_add: validate with the anchor check and store; a verification code is
 * generated at once. -EINVAL (why: not a certificate, CA:FALSE, expired, v1, weak key,
 * a private key was pasted: refused and not stored), CG_ECONFLICT (already uploaded in
 * this tenant). Blocking. */
int registry_cert_add(struct registry *r, const struct principal *actor, const char *tenant,
                      const struct reg_cert_upload *up, struct reg_cert *out, char *why);

/* registry_cert_add_many: all or nothing: every certificate is validated first; any
 * failure stores none (why names the failing entry by index). *out is an array of n. */
int registry_cert_add_many(struct registry *r, const struct principal *actor, const char *tenant,
                           const struct reg_cert_upload *ups, int n, struct reg_cert **out,
                           char *why);

int registry_cert_get(struct registry *r, const char *tenant, const char *fingerprint,
                      struct reg_cert *out);

int registry_cert_list(struct registry *r, const char *tenant, int64_t offset, int limit,
                       struct reg_cert **items, int *n, int64_t *total);

/* registry_cert_update: name (NULL: unchanged), enabled / auto_registration (-1:
 * unchanged, 0, 1). Disabling closes the live sessions that depend on it. */
int registry_cert_update(struct registry *r, const struct principal *actor, const char *tenant,
                         const char *fingerprint, const char *name, int enabled,
                         int auto_registration, struct reg_cert *out, char *why);

int registry_cert_delete(struct registry *r, const struct principal *actor, const char *tenant,
                         const char *fingerprint, char *why);

/* registry_cert_pop_code: generate a new verification code (>= 128 random bits) valid for
 * the configured lifetime. */
int registry_cert_pop_code(struct registry *r, const struct principal *actor, const char *tenant,
                           const char *fingerprint, struct reg_cert *out);

/* registry_cert_pop_signature: Cumulocity-style proof: base64 of a SHA-256 signature of
 * the current code made with the CA's key. CG_EDENIED wrong signature, CG_EEXPIRED code
 * expired, -EINVAL malformed (why says which). */
int registry_cert_pop_signature(struct registry *r, const struct principal *actor,
                                const char *tenant, const char *fingerprint,
                                const char *signature_b64, struct reg_cert *out, char *why);

/* registry_cert_pop_certificate: Azure/AWS-style proof: a verification certificate whose
 * CN is the current code, signed by the CA's key. */
int registry_cert_pop_certificate(struct registry *r, const struct principal *actor,
                                  const char *tenant, const char *fingerprint, const void *pem,
                                  size_t len, struct reg_cert *out, char *why);

/* registry_cert_pop_confirm: the management tenant marks the proof done. */
int registry_cert_pop_confirm(struct registry *r, const struct principal *actor, const char *tenant,
                              const char *fingerprint, struct reg_cert *out, char *why);

/* ---- Revocation ---------------------------------------------------------------------- */

struct reg_revoked {
    char serial_hex[REG_SERIAL_MAX]; /* normalized (pki_serial_normalize) */
    int64_t revoked_ms;
    char source[16]; /* "api", "csv", "crl" */
};

/* registry_crl_add: revoke serials (irreversible; an already revoked serial keeps its
 * entry). Entries are normalized and validated first (-EINVAL names the bad one); live
 * sessions whose chain holds a revoked serial are closed. Blocking. */
int registry_crl_add(struct registry *r, const struct principal *actor, const char *tenant,
                     const struct reg_revoked *entries, int n, char *why);

/* registry_crl_add_x509: revoke every serial of an X.509 CRL (PEM or DER) issued and
 * signed by one of the tenant's trusted certificates. */
int registry_crl_add_x509(struct registry *r, const struct principal *actor, const char *tenant,
                          const void *data, size_t len, int *added, char *why);

int registry_crl_list(struct registry *r, const char *tenant, struct reg_revoked **items, int *n);

/* registry_crl_der: the tenant's revoked serials as a DER X.509 CRL signed by the server
 * CA (*der malloc'd). */
int registry_crl_der(struct registry *r, const char *tenant, uint8_t **der, size_t *len);

/* ---- Devices ------------------------------------------------------------------------- */

enum reg_auth_type {
    REG_AUTH_CERTIFICATES = 0,
    REG_AUTH_BASIC = 1,
};

enum reg_registration {
    REG_REGISTERED_AUTO = 0,
    REG_REGISTERED_BULK = 1,
};

struct reg_device {
    int64_t id; /* managed object id */
    char tenant[REG_TENANT_ID_MAX];
    char external_id[REG_NAME_MAX]; /* the certificate CN for certificate devices */
    char id_type[64];
    char name[REG_NAME_MAX];
    char type[128];
    enum reg_auth_type auth;
    enum reg_registration registration;
    char anchor_fp[REG_FP_MAX];
    int64_t created_ms;
    int64_t first_seen_ms; /* 0: never connected */
    int64_t last_seen_ms;
    char *fragments; /* JSON object text, malloc'd */
};

void reg_device_cleanup(struct reg_device *d);
void reg_device_list_free(struct reg_device *items, int n);

/* What the hot path knows about a registered device. */
struct reg_device_brief {
    int64_t id;
    enum reg_auth_type auth;
    enum reg_registration registration;
};

/* registry_device_lookup: -ENOENT when not registered. Memory. */
int registry_device_lookup(struct registry *r, const char *tenant, const char *external_id,
                           struct reg_device_brief *out);

int registry_device_get(struct registry *r, const char *tenant, int64_t id, struct reg_device *out);
int registry_device_get_external(struct registry *r, const char *tenant, const char *id_type,
                                 const char *external_id, struct reg_device *out);

/* Which devices registry_device_list returns: NULL members do not filter. */
struct reg_device_filter {
    const char *text;          /* substring of the external id, name or type */
    const char *type;          /* exact */
    const char *external_id;   /* exact */
    const char *fragment_text; /* substring of the fragments' JSON text (as stored) */
};

/* registry_device_list: the tenant's devices matching f (NULL: all), ordered by id. */
int registry_device_list(struct registry *r, const char *tenant, const struct reg_device_filter *f,
                         int64_t offset, int limit, struct reg_device **items, int *n,
                         int64_t *total);

/* registry_device_delete: the device and its device user; closes its live sessions. */
int registry_device_delete(struct registry *r, const struct principal *actor, const char *tenant,
                           int64_t id, char *why);

/* registry_device_touch: note that the device connected now (first/last seen). Written
 * in the background in batches. Memory (any thread). */
void registry_device_touch(struct registry *r, const char *tenant, const char *external_id);

/* One data row of a bulk registration CSV, already split into columns. */
struct reg_bulk_row {
    int line;                /* CSV line number, for messages */
    const char *id;          /* ID */
    const char *credentials; /* CREDENTIALS (BASIC) */
    const char *auth_type;   /* AUTH_TYPE: "", "BASIC", "CERTIFICATES" */
    const char *tenant;      /* TENANT (honoured for management callers) */
    const char *type;        /* TYPE */
    const char *name;        /* NAME */
    const char *id_type;     /* IDTYPE */
    const char *fragments;   /* JSON object text of custom properties, or NULL */
};

enum reg_bulk_status {
    REG_BULK_CREATED = 0,
    REG_BULK_CREDENTIAL_UPDATED = 1,
    REG_BULK_FAILED = 2,
};

struct reg_bulk_result {
    enum reg_bulk_status status;
    char reason[REG_WHY_MAX];
};

/* registry_bulk_register: register rows (results[i] for rows[i]); committed in batches,
 * logging progress for large inputs. Returns 0 when the input was processed (per-row
 * failures are in results). Blocking. */
int registry_bulk_register(struct registry *r, const struct principal *actor, const char *tenant,
                           const struct reg_bulk_row *rows, int n, struct reg_bulk_result *results);

/* ---- Identity: certificate chain -> tenant -> device --------------------------------- */

/* Why a certificate identity was refused. The pki reason codes, plus the registry's. */
struct reg_identity {
    bool accepted;
    char reason[32];   /* stable code ("expired", "untrusted", "ambiguous-anchor", ...) */
    char message[256]; /* a sentence for the log and the audit record */
    char tenant[REG_TENANT_ID_MAX];
    char device_id[REG_NAME_MAX]; /* the leaf's CN */
    char anchor_fp[REG_FP_MAX];
    bool auto_registration; /* the anchor allows auto-registration */
    int nserials;
    char serials[10][REG_SERIAL_MAX]; /* the chain's serials, leaf first */
    char leaf_fp[REG_FP_MAX];
    int64_t not_after_ms; /* the earliest notAfter of the chain: the verdict's expiry */
};

/* registry_identify: validate the chain the device presented (leaf, and the intermediates
 * it sent) at time now_ms against every tenant's enabled anchors, resolve the tenant
 * (a uniquely held anchor belongs to its tenant; among several holders the only one with
 * completed proof of possession wins; otherwise "ambiguous-anchor"), then apply that
 * tenant's chain-length limit and revocation data. `tenant_hint` (optional) restricts the
 * search to one tenant. Fills *out and returns 0 when accepted, CG_EDENIED when refused
 * (out->reason says why). Memory (any thread; the TLS verify callback calls it). */
int registry_identify(struct registry *r, X509 *leaf, STACK_OF(X509) * untrusted, int64_t now_ms,
                      const char *tenant_hint, struct reg_identity *out);

/* The compact form of an accepted identity, for keeping with a TLS session (the server
 * remembers one per session, for every resumption): tenant, device id, anchor and leaf
 * fingerprints, the chain's serials and its earliest notAfter; ~200 bytes for a usual chain
 * instead of sizeof(struct reg_identity) (~2.4 KiB). At most REG_IDENTITY_PACKED_MAX bytes. */
#define REG_IDENTITY_PACKED_MAX 1700

/* registry_identity_pack: the compact form of `id` (which must be accepted) into
 * buf[cap]; *len receives its size. 0, or -EINVAL (not accepted, a field too long) or
 * -ENOSPC (cap too small). Any thread. */
int registry_identity_pack(const struct reg_identity *id, unsigned char *buf, size_t cap,
                           size_t *len);

/* registry_identity_unpack: the identity back from its compact form: accepted, reason "ok"
 * and the message registry_identify writes. 0, or -EINVAL when buf[len] is not a compact
 * identity (then *out is a refusal with reason "internal"). Any thread. */
int registry_identity_unpack(const unsigned char *buf, size_t len, struct reg_identity *out);

/* registry_verify_cache_stats: the counters of the current trust snapshot's cache of
 * verified intermediates (pki_trust_cache_stats; they restart with every new snapshot, i.e.
 * on every change to an anchor). All zero before the first snapshot. Any thread. */
void registry_verify_cache_stats(struct registry *r, struct pki_trust_cache_stats *out);

/* registry_identity_check: re-check a recorded identity against the current state (the
 * anchor still enabled, no serial revoked, the tenant active). Memory. 0 or CG_EDENIED. */
int registry_identity_check(struct registry *r, const struct reg_identity *id, char *why);

/* registry_device_cert_check: whether a certificate device may still act on what it was
 * granted (for device access tokens): the tenant is active, trusted certificate anchor_fp is
 * still enabled in it, `leaf_serial` (may be NULL) is not revoked, and the device is still
 * registered for certificates. 0 or CG_EDENIED with why. Memory. */
int registry_device_cert_check(struct registry *r, const char *tenant, const char *device_id,
                               const char *anchor_fp, const char *leaf_serial, char *why);

/* registry_device_admit: the connect-time decision for an accepted identity: a registered
 * certificate device is admitted; an unknown device is auto-registered durably when its
 * anchor allows it; otherwise refused ("not-registered", "registered-for-password").
 * 0 and *out filled when admitted, CG_EDENIED (why), CG_EDB. Blocking. */
int registry_device_admit(struct registry *r, const struct reg_identity *id,
                          struct reg_device_brief *out, char *why);

/* registry_device_admit_async: the same decision without blocking the caller: when the
 * device is known (or refused) the answer is immediate and done() runs on the calling
 * thread before this returns; when it must be registered, done() runs on the store's
 * writer thread after the commit. done(arg, rc, brief, why): rc 0 admitted, CG_EDENIED,
 * CG_EDB. `id` is copied. Returns 0, or -ENOMEM (done not called). Memory (any thread). */
int registry_device_admit_async(struct registry *r, const struct reg_identity *id,
                                void (*done)(void *arg, int rc,
                                             const struct reg_device_brief *brief, const char *why),
                                void *arg);

/* ---- Audit --------------------------------------------------------------------------- */

struct reg_audit {
    int64_t id;
    char tenant[REG_TENANT_ID_MAX];
    int64_t time_ms;
    char type[32];     /* "TrustedCertificates", "Tenant", "User", "Inventory", ... */
    char activity[64]; /* "Trusted certificate uploaded", ... */
    char text[1024];
    char user[REG_NAME_MAX];
    char source[REG_NAME_MAX];
    char severity[16]; /* "INFORMATION", "WARNING", "MAJOR", ... */
    char application[64];
};

/* registry_audit: record an event. Never blocks: queued for the writer. Records of the
 * same tenant and activity beyond the configured rate are dropped and counted (a flood of
 * refused connects cannot fill the disk); `limited` selects that treatment. Any thread. */
void registry_audit(struct registry *r, bool limited, const char *tenant, const char *type,
                    const char *activity, const char *severity, const char *user,
                    const char *source, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));

struct reg_audit_filter {
    const char *type;
    const char *user;
    const char *source;
    int64_t date_from_ms; /* 0: none */
    int64_t date_to_ms;   /* 0: none */
    bool oldest_first;
};

int registry_audit_list(struct registry *r, const char *tenant, const struct reg_audit_filter *f,
                        int64_t offset, int limit, struct reg_audit **items, int *n,
                        int64_t *total);

/* registry_audit_get: one record of the tenant by id; -ENOENT when the tenant has no such
 * record. Blocking. */
int registry_audit_get(struct registry *r, const char *tenant, int64_t id, struct reg_audit *out);

/* ---- Tokens -------------------------------------------------------------------------- */

/* registry_token_revoke: refuse this token id until its expiry (logout). Blocking. */
int registry_token_revoke(struct registry *r, const char *tenant, const char *jti,
                          int64_t expires_ms);

/* registry_token_revoked: Memory. */
bool registry_token_revoked(struct registry *r, const char *jti);

/* ---- Change events ------------------------------------------------------------------- */

enum reg_event_kind {
    REG_EVENT_ANCHOR_REMOVED,   /* disabled or deleted: tenant, fingerprint */
    REG_EVENT_SERIAL_REVOKED,   /* tenant, serial_hex */
    REG_EVENT_DEVICE_REMOVED,   /* tenant, device_id */
    REG_EVENT_TENANT_SUSPENDED, /* suspended or deleted: tenant */
    REG_EVENT_USER_REMOVED,     /* disabled or deleted: tenant, user */
};

struct reg_event {
    enum reg_event_kind kind;
    char tenant[REG_TENANT_ID_MAX];
    char fingerprint[REG_FP_MAX];
    char serial_hex[REG_SERIAL_MAX];
    char device_id[REG_NAME_MAX];
    char user[REG_NAME_MAX];
    char actor[REG_NAME_MAX];
};

/* registry_set_event_handler: fn(ev, arg) is called on the store's writer thread after a
 * commit that removes access (it must not block; typically it posts to the workers).
 * Set once, before serving. */
void registry_set_event_handler(struct registry *r,
                                void (*fn)(const struct reg_event *ev, void *arg), void *arg);

#endif
