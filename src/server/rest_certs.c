/* Trusted certificates (reference §2), proof of possession (§3) and verify-cert-chain (§5).
 *
 *   GET    /tenant/tenants/{tenantId}/trusted-certificates                list (paged)
 *   POST   /tenant/tenants/{tenantId}/trusted-certificates                upload one
 *   POST   /tenant/tenants/{tenantId}/trusted-certificates/bulk           upload several
 *   GET    /tenant/tenants/{tenantId}/trusted-certificates/{fingerprint}  get
 *   PUT    /tenant/tenants/{tenantId}/trusted-certificates/{fingerprint}  name/status/autoreg
 *   DELETE /tenant/tenants/{tenantId}/trusted-certificates/{fingerprint}  delete
 *   POST   /tenant/tenants/{tenantId}/trusted-certificates-pop/{fp}/verification-code
 *   POST   /tenant/tenants/{tenantId}/trusted-certificates-pop/{fp}/pop
 *   POST   /tenant/tenants/{tenantId}/trusted-certificates-pop/{fp}/verification-certificate
 *   POST   /tenant/tenants/{tenantId}/trusted-certificates-pop/{fp}/confirmed
 *   POST   /tenant/trusted-certificates/verify-cert-chain
 *
 * The domain rules (what a trusted certificate may be, how a proof is checked, how a chain
 * is resolved to a tenant) are the registry's; this file maps HTTP to them and back. The
 * decisions this file makes are listed in docs/api/certificates.md ("Decisions").
 *
 * Handlers run on a pool thread (rest.h). Nothing here logs request bodies: a body may hold
 * a private key pasted by mistake, which must never be echoed or logged.
 */
#include "auth/roles.h"
#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "http/json.h"
#include "http/multipart.h"
#include "pki/cert.h"
#include "server/rest.h"
#include "server/rest_json_common.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Who may read and who may change trusted certificates (reference §2.2-§2.7). */
#define CERT_READ_ROLES                                                                            \
    (ROLE_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ)
#define CERT_WRITE_ROLES (ROLE_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_ADMIN)

/* Most certificates one bulk upload may hold (the registry's own cap). */
#define BULK_MAX 1000
/* Longest chain verify-cert-chain takes from the multipart file and from the header. */
#define CHAIN_MAX_FILE 10
#define CHAIN_MAX_HEADER 5

static const char PRIVATE_KEY_REFUSED[] =
    "the request holds a private key: it was refused and not stored. Upload the CA's "
    "certificate (PEM) and keep its key secret";

/* ---- access --------------------------------------------------------------------------- */

/* The {tenantId} of the path when the caller may read its trusted certificates; otherwise
 * answers 403 (missing role) or 404 (a tenant the caller may not see) and returns NULL. */
static const char *readable_tenant(struct rest_ctx *x)
{
    if (!rest_accept_check(x) || !rest_require(x, CERT_READ_ROLES)) {
        return NULL;
    }
    const char *tenant = rest_param(x, "tenantId");
    return rest_tenant_visible(x, tenant) ? tenant : NULL;
}

/* The {tenantId} of the path when the caller may change its trusted certificates: a tenant
 * administrator of that tenant, or a tenant manager (ROLE_TENANT_MANAGEMENT_ADMIN) of the
 * management tenant. A management user who may only read other tenants does not get to
 * write to them. Otherwise answers 403/404 and returns NULL. */
static const char *writable_tenant(struct rest_ctx *x)
{
    if (!rest_accept_check(x) || !rest_require(x, CERT_WRITE_ROLES)) {
        return NULL;
    }
    const char *tenant = rest_param(x, "tenantId");
    if (!rest_tenant_visible(x, tenant)) {
        return NULL;
    }
    if (strcmp(tenant, x->who.tenant) != 0 &&
        !(principal_in_management(&x->who) &&
          principal_has(&x->who, ROLE_TENANT_MANAGEMENT_ADMIN))) {
        rest_error(x, 403, "security/Forbidden", "Access is denied.");
        return NULL;
    }
    return tenant;
}

/* ---- the TrustedCertificate JSON (reference §2.1) ----------------------------------------- */

