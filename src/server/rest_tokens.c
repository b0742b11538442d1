/* Device access tokens (reference §6): a device trades its TLS client certificate for a
 * short-lived JWT; and the management tenant rotates the signing keys. */
#define LOG_MODULE "tokens"
#include "auth/jwtkeys.h"
#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/cert.h"
#include "server/rest.h"
#include "server/server.h"
#include "server/tokens.h"

#include <stdlib.h>
#include <string.h>

/* The chain to judge: the handshake's verdict, or — with X-Ssl-Cert-Chain — the TLS leaf
 * with the certificates of the header (which may or may not start with the leaf). Returns 0
 * and fills *id, or answers 400 and returns -1. */
static int identity_for(struct rest_ctx *x, struct reg_identity *id)
{
    *id = *x->tls;
    char *hdr = rest_header(x, "X-Ssl-Cert-Chain");
    if (hdr == NULL || str_trim(hdr)[0] == 0) {
        free(hdr);
        return 0;
    }
    STACK_OF(X509) *certs = NULL;
    int rc = pki_bundle_parse(hdr, strlen(hdr), 0, 0, &certs);
    free(hdr);
    if (rc < 0) {
        rest_error(x, 400, "Device Certificates/Bad Request",
                   "Cannot parse X509 certificate. : X-Ssl-Cert-Chain: %s", pki_strerror(rc));
        return -1;
    }
    if (x->peer_cert == NULL) {
        sk_X509_pop_free(certs, X509_free);
        rest_error(x, 401, "security/Unauthorized", "Invalid certificate chain!");
        return -1;
    }
    registry_identify(x->reg, x->peer_cert, certs, time_now_ms(), NULL, id);
    sk_X509_pop_free(certs, X509_free);
    return 0;
}

static void post_device_access_token(struct rest_ctx *x)
{
    struct reg_identity id;
    if (identity_for(x, &id) < 0) {
        return;
    }
    if (!id.accepted) {
        log_info("device access token refused for %s from %s: %s: %s",
                 id.device_id[0] ? id.device_id : "?", x->peer, id.reason, id.message);
        registry_audit(x->reg, true, id.tenant[0] ? id.tenant : REG_MANAGEMENT_TENANT,
                       "UserAuthentication", "Device token refused", "WARNING", "", id.device_id,
                       "Device access token refused for '%s' from %s: %s (%s)", id.device_id,
                       x->peer, id.message, id.reason);
        rest_error(x, 401, "security/Unauthorized", "Invalid certificate chain!");
        return;
    }
    struct reg_device_brief brief;
    char why[REG_WHY_MAX] = "";
    int rc = registry_device_admit(x->reg, &id, &brief, why);
    if (rc == CG_EDENIED) {
        log_info("device access token refused for %s of tenant %s: %s", id.device_id, id.tenant,
                 why);
        registry_audit(x->reg, true, id.tenant, "Inventory", "Device token refused", "WARNING", "",
                       id.device_id, "Device access token refused for '%s': %s", id.device_id, why);
        rest_error(x, 422, "Auto registeration is failed for device/Unprocessable Entity",
                   "Cannot process certificate data. %s", why);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "devicecontrol", "", "");
        return;
    }
    registry_device_touch(x->reg, id.tenant, id.device_id);
    char *jwt = NULL;
    int expires_in = 0;
    rc = tokens_issue(x->srv->tokens, x->reg, &id, &jwt, &expires_in);
    if (rc < 0) {
        rest_fail(x, rc, "devicecontrol", "", "");
        return;
    }
    json_t *v = json_pack("{s:s, s:i}", "accessToken", jwt, "expiresIn", expires_in);
    free_secret(jwt);
    x->keep_body = true; /* the token is the answer, whatever the Accept header says */
    rest_json(x, 200, v, NULL);
}

static void post_rotate_keys(struct rest_ctx *x)
{
    if (!principal_in_management(&x->who) || !rest_require(x, ROLE_TENANT_MANAGEMENT_ADMIN)) {
        if (!x->answered) {
            rest_error(x, 403, "security/Forbidden", "Access is denied.");
        }
        return;
    }
    char kid[JWTKEYS_KID_MAX] = "";
    char why[256] = "";
    if (tokens_rotate(x->srv->tokens, kid, why, sizeof(why)) < 0) {
        rest_error(x, 500, "general/Internal Error", "the signing key was not rotated: %s", why);
        return;
    }
    registry_audit(x->reg, false, REG_MANAGEMENT_TENANT, "SYSTEM", "Token signing key rotated",
                   "INFORMATION", x->who.user, kid, "New device tokens are signed with key %s",
                   kid);
    x->keep_body = true;
    rest_json(x, 200, json_pack("{s:s}", "kid", kid), NULL);
}

REST_ROUTES(rest_routes_tokens,
            {HTTP_METHOD_POST, "/devicecontrol/deviceAccessToken", REST_CERT,
             post_device_access_token},
            {HTTP_METHOD_POST, "/certgate/token-keys/rotate", REST_AUTH, post_rotate_keys}, );
