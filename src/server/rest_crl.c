/* Revocation (reference §4):
 *
 *   GET /tenant/trusted-certificates/settings/crl   the caller's tenant's revoked serials as a
 *                                                    DER X.509 CRL signed by the server CA
 *   PUT /tenant/trusted-certificates/settings/crl   revoke serials, given as
 *       - JSON {"crls": [{"serialNumberInHex", "revocationDate"}]}            (Cumulocity)
 *       - multipart/form-data field "file": a CSV of serials and dates          (Cumulocity)
 *       - multipart "file" holding an X.509 CRL (PEM or DER), or the CRL itself as the body
 *         with Content-Type application/pkix-crl, issued and signed by one of the tenant's
 *         trusted certificates                                                  (certgate)
 *
 * Revocation is irreversible (there is no delete) and applies from the next handshake and to
 * live sessions (the registry closes them). The tenant is always the caller's: the path
 * names none. Handlers run on a pool thread.
 */
#include "server/rest_crl.h"

#include "auth/roles.h"
#include "core/err.h"
#include "core/str.h"
#include "http/multipart.h"
#include "server/rest.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRL_READ_ROLES                                                                             \
    (ROLE_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ)
#define CRL_WRITE_ROLES (ROLE_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_ADMIN)

/* ---- the handlers ---------------------------------------------------------------------- */

static void get_crl(struct rest_ctx *x)
{
    if (!rest_require(x, CRL_READ_ROLES)) {
        return;
    }
    uint8_t *der = NULL;
    size_t len = 0;
    int rc = registry_crl_der(x->reg, x->who.tenant, &der, &len);
    if (rc < 0) {
        rest_fail(x, rc, "Device Certificates", "", "");
        return;
    }
    char disposition[96];
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"%s.crl\"", x->who.tenant);
    rest_field(x, "Content-Disposition", disposition);
    rest_bytes(x, 200, der, len, "application/pkix-crl");
    OPENSSL_free(der);
}

/* Whether an uploaded file is an X.509 CRL rather than CSV text: PEM armour, or binary
 * bytes (DER always has some; a CSV has none). */
static bool looks_like_x509_crl(const uint8_t *data, size_t len)
{
    if (memmem(data, len, "-----BEGIN X509 CRL-----", 24) != NULL) {
        return true;
    }
    for (size_t i = 0; i < len; i++) {
        if (data[i] < 0x20 && data[i] != '\t' && data[i] != '\n' && data[i] != '\r') {
            return true;
        }
    }
    return false;
}

static void revoke_x509(struct rest_ctx *x, const uint8_t *data, size_t len)
{
    char why[REG_WHY_MAX] = "";
    int added = 0;
    int rc = registry_crl_add_x509(x->reg, &x->who, x->who.tenant, data, len, &added, why);
    if (rc < 0) {
        rest_fail(x, rc, "Device Certificates", why, "");
        return;
    }
    rest_empty(x, 204);
}

static void revoke_entries(struct rest_ctx *x, int rc, struct reg_revoked *entries, int n,
                           int status, const char *message)
{
    char why[REG_WHY_MAX] = "";
    if (rc == -1) {
        rest_error(x, status,
                   status == 400 ? "Device Certificates/Bad Request"
                                 : "Device Certificates/Unprocessable Entity",
                   "%s", message);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "Device Certificates", "", "");
        return;
    }
    if (n > 0) {
        rc = registry_crl_add(x->reg, &x->who, x->who.tenant, entries, n, why);
        if (rc < 0) {
            rest_fail(x, rc, "Device Certificates", why, "");
            return;
        }
    }
    rest_empty(x, 204);
}

static void put_crl(struct rest_ctx *x)
{
    struct http_multipart mp;
    struct http_content_type ct;
    struct reg_revoked *entries = NULL;
    char message[REG_WHY_MAX] = "";
    int n = 0, status = 0, rc;
    char *ctype = NULL;

    memset(&mp, 0, sizeof(mp));
    if (!rest_require(x, CRL_WRITE_ROLES)) {
        return;
    }
    ctype = rest_header(x, "Content-Type");
    bool typed = ctype != NULL && http_content_type_parse(ctype, strlen(ctype), &ct) == 0;
    if (ctype != NULL && !typed) {
        rest_error(x, 400, "Device Certificates/Bad Request", "the Content-Type is malformed");
        goto out;
    }
    if (typed && http_content_type_is(&ct, "multipart", "form-data")) {
        if (http_multipart_parse(ctype, strlen(ctype), x->body, x->body_len, &mp) < 0) {
            rest_error(x, 400, "Device Certificates/Bad Request",
                       "the multipart/form-data body is malformed");
            goto out;
        }
        const struct http_part *file = http_multipart_find(&mp, "file");
        if (file == NULL) {
            rest_error(x, 400, "Device Certificates/Bad Request",
                       "the form field 'file' is required: a CSV of serials and revocation "
                       "dates, or an X.509 CRL");
            goto out;
        }
        if (looks_like_x509_crl(file->data, file->len)) {
            revoke_x509(x, file->data, file->len);
            goto out;
        }
        rc = rest_crl_parse_csv(file->data, file->len, REST_CRL_CSV_MAX, &entries, &n, &status,
                                message, sizeof(message));
        revoke_entries(x, rc, entries, n, status, message);
        goto out;
    }
    if (typed && http_content_type_is(&ct, "application", "pkix-crl")) {
        revoke_x509(x, x->body, x->body_len);
        goto out;
    }
    if (typed && http_content_type_is(&ct, "text", "csv")) {
        rc = rest_crl_parse_csv(x->body, x->body_len, REST_CRL_CSV_MAX, &entries, &n, &status,
                                message, sizeof(message));
        revoke_entries(x, rc, entries, n, status, message);
        goto out;
    }
    bool json =
        !typed ||
        (strcmp(ct.type, "application") == 0 &&
         (strcmp(ct.subtype, "json") == 0 ||
          (strlen(ct.subtype) > 5 && strcmp(ct.subtype + strlen(ct.subtype) - 5, "+json") == 0)));
    if (!json) {
        rest_error(x, 415, "Device Certificates/Unsupported Media Type",
                   "send application/json, multipart/form-data (field 'file'), text/csv or "
                   "application/pkix-crl");
        goto out;
    }
    rc = rest_crl_parse_json(x->body, x->body_len, &entries, &n, &status, message, sizeof(message));
    revoke_entries(x, rc, entries, n, status, message);
out:
    free(entries);
    free(ctype);
    http_multipart_cleanup(&mp);
}

REST_ROUTES(rest_routes_crl,
            {HTTP_METHOD_GET, "/tenant/trusted-certificates/settings/crl", REST_AUTH, get_crl},
            {HTTP_METHOD_PUT, "/tenant/trusted-certificates/settings/crl", REST_AUTH, put_crl}, );