static bool is_hex_text(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

static void not_found(struct rest_ctx *x, const char *fp)
{
    /* Echo the fingerprint only when it looks like one: it comes from the URL. */
    if (fp != NULL && is_hex_text(fp)) {
        rest_error(x, 404, "certificate/Not Found", "Cannot find certificate with fingerprint %s.",
                   fp);
    } else {
        rest_error(x, 404, "certificate/Not Found",
                   "Cannot find certificate with that fingerprint: a fingerprint is the 40 hex "
                   "digits of the certificate's SHA-1.");
    }
}

/* The JSON of one trusted certificate; NULL on allocation or encoding failure. */
static json_t *cert_json(struct rest_ctx *x, const struct reg_cert *c)
{
    struct pki_cert_facts f;
    json_t *v = NULL;
    X509 *cert = NULL;
    char *pem = NULL;
    char *self = NULL;

    memset(&f, 0, sizeof(f));
    const unsigned char *p = c->der;
    cert = d2i_X509(NULL, &p, (long)c->der_len);
    if (cert == NULL || pki_cert_facts_get(cert, &f) < 0 || pki_cert_c8y_pem(cert, &pem) < 0) {
        goto out;
    }
    self = rest_url(x, "/tenant/tenants/%s/trusted-certificates/%s", c->tenant, c->fingerprint);
    if (self == NULL) {
        goto out;
    }
    v = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:i, s:s, s:s, s:o, s:o, s:s, s:b, s:s}", "name",
                  c->name, "status", c->enabled ? "ENABLED" : "DISABLED", "autoRegistrationEnabled",
                  c->auto_registration, "fingerprint", c->fingerprint, "serialNumber", f.serial_dec,
                  "algorithmName", f.sig_alg, "version", f.version, "issuer", f.issuer, "subject",
                  f.subject, "notBefore", rest_time(f.not_before_ms), "notAfter",
                  rest_time(f.not_after_ms), "certInPemFormat", pem, "proofOfPossessionValid",
                  c->pop_valid, "proofOfPossessionUnsignedVerificationCode", c->pop_code);
    if (v == NULL) {
        goto out;
    }
    if (c->pop_code_until_ms > 0) {
        json_object_set_new(v, "proofOfPossessionVerificationCodeUsableUntil",
                            rest_time(c->pop_code_until_ms));
    }
    json_object_set_new(v, "tenantCertificateAuthority", json_false());
    json_object_set_new(v, "self", json_string(self));
out:
    free(self);
    free(pem);
    pki_cert_facts_cleanup(&f);
    X509_free(cert);
    return v;
}

/* Answer `status` with the certificate; on 201 also its Location. */
static void answer_cert(struct rest_ctx *x, int status, const struct reg_cert *c)
{
    json_t *v = cert_json(x, c);
    if (v == NULL) {
        rest_fail(x, -ENOMEM, "certificate", "", "");
        return;
    }
    if (status == 201) {
        rest_field(x, "Location", json_string_value(json_object_get(v, "self")));
    }
    rest_json(x, status, v, NULL);
}

/* ---- request bodies ------------------------------------------------------------------- */

static bool body_has_private_key(const struct rest_ctx *x)
{
    return x->body_len > 0 && memmem(x->body, x->body_len, "PRIVATE KEY", 11) != NULL;
}

/* The body as a JSON object, or NULL with the answer written. A body that holds a private
 * key and is not valid JSON is refused without quoting the parser's message, which could
 * quote the key. */
static json_t *body_json(struct rest_ctx *x)
{
    if (body_has_private_key(x)) {
        json_t *v = NULL;
        if (x->body_len == 0 || http_json_parse_body(x->body, x->body_len, 0, 0, &v, NULL, 0) < 0) {
            rest_error(x, 422, "certificate/Unprocessable Entity", "%s", PRIVATE_KEY_REFUSED);
            return NULL;
        }
        return v;
    }
    return rest_body_json(x);
}

/* One upload entry from a JSON object (create, or an element of bulk). `label` prefixes
 * messages ("" or "certificates[3]: "). Strings in *up point into `o`. 0 or -EINVAL with
 * why[REG_WHY_MAX]. */
