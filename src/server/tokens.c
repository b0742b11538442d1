#define LOG_MODULE "tokens"
#include "server/tokens.h"

#include "auth/jwt.h"
#include "auth/jwtkeys.h"
#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tokens {
    pthread_mutex_t lock;  /* guards keys (the pointer; the set itself is immutable) */
    pthread_mutex_t admin; /* serialises rotate and prune (they write key files) */
    struct jwtkeys *keys;
    char issuer[512];
};

static void set_why(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_why(char *why, const char *fmt, ...)
{
    if (why == NULL) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, REG_WHY_MAX, fmt, ap);
    va_end(ap);
}

static struct jwtkeys *current_keys(struct tokens *t)
{
    pthread_mutex_lock(&t->lock);
    struct jwtkeys *ks = jwtkeys_ref(t->keys);
    pthread_mutex_unlock(&t->lock);
    return ks;
}

static void swap_keys(struct tokens *t, struct jwtkeys *ks)
{
    pthread_mutex_lock(&t->lock);
    struct jwtkeys *old = t->keys;
    t->keys = ks;
    pthread_mutex_unlock(&t->lock);
    jwtkeys_unref(old);
}

struct tokens *tokens_open(const char *data_dir, const char *issuer, char *err, size_t errlen)
{
    struct tokens *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->admin, NULL);
    str_lcpy(t->issuer, issuer, sizeof(t->issuer));
    char dir[2048];
    snprintf(dir, sizeof(dir), "%s/jwt", data_dir);
    char why[256] = "";
    if (jwtkeys_load(dir, true, time_now_ms() / 1000, why, sizeof(why), &t->keys) < 0) {
        snprintf(err, errlen, "cannot load the token signing keys in %s: %s", dir, why);
        tokens_close(t);
        return NULL;
    }
    tokens_prune(t);
    return t;
}

void tokens_close(struct tokens *t)
{
    if (t == NULL) {
        return;
    }
    jwtkeys_unref(t->keys);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->admin);
    free(t);
}

int tokens_issue(struct tokens *t, struct registry *r, const struct reg_identity *id, char **jwt,
                 int *expires_in)
{
    if (!id->accepted) {
        return CG_EDENIED;
    }
    struct reg_settings s;
    registry_settings(r, id->tenant, &s);
    int64_t now = time_now_ms() / 1000;
    char jti[JWT_JTI_LEN + 1];
    char xsrf[JWT_JTI_LEN + 1];
    if (jwt_jti_new(jti) < 0 || jwt_jti_new(xsrf) < 0) {
        return CG_ECRYPTO;
    }
    char sub[REG_NAME_MAX + 8];
    snprintf(sub, sizeof(sub), "device_%s", id->device_id);
    json_t *claims =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", t->issuer, "sub",
                  sub, "ten", id->tenant, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                  (json_int_t)(now + s.token_lifetime_s), "jti", jti, "xsrfToken", xsrf, "anc",
                  id->anchor_fp, "sn", id->nserials > 0 ? id->serials[0] : "");
    if (claims == NULL) {
        return -ENOMEM;
    }
    struct jwtkeys *ks = current_keys(t);
    size_t len = 0;
    int rc = jwt_sign(ks, claims, jwt, &len);
    jwtkeys_unref(ks);
    json_decref(claims);
    if (rc < 0) {
        return rc;
    }
    *expires_in = s.token_lifetime_s;
    return 0;
}

int tokens_authenticate(struct tokens *t, struct registry *r, const char *token,
                        struct principal *out, char *why)
{
    struct jwtkeys *ks = current_keys(t);
    json_t *claims = NULL;
    struct jwt_error err = {0};
    int64_t now = time_now_ms() / 1000;
    int rc = jwt_verify(ks, token, strlen(token), now, JWT_DEFAULT_SKEW, &claims, &err);
    jwtkeys_unref(ks);
    if (rc != 0) {
        set_why(why, "invalid token (%s): %s", jwt_reason_name(err.reason), err.text);
        return CG_EDENIED;
    }
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *ten = json_string_value(json_object_get(claims, "ten"));
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    const char *anc = json_string_value(json_object_get(claims, "anc"));
    const char *sn = json_string_value(json_object_get(claims, "sn"));
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    rc = CG_EDENIED;
    if (iss == NULL || strcmp(iss, t->issuer) != 0) {
        set_why(why, "the token was not issued by this server");
    } else if (sub == NULL || !str_has_prefix(sub, "device_") || sub[7] == 0 ||
               strlen(sub) >= REG_NAME_MAX || ten == NULL || strlen(ten) >= REG_TENANT_ID_MAX ||
               jti == NULL || strlen(jti) >= sizeof(out->jti) || anc == NULL) {
        set_why(why, "the token lacks the claims of a device token");
    } else if (registry_token_revoked(r, jti)) {
        set_why(why, "the token was logged out");
    } else if (registry_device_cert_check(r, ten, sub + 7, anc, sn, why) == 0) {
        memset(out, 0, sizeof(*out));
        out->via = PRINCIPAL_BEARER;
        str_lcpy(out->tenant, ten, sizeof(out->tenant));
        str_lcpy(out->user, sub, sizeof(out->user));
        str_lcpy(out->device, sub + 7, sizeof(out->device));
        str_lcpy(out->jti, jti, sizeof(out->jti));
        out->roles = ROLES_DEVICE;
        out->token_exp_ms = (int64_t)exp * 1000;
        rc = 0;
    }
    json_decref(claims);
    return rc;
}

json_t *tokens_jwks(struct tokens *t)
{
    struct jwtkeys *ks = current_keys(t);
    json_t *doc = jwtkeys_jwks(ks);
    jwtkeys_unref(ks);
    return doc;
}

int tokens_rotate(struct tokens *t, char *kid, char *why, size_t whylen)
{
    pthread_mutex_lock(&t->admin);
    struct jwtkeys *ks = current_keys(t);
    struct jwtkeys *next = NULL;
    int rc = jwtkeys_rotate(ks, time_now_ms() / 1000, why, whylen, &next);
    jwtkeys_unref(ks);
    if (rc < 0) {
        pthread_mutex_unlock(&t->admin);
        return -1;
    }
    if (kid != NULL) {
        str_lcpy(kid, jwtkeys_current_kid(next), JWTKEYS_KID_MAX);
    }
    log_info("token signing key rotated; new tokens use key %s", jwtkeys_current_kid(next));
    swap_keys(t, next);
    pthread_mutex_unlock(&t->admin);
    return 0;
}

void tokens_prune(struct tokens *t)
{
    pthread_mutex_lock(&t->admin);
    struct jwtkeys *ks = current_keys(t);
    struct jwtkeys *next = NULL;
    int removed = 0;
    char why[256] = "";
    if (jwtkeys_prune(ks, time_now_ms() / 1000, TOKENS_KEY_RETENTION_S, &removed, why, sizeof(why),
                      &next) == 0 &&
        next != NULL) {
        if (removed > 0) {
            log_info("pruned %d retired token signing key(s)", removed);
        }
        swap_keys(t, next);
    } else if (why[0] != 0) {
        log_warn("could not prune token signing keys: %s", why);
    }
    jwtkeys_unref(ks);
    pthread_mutex_unlock(&t->admin);
}