static int upload_from_json(const json_t *o, const char *label, struct reg_cert_upload *up,
                            char *why)
{
    const char *pem = NULL, *status = NULL, *name = NULL;
    bool autoreg = false, pop = false;

    memset(up, 0, sizeof(*up));
    if (!json_is_object(o)) {
        snprintf(why, REG_WHY_MAX, "%sa certificate entry must be a JSON object", label);
        return -EINVAL;
    }
    if (http_json_get_string(o, "certInPemFormat", PKI_BUNDLE_MAX_BYTES, &pem) < 0 || pem == NULL ||
        pem[0] == 0) {
        snprintf(why, REG_WHY_MAX,
                 "%scertInPemFormat is required: the certificate as PEM (with or without the "
                 "BEGIN/END lines), at most %d bytes",
                 label, PKI_BUNDLE_MAX_BYTES);
        return -EINVAL;
    }
    if (http_json_get_string(o, "status", 16, &status) < 0 || status == NULL ||
        (strcmp(status, "ENABLED") != 0 && strcmp(status, "DISABLED") != 0)) {
        snprintf(why, REG_WHY_MAX, "%sstatus is required and must be ENABLED or DISABLED", label);
        return -EINVAL;
    }
    if (http_json_get_string(o, "name", REG_NAME_MAX - 1, &name) < 0) {
        snprintf(why, REG_WHY_MAX, "%sname must be a string of at most %d bytes", label,
                 REG_NAME_MAX - 1);
        return -EINVAL;
    }
    if (http_json_get_bool(o, "autoRegistrationEnabled", false, &autoreg) < 0) {
        snprintf(why, REG_WHY_MAX, "%sautoRegistrationEnabled must be true or false", label);
        return -EINVAL;
    }
    if (http_json_get_bool(o, "proofOfPossessionValid", false, &pop) < 0) {
        snprintf(why, REG_WHY_MAX, "%sproofOfPossessionValid must be true or false", label);
        return -EINVAL;
    }
    up->data = pem;
    up->len = strlen(pem);
    up->name = name;
    up->enabled = strcmp(status, "ENABLED") == 0;
    up->auto_registration = autoreg;
    up->pop_verified = pop;
    return 0;
}

/* ---- list / get ----------------------------------------------------------------------- */

static void list_certs(struct rest_ctx *x)
{
    const char *tenant = readable_tenant(x);
    struct http_paging pg;
    if (tenant == NULL || rest_paging(x, &pg) < 0) {
        return;
    }
    bool ca_only = false;
    if (http_query_get_bool(&x->query, "certificateAuthority", false, &ca_only) < 0) {
        rest_error(x, 422, "general/Invalid Data", "certificateAuthority must be true or false");
        return;
    }
    struct reg_cert *items = NULL;
    int n = 0;
    int64_t total = 0;
    json_t *arr = json_array();
    if (arr == NULL) {
        rest_fail(x, -ENOMEM, "certificate", "", "");
        return;
    }
    if (ca_only) {
        /* certgate has no tenant certificate authority (tenantCertificateAuthority is always
         * false): the filtered list is empty. */
        json_t *empty = rest_collection(x, "certificates", arr, &pg, 0);
        if (empty == NULL) {
            rest_fail(x, -ENOMEM, "certificate", "", "");
            return;
        }
        rest_json(x, 200, empty, NULL);
        return;
    }
    int rc = registry_cert_list(x->reg, tenant, http_paging_offset(&pg), (int)pg.page_size, &items,
                                &n, &total);
    if (rc < 0) {
        json_decref(arr);
        rest_fail(x, rc, "certificate", "", "");
        return;
    }
    for (int i = 0; i < n; i++) {
        json_t *v = cert_json(x, &items[i]);
        if (v == NULL || json_array_append_new(arr, v) < 0) {
            reg_cert_list_free(items, n);
            json_decref(arr);
            rest_fail(x, -ENOMEM, "certificate", "", "");
            return;
        }
    }
    reg_cert_list_free(items, n);
    json_t *coll = rest_collection(x, "certificates", arr, &pg, total);
    if (coll == NULL) {
        rest_fail(x, -ENOMEM, "certificate", "", "");
        return;
    }
    rest_json(x, 200, coll, NULL);
}

static void get_cert(struct rest_ctx *x)
{
    const char *tenant = readable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    const char *fp = rest_param(x, "fingerprint");
    struct reg_cert c;
    memset(&c, 0, sizeof(c));
    int rc = registry_cert_get(x->reg, tenant, fp, &c);
    if (rc == -ENOENT) {
        not_found(x, fp);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "certificate", "", "");
        return;
    }
    answer_cert(x, 200, &c);
    reg_cert_cleanup(&c);
}

/* ---- create / bulk / update / delete ---------------------------------------------------- */

/* Registry results of the trusted-certificate changes; -ENOENT names the fingerprint. */
static void cert_fail(struct rest_ctx *x, int rc, const char *why, const char *fp)
{
    if (rc == -ENOENT) {
        not_found(x, fp);
        return;
    }
    if (rc == CG_ECONFLICT) {
        rest_error(x, 409, "certificate/Duplicate", "%s",
                   why[0] ? why
                          : "Duplicate - a certificate with the same fingerprint already "
                            "exists");
        return;
    }
    rest_fail(x, rc, "certificate", why, "");
}

static void create_cert(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    const char *tenant = writable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    json_t *body = body_json(x);
    if (body == NULL) {
        return;
    }
    struct reg_cert_upload up;
    int rc = upload_from_json(body, "", &up, why);
    if (rc < 0) {
        json_decref(body);
        rest_error(x, 422, "certificate/Unprocessable Entity", "%s", why);
        return;
    }
    struct reg_cert c;
    memset(&c, 0, sizeof(c));
    rc = registry_cert_add(x->reg, &x->who, tenant, &up, &c, why);
    json_decref(body);
    if (rc < 0) {
        cert_fail(x, rc, why, "");
        return;
    }
    answer_cert(x, 201, &c);
    reg_cert_cleanup(&c);
}

static void create_certs_bulk(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    struct reg_cert_upload *ups = NULL;
    struct reg_cert *made = NULL;
    json_t *arr = NULL;
    size_t n = 0;
    const char *tenant = writable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    json_t *body = body_json(x);
    if (body == NULL) {
        return;
    }
    json_t *list = json_object_get(body, "certificates");
    n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > BULK_MAX) {
        rest_error(x, 422, "certificate/Unprocessable Entity",
                   "certificates must be an array of 1 to %d certificate entries", BULK_MAX);
        goto out;
    }
    ups = calloc(n, sizeof(*ups));
    arr = json_array();
    if (ups == NULL || arr == NULL) {
        rest_fail(x, -ENOMEM, "certificate", "", "");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char label[48];
        snprintf(label, sizeof(label), "certificates[%zu]: ", i);
        if (upload_from_json(json_array_get(list, i), label, &ups[i], why) < 0) {
            rest_error(x, 422, "certificate/Unprocessable Entity", "%s", why);
            goto out;
        }
    }
    int rc = registry_cert_add_many(x->reg, &x->who, tenant, ups, (int)n, &made, why);
    if (rc < 0) {
        cert_fail(x, rc, why, "");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = cert_json(x, &made[i]);
        if (v == NULL || json_array_append_new(arr, v) < 0) {
            rest_fail(x, -ENOMEM, "certificate", "", "");
            goto out;
        }
    }
    char *self = rest_url(x, "/tenant/tenants/%s/trusted-certificates", tenant);
    json_t *coll = json_pack("{s:O, s:s?}", "certificates", arr, "self", self);
    if (coll == NULL) {
        free(self);
        rest_fail(x, -ENOMEM, "certificate", "", "");
        goto out;
    }
    rest_field(x, "Location", self);
    free(self);
    rest_json(x, 201, coll, NULL);
out:
    reg_cert_list_free(made, made ? (int)n : 0);
    free(ups);
    json_decref(arr);
    json_decref(body);
}

static void update_cert(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    const char *tenant = writable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    const char *fp = rest_param(x, "fingerprint");
    json_t *body = body_json(x);
    if (body == NULL) {
        return;
    }
    /* Only name, status and autoRegistrationEnabled change; every other member (the
     * read-only fields a client sends back with the object) is ignored (reference §2.6). */
    const char *name = NULL, *status = NULL;
    int enabled = -1, autoreg = -1;
    if (http_json_get_string(body, "name", REG_NAME_MAX - 1, &name) < 0) {
        rest_error(x, 422, "certificate/Unprocessable Entity",
                   "name must be a string of at most %d bytes", REG_NAME_MAX - 1);
        goto out;
    }
    if (http_json_get_string(body, "status", 16, &status) < 0 ||
        (status != NULL && strcmp(status, "ENABLED") != 0 && strcmp(status, "DISABLED") != 0)) {
        rest_error(x, 422, "certificate/Unprocessable Entity",
                   "status must be ENABLED or DISABLED");
        goto out;
    }
    if (status != NULL) {
        enabled = strcmp(status, "ENABLED") == 0;
    }
    json_t *ar = json_object_get(body, "autoRegistrationEnabled");
    if (ar != NULL && !json_is_null(ar)) {
        bool b = false;
        if (http_json_get_bool(body, "autoRegistrationEnabled", false, &b) < 0) {
            rest_error(x, 422, "certificate/Unprocessable Entity",
                       "autoRegistrationEnabled must be true or false");
            goto out;
        }
        autoreg = b;
    }
    struct reg_cert c;
    memset(&c, 0, sizeof(c));
    int rc = registry_cert_update(x->reg, &x->who, tenant, fp, name, enabled, autoreg, &c, why);
    if (rc < 0) {
        cert_fail(x, rc, why, fp);
        goto out;
    }
    answer_cert(x, 200, &c);
    reg_cert_cleanup(&c);
out:
    json_decref(body);
}

static void delete_cert(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    const char *tenant = writable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    const char *fp = rest_param(x, "fingerprint");
    int rc = registry_cert_delete(x->reg, &x->who, tenant, fp, why);
    if (rc < 0) {
        cert_fail(x, rc, why, fp);
        return;
    }
    rest_empty(x, 204);
}

/* ---- proof of possession ---------------------------------------------------------------- */

/* Registry results of the proof-of-possession calls (reference §3, errors of §1.4):
 * a wrong proof (CG_EDENIED: the caller's permission was checked before) and an expired
 * code are 400 "tenants/Bad Request"; a malformed answer is 422. */
static void pop_fail(struct rest_ctx *x, int rc, const char *why, const char *fp)
{
    switch (rc) {
    case -ENOENT:
        not_found(x, fp);
        return;
    case CG_EDENIED:
    case CG_EEXPIRED:
        rest_error(x, 400, "tenants/Bad Request", "%s",
                   why[0] ? why : "the proof of possession was not accepted");
        return;
    case -EINVAL:
        rest_error(x, 422, "tenants/Unprocessable Entity", "%s",
                   why[0] ? why : "Cannot process certificate data.");
        return;
    default:
        rest_fail(x, rc, "tenants", why, "");
        return;
    }
}

static void pop_new_code(struct rest_ctx *x)
{
    const char *tenant = writable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    const char *fp = rest_param(x, "fingerprint");
    struct reg_cert c;
    memset(&c, 0, sizeof(c));
    int rc = registry_cert_pop_code(x->reg, &x->who, tenant, fp, &c);
    if (rc < 0) {
        pop_fail(x, rc, "", fp);
        return;
    }
    answer_cert(x, 200, &c);
    reg_cert_cleanup(&c);
}

static void pop_signature(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    const char *tenant = writable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    const char *fp = rest_param(x, "fingerprint");
    json_t *body = body_json(x);
    if (body == NULL) {
        return;
    }
    const char *sig = NULL;
    if (http_json_get_string(body, "proofOfPossessionSignedVerificationCode", 8192, &sig) < 0 ||
        sig == NULL) {
        json_decref(body);
        rest_error(x, 422, "tenants/Unprocessable Entity",
                   "proofOfPossessionSignedVerificationCode is required: the base64 of the "
                   "verification code's signature, as 'openssl dgst -sha256 -sign ca.key code.txt "
                   "| openssl base64 -A' prints it");
        return;
    }
    struct reg_cert c;
    memset(&c, 0, sizeof(c));
    int rc = registry_cert_pop_signature(x->reg, &x->who, tenant, fp, sig, &c, why);
    json_decref(body);
    if (rc < 0) {
        pop_fail(x, rc, why, fp);
        return;
    }
    answer_cert(x, 200, &c);
    reg_cert_cleanup(&c);
}

/* The verification certificate of an Azure/AWS-style proof: the body itself when its
 * Content-Type names a certificate (application/x-pem-file, application/pkix-cert,
 * application/x-x509-ca-cert), else the member "certificate" of a JSON body. *data points
 * into the request or into *json (released by the caller). 0, or -1 with the answer
 * written. */
static int verification_cert_body(struct rest_ctx *x, json_t **json, const void **data, size_t *len)
{
    char *ctype = rest_header(x, "Content-Type");
    struct http_content_type ct;
    bool raw = false;
    if (ctype != NULL && http_content_type_parse(ctype, strlen(ctype), &ct) == 0) {
        raw = http_content_type_is(&ct, "application", "x-pem-file") ||
              http_content_type_is(&ct, "application", "pkix-cert") ||
              http_content_type_is(&ct, "application", "x-x509-ca-cert") ||
              http_content_type_is(&ct, "application", "pem-certificate-chain");
    }
    free(ctype);
    if (raw) {
        if (x->body_len == 0) {
            rest_error(x, 422, "tenants/Unprocessable Entity",
                       "the body must hold the verification certificate");
            return -1;
        }
        *data = x->body;
        *len = x->body_len;
        return 0;
    }
    *json = body_json(x);
    if (*json == NULL) {
        return -1;
    }
    const char *pem = NULL;
    if (http_json_get_string(*json, "certificate", PKI_BUNDLE_MAX_BYTES, &pem) < 0 || pem == NULL ||
        pem[0] == 0) {
        rest_error(x, 422, "tenants/Unprocessable Entity",
                   "certificate is required: the verification certificate (PEM), whose subject "
                   "CN is the verification code and which the CA's key signed");
        return -1;
    }
    *data = pem;
    *len = strlen(pem);
    return 0;
}

static void pop_verification_cert(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    json_t *json = NULL;
    const void *data = NULL;
    size_t len = 0;
    const char *tenant = writable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    const char *fp = rest_param(x, "fingerprint");
    if (verification_cert_body(x, &json, &data, &len) < 0) {
        json_decref(json);
        return;
    }
    struct reg_cert c;
    memset(&c, 0, sizeof(c));
    int rc = registry_cert_pop_certificate(x->reg, &x->who, tenant, fp, data, len, &c, why);
    json_decref(json);
    if (rc < 0) {
        pop_fail(x, rc, why, fp);
        return;
    }
    answer_cert(x, 200, &c);
    reg_cert_cleanup(&c);
}

static void pop_confirm(struct rest_ctx *x)
{
    char why[REG_WHY_MAX] = "";
    /* Management tenant only (reference §3.3); the registry enforces it too. */
    if (!rest_require(x, CERT_WRITE_ROLES)) {
        return;
    }
    if (!principal_in_management(&x->who)) {
        rest_error(x, 403, "security/Forbidden",
                   "Access is denied. Only the management tenant can confirm a proof of "
                   "possession.");
        return;
    }
    const char *tenant = writable_tenant(x);
    if (tenant == NULL) {
        return;
    }
    const char *fp = rest_param(x, "fingerprint");
    struct reg_cert c;
    memset(&c, 0, sizeof(c));
    int rc = registry_cert_pop_confirm(x->reg, &x->who, tenant, fp, &c, why);
    if (rc == CG_EDENIED) {
        rest_error(x, 403, "security/Forbidden", "%s", why[0] ? why : "Access is denied.");
        return;
    }
    if (rc < 0) {
        pop_fail(x, rc, why, fp);
        return;
    }
    answer_cert(x, 200, &c);
    reg_cert_cleanup(&c);
}

/* ---- verify-cert-chain (reference §5) ----------------------------------------------------- */

/* The chain and tenant of a verify-cert-chain request: multipart fields "file" and
 * "tenantId", else the headers X-Cumulocity-Client-Cert-Chain and X-Cumulocity-TenantId
 * (the file wins when both are present). On success *chain is a new stack (leaf first) and
 * tenant[] holds the given tenant or "". 0, or -1 with the answer written. */
static int chain_input(struct rest_ctx *x, STACK_OF(X509) * *chain, char tenant[REG_TENANT_ID_MAX])
{
    struct http_multipart mp;
    char *ctype = rest_header(x, "Content-Type");
    char *header = NULL;
    char *tid = NULL;
    const void *data = NULL;
    size_t len = 0, max = 0;
    int rc = -1;

    memset(&mp, 0, sizeof(mp));
    tenant[0] = 0;
    struct http_content_type ct;
    if (ctype != NULL && http_content_type_parse(ctype, strlen(ctype), &ct) == 0 &&
        http_content_type_is(&ct, "multipart", "form-data")) {
        if (http_multipart_parse(ctype, strlen(ctype), x->body, x->body_len, &mp) < 0) {
            rest_error(x, 400, "Device Certificates/Bad Request",
                       "the multipart/form-data body is malformed");
            goto out;
        }
        const struct http_part *file = http_multipart_find(&mp, "file");
        const struct http_part *t = http_multipart_find(&mp, "tenantId");
        if (file != NULL) {
            data = file->data;
            len = file->len;
            max = CHAIN_MAX_FILE;
        }
        if (t != NULL) {
            tid = str_ndup((const char *)t->data, t->len);
            if (tid == NULL) {
                rest_fail(x, -ENOMEM, "Device Certificates", "", "");
                goto out;
            }
        }
    }
    if (data == NULL) {
        header = rest_header(x, "X-Cumulocity-Client-Cert-Chain");
        if (header != NULL) {
            data = header;
            len = strlen(header);
            max = CHAIN_MAX_HEADER;
        }
    }
    if (tid == NULL) {
        tid = rest_header(x, "X-Cumulocity-TenantId");
    }
    if (data == NULL) {
        rest_error(x, 400, "Device Certificates/Bad Request",
                   "Cannot parse X509 certificate. : no certificate chain was sent; send it as "
                   "the multipart/form-data field 'file' or in the header "
                   "X-Cumulocity-Client-Cert-Chain");
        goto out;
    }
    if (tid != NULL) {
        char *t = str_trim(tid);
        if (strlen(t) >= REG_TENANT_ID_MAX) {
            rest_error(x, 404, "Device Certificates/Not Found", "Tenant Id doesn't exists");
            goto out;
        }
        str_lcpy(tenant, t, REG_TENANT_ID_MAX);
    }
    int n = pki_bundle_parse(data, len, 0, max, chain);
    if (n == PKI_EPRIVATEKEY) {
        rest_error(x, 400, "Device Certificates/Bad Request", "Cannot parse X509 certificate. : %s",
                   PRIVATE_KEY_REFUSED);
        goto out;
    }
    if (n == CG_ELIMIT) {
        rest_error(x, 400, "Device Certificates/Bad Request",
                   "Cannot parse X509 certificate. : the chain is longer than %zu certificates "
                   "(the limit for the %s)",
                   max, max == CHAIN_MAX_FILE ? "multipart file" : "header");
        goto out;
    }
    if (n < 0) {
        rest_error(x, 400, "Device Certificates/Bad Request", "Cannot parse X509 certificate. : %s",
                   pki_strerror(n));
        goto out;
    }
    rc = 0;
out:
    http_multipart_cleanup(&mp);
    free(ctype);
    free(header);
    free(tid);
    return rc;
}

static void verify_chain(struct rest_ctx *x)
{
    STACK_OF(X509) *chain = NULL;
    char tenant[REG_TENANT_ID_MAX];
    char *subject = NULL, *issuer = NULL;

    /* The reference's roles (management) plus, a certgate decision, a tenant administrator
     * for its own tenant only (docs/api/certificates.md). */
    bool manager =
        principal_in_management(&x->who) &&
        principal_has(&x->who, ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ);
    if (!rest_accept_check(x) || (!manager && !rest_require(x, ROLE_TENANT_ADMIN))) {
        return;
    }
    if (chain_input(x, &chain, tenant) < 0) {
        return;
    }
    if (tenant[0] != 0 && !manager && strcmp(tenant, x->who.tenant) != 0) {
        rest_error(x, 403, "security/Forbidden",
                   "Access is denied. A tenant administrator verifies chains for its own tenant "
                   "only.");
        goto out;
    }
    if (tenant[0] != 0 && !registry_tenant_exists(x->reg, tenant)) {
        rest_error(x, 404, "Device Certificates/Not Found", "Tenant Id doesn't exists");
        goto out;
    }
    const char *hint = tenant[0] != 0 ? tenant : manager ? NULL : x->who.tenant;
    X509 *leaf = sk_X509_shift(chain);
    struct reg_identity id;
    int rc = registry_identify(x->reg, leaf, chain, time_now_ms(), hint, &id);
    if (rc != 0) {
        X509_free(leaf);
        /* Managers learn why; a tenant administrator learns why only when the refusal comes
         * from its own tenant's rules (the search may have touched other tenants' anchors). */
        if (manager || (id.tenant[0] != 0 && strcmp(id.tenant, x->who.tenant) == 0)) {
            rest_error(x, 401, "security/Unauthorized", "Invalid certificate chain! : %s: %s",
                       id.reason, id.message);
        } else {
            rest_error(x, 401, "security/Unauthorized",
                       "Invalid certificate chain! : the chain is not accepted by the trusted "
                       "certificates of tenant %s",
                       x->who.tenant);
        }
        goto out;
    }
    if (pki_name_format(X509_get_subject_name(leaf), PKI_DN_COMPACT, &subject) < 0 ||
        pki_name_format(X509_get_issuer_name(leaf), PKI_DN_COMPACT, &issuer) < 0) {
        X509_free(leaf);
        rest_fail(x, -ENOMEM, "Device Certificates", "", "");
        goto out;
    }
    X509_free(leaf);
    json_t *v = json_pack("{s:b, s:s, s:s, s:s}", "successfullyValidated", true, "tenantId",
                          id.tenant, "subject", subject, "issuer", issuer);
    if (v == NULL) {
        rest_fail(x, -ENOMEM, "Device Certificates", "", "");
        goto out;
    }
    rest_json(x, 200, v, NULL);
    /* The answer is the point of this POST (it creates nothing): it is sent with or without
     * an Accept header. */
    x->keep_body = true;
out:
    free(subject);
    free(issuer);
    sk_X509_pop_free(chain, X509_free);
}

#define TC "/tenant/tenants/{tenantId}/trusted-certificates"
#define POP "/tenant/tenants/{tenantId}/trusted-certificates-pop/{fingerprint}"

REST_ROUTES(rest_routes_certs, {HTTP_METHOD_GET, TC, REST_AUTH, list_certs},
            {HTTP_METHOD_POST, TC, REST_AUTH, create_cert},
            {HTTP_METHOD_POST, TC "/bulk", REST_AUTH, create_certs_bulk},
            {HTTP_METHOD_GET, TC "/{fingerprint}", REST_AUTH, get_cert},
            {HTTP_METHOD_PUT, TC "/{fingerprint}", REST_AUTH, update_cert},
            {HTTP_METHOD_DELETE, TC "/{fingerprint}", REST_AUTH, delete_cert},
            {HTTP_METHOD_POST, POP "/verification-code", REST_AUTH, pop_new_code},
            {HTTP_METHOD_POST, POP "/pop", REST_AUTH, pop_signature},
            {HTTP_METHOD_POST, POP "/verification-certificate", REST_AUTH, pop_verification_cert},
            {HTTP_METHOD_POST, POP "/confirmed", REST_AUTH, pop_confirm},
            {HTTP_METHOD_POST, "/tenant/trusted-certificates/verify-cert-chain", REST_AUTH,
             verify_chain}, );
